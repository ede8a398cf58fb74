import { describe, expect, it } from 'vitest';
import { MAX_LOCAL_SERVICES, serviceNamesOf } from '../../../local/host-set.ts';

describe('the service names of a host set (local up --services N)', () => {
  it('names services <set>-1 ... by default, or as given', () => {
    expect(serviceNamesOf({ name: 'db', services: 3 })).toEqual(['db-1', 'db-2', 'db-3']);
    expect(serviceNamesOf({ name: 'db', services: 2, serviceNames: ['orders', 'carts'] })).toEqual([
      'orders',
      'carts',
    ]);
  });

  it.each([
    [{ name: 'DB', services: 2 }, /set name 'DB' must be lower-case/],
    [{ name: 'db', services: 0 }, /--services must be a whole number from 1 to 32, got 0/],
    [{ name: 'db', services: MAX_LOCAL_SERVICES + 1 }, /--services must be a whole number/],
    [{ name: 'db', services: 2.5 }, /--services must be a whole number/],
    [{ name: 'db', services: 3, serviceNames: ['a', 'b'] }, /--service-names lists 2 names for --services 3/],
    [{ name: 'db', services: 2, serviceNames: ['a', 'a'] }, /service name 'a' is given twice/],
    [
      { name: 'db', services: 2, serviceNames: ['a', 'db'] },
      /service name 'db' must be .* not the set's name/,
    ],
    [{ name: 'db', services: 1, serviceNames: ['Bad_Name'] }, /service name 'Bad_Name' must be lower-case/],
  ])('refuses %o with the rule it breaks', (options, message) => {
    expect(() => serviceNamesOf(options)).toThrow(message);
  });
});

/** Secret grants: one ARN per secret up to EXACT_GRANT_LIMIT, beyond by the path they share, refused without one. */
import * as cdk from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import {
  commonDirectory,
  EXACT_GRANT_LIMIT,
  parameterArnsFor,
  pathGrantsOf,
  secretArnsFor,
} from '../../infra/constructs/arns.ts';

const stackOf = () =>
  new cdk.Stack(new cdk.App(), 'Grants', { env: { account: '123456789012', region: 'eu-west-1' } });
const names = (n: number, name: (i: number) => string) => Array.from({ length: n }, (_, i) => name(i));

describe('secret grants', () => {
  it('names each parameter up to the limit', () => {
    const stack = stackOf();
    const arns = parameterArnsFor(
      stack,
      names(EXACT_GRANT_LIMIT, (i) => `/ha-redis/c${i}/redis`),
    );
    expect(arns).toHaveLength(EXACT_GRANT_LIMIT);
    expect(pathGrantsOf(stack)).toEqual([]);
  });

  it('grants more parameters by the directory they share, and records it for review', () => {
    const stack = stackOf();
    const arns = parameterArnsFor(
      stack,
      names(EXACT_GRANT_LIMIT + 1, (i) => `/ha-redis/prod/c${i}/redis`),
    );
    expect(arns).toEqual([
      expect.stringMatching(/:ssm:eu-west-1:123456789012:parameter\/ha-redis\/prod\/\*$/),
    ]);
    expect(pathGrantsOf(stack)).toEqual([{ service: 'ssm', resource: 'parameter/ha-redis/prod/*' }]);
  });

  it('grants more Secrets Manager secrets by their shared path, and refuses names that share none', () => {
    const stack = stackOf();
    expect(
      secretArnsFor(
        stack,
        names(EXACT_GRANT_LIMIT + 1, (i) => `ha-redis/c${i}/redis`),
      ),
    ).toEqual([expect.stringMatching(/:secret:ha-redis\/\*$/)]);
    expect(() =>
      secretArnsFor(
        stack,
        names(EXACT_GRANT_LIMIT + 1, (i) => `c${i}-redis`),
      ),
    ).toThrow(/share no path, so they cannot be granted by path/);
    expect(() =>
      parameterArnsFor(
        stack,
        names(EXACT_GRANT_LIMIT + 1, (i) => `/c${i}/redis`),
      ),
    ).toThrow(/keep them under one path/);
  });

  it('finds the longest shared directory, not a shared prefix of a name', () => {
    expect(commonDirectory(['/ha-redis/orders/a', '/ha-redis/ord/b'])).toBe('/ha-redis/');
    expect(commonDirectory(['a/b', 'c/d'])).toBe('');
  });
});

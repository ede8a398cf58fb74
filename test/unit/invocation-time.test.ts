/** A Lambda invocation's end, given to the core (CorePorts.endsAt) so that its waits on hosts end in time. */

import { describe, expect, it } from 'vitest';
import { withEnd } from '../../functions/sentinel-event/invocation-time.ts';
import { START } from '../support/fixtures.ts';
import { failedOverWorld } from '../support/world.ts';

describe('withEnd', () => {
  it("sets endsAt to now plus the Lambda context's remaining time, for this invocation only", () => {
    // Arrange
    const w = failedOverWorld();
    const deps = { failover: w.deps };

    // Act
    const invocation = withEnd(deps, { getRemainingTimeInMillis: () => 42_000 });

    // Assert
    expect(invocation.failover.endsAt).toBe(START + 42_000);
    expect(deps.failover.endsAt).toBeUndefined();
  });

  it.each([
    ['no context', undefined],
    ['a context without getRemainingTimeInMillis', {}],
    ['a remaining time that is no number', { getRemainingTimeInMillis: () => Number.NaN }],
  ])('sets no end for %s', (_case, context) => {
    // Arrange
    const deps = { failover: failedOverWorld().deps };

    // Act
    const invocation = withEnd(deps, context);

    // Assert
    expect(invocation.failover.endsAt).toBeUndefined();
  });
});

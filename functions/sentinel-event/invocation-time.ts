import type { CorePorts } from '../../core/ports.ts';

/** The part of a Lambda context that says how much time the invocation has left. */
export interface InvocationTime {
  getRemainingTimeInMillis(): number;
}

/** The deps of one invocation: the core's waits end in time to record and tell (CorePorts.endsAt). */
export function withEnd<D extends { failover: CorePorts }>(
  deps: D,
  context: Partial<InvocationTime> | undefined,
): D {
  // A context without the method (a test's, or a local caller's) means no end: nothing is cut short.
  const remaining =
    typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : NaN;
  if (!Number.isFinite(remaining)) return deps;
  const endsAt = deps.failover.clock.now() + remaining;
  return { ...deps, failover: { ...deps.failover, endsAt } };
}

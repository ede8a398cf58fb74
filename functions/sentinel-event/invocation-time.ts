import type { CorePorts } from '../../core/ports.ts';

/** The part of a Lambda context that says how much time the invocation has left. */
export interface InvocationTime {
  getRemainingTimeInMillis(): number;
}

/** The deps of one invocation: the core's waits end in time to record and tell (CorePorts.endsAt). */
export function withEnd<D extends { failover: CorePorts }>(deps: D, context: InvocationTime | undefined): D {
  if (!context) return deps;
  const endsAt = deps.failover.clock.now() + context.getRemainingTimeInMillis();
  return { ...deps, failover: { ...deps.failover, endsAt } };
}

/** Metric names the Lambdas emit (Powertools Metrics, EMF) and the alarms of the stack watch: one source. */
export const METRICS = {
  namespace: 'HaRedis',
  /** Sentinel reported a failover that no majority confirmed; routing was left alone. */
  failoverUnconfirmed: 'FailoverUnconfirmed',
  /** A failover was confirmed and acted on. */
  failoverActedOn: 'FailoverActedOn',
  /** A failover was acted on and a step failed (outcome partial): the epoch stays open for a retry. */
  failoverPartial: 'FailoverPartial',
  /** The fast path asked Sentinel to fail over after a master's exit, and no promotion followed. */
  fastFailoverFailed: 'FastFailoverFailed',
  /** An event was malformed or named an unknown cluster. */
  eventRejected: 'SentinelEventRejected',
} as const;

/** The name of a counted metric. */
export type MetricName = (typeof METRICS)[Exclude<keyof typeof METRICS, 'namespace'>];

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

/**
 * Timings the Lambdas emit (milliseconds) for the stack's dashboard; each dimension is a bounded set (a step's
 * name), never a cluster: per-cluster outcomes come from the logs (Logs Insights), which cost nothing per cluster.
 */
export const TIMING_METRICS = {
  /** A failover: from the promotion seen to every reachable proxy rerouted. */
  reroutedAfterPromotion: 'ReroutedAfterPromotion',
  /** A failover's steps, one series per step (dimension `Step`). */
  stepDuration: 'StepDuration',
  stepDimension: 'Step',
  /** A switchover: how long writes were blocked (the step that finishes it emits it). */
  switchoverWriteGap: 'SwitchoverWriteGap',
  /** A master record: from queued by a reaction or a switchover to written by its zone's writer. */
  dnsWrittenAfterQueued: 'DnsWrittenAfterQueued',
} as const;

/** The name of a counted metric. */
export type MetricName = (typeof METRICS)[Exclude<keyof typeof METRICS, 'namespace'>];

/**
 * What every Sentinel event bridge sends from its host (PutMetricData, once a minute) and the stack's bridge alarms
 * watch: one source for both.
 */
export const BRIDGE_METRICS = {
  /** Apart from the Lambdas' namespace: the hosts' policy may put metrics here and nowhere else. */
  namespace: 'HaRedis/Bridge',
  /** 1 a minute from each bridge subscribed to its Sentinel, stamped with that minute. */
  heartbeat: 'BridgeHeartbeat',
  /** Events waiting in a bridge's retry buffer at its heartbeat (Maximum: the worst bridge). */
  backlog: 'BridgeBacklog',
  /** Events a bridge gave up (buffer full or retries spent) since its previous heartbeat. */
  dropped: 'BridgeEventsDropped',
  /** Every datum's dimension: the events topic's name, which tells deployments apart (a bridge knows its ARN). */
  topicDimension: 'EventsTopic',
  /** The heartbeat's second series: per bridge, the Sentinel it subscribes to (host:port), to find a silent one. */
  bridgeDimension: 'Bridge',
  /** How often a bridge sends; the stack's alarm counts heartbeats per period of this length. */
  periodMs: 60_000,
} as const;

/** One timing to emit: its metric, milliseconds, and its dimension if any. */
export interface Timing {
  name: (typeof TIMING_METRICS)[
    | 'reroutedAfterPromotion'
    | 'stepDuration'
    | 'switchoverWriteGap'
    | 'dnsWrittenAfterQueued'];
  ms: number;
  dimension?: { name: string; value: string };
}

import type { SNSEvent } from 'aws-lambda';
import { type NodeExit, type NodeExitOutcome, reactToNodeExit } from '../../core/failover/fast-path.ts';
import { type EventOutcome, handleSentinelEvent } from '../../core/failover/handle-event.ts';
import { parseSentinelMessage } from '../../core/failover/sentinel-event.ts';
import { StateStoreWatch } from '../../core/failover/state-store-watch.ts';
import type { ClusterConfig, ClusterRegistry } from '../../core/model/cluster.ts';
import { errorMessage, InvalidInputError, issuesText } from '../../core/model/errors.ts';
import { METRICS, type MetricName, TIMING_METRICS, type Timing } from '../../core/model/metrics.ts';
import { reroutedAfterPromotion } from '../../core/model/records.ts';
import type { CorePorts } from '../../core/ports.ts';
import { NODE_EVENT_CONTRACT, type NodeEnvelope, NodeEnvelopeSchema } from '../../events/node-events.ts';
import { type SentinelEnvelope, SentinelEnvelopeSchema } from '../../events/sentinel-events.ts';
import { type InvocationTime, withEnd } from './invocation-time.ts';
import { type Serializer, serialized } from './serialize.ts';

/** The sentinel-event Lambda's factory, and the metric each outcome counts toward; the AWS entry is lambda.ts. */

/** What the handler needs: the clusters, and the core's ports. */
export interface SentinelEventDeps {
  clusters: ClusterRegistry;
  failover: CorePorts;
  /** Who tells people the state store is down: shared with the reconcile in one process; else the handler's own. */
  storeWatch?: StateStoreWatch;
}

export type RecordOutcome = EventOutcome | NodeExitOutcome | { action: 'rejected'; error: string };

/** Validate each SNS record, find its cluster, and hand the event to the core. Bad input is logged, never acted on. */
export function makeSentinelEventHandler(
  getDeps: () => Promise<SentinelEventDeps> | SentinelEventDeps,
  /** Whose queue a cluster's events wait in: this process's (the fleet simulation gives each environment its own). */
  serialize: Serializer = serialized,
) {
  // This environment's memory of a state store outage it told people about.
  const store = new StateStoreWatch();
  return async (event: SNSEvent, context?: Partial<InvocationTime>): Promise<RecordOutcome[]> => {
    const deps = withEnd(await getDeps(), context);
    const log = deps.failover.logger;
    return Promise.all(
      (event.Records ?? []).map(async (record): Promise<RecordOutcome> => {
        let cluster: ClusterConfig | undefined;
        try {
          const envelope = decodeEnvelope(record?.Sns?.Message);
          const found = deps.clusters.get(envelope.cluster);
          cluster = found;
          // A node agent's exit report takes no turn in the queue: it waits for Sentinel's promotion, and the
          // promotion's own events must not wait behind it. The cluster lease makes it act once.
          if (envelope.contract === NODE_EVENT_CONTRACT.name) {
            return await reactToNodeExit(found, nodeExitOf(envelope), deps.failover);
          }
          const parsed = parseSentinelMessage(envelope.channel, envelope.payload);
          if (!parsed.ok) throw new InvalidInputError(parsed.message);
          const handle = () =>
            handleSentinelEvent(found, parsed.event, envelope.seenAt, deps.failover, envelope.sentinel);
          // A vote only records itself (an idempotent write that every confirmation poll reads again), so it
          // takes no turn in the cluster's queue: the promotion that follows its burst of votes waits for none.
          return await (parsed.event.type === '+vote-for-leader' ? handle() : serialize(found.name, handle));
        } catch (error) {
          if (
            error instanceof Error &&
            (error.name === 'InvalidInputError' || error.name === 'UnknownClusterError')
          ) {
            log.error('sentinel event rejected; no action taken', {
              error: errorMessage(error),
              errorName: error.name,
            });
            return { action: 'rejected', error: errorMessage(error) };
          }
          if (cluster) await (deps.storeWatch ?? store).failed(cluster, error, deps.failover);
          throw error; // infrastructure failure: let SNS / Lambda retry; every step is idempotent
        }
      }),
    );
  };
}

/**
 * A sentinel-event envelope is a few hundred bytes; anything near this is not one (and is not parsed, so a
 * flood of large messages costs no JSON work).
 */
export const MAX_ENVELOPE_BYTES = 16 * 1024;

/** The core's reading of a node agent's envelope. */
const nodeExitOf = (envelope: NodeEnvelope): NodeExit => ({
  node: envelope.node,
  exitedAt: envelope.exitedAt,
  agentHost: envelope.agent.host,
  evidence: envelope.evidence,
});

function decodeEnvelope(message: unknown): SentinelEnvelope | NodeEnvelope {
  if (typeof message !== 'string') throw new InvalidInputError('SNS record has no Message string');
  const bytes = Buffer.byteLength(message);
  if (bytes > MAX_ENVELOPE_BYTES) {
    throw new InvalidInputError(
      `SNS Message of ${bytes} bytes is larger than a sentinel-event envelope can be (${MAX_ENVELOPE_BYTES}); not parsed`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch (error) {
    throw new InvalidInputError(`SNS Message is not JSON: ${errorMessage(error)}`);
  }
  if (
    typeof json === 'object' &&
    json !== null &&
    'contract' in json &&
    json.contract === NODE_EVENT_CONTRACT.name
  ) {
    const node = NodeEnvelopeSchema.safeParse(json);
    if (!node.success) {
      throw new InvalidInputError(`SNS Message is not a node-event v1 envelope: ${issuesText(node.error)}`);
    }
    return node.data;
  }
  const envelope = SentinelEnvelopeSchema.safeParse(json);
  if (!envelope.success) {
    throw new InvalidInputError(
      `SNS Message is not a sentinel-event v1 envelope: ${issuesText(envelope.error)}`,
    );
  }
  return envelope.data;
}

/** Every metric an outcome counts toward: its outcomeMetric, and FailoverPartial for a partial reaction. */
export function outcomeMetrics(outcome: RecordOutcome): MetricName[] {
  const reaction = appliedReaction(outcome);
  const primary = outcomeMetric(outcome);
  return [
    ...(primary ? [primary] : []),
    ...(reaction?.entry.outcome === 'partial' ? [METRICS.failoverPartial] : []),
  ];
}

/** The failover an outcome applied: its own, or the one the fast path's reaction applied. */
function appliedReaction(outcome: RecordOutcome) {
  if (outcome.action === 'failed-over') return outcome;
  if (outcome.action === 'fast-failover' && outcome.reaction.action === 'failed-over')
    return outcome.reaction;
  return undefined;
}

/**
 * The timings of a failover an outcome applied, for the dashboard: promotion seen -> rerouted, and each step's
 * duration (by step name). Nothing for any other outcome.
 */
export function outcomeTimings(outcome: RecordOutcome): Timing[] {
  const reaction = appliedReaction(outcome);
  if (!reaction) return [];
  const rerouted = reroutedAfterPromotion(reaction.entry);
  return [
    ...(rerouted === null ? [] : [{ name: TIMING_METRICS.reroutedAfterPromotion, ms: rerouted }]),
    ...reaction.entry.timeline
      .filter((s) => s.status === 'ok')
      .map((s) => ({
        name: TIMING_METRICS.stepDuration,
        ms: s.durationMs,
        dimension: { name: TIMING_METRICS.stepDimension, value: s.step },
      })),
  ];
}

/** The metric an outcome counts toward (alarms watch them), if any. */
export function outcomeMetric(outcome: RecordOutcome): MetricName | undefined {
  switch (outcome.action) {
    case 'unconfirmed':
      return METRICS.failoverUnconfirmed;
    case 'failed-over':
      return METRICS.failoverActedOn;
    case 'rejected':
      return METRICS.eventRejected;
    // The fast path counts as the failover its reaction applied (or did not confirm).
    case 'fast-failover':
      // Proxies moved but no failover applied (unconfirmed, current): count it as unconfirmed, for the alarm.
      return outcome.reaction.action === 'failed-over'
        ? METRICS.failoverActedOn
        : METRICS.failoverUnconfirmed;
    case 'fast-failover-failed':
      return METRICS.fastFailoverFailed;
    default:
      return undefined;
  }
}

import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type DnsUpsertMessage, DnsUpsertMessageSchema } from '../../adapters/aws/dns-queue.ts';
import { type ClusterRegistry, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { TIMING_METRICS, type Timing } from '../../core/model/metrics.ts';
import type { AppliedEpoch } from '../../core/model/records.ts';
import type { Clock, Dns, DnsUpsertResult, EpochClaims, Logger } from '../../core/ports.ts';
import {
  batchItemFailures,
  type FifoItem,
  type FifoOutcome,
  groupBatch,
  groupOutcomes,
  logOutcomes,
} from '../fifo/batch.ts';

/** The dns-writer Lambda's factory; the AWS entry is lambda.ts. */

/** What the writer needs: the clusters (to find a record's name and zone) and Route53 itself. */
export interface DnsWriterDeps {
  clusters: ClusterRegistry;
  /** Route53Dns (no read before write): one change per zone for the upserts it is given in the same tick. */
  dns: Dns;
  /** Each cluster's last claimed epoch: a record older than it is superseded, and not written. */
  epochs: Pick<EpochClaims, 'appliedEpoch'>;
  clock: Pick<Clock, 'now'>;
  logger: Logger;
}

/** A record written (or found already so, or refused as older): which, and how long it waited in the queue. */
export interface DnsWritten {
  cluster: string;
  epoch: number;
  result: DnsUpsertResult;
  waitedMs: number;
}
export type DnsWrite = FifoOutcome<DnsWritten>;

/**
 * Writes the master records a batch of the FIFO queue holds: each zone's records in one Route53 change (the
 * message group is the zone). A message that can never be written (malformed) is dropped; a failed write, or a
 * cluster not in the config (yet), is retried by SQS with every later record of its zone.
 */
export function makeDnsWriterHandler(load: () => Promise<DnsWriterDeps>) {
  return async (event: SQSEvent): Promise<{ response: SQSBatchResponse; writes: DnsWrite[] }> => {
    const deps = await load();
    const { groups, dropped } = groupBatch(event, DnsUpsertMessageSchema, deps.logger);
    // Every upsert in the same tick: Route53Dns joins a zone's into one change.
    const written = await Promise.all(groups.map((group) => writeGroup(group, deps)));
    const writes = [...dropped, ...written.flat()];
    return { response: batchItemFailures(writes), writes };
  };
}

async function writeGroup(group: FifoItem<DnsUpsertMessage>[], deps: DnsWriterDeps): Promise<DnsWrite[]> {
  // The clusters' last claims first, all of them, so that the upserts then start in one tick: Route53Dns joins
  // a zone's into one change only then.
  const claims = await Promise.allSettled(
    group.map(({ message }) => deps.epochs.appliedEpoch(message.cluster)),
  );
  const settled = await Promise.allSettled(
    group.map(async ({ message }, i): Promise<DnsWritten> => {
      const claim = claims[i];
      if (claim?.status === 'rejected') throw claim.reason;
      // A cluster this writer's config does not know yet is retried (SQS hands it again after the visibility
      // timeout, by when the config was re-read), never dropped: its record would be lost.
      const cluster = deps.clusters.get(message.cluster);
      const result = supersededBy(claim?.value, message)
        ? 'stale'
        : await deps.dns.upsertMaster(cluster, message.master, message.epoch);
      return {
        cluster: message.cluster,
        epoch: message.epoch,
        result,
        waitedMs: Math.max(0, deps.clock.now() - message.queuedAt),
      };
    }),
  );
  const outcomes = groupOutcomes(group, settled);
  logOutcomes(
    group,
    outcomes,
    (m) => ({ cluster: m.cluster, epoch: m.epoch, master: formatEndpoint(m.master) }),
    deps.logger,
    { done: 'dns-upsert', retried: 'dns-upsert not written; SQS retries it' },
  );
  return outcomes;
}

/**
 * A record the cluster's last claim makes stale: a newer epoch was claimed (it queues its own record), or the
 * same epoch was claimed again for another master (a claim retried after a failure). Claims only move forward,
 * so this is the guard the TXT record's epoch used to be (README, "Running many clusters"); within a batch,
 * Route53Dns keeps the newest epoch of a record.
 */
function supersededBy(claim: AppliedEpoch | undefined, message: DnsUpsertMessage): boolean {
  if (!claim) return false;
  if (claim.epoch !== message.epoch) return claim.epoch > message.epoch;
  return !sameEndpoint(claim.master, message.master);
}

/** The timings of a batch's writes, for the dashboard: queued → written, per record written. */
export function writeTimings(writes: DnsWrite[]): Timing[] {
  return writes.flatMap((w) =>
    'done' in w && w.done.result === 'updated'
      ? [{ name: TIMING_METRICS.dnsWrittenAfterQueued, ms: w.done.waitedMs }]
      : [],
  );
}

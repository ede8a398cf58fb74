import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type DnsUpsertMessage, DnsUpsertMessageSchema } from '../../adapters/aws/dns-queue.ts';
import type { ClusterConfig, ClusterRegistry } from '../../core/model/cluster.ts';
import { formatEndpoint } from '../../core/model/cluster.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { TIMING_METRICS, type Timing } from '../../core/model/metrics.ts';
import type { Clock, Dns, DnsUpsertResult, Logger } from '../../core/ports.ts';

/** The dns-writer Lambda's factory; the AWS entry is lambda.ts. */

/** What the writer needs: the clusters (to find a record's name and zone) and Route53 itself. */
export interface DnsWriterDeps {
  clusters: ClusterRegistry;
  /** Route53Dns: one change per zone for the upserts it is given in the same tick. */
  dns: Dns;
  clock: Pick<Clock, 'now'>;
  logger: Logger;
}

/** One message as the writer reads it: written, or why it was dropped, or retried. */
export type DnsWrite =
  | { messageId: string; cluster: string; epoch: number; result: DnsUpsertResult; waitedMs: number }
  | { messageId: string; dropped: string }
  | { messageId: string; retry: string };

interface Parsed {
  record: SQSRecord;
  message: DnsUpsertMessage;
  cluster: ClusterConfig;
}

/**
 * Writes the master records a batch of the FIFO queue holds: each zone's records in one Route53 change. A message
 * that can never be written (malformed, unknown cluster) is logged and dropped, not retried: in a FIFO group it
 * would hold back every later record of the zone. A failed write is retried by SQS, with every later message of
 * its group ("Using Lambda with Amazon SQS": report the failed message and the rest of its group).
 */
export function makeDnsWriterHandler(load: () => Promise<DnsWriterDeps>) {
  return async (event: SQSEvent): Promise<{ response: SQSBatchResponse; writes: DnsWrite[] }> => {
    const deps = await load();
    const writes: DnsWrite[] = [];
    const byGroup = new Map<string, Parsed[]>();
    for (const record of event.Records) {
      const parsed = parse(record, deps);
      if ('dropped' in parsed) {
        deps.logger.error('dns-upsert message dropped', {
          messageId: record.messageId,
          reason: parsed.dropped,
        });
        writes.push({ messageId: record.messageId, dropped: parsed.dropped });
        continue;
      }
      const group = record.attributes.MessageGroupId ?? parsed.cluster.dns.hostedZoneId ?? '';
      byGroup.set(group, [...(byGroup.get(group) ?? []), { ...parsed, record }]);
    }
    // Every upsert in the same tick: Route53Dns joins a zone's into one change.
    const results = await Promise.all([...byGroup.values()].map((group) => writeGroup(group, deps)));
    writes.push(...results.flat());
    const failures = writes.filter((w) => 'retry' in w).map((w) => ({ itemIdentifier: w.messageId }));
    return { response: { batchItemFailures: failures }, writes };
  };
}

/** One group's upserts, in order; from the first failure on, every message of the group is retried. */
async function writeGroup(group: Parsed[], deps: DnsWriterDeps): Promise<DnsWrite[]> {
  const settled = await Promise.allSettled(
    group.map(({ cluster, message }) => deps.dns.upsertMaster(cluster, message.master, message.epoch)),
  );
  const firstFailure = settled.findIndex((s) => s.status === 'rejected');
  return group.map(({ record, message }, i): DnsWrite => {
    const outcome = settled[i];
    if (firstFailure >= 0 && i >= firstFailure) {
      const reason =
        outcome?.status === 'rejected'
          ? errorMessage(outcome.reason)
          : 'an earlier record of its zone failed';
      deps.logger.warn('dns-upsert not written; SQS retries it', {
        messageId: record.messageId,
        cluster: message.cluster,
        epoch: message.epoch,
        reason,
      });
      return { messageId: record.messageId, retry: reason };
    }
    const result = outcome?.status === 'fulfilled' ? outcome.value : 'unchanged';
    const waitedMs = Math.max(0, deps.clock.now() - message.queuedAt);
    deps.logger.info('dns-upsert', {
      cluster: message.cluster,
      epoch: message.epoch,
      master: formatEndpoint(message.master),
      result,
      waitedMs,
    });
    return { messageId: record.messageId, cluster: message.cluster, epoch: message.epoch, result, waitedMs };
  });
}

function parse(record: SQSRecord, deps: DnsWriterDeps): Omit<Parsed, 'record'> | { dropped: string } {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    return { dropped: 'the body is not JSON' };
  }
  const message = DnsUpsertMessageSchema.safeParse(body);
  if (!message.success) {
    return {
      dropped: `not a dns-upsert message: ${message.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    };
  }
  try {
    return { message: message.data, cluster: deps.clusters.get(message.data.cluster) };
  } catch (error) {
    return { dropped: errorMessage(error) };
  }
}

/** The timings of a batch's writes, for the dashboard: queued → written, per record written. */
export function writeTimings(writes: DnsWrite[]): Timing[] {
  return writes.flatMap((w) =>
    'result' in w && w.result === 'updated'
      ? [{ name: TIMING_METRICS.dnsWrittenAfterQueued, ms: w.waitedMs }]
      : [],
  );
}

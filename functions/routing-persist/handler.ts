import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import {
  type RoutingPersistMessage,
  RoutingPersistMessageSchema,
  routingKeyOf,
} from '../../adapters/aws/routing-queue.ts';
import { formatEndpoint } from '../../core/model/cluster.ts';
import type { Clock, Logger, NodeOps } from '../../core/ports.ts';
import {
  batchItemFailures,
  type FifoItem,
  type FifoOutcome,
  groupBatch,
  groupOutcomes,
  logOutcomes,
} from '../fifo/batch.ts';

/** The routing-persist Lambda's factory; the AWS entry is lambda.ts. */

/** What it needs: NodeOps that run update-haproxy on the proxy's host (SsmNodeOps), and waits for it. */
export interface RoutingPersistDeps {
  nodeOps: NodeOps;
  clock: Pick<Clock, 'now'>;
  logger: Logger;
}

/** A persist that ran (or was found stale on the host, or superseded in the batch), and its wait in the queue. */
export interface Persisted {
  /** The proxy's id and backend: one service's routing on one host. */
  proxy: string;
  epoch: number;
  result: 'persisted' | 'stale' | 'superseded';
  waitedMs: number;
}
export type RoutingPersist = FifoOutcome<Persisted>;

/** Time kept at the end of an invocation to answer SQS: a command waited for past it would be lost to a timeout. */
const ANSWER_RESERVE_MS = 3000;

/**
 * Persists the proxies' routing a batch of the FIFO queue holds (the message group is the proxy's host), one
 * command at a time per host, in order. Of two messages for the same proxy in one group, the newer epoch is run
 * and the older is superseded (its host would refuse it anyway). A failed command is retried by SQS with every
 * later message of its host; after 5 receives it goes to the dead-letter queue, which alarms.
 */
export function makeRoutingPersistHandler(load: () => Promise<RoutingPersistDeps>) {
  return async (
    event: SQSEvent,
    context?: { getRemainingTimeInMillis(): number },
  ): Promise<{ response: SQSBatchResponse; persists: RoutingPersist[] }> => {
    const deps = await load();
    const remaining = context?.getRemainingTimeInMillis?.();
    const deadlineAt = remaining === undefined ? undefined : deps.clock.now() + remaining - ANSWER_RESERVE_MS;
    const { groups, dropped } = groupBatch(event, RoutingPersistMessageSchema, deps.logger);
    const persisted = await Promise.all(groups.map((group) => persistGroup(group, deps, deadlineAt)));
    const persists = [...dropped, ...persisted.flat()];
    return { response: batchItemFailures(persists), persists };
  };
}

async function persistGroup(
  group: FifoItem<RoutingPersistMessage>[],
  deps: RoutingPersistDeps,
  deadlineAt: number | undefined,
): Promise<RoutingPersist[]> {
  // A service's routing on a host is its proxy's backend (a host set's HAProxy serves many, under one id); epochs
  // are compared within a service only.
  const newest = new Map<string, number>();
  for (const { message } of group) {
    const key = routingKeyOf(message.proxy);
    newest.set(key, Math.max(newest.get(key) ?? -1, message.epoch));
  }
  const settled: PromiseSettledResult<Persisted>[] = [];
  for (const { message } of group) {
    const done = (result: Persisted['result']): PromiseSettledResult<Persisted> => ({
      status: 'fulfilled',
      value: {
        proxy: routingKeyOf(message.proxy),
        epoch: message.epoch,
        result,
        waitedMs: Math.max(0, deps.clock.now() - message.queuedAt),
      },
    });
    if (settled.some((s) => s.status === 'rejected')) {
      settled.push({ status: 'rejected', reason: new Error('an earlier message of its host failed') });
      continue;
    }
    if (message.epoch < (newest.get(routingKeyOf(message.proxy)) ?? -1)) {
      settled.push(done('superseded'));
      continue;
    }
    const { proxy, master, epoch } = message;
    try {
      const result = await deps.nodeOps.run(
        { document: 'update-haproxy', proxy, master, epoch },
        deadlineAt === undefined ? {} : { deadlineAt },
      );
      settled.push(done(result.stale ? 'stale' : 'persisted'));
    } catch (reason) {
      settled.push({ status: 'rejected', reason });
    }
  }
  const outcomes = groupOutcomes(group, settled);
  logOutcomes(
    group,
    outcomes,
    (m) => ({
      proxy: m.proxy.id,
      backend: m.proxy.backend,
      host: m.proxy.host,
      epoch: m.epoch,
      master: formatEndpoint(m.master),
    }),
    deps.logger,
    { done: 'routing persisted', retried: 'routing not persisted; SQS retries it' },
  );
  return outcomes;
}

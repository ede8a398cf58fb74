import { z } from 'zod';
import { type EventOutcome, reconcile } from '../../core/failover/handle-event.ts';
import {
  clustersOfShard,
  MAX_RECONCILE_SHARDS,
  mapBounded,
  RECONCILE_CLUSTERS_PER_SHARD,
  RECONCILE_CONCURRENCY,
  RECONCILE_SHARD_WARN_CLUSTERS,
} from '../../core/failover/reconcile-shards.ts';
import { StateStoreWatch } from '../../core/failover/state-store-watch.ts';
import type { ClusterRegistry } from '../../core/model/cluster.ts';
import { errorMessage, InvalidInputError } from '../../core/model/errors.ts';
import type { CorePorts } from '../../core/ports.ts';
import { type InvocationTime, withEnd } from '../sentinel-event/invocation-time.ts';
import { serialized } from '../sentinel-event/serialize.ts';

/** The reconcile Lambda's factory; the AWS entry is lambda.ts. */

/** What reconcile needs: the clusters, and the core's ports. */
export interface ReconcileDeps {
  clusters: ClusterRegistry;
  failover: CorePorts;
  /** Who tells people the state store is down: shared with the event handler in one process; else the handler's own. */
  storeWatch?: StateStoreWatch;
}

/**
 * The scheduled event: `{ shard, shards }` (a schedule's: the clusters whose name hashes to that shard, from the
 * config read now), `{ cluster }` (one named cluster), or `{}` (every cluster).
 */
export const ReconcileEventSchema = z
  .object({
    cluster: z.string().min(1).optional(),
    shard: z.number().int().min(0).optional(),
    shards: z.number().int().min(1).max(MAX_RECONCILE_SHARDS).optional(),
  })
  .loose()
  .superRefine((e, ctx) => {
    if ((e.shard === undefined) !== (e.shards === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [e.shard === undefined ? 'shard' : 'shards'],
        message: 'give shard and shards together: { "shard": i, "shards": n }, 0 ≤ i < n',
      });
    } else if (e.shard !== undefined && e.shards !== undefined && e.shard >= e.shards) {
      ctx.addIssue({
        code: 'custom',
        path: ['shard'],
        message: `shard ${e.shard} is out of range: ${e.shards} shards are numbered 0 to ${e.shards - 1}`,
      });
    }
    if (e.cluster !== undefined && e.shard !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'give a cluster or a shard, not both' });
    }
  });

export type ReconcileEvent = z.infer<typeof ReconcileEventSchema>;

export type ClusterReconcile =
  | { cluster: string; ok: true; outcomes: EventOutcome[] }
  | { cluster: string; ok: false; error: string };

/** The event, validated: what is wrong with it, each issue with its field, as an InvalidInputError. */
export function parseReconcileEvent(event: unknown): ReconcileEvent {
  const parsed = ReconcileEventSchema.safeParse(event ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`);
  throw new InvalidInputError(`invalid reconcile event: ${issues.join('; ')}`);
}

/** The clusters an event names: its one cluster, its shard's (read from the config now), or every one. */
export function clustersToReconcile(event: ReconcileEvent, deps: ReconcileDeps): string[] {
  if (event.cluster) return [deps.clusters.get(event.cluster).name];
  const names = deps.clusters.names();
  if (event.shard === undefined || event.shards === undefined) return names;
  const mine = clustersOfShard(names, event.shard, event.shards);
  if (mine.length > RECONCILE_SHARD_WARN_CLUSTERS) {
    deps.failover.logger.warn('reconcile shard holds more clusters than its schedules were sized for', {
      shard: event.shard,
      shards: event.shards,
      clusters: mine.length,
      fleet: names.length,
      sizedFor: RECONCILE_CLUSTERS_PER_SHARD,
      todo: 'deploy again: the schedules follow the cluster count of the config at synth',
    });
  }
  return mine;
}

/**
 * The safety net behind the events (run every minute by EventBridge Scheduler, one schedule per shard): for each
 * cluster of the event, act on a confirmed failover no event reported, fence nodes left pending, and repair
 * proxies left blocked, RECONCILE_CONCURRENCY clusters at a time. One cluster failing does not stop the
 * others; the invocation then fails so that the error alarm fires.
 */
export function makeReconcileHandler(getDeps: () => Promise<ReconcileDeps> | ReconcileDeps) {
  // This environment's memory of a state store outage it told people about.
  const store = new StateStoreWatch();
  return async (event: unknown, context?: Partial<InvocationTime>): Promise<ClusterReconcile[]> => {
    const parsed = parseReconcileEvent(event);
    const deps = withEnd(await getDeps(), context);
    const watch = deps.storeWatch ?? store;
    const names = clustersToReconcile(parsed, deps);
    const results = await mapBounded(
      names,
      RECONCILE_CONCURRENCY,
      async (name): Promise<ClusterReconcile> => {
        const cluster = deps.clusters.get(name);
        try {
          const outcomes = await serialized(name, () => reconcile(cluster, deps.failover));
          await watch.answered(cluster, deps.failover);
          return { cluster: name, ok: true, outcomes };
        } catch (error) {
          deps.failover.logger.error('reconcile failed', { cluster: name, error: errorMessage(error) });
          await watch.failed(cluster, error, deps.failover);
          return { cluster: name, ok: false, error: errorMessage(error) };
        }
      },
    );
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) {
      throw new Error(
        `reconcile failed for ${failed.map((f) => f.cluster).join(', ')}; see the log for each cause`,
      );
    }
    return results;
  };
}

import { z } from 'zod';
import { type EventOutcome, reconcile } from '../../core/failover/handle-event.ts';
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

/** The scheduled event: every cluster, or one named cluster. */
export const ReconcileEventSchema = z.object({ cluster: z.string().min(1).optional() }).loose();

export type ClusterReconcile =
  | { cluster: string; ok: true; outcomes: EventOutcome[] }
  | { cluster: string; ok: false; error: string };

/**
 * The safety net behind the events (run every minute by EventBridge Scheduler): for each cluster, act on a
 * confirmed failover no event reported, fence nodes left pending, and repair proxies left blocked. One
 * cluster failing does not stop the others; the invocation then fails so that the error alarm fires.
 */
export function makeReconcileHandler(getDeps: () => Promise<ReconcileDeps> | ReconcileDeps) {
  // This environment's memory of a state store outage it told people about.
  const store = new StateStoreWatch();
  return async (event: unknown, context?: Partial<InvocationTime>): Promise<ClusterReconcile[]> => {
    const parsed = ReconcileEventSchema.safeParse(event ?? {});
    if (!parsed.success) throw new InvalidInputError(`invalid reconcile event: ${parsed.error.message}`);
    const deps = withEnd(await getDeps(), context);
    const names = parsed.data.cluster ? [deps.clusters.get(parsed.data.cluster).name] : deps.clusters.names();
    const results = await Promise.all(
      names.map(async (name): Promise<ClusterReconcile> => {
        const cluster = deps.clusters.get(name);
        try {
          const outcomes = await serialized(name, () => reconcile(cluster, deps.failover));
          await (deps.storeWatch ?? store).answered(cluster, deps.failover);
          return { cluster: name, ok: true, outcomes };
        } catch (error) {
          deps.failover.logger.error('reconcile failed', { cluster: name, error: errorMessage(error) });
          await (deps.storeWatch ?? store).failed(cluster, error, deps.failover);
          return { cluster: name, ok: false, error: errorMessage(error) };
        }
      }),
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

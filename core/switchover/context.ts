import { type ClusterConfig, type Endpoint, nodeLabel } from '../model/cluster.ts';
import { InvalidInputError } from '../model/errors.ts';
import { Timeline } from '../model/timeline.ts';
import type { CorePorts } from '../ports.ts';
import type { SwitchoverPlan, SwitchoverState } from './state.ts';

/** What every step of a planned switchover shares: its time limits, its timeline, its plan. */

/** Time limits of a planned switchover, in milliseconds. */
export const SWITCHOVER_TIMING = {
  /** CLIENT PAUSE WRITE expires by itself after this, even if everything else dies. */
  pauseMs: 5000,
  /**
   * Kept far below Sentinel's down-after-milliseconds: CLIENT PAUSE WRITE also holds Sentinel's hello
   * PUBLISH, and the PINGs queued behind it, so a long pause makes Sentinel see the master as down.
   */
  catchUpDeadlineMs: 500,
  /** Sentinel promotes in ~260-340 ms here; allow for a slow host. */
  promoteDeadlineMs: 5000,
  /**
   * One ROLE poll of the target while it is promoted. Sentinel's promotion ends with CLIENT KILL TYPE normal on
   * the target, which closes the poller's connection; under a heavy write load (bench: 16 writers x 1 KB,
   * pipeline 16) a ROLE sent just then was seen failing only ~500 ms later. A poll that takes longer than this is
   * abandoned with its connection, and the next one connects anew.
   */
  promotePollTimeoutMs: 100,
  /**
   * The target is promoted by the switchover itself only when Sentinel's selection of it is known to be at most
   * this old (the last poll that did not see it started at most this long ago). Sentinel's own REPLICAOF NO ONE
   * comes a tick (>= 52 ms at 19 Hz) after the selection, and ends with CLIENT KILL TYPE normal, which also cuts a
   * replica still in its replication handshake (a normal client until PSYNC): the promotion and the replicas'
   * re-point must be done before it. Cut, a replica connects again only at its next replication cron (up to 1 s),
   * maybe to a full resync.
   */
  selectionFreshMs: 20,
  pollMs: 2,
  /** Sentinels read replica priorities from INFO every 10 s. */
  priorityPropagationMs: 15_000,
  /** Longer than a switchover takes (~10-20 s, mostly Prepare); a dead one frees the cluster after this. */
  leaseMs: 60_000,
  /** The expected client-visible write gap, reported by the dry run. */
  expectedWriteGapMs: 350,
} as const;

/** The timeline of a switchover, going on from the steps its earlier Tasks recorded. */
export const timelineOf = (state: SwitchoverState, deps: CorePorts): Timeline =>
  Timeline.resume(state.timeline, deps, { cluster: state.input.cluster, switchover: state.executionId });

/** The plan of a switchover; every step after Plan needs it. */
export function planOf(state: SwitchoverState): SwitchoverPlan {
  if (!state.plan) throw new InvalidInputError('switchover state has no plan; the plan step must run first');
  return state.plan;
}

/** A node as plans name it: its id (or host:port) and its address. */
export const asNode = (cluster: ClusterConfig, e: Endpoint) => ({
  id: nodeLabel(cluster, e),
  host: e.host,
  port: e.port,
});

/** The node that answers ROLE master, if exactly one does. */
export async function findMaster(cluster: ClusterConfig, deps: CorePorts): Promise<Endpoint | undefined> {
  const roles = await Promise.all(
    cluster.nodes.map(async (n) => ({
      n,
      role: await deps.redis.role(n, cluster.timing.nodeTimeoutMs).catch(() => 'unreachable'),
    })),
  );
  const masters = roles.filter((r) => r.role === 'master');
  return masters.length === 1 && masters[0]
    ? { host: masters[0].n.host, port: masters[0].n.port }
    : undefined;
}

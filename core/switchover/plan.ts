import { decideMajority, observeSentinels } from '../failover/confirm.ts';
import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  type NodeConfig,
  nodeLabel,
  sameEndpoint,
} from '../model/cluster.ts';
import { HaRedisError, InvalidInputError, LeaseHeldError, SwitchoverRefusedError } from '../model/errors.ts';
import type { CorePorts } from '../ports.ts';
import { asNode, SWITCHOVER_TIMING, timelineOf } from './context.ts';
import type { SwitchoverInput, SwitchoverPlan, SwitchoverState } from './state.ts';

/** Step 1 of a switchover, Plan: the precheck that only reads, and the plan it hands the other steps. */

const STEPS = [
  'plan',
  'lease + replica priorities',
  'block writes (proxies maint + CLIENT PAUSE WRITE)',
  'wait until the target caught up',
  'SENTINEL FAILOVER',
  'wait for ROLE master',
  'reroute every proxy',
  'fence the old master',
  'verify with canaries',
  'restore priorities, record, release',
];

type PlannedReplica = SwitchoverPlan['replicas'][number];

/** The plan of a switchover without running it (Slack's dry run): the Plan step's precheck, which only reads. */
export async function dryRunPlan(
  cluster: ClusterConfig,
  input: SwitchoverInput,
  deps: CorePorts,
): Promise<SwitchoverPlan> {
  const now = deps.clock.now();
  const state = await planSwitchover(
    cluster,
    { input, executionId: `dry-run-${now}`, startedAt: now, timeline: [] },
    deps,
  );
  if (!state.plan) throw new HaRedisError(`the plan of ${cluster.name} came back empty; retry`);
  return state.plan;
}

/**
 * 1. Plan and precheck: every Sentinel answers and CKQUORUM is OK, a majority agrees on the master and no
 * failover is under way, the master has every replica online, no lease is held, and the target is an
 * online replica within maxLagBytes. Changes nothing.
 */
export async function planSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
): Promise<SwitchoverState> {
  const timeline = timelineOf(state, deps);
  const plan = await timeline.run(
    'planned',
    async (): Promise<SwitchoverPlan> => {
      const agreed = await checkSentinels(cluster, deps);
      await checkLease(cluster, state, deps);
      const master = agreed.master;
      const replicas = await readReplicas(cluster, master, deps);
      const target = chooseTarget(cluster, state.input, master, replicas);
      return {
        master: asNode(cluster, master),
        target: { id: target.id, host: target.host, port: target.port },
        replicas,
        epoch: agreed.epoch,
        expectedWriteGapMs: SWITCHOVER_TIMING.expectedWriteGapMs,
        steps: STEPS,
      };
    },
    (p) =>
      `${p.master.id} -> ${p.target.id}, lag ${p.replicas.find((r) => r.id === p.target.id)?.lagBytes} bytes`,
  );
  return { ...state, plan, timeline: timeline.steps, outcome: 'planned' };
}

/** Every Sentinel answers, a majority agrees on the master, no failover is under way, CKQUORUM is OK. */
async function checkSentinels(
  cluster: ClusterConfig,
  deps: CorePorts,
): Promise<{ master: Endpoint; epoch: number }> {
  const answers = await observeSentinels(cluster, deps.sentinels);
  const silent = answers.flatMap((a) => (a.ok ? [] : [`${formatEndpoint(a.sentinel)} (${a.error})`]));
  if (silent.length) throw new SwitchoverRefusedError(`Sentinels did not answer: ${silent.join(', ')}`);
  const decision = decideMajority(answers, cluster.sentinels.length);
  if (!decision.agreed) throw new SwitchoverRefusedError('the Sentinels do not agree on the master');
  if (decision.failoverInProgress)
    throw new SwitchoverRefusedError('a failover is in progress; retry when it ends');
  const quorum = await Promise.all(
    cluster.sentinels.map(async (s) => ({
      s,
      problem: await deps.sentinels.checkQuorum(s, cluster.masterName, cluster.timing.sentinelTimeoutMs),
    })),
  );
  const noQuorum = quorum.filter((q) => q.problem);
  if (noQuorum.length) {
    throw new SwitchoverRefusedError(
      `SENTINEL CKQUORUM failed: ${noQuorum.map((q) => `${formatEndpoint(q.s)}: ${q.problem}`).join('; ')}`,
    );
  }
  return decision.agreed;
}

/** No other operation holds the cluster's lease (this execution's own, from a retried Plan, is fine). */
async function checkLease(cluster: ClusterConfig, state: SwitchoverState, deps: CorePorts): Promise<void> {
  const lease = await deps.state.lease(cluster.name);
  if (lease && lease.until > deps.clock.now() && lease.owner !== state.executionId) {
    throw new LeaseHeldError(
      `${lease.purpose} ${lease.owner} holds cluster ${cluster.name}; retry when it ends`,
    );
  }
}

/**
 * The master's replicas with their lag and priority; refuses unless the master has every replica online.
 * The lag is the master's offset minus the replica's own offset, read just after it: what the replica still
 * lacked of what the master had. Not the offset the master lists for the replica: that is the replica's last
 * `REPLCONF ACK`, sent once a second, so under a heavy write load it is up to a second of writes behind (3.4 MB at
 * ~55k writes/s of 1 KB) when the replica has every byte. Read the other way round, the writes the master took
 * meanwhile would count as lag (1.08 MB was seen, at ~16k writes/s on a 1-GB dataset). A replica that is really
 * behind stays behind. This is the precheck; the critical section's catch-up, writes blocked, is the guarantee.
 */
async function readReplicas(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: CorePorts,
): Promise<PlannedReplica[]> {
  const { nodeTimeoutMs } = cluster.timing;
  const expected = cluster.nodes.filter((n) => !sameEndpoint(n, master));
  const info = await deps.redis.replication(master, nodeTimeoutMs);
  if (info.role !== 'master') {
    throw new SwitchoverRefusedError(`${nodeLabel(cluster, master)} answers ROLE ${info.role}, not master`);
  }
  const own = await Promise.all(
    expected.map(async (n) => ({
      offset: await deps.redis
        .replication(n, nodeTimeoutMs)
        .then((r) => (r.role === 'slave' ? r.offset : undefined))
        .catch(() => undefined),
      priority: await deps.redis.replicaPriority(n, nodeTimeoutMs).catch(() => -1),
    })),
  );
  const replicas = expected.map((n, i) => {
    const link = info.replicas?.find((r) => sameEndpoint(r.address, n));
    const offset = own[i]?.offset;
    return {
      id: n.id,
      host: n.host,
      port: n.port,
      lagBytes: link && offset !== undefined ? Math.max(0, info.offset - offset) : -1,
      priority: own[i]?.priority ?? -1,
      online: link?.state === 'online',
    };
  });
  const offline = replicas.filter((r) => !r.online);
  if (offline.length) {
    throw new SwitchoverRefusedError(
      `the master has ${replicas.length - offline.length} of ${replicas.length} replicas online; offline: ${offline.map((r) => r.id).join(', ')}`,
    );
  }
  const silent = replicas.filter((_, i) => own[i]?.offset === undefined);
  if (silent.length) {
    throw new SwitchoverRefusedError(
      `${silent.map((r) => r.id).join(', ')} does not answer as a replica, though the master lists it online; check the node`,
    );
  }
  return replicas;
}

/** The asked target, or the least lagging replica Sentinel may promote; refused when it lags too far. */
function chooseTarget(
  cluster: ClusterConfig,
  input: SwitchoverInput,
  master: Endpoint,
  replicas: readonly PlannedReplica[],
): PlannedReplica {
  let target: PlannedReplica | undefined;
  if (input.target) {
    const node = resolveNode(cluster, input.target);
    if (sameEndpoint(node, master))
      throw new InvalidInputError(`${node.id} is the master already; pick a replica`);
    target = replicas.find((r) => r.id === node.id);
    if (!target) throw new InvalidInputError(`${node.id} is not a replica of ${nodeLabel(cluster, master)}`);
    if (target.priority === 0) {
      throw new SwitchoverRefusedError(`${target.id} has replica-priority 0: Sentinel never promotes it`);
    }
    if (target.priority < 0) {
      throw new SwitchoverRefusedError(`could not read ${target.id}'s replica-priority; check the node`);
    }
  } else {
    target = replicas.filter((r) => r.priority > 0).sort((a, b) => a.lagBytes - b.lagBytes)[0];
    if (!target) throw new SwitchoverRefusedError('no replica can be promoted (all have replica-priority 0)');
  }
  if (target.lagBytes > input.maxLagBytes) {
    throw new SwitchoverRefusedError(
      `target ${target.id} is ${target.lagBytes} bytes behind (limit ${input.maxLagBytes}); retry when it has caught up`,
    );
  }
  return target;
}

function resolveNode(cluster: ClusterConfig, ref: string): NodeConfig {
  const node = cluster.nodes.find((n) => n.id === ref || formatEndpoint(n) === ref);
  if (!node) {
    throw new InvalidInputError(
      `unknown target '${ref}' in cluster ${cluster.name}; nodes: ${cluster.nodes.map((n) => n.id).join(', ')}`,
    );
  }
  return node;
}

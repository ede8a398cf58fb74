import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { RedisConnections } from '../../adapters/redis/connections.ts';
import { IoredisSentinelView } from '../../adapters/redis/sentinel-view.ts';
import type { Io } from '../../cli/commands/status.ts';
import { clusterFromDescriptor, localAccess, localDynamoClient } from '../../compose/local.ts';
import type { Descriptor } from '../../config/local-descriptor.ts';
import { decideMajority, observeSentinels } from '../../core/failover/confirm.ts';
import type { ClusterConfig, Endpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import { localDown, localUp } from '../../local/launcher.ts';
import { waitUntil } from '../../local/processes.ts';

/** A real local cluster for one test file: its own root directory and free ports. */
export interface TestCluster {
  d: Descriptor;
  name: string;
  root: string;
  cluster: ClusterConfig;
  password: string;
  ca: string;
  connections: RedisConnections;
  state: DynamoStateStore;
  history(): Promise<HistoryEntry[]>;
  role(node: Endpoint): Promise<string>;
  /** The node every Sentinel-majority-independent check agrees is master: the only node answering ROLE master. */
  soleMaster(): Promise<Endpoint>;
  down(): Promise<string[]>;
}

let counter = 0;

/**
 * Sentinel's timer periods in test clusters (SENTINEL DEBUG): a switchover's Prepare waits for every Sentinel
 * to read the changed replica priorities from INFO, every 10 s by default, and `up` waits for the Sentinels to
 * find each other through hellos, every 2 s. At these periods both waits take well under a second or two. The
 * demo and the bench keep Sentinel's own periods.
 */
export const TEST_SENTINEL_PERIODS = { infoMs: 1000, publishMs: 500 } as const;

export async function startTestCluster(
  options: { downAfterMs?: number; failoverTimeoutMs?: number; nodeAgent?: boolean } = {},
): Promise<TestCluster> {
  const root = await mkdtemp(join(tmpdir(), 'har-'));
  counter += 1;
  const name = `it${process.pid % 10000}-${counter}`;
  const d = await localUp({
    name,
    root,
    downAfterMs: options.downAfterMs ?? 1000,
    failoverTimeoutMs: options.failoverTimeoutMs ?? 10_000,
    sentinelPeriods: TEST_SENTINEL_PERIODS,
    ...(options.nodeAgent ? { nodeAgent: true } : {}),
  });
  return testClusterOf(d, root, async () => {
    const stopped = await localDown({ name, root });
    await rm(root, { recursive: true, force: true });
    return stopped;
  });
}

/** The test's handle on a running local cluster (or one service of a host set); `stop` stops its processes. */
export async function testClusterOf(
  d: Descriptor,
  root: string,
  stop: () => Promise<string[]>,
): Promise<TestCluster> {
  const name = d.cluster;
  const access = localAccess(d);
  const connections = new RedisConnections(access);
  const dynamo = localDynamoClient(d.stateStore.endpoint);
  const state = new DynamoStateStore(dynamo, d.stateStore.table);
  const cluster = clusterFromDescriptor(d);
  const role = (node: Endpoint) =>
    connections
      .run('redis', node, 500, (c) => c.call('ROLE'))
      .then((r) => String((r as unknown[])[0]))
      .catch(() => 'unreachable');
  return {
    d,
    name,
    root,
    cluster,
    password: await access.redisPassword(),
    ca: await readFile(d.caCertPath, 'utf8'),
    connections,
    state,
    history: () => state.listHistory(name, 50),
    role,
    soleMaster: async () => {
      const roles = await Promise.all(d.nodes.map(async (n) => ({ n, r: await role(n) })));
      const masters = roles.filter((x) => x.r === 'master');
      if (masters.length !== 1) throw new Error(`expected one master, got ${masters.length}`);
      return { host: masters[0]?.n.host as string, port: masters[0]?.n.port as number };
    },
    down: async () => {
      await connections.close();
      dynamo.destroy();
      return stop();
    },
  };
}

/** Captures what a command prints. */
export function capture(): Io & { stdout: string; lines: string[] } {
  const io = {
    stdout: '',
    lines: [] as string[],
    out: (text: string) => {
      io.stdout += text;
    },
    err: (line: string) => {
      io.lines.push(line);
    },
  };
  return io;
}

/** Wait for a history entry matching `predicate`. */
export async function waitForHistory(
  t: TestCluster,
  predicate: (e: HistoryEntry) => boolean,
  timeoutMs = 30_000,
): Promise<HistoryEntry> {
  let found: HistoryEntry | undefined;
  await waitUntil(
    async () => {
      found = (await t.history()).find(predicate);
      return found !== undefined;
    },
    timeoutMs,
    'a history entry',
    50,
  );
  return found as HistoryEntry;
}

/** The master and config epoch a majority of the cluster's Sentinels name, if a majority agrees. */
export async function sentinelMajority(
  t: TestCluster,
): Promise<{ master: Endpoint; epoch: number } | undefined> {
  const answers = await observeSentinels(t.cluster, new IoredisSentinelView(t.connections));
  return decideMajority(answers, t.cluster.sentinels.length).agreed;
}

/**
 * A failover run by Sentinel now: SENTINEL FAILOVER to `sentinel` (asked again while it refuses, e.g. INPROG), then
 * wait until a majority names a master, at an epoch newer than `afterEpoch`, that answers ROLE master.
 *
 * A failover Sentinel accepted can still end without a new master (aborted, or not agreed within 20 s on a loaded
 * machine; seen in CI, cause not yet known): what each Sentinel said is printed, and the failover is asked for
 * once more. The tests built on this are about the reaction to a failover, not about Sentinel's own.
 */
export async function sentinelFailover(
  t: TestCluster,
  afterEpoch: number,
  sentinel: Endpoint | undefined = t.cluster.sentinels[0],
): Promise<{ master: Endpoint; epoch: number }> {
  if (!sentinel) throw new Error('the cluster has no Sentinel');
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await askedFailover(t, afterEpoch, sentinel);
    } catch (error) {
      const said = `${String(error)} (after epoch ${afterEpoch})\n${await sentinelsSaid(t)}`;
      if (attempt >= 2) throw new Error(said);
      console.warn(`SENTINEL FAILOVER, attempt ${attempt}: ${said}`);
    }
  }
}

async function askedFailover(
  t: TestCluster,
  afterEpoch: number,
  sentinel: Endpoint,
): Promise<{ master: Endpoint; epoch: number }> {
  await replicasSettled(t);
  await waitUntil(
    async () => {
      const answer = await t.connections
        .run('sentinel', sentinel, 2000, (c) => c.call('SENTINEL', 'FAILOVER', t.d.masterName))
        .catch((e: Error) => e.message);
      return answer === 'OK';
    },
    20_000,
    'SENTINEL FAILOVER to be accepted',
    200,
  );
  let agreed: { master: Endpoint; epoch: number } | undefined;
  await waitUntil(
    async () => {
      agreed = await sentinelMajority(t);
      return agreed !== undefined && agreed.epoch > afterEpoch && (await t.role(agreed.master)) === 'master';
    },
    20_000,
    'a majority to agree on the new master',
  );
  return agreed as { master: Endpoint; epoch: number };
}

/**
 * Wait until no Sentinel that answers still sees one of its replicas report itself as master. Right after a
 * failover, a Sentinel that has not read the demoted old master's INFO since still holds it as `role-reported
 * master`; when a forced failover promotes that very replica, the Sentinel takes the promotion for a stale
 * master and turns it back (`+convert-to-slave`, after 4 hello periods: 2 s here), and the failover ends in
 * `-failover-abort-slave-timeout`. Seen in CI with a failover asked 0.3 s after the one before.
 */
async function replicasSettled(t: TestCluster): Promise<void> {
  await waitUntil(
    async () => {
      const views = await Promise.all(
        t.cluster.sentinels.map((s) =>
          t.connections
            .run('sentinel', s, 1000, (c) => c.call('SENTINEL', 'REPLICAS', t.d.masterName))
            .then((reply) => (Array.isArray(reply) ? reply : []).map(fieldsOfReply))
            .catch(() => undefined),
        ),
      );
      const answered = views.filter((v) => v !== undefined);
      return (
        answered.length > t.cluster.sentinels.length / 2 &&
        answered.every((replicas) =>
          replicas.every((r) => r.get('role-reported') === 'slave' || /s_down/.test(r.get('flags') ?? '')),
        )
      );
    },
    20_000,
    'every Sentinel to see its replicas report themselves as replicas',
    100,
  );
}

const fieldsOfReply = (reply: unknown): Map<string, string> => {
  const flat = (Array.isArray(reply) ? reply : []).map(String);
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  return fields;
};

/** What each Sentinel and node says now, and the tails of the Sentinels' and the orchestrator's logs. */
async function sentinelsSaid(t: TestCluster): Promise<string> {
  const tail = async (path: string | undefined, lines: number) =>
    path ? (await readFile(path, 'utf8').catch(() => '')).split('\n').slice(-lines).join('\n') : '';
  const answers = await observeSentinels(t.cluster, new IoredisSentinelView(t.connections));
  const roles = await Promise.all(t.d.nodes.map(async (n) => `${n.id} ${n.port}: ${await t.role(n)}`));
  const logs = await Promise.all(
    t.d.sentinels.map(async (s) => `--- ${s.id} (${s.port}) log:\n${await tail(s.logPath, 25)}`),
  );
  return [
    `views: ${JSON.stringify(answers)}`,
    `roles: ${roles.join(', ')}`,
    ...logs,
    `--- orchestrator log:\n${await tail(t.d.orchestrator?.logPath, 15)}`,
  ].join('\n');
}

/**
 * The partition scenario: a cluster placed on the topology's 3 hosts, a writer on each side, the master's host
 * cut off and healed, the wait for one converged master, and the count of the lost writes; and the clean-up of
 * what a failed run left. The writers are in writer-process.ts, the measures and the table in results.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { RedisConnections } from '../../adapters/redis/connections.ts';
import { parseInfo } from '../../adapters/redis/redis-nodes.ts';
import { localAccess, localDynamoClient } from '../../compose/local.ts';
import type { Descriptor } from '../../config/local-descriptor.ts';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import { localDown, localUp } from '../../local/launcher.ts';
import { countLost } from '../../local/load.ts';
import { cutOff, type NetnsHost, netnsOfPid, reconnect, type Topology } from '../../local/netns.ts';
import { commandLine, waitUntil } from '../../local/processes.ts';
import { type RunResult, type System, side } from './results.ts';
import { WriterProcess } from './writer-process.ts';

/**
 * Scenario timing: down-after of the Sentinels, how long the partition lasts, how long to wait for a converged
 * cluster. A baseline converges when Sentinel converts the old master itself (+convert-to-slave, at least 8 s
 * after it reports master again), and a Sentinel in TILT (its timer late by 2 s on a busy machine) does nothing
 * for 30 s: one fresh-clone run waited over 45 s for the hardened baseline. ha-redis's own bound is asserted by
 * its test.
 */
export const SCENARIO = {
  downAfterMs: 2000,
  failoverTimeoutMs: 10_000,
  partitionMs: 20_000,
  warmupAcks: 200,
  convergeTimeoutMs: 90_000,
  resumeTimeoutMs: 20_000,
} as const;

/** What the test keeps to clean up if a run fails half-way. */
export interface Running {
  writers: WriterProcess[];
  clusters: { name: string; root: string }[];
  cut: NetnsHost[];
}

async function roleOf(connections: RedisConnections, node: Endpoint): Promise<string[]> {
  const reply = (await connections.run('redis', node, 500, (c) => c.call('ROLE'))) as unknown[];
  return reply.map((x) => (Array.isArray(x) ? JSON.stringify(x) : String(x)));
}

/** One master (not the old one), both other nodes its replicas and online, the old master among them. */
async function converged(d: Descriptor, connections: RedisConnections): Promise<Endpoint | undefined> {
  const roles = await Promise.all(
    d.nodes.map(async (n) => ({ n, role: await roleOf(connections, n).catch(() => ['unreachable']) })),
  );
  const masters = roles.filter((r) => r.role[0] === 'master');
  const master = masters[0]?.n;
  if (masters.length !== 1 || !master || master.id === d.nodes[0]?.id) return undefined;
  const followers = roles.filter(
    (r) =>
      r.role[0] === 'slave' &&
      r.role[1] === master.host &&
      Number(r.role[2]) === master.port &&
      r.role[3] === 'connected',
  );
  if (followers.length !== d.nodes.length - 1) return undefined;
  const info = parseInfo(await connections.run('redis', master, 500, (c) => c.info('replication')));
  const online = [...info.entries()].filter(([k, v]) => /^slave\d+$/.test(k) && v.includes('state=online'));
  return online.length === d.nodes.length - 1 ? { host: master.host, port: master.port } : undefined;
}

/** Start the run's cluster on the topology's hosts (recorded in `running` first, for the clean-up). */
async function startCluster(system: System, t: Topology, running: Running): Promise<Descriptor> {
  const root = await mkdtemp(join(tmpdir(), 'har-part-'));
  const name = `part-${system.name}-${t.id}`;
  running.clusters.push({ name, root });
  return localUp({
    name,
    root,
    downAfterMs: SCENARIO.downAfterMs,
    failoverTimeoutMs: SCENARIO.failoverTimeoutMs,
    hosts: t.hosts.map((h) => ({ ip: h.ip, netns: h.netns })),
    minReplicasToWrite: system.minReplicasToWrite,
    minReplicasMaxLag: system.minReplicasMaxLag,
    routing: system.routing,
  });
}

/** The two writers: the minority one on h1 through its proxy, the majority one in the client namespace through h2's. */
async function startWriters(
  d: Descriptor,
  netns: { h1: string; client: string },
  prefix: string,
  running: Running,
): Promise<{ minority: WriterProcess; majority: WriterProcess }> {
  const [p1, p2] = d.proxies;
  if (!p1 || !p2) throw new Error('expected a proxy on h1 and on h2');
  const minority = new WriterProcess(
    netns.h1,
    { host: p1.host, port: p1.plainPort },
    d.passwordFile,
    `${prefix}:minority`,
  );
  const majority = new WriterProcess(
    netns.client,
    { host: p2.host, port: p2.plainPort },
    d.passwordFile,
    `${prefix}:majority`,
  );
  running.writers.push(minority, majority);
  await minority.waitForAcks(SCENARIO.warmupAcks, 15_000, 'the minority writer to warm up');
  await majority.waitForAcks(SCENARIO.warmupAcks, 15_000, 'the majority writer to warm up');
  return { minority, majority };
}

/** The partition: the master's host (with its Sentinel, its proxy and the minority writer) is cut off, then healed. */
async function partition(h1: NetnsHost, running: Running) {
  const cutAt = Date.now();
  running.cut.push(h1);
  await cutOff(h1);
  const cutDoneAt = Date.now();
  await sleep(SCENARIO.partitionMs);
  const healAt = Date.now();
  await reconnect(h1);
  running.cut.splice(running.cut.indexOf(h1), 1);
  return { cutAt, cutDoneAt, healAt };
}

/** Wait for one converged master, then (not asserted here) for both writers to write again; the master, and when. */
async function awaitConverged(
  system: System,
  d: Descriptor,
  connections: RedisConnections,
  writers: { minority: WriterProcess; majority: WriterProcess },
): Promise<{ finalMaster: Endpoint; convergedAt: number }> {
  const { minority, majority } = writers;
  let finalMaster: Endpoint | undefined;
  await waitUntil(
    async () => {
      finalMaster = await converged(d, connections);
      return finalMaster !== undefined;
    },
    SCENARIO.convergeTimeoutMs,
    `${system.name}: one master with the old master and the other node as online replicas`,
    100,
  );
  const convergedAt = Date.now();
  const since = { minority: minority.ackCount, majority: majority.ackCount };
  await waitUntil(
    async () => minority.ackCount > since.minority + 50 && majority.ackCount > since.majority + 50,
    SCENARIO.resumeTimeoutMs,
    'both writers to write again',
    50,
  ).catch(() => undefined); // measured below: a writer that did not resume has no kept write after the heal
  return { finalMaster: finalMaster as Endpoint, convergedAt };
}

/**
 * The orchestrator's history (none for role-check). ha-redis: wait for the reaction to the failover after the cut
 * (h1's proxy pending in it), to report its timeline.
 */
async function historyAfterHeal(
  system: System,
  d: Descriptor,
  dynamo: ReturnType<typeof localDynamoClient>,
  cutAt: number,
): Promise<() => Promise<HistoryEntry[]>> {
  const state = new DynamoStateStore(dynamo, d.stateStore.table);
  const history = async () =>
    system.routing === 'orchestrator' ? await state.listHistory(d.cluster, 20) : [];
  if (system.routing === 'orchestrator') {
    await waitUntil(
      async () =>
        (await history()).some(
          (e) => e.kind === 'failover' && e.outcome === 'succeeded' && e.startedAt > cutAt,
        ),
      SCENARIO.resumeTimeoutMs,
      'a failover completed after the cut',
      200,
    ).catch(() => undefined); // asserted by the test
  }
  return history;
}

/**
 * Start a cluster on the topology's 3 hosts; one writer on the master's host (through its proxy), one in a client
 * namespace (through h2's proxy); cut h1 off for `partitionMs`; heal; wait until the cluster has converged
 * and both writers write again; count the acknowledged writes missing on the final master.
 */
export async function runPartition(system: System, t: Topology, running: Running): Promise<RunResult> {
  const [h1, h2] = t.hosts;
  const client = t.clients[0];
  if (!h1 || !h2 || !client) throw new Error('the topology needs 3 hosts and a client namespace');
  const d = await startCluster(system, t, running);
  const connections = new RedisConnections(localAccess(d));
  const dynamo = localDynamoClient(d.stateStore.endpoint);
  try {
    const misplaced = await misplacedProcesses(d);
    const prefix = `part:${system.name}`;
    const writers = await startWriters(d, { h1: h1.netns, client: client.netns }, prefix, running);
    const { cutAt, cutDoneAt, healAt } = await partition(h1, running);
    const { finalMaster: master, convergedAt } = await awaitConverged(system, d, connections, writers);
    const history = await historyAfterHeal(system, d, dynamo, cutAt);
    const minorityReport = await writers.minority.stop();
    const majorityReport = await writers.majority.stop();
    const password = await localAccess(d).redisPassword();
    const lost = new Set([
      ...(await countLost(
        master,
        password,
        minorityReport.acked.map((s) => `${prefix}:minority:${s}`),
      )),
      ...(await countLost(
        master,
        password,
        majorityReport.acked.map((s) => `${prefix}:majority:${s}`),
      )),
    ]);
    const oldMaster = d.nodes[0] as Endpoint;
    return {
      system,
      misplaced,
      cutAt,
      cutDoneAt,
      healAt,
      convergedAfterHealMs: convergedAt - healAt,
      finalMaster: master,
      oldMasterRole: (await roleOf(connections, oldMaster))[0] ?? 'unknown',
      minority: side(minorityReport, lost, { at: cutAt, doneAt: cutDoneAt }, healAt),
      majority: side(majorityReport, lost, { at: cutAt, doneAt: cutDoneAt }, healAt),
      history: (await history()).sort((a, b) => a.startedAt - b.startedAt),
    };
  } finally {
    await connections.close();
    dynamo.destroy();
  }
}

/**
 * Each node, Sentinel and proxy runs as its program (`ip netns exec` execs it: the recorded pid is the program's,
 * so `local down` stops exactly it) inside its host's namespace.
 */
async function misplacedProcesses(d: Descriptor): Promise<string[]> {
  const expected = [
    ...d.nodes.map((p) => ({ p, program: 'redis-server' })),
    ...d.sentinels.map((p) => ({ p, program: 'redis-sentinel' })),
    ...d.proxies.map((p) => ({ p, program: 'haproxy' })),
  ];
  const problems: string[] = [];
  for (const { p, program } of expected) {
    const cmd = (await commandLine(p.pid)) ?? 'gone';
    const netns = await netnsOfPid(p.pid).catch(() => '?');
    if (!cmd.startsWith(program) && !cmd.includes(`/${program}`))
      problems.push(`${p.id}: pid ${p.pid} is '${cmd}'`);
    if (netns !== p.netns) problems.push(`${p.id}: in namespace '${netns}', not '${p.netns}'`);
  }
  return problems;
}

/**
 * Stop what a run left behind: writers, a cut link, clusters (each by its descriptor: exactly what it started).
 * Returns the cluster processes still running afterwards (expected: none).
 */
export async function cleanUp(running: Running): Promise<string[]> {
  for (const w of running.writers.splice(0)) w.kill();
  for (const h of running.cut.splice(0)) await reconnect(h).catch(() => undefined);
  const survivors: string[] = [];
  for (const c of running.clusters.splice(0)) {
    const d = await readDescriptor(descriptorPath(c.name, c.root)).catch(() => undefined);
    await localDown({ name: c.name, root: c.root }).catch(() => undefined);
    await rm(c.root, { recursive: true, force: true });
    const pids = d
      ? [...d.nodes, ...d.sentinels, ...d.proxies, d.stateStore, ...(d.orchestrator ? [d.orchestrator] : [])]
      : [];
    for (const { pid } of pids) {
      const cmd = await commandLine(pid);
      if (cmd) survivors.push(`${c.name}: pid ${pid} (${cmd}) still runs after local down`);
    }
  }
  return survivors;
}

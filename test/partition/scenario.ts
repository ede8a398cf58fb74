import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { RedisConnections } from '../../adapters/redis/connections.ts';
import { parseInfo } from '../../adapters/redis/redis-nodes.ts';
import { localAccess, localDynamoClient } from '../../compose/local.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/ports.ts';
import type { Descriptor } from '../../local/descriptor.ts';
import { descriptorPath, readDescriptor } from '../../local/descriptor.ts';
import { localDown, localUp, type UpOptions } from '../../local/launcher.ts';
import { countLost } from '../../local/load.ts';
import { cutOff, inNetns, type NetnsHost, netnsOfPid, reconnect, type Topology } from '../../local/netns.ts';
import { commandLine, waitUntil } from '../../local/processes.ts';
import type { WriterReport } from './writer.ts';

const WRITER = fileURLToPath(new URL('./writer.ts', import.meta.url));

/** A writer application running in a network namespace (see writer.ts). */
export class WriterProcess {
  private readonly child: ChildProcess;
  private acked = 0;
  private stdout = '';
  private stderr = '';
  private readonly exited: Promise<number | null>;

  constructor(netns: string, proxy: Endpoint, passwordFile: string, prefix: string) {
    const [program, args] = inNetns(netns, process.execPath, [
      WRITER,
      proxy.host,
      String(proxy.port),
      passwordFile,
      prefix,
    ]);
    this.child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString('utf8');
      const lines = this.stdout.split('\n');
      for (const line of lines.slice(0, -1).reverse()) {
        const count = /^\{"acked":(\d+)\}$/.exec(line)?.[1];
        if (count !== undefined) {
          this.acked = Number(count);
          break;
        }
      }
      // Keep only the unfinished line and the report (the progress lines are read once).
      this.stdout = lines.filter((l, i) => i === lines.length - 1 || l.startsWith('{"report"')).join('\n');
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
  }

  get ackCount(): number {
    return this.acked;
  }

  async waitForAcks(n: number, timeoutMs: number, what: string): Promise<void> {
    await waitUntil(async () => this.acked >= n, timeoutMs, what, 20).catch((error: Error) => {
      throw new Error(`${error.message}; ${this.acked} acked; writer stderr: ${this.stderr.trim()}`);
    });
  }

  /** Stop the writer and read what it acknowledged. */
  async stop(): Promise<WriterReport> {
    this.child.kill('SIGTERM');
    const code = await this.exited;
    const line = this.stdout.split('\n').find((l) => l.startsWith('{"report"'));
    if (code !== 0 || !line) {
      throw new Error(`writer exited with ${code} and no report; stderr: ${this.stderr.trim()}`);
    }
    return (JSON.parse(line) as { report: WriterReport }).report;
  }

  /** For teardown after a failure: the process we started, by its pid. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Which setup a run measures. */
export interface System {
  name: string;
  minReplicasToWrite: number;
  minReplicasMaxLag: number;
  routing: NonNullable<UpOptions['routing']>;
}

export interface SideResult {
  acked: number;
  lost: number;
  /** Lost writes by when they were acknowledged. */
  lostBeforeCut: number;
  lostDuringPartition: number;
  lostAfterHeal: number;
  ackedDuringPartition: number;
  /**
   * Writes acknowledged once the cut was certainly in place (from `ISOLATION_SLACK_MS` after `ip link set down`
   * returned, until the heal), and how many of them are lost. A write whose replication left just before the cut
   * can be acknowledged a moment after it.
   */
  ackedIsolated: number;
  lostIsolated: number;
  /** The last write acknowledged during the partition, in ms after the cut (null: none). */
  lastAckDuringPartitionMs: number | null;
  /** The first write after the heal that is on the final master, in ms after the heal (null: none). */
  firstKeptAckAfterHealMs: number | null;
  /** The longest stretch without an acknowledged write, from the cut on. */
  longestGapMs: number;
  /** When that stretch ended (writes acknowledged again), in ms after the cut. */
  writesBackAfterCutMs: number;
  /** The last write acknowledged after the heal and then lost, in ms after the heal (null: none). */
  lastLostAckAfterHealMs: number | null;
  errors: WriterReport['errors'];
}

/** See `SideResult.ackedIsolated`. */
const ISOLATION_SLACK_MS = 100;

export interface RunResult {
  system: System;
  /** Processes not running as the program, or not in their host's namespace (expected: none). */
  misplaced: string[];
  /** Just before the link went down, and when `ip link set down` returned. */
  cutAt: number;
  cutDoneAt: number;
  healAt: number;
  /** ms from the heal until one master with both replicas online and the old master a replica. */
  convergedAfterHealMs: number;
  finalMaster: Endpoint;
  oldMasterRole: string;
  minority: SideResult;
  majority: SideResult;
  history: HistoryEntry[];
}

/** Scenario timing: down-after of the Sentinels, how long the partition lasts, how long to wait for a converged cluster. */
export const SCENARIO = {
  downAfterMs: 2000,
  failoverTimeoutMs: 10_000,
  partitionMs: 20_000,
  warmupAcks: 200,
  convergeTimeoutMs: 45_000,
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

function side(
  report: WriterReport,
  lostKeys: Set<string>,
  cut: { at: number; doneAt: number },
  healAt: number,
): SideResult {
  const cutAt = cut.at;
  const acks = report.acked.map((seq, i) => ({
    t: report.ackedAt[i] as number,
    lost: lostKeys.has(`${report.prefix}:${seq}`),
  }));
  const during = acks.filter((a) => a.t >= cutAt && a.t < healAt);
  const isolated = during.filter((a) => a.t >= cut.doneAt + ISOLATION_SLACK_MS);
  const afterCut = acks.filter((a) => a.t >= cutAt);
  const keptAfterHeal = acks.find((a) => a.t >= healAt && !a.lost);
  let longestGapMs = 0;
  let gapEnd = cutAt;
  let previous = acks.filter((a) => a.t < cutAt).pop()?.t ?? cutAt;
  for (const a of afterCut) {
    if (a.t - previous > longestGapMs) {
      longestGapMs = a.t - previous;
      gapEnd = a.t;
    }
    previous = a.t;
  }
  const lostAfterHeal = acks.filter((a) => a.lost && a.t >= healAt);
  const lastLostAfterHeal = lostAfterHeal[lostAfterHeal.length - 1];
  const last = during[during.length - 1];
  return {
    acked: acks.length,
    lost: acks.filter((a) => a.lost).length,
    lostBeforeCut: acks.filter((a) => a.lost && a.t < cutAt).length,
    lostDuringPartition: during.filter((a) => a.lost).length,
    lostAfterHeal: lostAfterHeal.length,
    ackedDuringPartition: during.length,
    ackedIsolated: isolated.length,
    lostIsolated: isolated.filter((a) => a.lost).length,
    lastAckDuringPartitionMs: last ? last.t - cutAt : null,
    firstKeptAckAfterHealMs: keptAfterHeal ? keptAfterHeal.t - healAt : null,
    longestGapMs,
    writesBackAfterCutMs: gapEnd - cutAt,
    lastLostAckAfterHealMs: lastLostAfterHeal ? lastLostAfterHeal.t - healAt : null,
    errors: report.errors,
  };
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
  const root = await mkdtemp(join(tmpdir(), 'har-part-'));
  const name = `part-${system.name}-${t.id}`;
  running.clusters.push({ name, root });
  const d = await localUp({
    name,
    root,
    downAfterMs: SCENARIO.downAfterMs,
    failoverTimeoutMs: SCENARIO.failoverTimeoutMs,
    hosts: t.hosts.map((h) => ({ ip: h.ip, netns: h.netns })),
    minReplicasToWrite: system.minReplicasToWrite,
    minReplicasMaxLag: system.minReplicasMaxLag,
    routing: system.routing,
  });
  const connections = new RedisConnections(localAccess(d));
  const dynamo = localDynamoClient(d.stateStore.endpoint);
  try {
    const misplaced = await misplacedProcesses(d);
    const [p1, p2] = d.proxies;
    if (!p1 || !p2) throw new Error('expected a proxy on h1 and on h2');
    const prefix = `part:${system.name}`;
    const minority = new WriterProcess(
      h1.netns,
      { host: p1.host, port: p1.plainPort },
      d.passwordFile,
      `${prefix}:minority`,
    );
    const majority = new WriterProcess(
      client.netns,
      { host: p2.host, port: p2.plainPort },
      d.passwordFile,
      `${prefix}:majority`,
    );
    running.writers.push(minority, majority);
    await minority.waitForAcks(SCENARIO.warmupAcks, 15_000, 'the minority writer to warm up');
    await majority.waitForAcks(SCENARIO.warmupAcks, 15_000, 'the majority writer to warm up');

    // The partition: the master's host (with its Sentinel, its proxy and the minority writer) is cut off.
    const cutAt = Date.now();
    running.cut.push(h1);
    await cutOff(h1);
    const cutDoneAt = Date.now();
    await sleep(SCENARIO.partitionMs);
    const healAt = Date.now();
    await reconnect(h1);
    running.cut.splice(running.cut.indexOf(h1), 1);

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
    // ha-redis: the reaction that ran during the partition could not reach h1 (partial); wait for the retry that
    // completes it after the heal, to report its timeline.
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
    const minorityReport = await minority.stop();
    const majorityReport = await majority.stop();
    const master = finalMaster as Endpoint;
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

const seconds = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

/** A compact table of the runs, for the CI log. */
export function resultsTable(results: RunResult[]): string {
  const rows = [
    [
      'system',
      'old master acked: after cut',
      'after heal',
      'minority acked/lost',
      'majority gap',
      'majority acked/lost',
      'one master after heal',
      'minority writes kept after heal',
    ],
    ...results.map((r) => [
      r.system.name,
      seconds(r.minority.lastAckDuringPartitionMs),
      r.minority.lastLostAckAfterHealMs === null ? 'none' : seconds(r.minority.lastLostAckAfterHealMs),
      `${r.minority.acked}/${r.minority.lost}`,
      `${seconds(r.majority.longestGapMs)} (back +${seconds(r.majority.writesBackAfterCutMs)})`,
      `${r.majority.acked}/${r.majority.lost}`,
      `+${seconds(r.convergedAfterHealMs)}`,
      r.minority.firstKeptAckAfterHealMs === null ? 'no' : `+${seconds(r.minority.firstKeptAckAfterHealMs)}`,
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')).join('\n');
}

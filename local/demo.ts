import { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import { RedisConnections } from '../adapters/redis/connections.ts';
import { localAccess, localDynamoClient } from '../compose/local.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import { type Endpoint, formatEndpoint } from '../core/model/cluster.ts';
import type { HistoryEntry } from '../core/model/records.ts';
import { formatTimeline } from '../core/model/timeline.ts';
import type { Logger } from '../core/ports.ts';
import { followSteps, waitFor, withProgress } from './demo-progress.ts';
import { localDown, localUp, startNode } from './launcher.ts';
import { countLost, type LoadReport, WriteLoad } from './load.ts';
import { runLocalSwitchover } from './switchover-runner.ts';

export interface DemoOptions {
  name: string;
  downAfterMs: number;
  keep: boolean;
  /** Human progress (stderr). */
  say: (line: string) => void;
}

export interface DemoEventSummary {
  event: string;
  client: string;
  writeGapMs: number;
  acked: number;
  lost: number;
  oldMaster: string;
  newMaster: string;
}

export interface DemoSummary {
  cluster: string;
  events: DemoEventSummary[];
  failover?: HistoryEntry;
  fence?: HistoryEntry;
  /**
   * Every failover in history before the switchover, oldest first: one, unless Sentinel failed over again on its
   * own meanwhile (at a short down-after on a busy machine it may), in which case the switchover starts from the
   * last one's master.
   */
  failoversBeforeSwitchover: { epoch: number; newMaster: string }[];
}

const quietLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** What the phases started that must be stopped on the way out, even when a phase throws. */
interface DemoTeardown {
  loads: WriteLoad[];
  stopFollowing?: () => void;
}

type DemoProxy = Descriptor['proxies'][number];

/** The running cluster and how to reach it, as phase 1 leaves it. */
interface DemoCluster {
  d: Descriptor;
  access: ReturnType<typeof localAccess>;
  password: string;
  /** The orchestrator's JSON log, which phase 2 follows. */
  orchestratorLog: string;
  p1: DemoProxy;
  p2: DemoProxy;
}

/** What phase 2 leaves: the killed master, the failover, and what each client saw. */
interface DemoKill {
  oldNode: Descriptor['nodes'][number];
  oldMaster: Endpoint;
  newMaster: Endpoint;
  failover: HistoryEntry;
  reports: [string, LoadReport][];
  state: DynamoStateStore;
  dynamo: ReturnType<typeof localDynamoClient>;
}

/**
 * The demo: a local cluster, a write load through HAProxy, kill -9 of the master, the orchestrator's
 * reaction live, the old master restarted and fenced, and a summary of what clients saw.
 * 1. start under load 2. kill -9 the master 3. restart it fenced 4. switchover under load 5. summary.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { say, name } = options;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned || options.keep) return;
    cleaned = true;
    say('cleaning up: stopping every process the demo started');
    await localDown({ name }).catch(() => undefined);
  };
  const onSignal = () => {
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const teardown: DemoTeardown = { loads: [] };
  try {
    const { cluster, plain, tls } = await startClusterUnderLoad(options, teardown);
    const kill = await killMasterUnderLoad(options, cluster, plain, tls, teardown);
    const fence = await restartOldMaster(options, cluster, kill);
    const { d } = cluster;
    const label = (e: Endpoint) => d.nodes.find((n) => n.port === e.port)?.id ?? formatEndpoint(e);
    const events = await tallyFailover(cluster, kill, label);
    say('4. a planned switchover away from the master, under load, through the Step Functions workflow');
    await planSwitchover(options, cluster);
    const failovers = await failoversSoFar(options, cluster, label);
    events.push(await switchoverUnderLoad(options, cluster, teardown));
    printSummary(options, cluster, events, kill.failover);
    return {
      cluster: name,
      events,
      failover: kill.failover,
      fence,
      failoversBeforeSwitchover: failovers,
    };
  } finally {
    teardown.stopFollowing?.();
    for (const l of teardown.loads) await l.stop().catch(() => undefined);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

/** 1. Start the cluster and two write loads, one per proxy (plain and TLS), and wait for their first acks. */
async function startClusterUnderLoad(
  options: DemoOptions,
  teardown: DemoTeardown,
): Promise<{ cluster: DemoCluster; plain: WriteLoad; tls: WriteLoad }> {
  const { say, name } = options;
  say(
    `1. starting a local cluster '${name}': 3 redis-server, 3 redis-sentinel (down-after ${options.downAfterMs} ms), 2 haproxy`,
  );
  const d = await localUp({ name, downAfterMs: options.downAfterMs, progress: (l) => say(`  ${l}`) });
  const access = localAccess(d);
  const password = await access.redisPassword();
  const ca = await access.ca();
  const [p1, p2] = d.proxies;
  if (!p1 || !p2 || !d.orchestrator) throw new Error('descriptor is incomplete');
  if (d.livePageUrl) say(`   live page: ${d.livePageUrl} (open it to watch the failover)`);
  // Writes count as acknowledged once WAIT says a replica has them, as a database client would ask.
  const plain = new WriteLoad({
    target: { kind: 'direct', endpoint: { host: p1.host, port: p1.plainPort } },
    password,
    writers: 4,
    ackReplicas: 1,
  });
  const tls = new WriteLoad({
    target: { kind: 'direct', endpoint: { host: p2.host, port: p2.tlsPort }, tlsCa: ca },
    password,
    writers: 2,
    ackReplicas: 1,
  });
  teardown.loads.push(plain, tls);
  say(
    `   write load: 4 writers through ${p1.id} (plain), 2 writers through ${p2.id} (TLS); ack = SET + WAIT 1`,
  );
  plain.start();
  tls.start();
  await plain.waitForAcks(500);
  await tls.waitForAcks(200);
  return { cluster: { d, access, password, orchestratorLog: d.orchestrator.logPath, p1, p2 }, plain, tls };
}

/** 2. kill -9 the master, follow the orchestrator until the failover is in history and writes resume. */
async function killMasterUnderLoad(
  options: DemoOptions,
  cluster: DemoCluster,
  plain: WriteLoad,
  tls: WriteLoad,
  teardown: DemoTeardown,
): Promise<DemoKill> {
  const { say, name } = options;
  const { d, p1, p2 } = cluster;
  const oldNode = d.nodes[0];
  if (!oldNode) throw new Error('no nodes');
  const oldMaster: Endpoint = { host: oldNode.host, port: oldNode.port };
  teardown.stopFollowing = followSteps(cluster.orchestratorLog, say);
  const dynamo = localDynamoClient(d.stateStore.endpoint);
  const state = new DynamoStateStore(dynamo, d.stateStore.table);
  say(`2. kill -9 of the master ${oldNode.id} (${formatEndpoint(oldMaster)}) under load`);
  process.kill(oldNode.pid, 'SIGKILL');
  const failover = await withProgress(
    say,
    () =>
      `acked ${plain.ackCount + tls.ackCount} writes so far; Sentinel decides after ${options.downAfterMs} ms of silence`,
    waitFor(
      async () =>
        (await state.listHistory(name, 10)).find((e) => e.kind === 'failover' && (e.epoch ?? 0) >= 1),
      options.downAfterMs + 30_000,
      'the failover',
    ),
  );
  const resumedAt = { plain: plain.ackCount, tls: tls.ackCount };
  await waitFor(
    async () =>
      plain.ackCount > resumedAt.plain + 200 && tls.ackCount > resumedAt.tls + 100 ? true : undefined,
    15_000,
    'writes to resume',
  );
  const reports: [string, LoadReport][] = [
    [`${p1.id} plain`, await plain.stop()],
    [`${p2.id} TLS`, await tls.stop()],
  ];
  const newMaster = failover.newMaster as Endpoint;
  say(`   timeline: ${formatTimeline(failover.timeline)}`);
  return { oldNode, oldMaster, newMaster, failover, reports, state, dynamo };
}

/** 3. Restart the old master and wait until the orchestrator has fenced it; it must answer as a replica. */
async function restartOldMaster(
  options: DemoOptions,
  cluster: DemoCluster,
  kill: DemoKill,
): Promise<HistoryEntry> {
  const { say, name } = options;
  const { oldNode, oldMaster, newMaster, state, dynamo } = kill;
  say(`3. restarting the old master ${oldNode.id}: it must come back fenced, as a replica`);
  await startNode({ name }, oldNode.id);
  const connections = new RedisConnections(cluster.access);
  const fence = await withProgress(
    say,
    () => 'waiting for Sentinel to see it again and the orchestrator to fence it',
    waitFor(
      async () => (await state.listHistory(name, 10)).find((e) => e.kind === 'deferred-fence'),
      30_000,
      'the fence',
    ),
  );
  const role = await connections
    .run('redis', oldMaster, 1000, (c) => c.call('ROLE'))
    .catch(() => ['unreachable']);
  say(
    `   ${oldNode.id} answers ROLE ${String((role as unknown[])[0])}, replicating from ${formatEndpoint(newMaster)}`,
  );
  await connections.close();
  dynamo.destroy();
  return fence;
}

/** The failover's line per client: its longest write gap, and how many acknowledged writes the new master lacks. */
async function tallyFailover(
  cluster: DemoCluster,
  kill: DemoKill,
  label: (e: Endpoint) => string,
): Promise<DemoEventSummary[]> {
  const events: DemoEventSummary[] = [];
  for (const [client, report] of kill.reports) {
    const lost = await countLost(kill.newMaster, cluster.password, report.ackedKeys);
    events.push({
      event: 'kill -9 master',
      client,
      writeGapMs: report.maxGapMs,
      acked: report.acked,
      lost: lost.length,
      oldMaster: label(kill.oldMaster),
      newMaster: label(kill.newMaster),
    });
  }
  return events;
}

/** The failovers in history so far, oldest first; says so when Sentinel failed over again after the first. */
async function failoversSoFar(
  options: DemoOptions,
  cluster: DemoCluster,
  label: (e: Endpoint) => string,
): Promise<{ epoch: number; newMaster: string }[]> {
  const dynamo = localDynamoClient(cluster.d.stateStore.endpoint);
  try {
    const entries = (
      await new DynamoStateStore(dynamo, cluster.d.stateStore.table).listHistory(options.name, 20)
    )
      // (epoch 0 is the routing the orchestrator applied at start, not a failover)
      .filter((e) => e.kind === 'failover' && (e.epoch ?? 0) >= 1 && e.newMaster !== undefined)
      .sort((a, b) => (a.epoch ?? 0) - (b.epoch ?? 0));
    const failovers = entries.map((e) => ({
      epoch: e.epoch ?? 0,
      newMaster: label(e.newMaster as Endpoint),
    }));
    const last = failovers.at(-1);
    if (failovers.length > 1 && last) {
      options.say(
        `   Sentinel failed over again on its own meanwhile (epoch ${last.epoch}, to ${last.newMaster}); the orchestrator followed it`,
      );
    }
    return failovers;
  } finally {
    dynamo.destroy();
  }
}

/** 4a. The switchover's dry run: wait until the plan is accepted, and print it. */
async function planSwitchover(options: DemoOptions, cluster: DemoCluster): Promise<void> {
  const { say } = options;
  // The dry run shows the plan, and warms this process (state machine, validators) before writers start.
  // Sentinel keeps the failover open until every replica is reconfigured: wait until the plan is accepted.
  const dry = await withProgress(
    say,
    () => 'waiting for Sentinel to close the previous failover (the plan refuses a switchover until then)',
    waitFor(
      async () => {
        const plan = await runLocalSwitchover(
          cluster.d,
          { dryRun: true, reason: 'demo', requestedBy: 'demo' },
          { logger: quietLogger },
        );
        return plan.status === 'SUCCEEDED' ? plan : undefined;
      },
      90_000,
      'a switchover plan',
    ),
  );
  say(
    `   dry run: ${dry.state?.plan?.master.id} -> ${dry.state?.plan?.target.id}, expected write gap ~${dry.state?.plan?.expectedWriteGapMs} ms`,
  );
}

/** 4b. The switchover through the workflow under a write load, printing each step; returns what the client saw. */
async function switchoverUnderLoad(
  options: DemoOptions,
  cluster: DemoCluster,
  teardown: DemoTeardown,
): Promise<DemoEventSummary> {
  const { say } = options;
  const { d, p1, password } = cluster;
  const switchLoad = new WriteLoad({
    target: { kind: 'direct', endpoint: { host: p1.host, port: p1.plainPort } },
    password,
    writers: 4,
  });
  teardown.loads.push(switchLoad);
  switchLoad.start();
  await switchLoad.waitForAcks(200);
  // The progress line names the wait that is going on: Prepare's, until its priorities step is printed.
  let lastStep: string | undefined;
  let prepared = false;
  const switched = await withProgress(
    say,
    () =>
      !prepared
        ? 'Prepare waits until every Sentinel has read the changed replica priorities (INFO every 10 s)'
        : `the workflow goes on after ${lastStep}`,
    runLocalSwitchover(
      d,
      { reason: 'demo', requestedBy: 'demo' },
      {
        logger: quietLogger,
        onStep: (st) => {
          lastStep = st.step;
          prepared ||= st.step === 'priorities-raised';
          say(
            `  workflow: ${st.step.padEnd(20)} ${String(st.durationMs).padStart(5)} ms  ${st.detail ?? ''}`,
          );
        },
      },
    ),
  );
  const switchAcked = switchLoad.ackCount;
  await waitFor(
    async () => (switchLoad.ackCount > switchAcked + 200 ? true : undefined),
    15_000,
    'writes after the switchover',
  );
  const switchReport = await switchLoad.stop();
  const plan = switched.state?.plan;
  if (switched.status !== 'SUCCEEDED' || !plan) {
    throw new Error(`the switchover did not succeed: ${switched.error ?? ''} ${switched.cause ?? ''}`);
  }
  const switchLost = await countLost(plan.target, password, switchReport.ackedKeys);
  return {
    event: 'switchover',
    client: `${p1.id} plain`,
    writeGapMs: switchReport.maxGapMs,
    acked: switchReport.acked,
    lost: switchLost.length,
    oldMaster: plan.master.id,
    newMaster: plan.target.id,
  };
}

/** 5. The summary table, and how to reach the cluster when it keeps running. */
function printSummary(
  options: DemoOptions,
  cluster: DemoCluster,
  events: DemoEventSummary[],
  failover: HistoryEntry,
): void {
  const { say, name } = options;
  const { d, p1, p2 } = cluster;
  say('5. summary');
  say('   event           client          write gap   acked   lost   old -> new master');
  for (const e of events) {
    say(
      `   ${e.event.padEnd(15)} ${e.client.padEnd(15)} ${`${e.writeGapMs} ms`.padStart(9)} ${String(e.acked).padStart(7)} ${String(e.lost).padStart(6)}   ${e.oldMaster} -> ${e.newMaster}`,
    );
  }
  const draw = (id: string) => `ha-redis history --cluster ${name} show ${id} --svg timeline.svg`;
  if (!options.keep)
    say(
      `   the failover was ${failover.id}; to draw one's timeline, run the demo with --keep, then: ${draw('<id>')}`,
    );
  if (options.keep) {
    say(`draw the failover's timeline: ${draw(failover.id)}`);
    say(`the cluster keeps running; stop it with: ha-redis local down --name ${name}`);
    say(`connect: REDISCLI_AUTH="$(cat ${d.passwordFile})" redis-cli -p ${p1.plainPort}`);
    say(
      `    tls: REDISCLI_AUTH="$(cat ${d.passwordFile})" redis-cli -p ${p2.tlsPort} --tls --cacert ${d.caCertPath}`,
    );
  }
}

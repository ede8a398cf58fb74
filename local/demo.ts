import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import { RedisConnections } from '../adapters/redis/connections.ts';
import { localAccess, localDynamoClient } from '../compose/local.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import { type Endpoint, formatEndpoint } from '../core/model/cluster.ts';
import type { HistoryEntry } from '../core/model/records.ts';
import { formatTimeline } from '../core/model/timeline.ts';
import type { Logger } from '../core/ports.ts';
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
}

const quietLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** Follow the orchestrator's JSON log and print each step as it happens. */
function followSteps(path: string, say: (line: string) => void): () => void {
  let stopped = false;
  let offset = 0;
  void (async () => {
    const file = await open(path, 'r');
    try {
      let carry = '';
      while (!stopped) {
        const buffer = Buffer.alloc(65536);
        const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) {
          await sleep(50);
          continue;
        }
        offset += bytesRead;
        const lines = (carry + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
        carry = lines.pop() ?? '';
        for (const line of lines) {
          try {
            const log = JSON.parse(line) as {
              message?: string;
              step?: string;
              detail?: string;
              durationMs?: number;
              trigger?: string;
            };
            const quiet =
              log.trigger === 'reconcile' ||
              log.trigger === 'adopt' ||
              log.step === 'recorded' ||
              (log.step === 'confirmed' && log.detail === 'current');
            if (log.step && !quiet) {
              say(
                `  orchestrator: ${log.step.padEnd(18)} ${String(log.durationMs ?? 0).padStart(5)} ms  ${log.detail ?? ''}`,
              );
            } else if (log.message?.startsWith('failover of') || log.message?.includes('returning node')) {
              say(`  orchestrator: ${log.message}`);
            }
          } catch {
            /* not a JSON line */
          }
        }
      }
    } finally {
      await file.close();
    }
  })();
  return () => {
    stopped = true;
  };
}

/** Print a progress line at least every second until `done` resolves. */
async function withProgress<T>(
  say: (line: string) => void,
  what: () => string,
  done: Promise<T>,
): Promise<T> {
  const start = Date.now();
  let finished = false;
  const ticker = (async () => {
    while (!finished) {
      await sleep(1000);
      if (!finished) say(`  ... ${((Date.now() - start) / 1000).toFixed(1)} s: ${what()}`);
    }
  })();
  try {
    return await done;
  } finally {
    finished = true;
    await ticker;
  }
}

async function waitFor<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * The demo: a local cluster, a write load through HAProxy, kill -9 of the master, the orchestrator's
 * reaction live, the old master restarted and fenced, and a summary of what clients saw.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { say, name } = options;
  let d: Descriptor | undefined;
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
  const loads: WriteLoad[] = [];
  let stopFollowing: (() => void) | undefined;
  try {
    say(
      `1. starting a local cluster '${name}': 3 redis-server, 3 redis-sentinel (down-after ${options.downAfterMs} ms), 2 haproxy`,
    );
    d = await localUp({ name, downAfterMs: options.downAfterMs, progress: (l) => say(`  ${l}`) });
    const access = localAccess(d);
    const password = await access.redisPassword();
    const ca = await access.ca();
    const [p1, p2] = d.proxies;
    if (!p1 || !p2 || !d.orchestrator) throw new Error('descriptor is incomplete');
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
    loads.push(plain, tls);
    say(
      `   write load: 4 writers through ${p1.id} (plain), 2 writers through ${p2.id} (TLS); ack = SET + WAIT 1`,
    );
    plain.start();
    tls.start();
    await plain.waitForAcks(500);
    await tls.waitForAcks(200);

    const oldNode = d.nodes[0];
    if (!oldNode) throw new Error('no nodes');
    const oldMaster: Endpoint = { host: oldNode.host, port: oldNode.port };
    stopFollowing = followSteps(d.orchestrator.logPath, say);
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

    say(`3. restarting the old master ${oldNode.id}: it must come back fenced, as a replica`);
    await startNode({ name }, oldNode.id);
    const connections = new RedisConnections(access);
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

    const label = (e: Endpoint) => d?.nodes.find((n) => n.port === e.port)?.id ?? formatEndpoint(e);
    const events: DemoEventSummary[] = [];
    for (const [client, report] of reports) {
      const lost = await countLost(newMaster, password, report.ackedKeys);
      events.push({
        event: 'kill -9 master',
        client,
        writeGapMs: report.maxGapMs,
        acked: report.acked,
        lost: lost.length,
        oldMaster: label(oldMaster),
        newMaster: label(newMaster),
      });
    }
    say(
      `4. a planned switchover away from ${label(newMaster)}, under load, through the Step Functions workflow`,
    );
    // The dry run shows the plan, and warms this process (state machine, validators) before writers start.
    // Sentinel keeps the failover open until every replica is reconfigured: wait until the plan is accepted.
    const descriptor = d;
    const dry = await withProgress(
      say,
      () => 'waiting for Sentinel to close the previous failover (the plan refuses a switchover until then)',
      waitFor(
        async () => {
          const plan = await runLocalSwitchover(
            descriptor,
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
    const switchLoad = new WriteLoad({
      target: { kind: 'direct', endpoint: { host: p1.host, port: p1.plainPort } },
      password,
      writers: 4,
    });
    loads.push(switchLoad);
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
    events.push({
      event: 'switchover',
      client: `${p1.id} plain`,
      writeGapMs: switchReport.maxGapMs,
      acked: switchReport.acked,
      lost: switchLost.length,
      oldMaster: plan.master.id,
      newMaster: plan.target.id,
    });

    say('5. summary');
    say('   event           client          write gap   acked   lost   old -> new master');
    for (const e of events) {
      say(
        `   ${e.event.padEnd(15)} ${e.client.padEnd(15)} ${`${e.writeGapMs} ms`.padStart(9)} ${String(e.acked).padStart(7)} ${String(e.lost).padStart(6)}   ${e.oldMaster} -> ${e.newMaster}`,
      );
    }
    if (options.keep) {
      say(`the cluster keeps running; stop it with: ha-redis local down --name ${name}`);
      say(`connect: REDISCLI_AUTH="$(cat ${d.passwordFile})" redis-cli -p ${p1.plainPort}`);
      say(
        `    tls: REDISCLI_AUTH="$(cat ${d.passwordFile})" redis-cli -p ${p2.tlsPort} --tls --cacert ${d.caCertPath}`,
      );
    }
    return { cluster: name, events, failover, fence };
  } finally {
    stopFollowing?.();
    for (const l of loads) await l.stop().catch(() => undefined);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

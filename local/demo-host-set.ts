/**
 * `ha-redis demo --services N`: a host set (3 hosts, N services, every master on host-1) under a write load
 * through host-2's proxy, kill -9 of every process on host-1, each service's failover as it lands, host-1
 * restored with its old masters back as replicas, and a table of what each service's clients saw.
 */
import { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import { RedisConnections } from '../adapters/redis/connections.ts';
import { localAccess, localDynamoClient } from '../compose/local.ts';
import { descriptorPath, readDescriptor } from '../config/local-descriptor.ts';
import { formatEndpoint } from '../core/model/cluster.ts';
import { type HistoryEntry, reroutedAfterPromotion } from '../core/model/records.ts';
import { waitFor, withProgress } from './demo-progress.ts';
import { hostSetUp } from './host-set.ts';
import { failHost, hostSetDown } from './host-set-processes.ts';
import { countLost, WriteLoad } from './load.ts';

export interface HostSetDemoOptions {
  name: string;
  services: number;
  downAfterMs: number;
  keep: boolean;
  say: (line: string) => void;
}

export interface HostSetDemoRow {
  service: string;
  oldMaster: string;
  newMaster: string;
  writeGapMs: number;
  acked: number;
  lost: number;
  /** From the promotion event the orchestrator saw to every reachable proxy rerouted. */
  reroutedAfterPromotionMs: number | null;
}

type Service = Awaited<ReturnType<typeof readDescriptor>>;

/** Each service's failover history entry, printed as it lands. */
async function awaitFailovers(
  o: HostSetDemoOptions,
  services: Service[],
  state: DynamoStateStore,
  loads: WriteLoad[],
) {
  const entries = new Map<string, HistoryEntry>();
  await withProgress(
    o.say,
    () =>
      `${entries.size}/${services.length} services failed over; acked ${loads.reduce((n, l) => n + l.ackCount, 0)} writes`,
    Promise.all(
      services.map(async (d) => {
        const entry = await waitFor(
          async () =>
            (await state.listHistory(d.cluster, 10)).find(
              (e) => e.kind === 'failover' && (e.epoch ?? 0) >= 1,
            ),
          o.downAfterMs + 60_000,
          `the failover of ${d.cluster}`,
        );
        entries.set(d.cluster, entry);
        const to = d.nodes.find((n) => n.port === entry.newMaster?.port);
        o.say(
          `   ${d.cluster}: ${entry.outcome}, master -> ${to ? `${to.id} on ${to.hostId}` : formatEndpoint(entry.newMaster ?? { host: '?', port: 0 })} at epoch ${entry.epoch}, rerouted ${reroutedAfterPromotion(entry) ?? '?'} ms after the promotion`,
        );
      }),
    ),
  );
  return entries;
}

/** The demo; stops everything it started unless `keep`. */
export async function runHostSetDemo(o: HostSetDemoOptions): Promise<HostSetDemoRow[]> {
  const { say, name } = o;
  say(
    `1. starting host set '${name}': 3 hosts, ${o.services} services, every master on host-1 (down-after ${o.downAfterMs} ms)`,
  );
  const set = await hostSetUp({
    name,
    services: o.services,
    downAfterMs: o.downAfterMs,
    progress: (l) => say(`  ${l}`),
  });
  const loads: WriteLoad[] = [];
  const dynamo = localDynamoClient(set.stateStore.endpoint);
  const onSignal = () => void hostSetDown({ name }).finally(() => process.exit(130));
  if (!o.keep) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    const services = await Promise.all(set.services.map((s) => readDescriptor(descriptorPath(s))));
    const password = await localAccess(services[0] as Service).redisPassword();
    for (const d of services) {
      const p = d.proxies.find((x) => x.hostId === 'host-2');
      if (!p) throw new Error(`${d.cluster} has no proxy on host-2`);
      loads.push(
        new WriteLoad({
          target: { kind: 'direct', endpoint: { host: p.host, port: p.plainPort } },
          password,
          writers: 1,
          ackReplicas: 1,
        }),
      );
    }
    say(`   write load: one writer per service through host-2's HAProxy; ack = SET + WAIT 1`);
    for (const l of loads) l.start();
    await Promise.all(loads.map((l) => l.waitForAcks(100)));
    say(`2. kill -9 of every process on host-1: ${o.services} masters, their Sentinels and host-1's HAProxy`);
    await failHost({ name }, 'host-1', 'kill');
    const state = new DynamoStateStore(dynamo, 'ha-redis-state');
    const entries = await awaitFailovers(o, services, state, loads);
    const marks = loads.map((l) => l.ackCount);
    await Promise.all(loads.map((l, i) => l.waitForAcks((marks[i] ?? 0) + 50, 15_000)));
    const reports = await Promise.all(loads.map((l) => l.stop()));
    say('3. host-1 back: its processes start again from their configs');
    await failHost({ name }, 'host-1', 'restore');
    const rows = await tally(services, entries, reports, password);
    printTable(say, rows);
    return rows;
  } finally {
    for (const l of loads) await l.stop().catch(() => undefined);
    dynamo.destroy();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!o.keep) {
      say('cleaning up: stopping every process of the host set');
      await hostSetDown({ name }).catch(() => undefined);
    } else say(`kept: ha-redis local status --name ${name}; ha-redis local down --name ${name}`);
  }
}

/** Wait until every old master answers as a replica; count each service's lost writes on its new master. */
async function tally(
  services: Service[],
  entries: Map<string, HistoryEntry>,
  reports: Awaited<ReturnType<WriteLoad['stop']>>[],
  password: string,
): Promise<HostSetDemoRow[]> {
  const connections = new RedisConnections(localAccess(services[0] as Service));
  try {
    return await Promise.all(
      services.map(async (d, i) => {
        const entry = entries.get(d.cluster) as HistoryEntry;
        const old = d.nodes[0] as Service['nodes'][number];
        await waitFor(
          async () =>
            ((await connections.run('redis', old, 500, (c) => c.call('ROLE'))) as unknown[])[0] === 'slave'
              ? true
              : undefined,
          30_000,
          `${d.cluster}'s old master to come back as a replica`,
        );
        const report = reports[i] as Awaited<ReturnType<WriteLoad['stop']>>;
        const newMaster = entry.newMaster ?? { host: '?', port: 0 };
        const nodeId = (port: number) => d.nodes.find((n) => n.port === port);
        const to = nodeId(newMaster.port);
        return {
          service: d.cluster,
          oldMaster: `${old.id}@${old.hostId}`,
          newMaster: to ? `${to.id}@${to.hostId}` : formatEndpoint(newMaster),
          writeGapMs: report.maxGapMs,
          acked: report.acked,
          lost: (await countLost(newMaster, password, report.ackedKeys)).length,
          reroutedAfterPromotionMs: reroutedAfterPromotion(entry),
        };
      }),
    );
  } finally {
    await connections.close();
  }
}

function printTable(say: (line: string) => void, rows: HostSetDemoRow[]): void {
  say('   every old master is back on host-1 as a replica (ROLE slave), fenced: it refuses writes');
  say('');
  say(
    'service          old master     new master     write gap   acked (WAIT 1)   lost   rerouted after promotion',
  );
  for (const r of rows) {
    say(
      `${r.service.padEnd(16)} ${r.oldMaster.padEnd(14)} ${r.newMaster.padEnd(14)} ${`${r.writeGapMs} ms`.padStart(9)}   ${String(r.acked).padStart(14)}   ${String(r.lost).padStart(4)}   ${r.reroutedAfterPromotionMs ?? '?'} ms`,
    );
  }
}

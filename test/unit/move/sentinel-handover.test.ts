/**
 * The Sentinel handover of a move, against a model of Sentinels: the service's definition only ever lists
 * Sentinels that monitor the master (a majority of it names the master at every moment), a Sentinel joins only
 * once every configured one knows it, an old one leaves the definition before it stops monitoring, the others
 * forget it one RESET at a time, each fenced (quorum out of reach) until it knows the others and the replicas
 * again, and a run after a crash does only what is left.
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../core/model/cluster.ts';
import { ClusterSchema } from '../../../core/model/cluster.ts';
import type { MovePorts, SentinelKnowledge, ServiceHome } from '../../../core/move/ports.ts';
import { handOverSentinels } from '../../../core/move/sentinels.ts';
import type { MovePlan } from '../../../core/move/state.ts';
import type { CorePorts } from '../../../core/ports.ts';
import { FakeClock } from '../../fakes/clock.ts';

const MASTER: Endpoint = { host: '10.0.1.1', port: 6379 };
const key = (e: Endpoint) => `${e.host}:${e.port}`;
const old = [1, 2, 3].map((i) => ({
  id: `sentinel-${i}`,
  host: `10.0.1.${i}`,
  port: 26379,
  hostId: `a/host-${i}`,
  shared: false,
}));
const fresh = [4, 5, 6].map((i) => ({
  id: `sentinel-${i}`,
  host: `10.0.2.${i - 3}`,
  port: 26379,
  hostId: `b/host-${i - 3}`,
  shared: false,
}));

/** Sentinels that learn of each other at once, except right after a RESET (one look later). */
function world(members: ServiceHome['sentinels']) {
  const monitoring = new Set(members.map(key));
  const quorum = new Map<string, number>();
  const resetJustNow = new Set<string>();
  const log: string[] = [];
  const stopped = new Set<string>();
  const home: ServiceHome = { set: 'a', nodes: [], sentinels: [...members], proxies: [] };
  const violations: string[] = [];
  const check = (what: string) => {
    const stray = home.sentinels.filter((s) => !monitoring.has(key(s)));
    if (stray.length)
      violations.push(`${what}: ${stray.map((s) => s.id).join(', ')} configured but not monitoring`);
  };
  const knowledge = async (s: Endpoint): Promise<SentinelKnowledge | undefined> => {
    if (!monitoring.has(key(s))) return undefined;
    const others = resetJustNow.delete(key(s)) ? 0 : monitoring.size - 1;
    return {
      master: MASTER,
      configEpoch: 1,
      failoverState: 'none',
      flags: ['master'],
      quorum: quorum.get(key(s)) ?? 2,
      otherSentinels: others,
      replicas: 2,
    };
  };
  const ports: MovePorts = {
    sentinelSettings: { downAfterMs: 5000, failoverTimeoutMs: 60_000 },
    sentinelAdmin: {
      knowledge,
      monitor: async (s, _n, master, settings) => {
        expect(master).toEqual(MASTER);
        // Fenced while it finds the others: it can neither see the master down nor start a failover.
        expect(settings.quorum).toBe(99);
        quorum.set(key(s), settings.quorum);
        log.push(`monitor ${key(s)}`);
        monitoring.add(key(s));
        return 'added';
      },
      setQuorum: async (s, _n, q) => {
        quorum.set(key(s), q);
      },
      remove: async (s) => {
        if (!monitoring.has(key(s))) return 'absent';
        log.push(`remove ${key(s)}`);
        monitoring.delete(key(s));
        check('after REMOVE');
        return 'removed';
      },
      reset: async (s) => {
        if (quorum.get(key(s)) !== 99) violations.push(`${key(s)} reset with quorum ${quorum.get(key(s))}`);
        log.push(`reset ${key(s)}`);
        resetJustNow.add(key(s));
      },
    },
    hosts: {
      home: async () => structuredClone(home),
      placement: async () => ({ nodes: [], sentinels: fresh, proxies: [] }),
      begin: async () => undefined,
      oldProxies: async () => [],
      retireProxy: async () => '',
      startNode: async () => 'started',
      startSentinel: async (_c, s) => {
        log.push(`start ${s.id}`);
        return 'started';
      },
      addFrontends: async () => '',
      stopMember: async (_c, kind, id) => {
        if (stopped.has(id)) return 'gone';
        stopped.add(id);
        log.push(`stop ${kind} ${id}`);
        return 'stopped';
      },
      addMembers: async (_c, m) => {
        for (const s of m.sentinels ?? []) {
          log.push(`join ${s.id}`);
          home.sentinels.push({ ...s });
        }
        check('after join');
      },
      removeMembers: async (_c, m) => {
        log.push(`leave ${(m.sentinels ?? []).join(',')}`);
        home.sentinels = home.sentinels.filter((s) => !(m.sentinels ?? []).includes(s.id));
        check('after leave');
      },
      moved: async () => undefined,
    },
  };
  return { ports, log, home, quorum, violations };
}

const cluster = ClusterSchema.parse({
  name: 'svc',
  masterName: 'svc-master',
  nodes: [{ id: 'redis-1', ...MASTER }],
  sentinels: old.map(({ host, port }) => ({ host, port })),
  proxies: [
    { id: 'proxy-1', host: '10.0.1.1', plainPort: 6380, runtimeApi: { kind: 'unix', path: '/run/h.sock' } },
  ],
  dns: { recordName: 'm.svc.local', ttl: 5 },
});
const plan = { newSentinels: fresh, oldSentinels: old } as unknown as MovePlan;
const deps = (): CorePorts =>
  ({
    clock: new FakeClock(),
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    redis: {
      probeConnect: async () => 'accepted',
      replication: async () => ({
        role: 'master',
        offset: 1,
        replicas: [
          { address: { host: 'r', port: 1 }, state: 'online', offset: 1 },
          { address: { host: 'r', port: 2 }, state: 'online', offset: 1 },
        ],
      }),
    },
  }) as unknown as CorePorts;

describe('handOverSentinels', () => {
  it('pairs: start, monitor, join, then the old one leaves, is removed and stopped, the rest reset one at a time', async () => {
    const w = world(old);
    const did = await handOverSentinels(cluster, plan, deps(), w.ports);
    expect(w.violations).toEqual([]);
    expect(w.home.sentinels.map((s) => s.id)).toEqual(['sentinel-4', 'sentinel-5', 'sentinel-6']);
    expect(did).toEqual([
      'sentinel-4 started and joined (4 Sentinels, quorum 2)',
      'sentinel-1 removed (3 Sentinels, quorum 2)',
      'sentinel-5 started and joined (4 Sentinels, quorum 2)',
      'sentinel-2 removed (3 Sentinels, quorum 2)',
      'sentinel-6 started and joined (4 Sentinels, quorum 2)',
      'sentinel-3 removed (3 Sentinels, quorum 2)',
    ]);
    // The first pair, in order: the new one monitors before it joins; the old one leaves before REMOVE, stops after.
    expect(w.log.slice(0, 9)).toEqual([
      'start sentinel-4',
      'monitor 10.0.2.1:26379',
      'join sentinel-4',
      'leave sentinel-1',
      'remove 10.0.1.1:26379',
      'stop sentinel sentinel-1',
      'reset 10.0.1.2:26379',
      'reset 10.0.1.3:26379',
      'reset 10.0.2.1:26379',
    ]);
    // The 3 that stay have the quorum of 3: 2.
    expect(fresh.map((s) => w.quorum.get(key(s)))).toEqual([2, 2, 2]);
  });

  it('a run after a crash half way (one pair done) goes on with 3 or 4 in the definition, never 2', async () => {
    const w = world([old[1], old[2], fresh[0]] as ServiceHome['sentinels']);
    const sizes: number[] = [];
    const leave = w.ports.hosts.removeMembers;
    w.ports.hosts.removeMembers = async (c, m) => {
      await leave(c, m);
      sizes.push(w.home.sentinels.length);
    };
    const did = await handOverSentinels(cluster, plan, deps(), w.ports);
    expect(w.violations).toEqual([]);
    expect(did).toEqual([
      // Its process was never stopped: the earlier run stopped right after REMOVE.
      'sentinel-1 (left earlier) removed and stopped',
      'sentinel-5 started and joined (4 Sentinels, quorum 2)',
      'sentinel-2 removed (3 Sentinels, quorum 2)',
      'sentinel-6 started and joined (4 Sentinels, quorum 2)',
      'sentinel-3 removed (3 Sentinels, quorum 2)',
    ]);
    expect(Math.min(...sizes)).toBe(3);
    expect(w.log).not.toContain('start sentinel-4');
    expect(w.home.sentinels.map((s) => s.id)).toEqual(['sentinel-4', 'sentinel-5', 'sentinel-6']);
  });

  it('an old Sentinel that left the definition before a crash is still removed, stopped and forgotten', async () => {
    // sentinel-1 left the definition, and the run stopped before its REMOVE: it still monitors the master.
    const w = world([old[1], old[2], fresh[0]] as ServiceHome['sentinels']);
    await w.ports.sentinelAdmin.monitor(
      old[0] as Endpoint,
      'svc-master',
      MASTER,
      {
        quorum: 99,
        downAfterMs: 1,
        failoverTimeoutMs: 1,
      },
      1,
    );
    const did = await handOverSentinels(cluster, plan, deps(), w.ports);
    expect(did).toContain('sentinel-1 (left earlier) removed and stopped');
    expect(w.log).toContain('remove 10.0.1.1:26379');
    expect(w.log).toContain('stop sentinel sentinel-1');
    expect(w.home.sentinels.map((s) => s.id)).toEqual(['sentinel-4', 'sentinel-5', 'sentinel-6']);
  });

  it('a shared old Sentinel is removed from the service but its process is not stopped', async () => {
    const shared = old.map((s) => ({ ...s, shared: true }));
    const w = world(shared);
    await handOverSentinels(cluster, { ...plan, oldSentinels: shared } as MovePlan, deps(), w.ports);
    expect(w.log.filter((l) => l.startsWith('stop'))).toEqual([]);
    expect(w.log.filter((l) => l.startsWith('remove'))).toHaveLength(3);
  });
});

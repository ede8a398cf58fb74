/**
 * Moving a service of a host set to another set's hosts (the move workflow, as CDK defines it, run locally) with
 * real processes: under a write load through the old proxies and the new ones, no acknowledged write is lost and
 * the only write gap is the switchover's; a watcher asks every configured Sentinel every 50 ms and a majority
 * names the master at every moment; a kill -9 of the master after the Sentinel handover is followed by the
 * automatic reaction, and the move stops and says so, or goes on; a crash after each step leaves the service
 * writable with a Sentinel majority, and the move run again goes on from there; a bad target is refused at Plan.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnections } from '../../adapters/redis/connections.ts';
import { hostSetStatusCommand } from '../../cli/commands/host-set.ts';
import { moveCommand, retireProxiesCommand } from '../../cli/commands/move.ts';
import { silentLogger } from '../../cli/commands/status.ts';
import { localAccess } from '../../compose/local.ts';
import type { HostSet } from '../../config/host-set-descriptor.ts';
import { type Descriptor, descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { majorityOf } from '../../core/failover/confirm.ts';
import { formatEndpoint } from '../../core/model/cluster.ts';
import type { MoveAction } from '../../core/move/state.ts';
import { which } from '../../local/host-programs.ts';
import { hostSetUp } from '../../local/host-set.ts';
import { hostSetDown } from '../../local/host-set-processes.ts';
import { WriteLoad } from '../../local/load.ts';
import { runLocalMove } from '../../local/move-runner.ts';
import { isAlive, startDetached, waitUntil } from '../../local/processes.ts';
import type { RunWorkflowOptions } from '../../local/stepfunctions.ts';
import {
  capture,
  sentinelMajority,
  TEST_SENTINEL_PERIODS,
  type TestCluster,
  testClusterOf,
  waitForHistory,
} from './cluster.ts';
import { stopAndCountLost, writableThroughProxies } from './writes.ts';

// The CLI reads `$HA_REDIS_HOME/local`: the sets live there, for the commands and the runner alike.
const home = await mkdtemp(join(tmpdir(), 'hrm-'));
const root = join(home, 'local');
const homeBefore = process.env.HA_REDIS_HOME;
process.env.HA_REDIS_HOME = home;
const tag = process.pid % 10000;
const FROM = `mva${tag}`;
const TO = `mvb${tag}`;
let from: HostSet;
let to: HostSet;

const descriptorOf = (service: string): Promise<Descriptor> => readDescriptor(descriptorPath(service, root));
/** A fresh handle on the service, from its descriptor as it is now (a move changes its members). */
async function handle(service: string): Promise<TestCluster> {
  return testClusterOf(await descriptorOf(service), root, async () => []);
}
const move = (service: string, wrapStep?: (s: RunWorkflowOptions['step']) => RunWorkflowOptions['step']) =>
  descriptorOf(service).then((d) =>
    runLocalMove(
      d,
      { toSet: TO, requestedBy: 'test' },
      { logger: silentLogger, root, ...(wrapStep ? { wrapStep } : {}) },
    ),
  );

/**
 * Every 50 ms: the service's configured Sentinels (its descriptor now), each asked which master it names. A moment
 * where no address is named by a majority of them is a violation.
 */
function watchSentinels(service: string) {
  let running = true;
  const samples: number[] = [];
  const violations: string[] = [];
  const connections = new RedisConnections(
    localAccess({ passwordFile: join(root, FROM, 'password') } as Descriptor),
  );
  const loop = (async () => {
    while (running) {
      const d = await descriptorOf(service).catch(() => undefined);
      if (d) {
        const named = await Promise.all(
          d.sentinels.map((s) =>
            connections
              .run('sentinel', s, 300, (c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', d.masterName))
              .then((r) => (Array.isArray(r) ? `${r[0]}:${r[1]}` : 'none'))
              .catch(() => 'no answer'),
          ),
        );
        const votes = new Map<string, number>();
        for (const n of named) if (n !== 'none' && n !== 'no answer') votes.set(n, (votes.get(n) ?? 0) + 1);
        const best = Math.max(0, ...votes.values());
        samples.push(best);
        if (best < majorityOf(d.sentinels.length)) {
          violations.push(
            `${new Date().toISOString()}: ${d.sentinels.map((s, i) => `${s.id}=${named[i]}`).join(' ')}`,
          );
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await connections.close();
      return { samples: samples.length, violations };
    },
  };
}

/** Writers through every proxy of the service as it is now, counting a write once a replica has it (WAIT 1). */
function loadsThrough(d: Descriptor, password: string, ackReplicas = 1): WriteLoad[] {
  const loads = d.proxies.map(
    (p) =>
      new WriteLoad({
        target: { kind: 'direct', endpoint: { host: p.host, port: p.plainPort } },
        password,
        writers: 1,
        ackReplicas,
        keyPrefix: `mv-${p.id}`,
      }),
  );
  for (const l of loads) l.start();
  return loads;
}

/** Every Sentinel of the service knows exactly the others and the live replicas: nothing retired is remembered. */
async function sentinelsForgotTheOld(t: TestCluster): Promise<void> {
  await waitUntil(
    async () => {
      const views = await Promise.all(
        t.cluster.sentinels.map((s) =>
          t.connections.run('sentinel', s, 500, (c) => c.call('SENTINEL', 'MASTER', t.d.masterName)),
        ),
      );
      return views.every((v) => {
        const f = new Map<string, string>();
        const a = v as string[];
        for (let i = 0; i + 1 < a.length; i += 2) f.set(String(a[i]), String(a[i + 1]));
        return (
          f.get('num-other-sentinels') === String(t.cluster.sentinels.length - 1) &&
          f.get('num-slaves') === '2'
        );
      });
    },
    20_000,
    'every Sentinel to know the 2 others and the 2 replicas, and nothing more',
    200,
  );
}

beforeAll(async () => {
  const common = {
    root,
    network: 'loopback' as const,
    downAfterMs: 2000,
    failoverTimeoutMs: 10_000,
    sentinelPeriods: TEST_SENTINEL_PERIODS,
  };
  // One after the other: the second set's ports are picked among those the first set's processes left free, so
  // the ports the moving services take with them are free on the target hosts.
  from = await hostSetUp({ ...common, name: FROM, services: 3, sentinels: 'per-service' });
  to = await hostSetUp({ ...common, name: TO, services: 1, sentinels: 'per-service' });
}, 180_000);

afterAll(async () => {
  // The target first: the source set refuses to go down while a service it serves lives on the target's hosts.
  await hostSetDown({ name: TO, root }).catch(() => undefined);
  await hostSetDown({ name: FROM, root }).catch(() => undefined);
  await rm(home, { recursive: true, force: true });
  if (homeBefore === undefined) delete process.env.HA_REDIS_HOME;
  else process.env.HA_REDIS_HOME = homeBefore;
});

describe('move: refused at Plan, nothing changed', () => {
  it('a dry run prints the plan (new nodes, Sentinels, frontends, the expected gap) and changes nothing', async () => {
    const service = from.services[0] as string;
    const before = await descriptorOf(service);
    const io = capture();
    expect(
      await moveCommand(
        { cluster: service, toSet: TO, dryRun: true, reason: 'test', requestedBy: 'test' },
        io,
      ),
    ).toBe(0);
    const text = io.lines.join('\n');
    expect(text).toMatch(new RegExp(`plan: ${service} from set ${FROM} to set ${TO}`));
    expect(text).toMatch(/new nodes: +redis-4 .*\(mvb\d+\/host-1\)/);
    expect(text).toMatch(/expected write gap ~350 ms/);
    expect(text).toMatch(/nothing changed \(dry run\)/);
    expect(await descriptorOf(service)).toEqual(before);
  });

  it('an unknown set: refused, named', async () => {
    const service = from.services[0] as string;
    const before = await descriptorOf(service);
    const io = capture();
    expect(
      await moveCommand({ cluster: service, toSet: 'nosuchset', reason: 'test', requestedBy: 'test' }, io),
    ).toBe(1);
    expect(io.lines.join('\n')).toMatch(/MoveRefused.*no host set named 'nosuchset'/s);
    expect(await descriptorOf(service)).toEqual(before);
  });

  it('a target host with a port in use: refused, naming the host and the port', async () => {
    const service = from.services[0] as string;
    const before = await descriptorOf(service);
    const port = before.nodes[0]?.port as number;
    const host = to.hosts[0]?.address as string;
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, host, resolve));
    try {
      const io = capture();
      expect(
        await moveCommand({ cluster: service, toSet: TO, reason: 'test', requestedBy: 'test' }, io),
      ).toBe(1);
      expect(io.lines.join('\n')).toContain(`ports in use on set ${TO}: ${TO}/host-1 (${host}) port ${port}`);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    expect(await descriptorOf(service)).toEqual(before);
    expect((await readDescriptor(descriptorPath(service, root))).hostSet).toBe(FROM);
  });
});

describe('move: a service moves to the other set under load', () => {
  it('0 acknowledged writes lost, no gap but the switchover, a majority of Sentinels on the master throughout', async () => {
    const service = from.services[0] as string;
    const before = await handle(service);
    const oldPids = before.d.nodes.map((n) => n.pid);
    const watcher = watchSentinels(service);
    // Plain acks through every old proxy, and WAIT 1 through one; the new proxies' writers start once they serve.
    const loads = [
      ...loadsThrough(before.d, before.password, 0),
      ...loadsThrough(before.d, before.password).slice(1, 2),
    ];
    await Promise.all(loads.map((l) => l.waitForAcks(20, 20_000)));
    const newLoads: WriteLoad[] = [];
    const result = await move(service, (step) => async (event, context) => {
      const out = await step(event, context);
      if ((event.action as MoveAction) === 'proxies') {
        newLoads.push(...loadsThrough(await descriptorOf(service), before.password, 0).slice(3));
      }
      return out;
    });
    const watched = await watcher.stop();
    const steps = (result.state?.timeline ?? []).map(
      (x) => `${x.step} ${x.status} ${x.durationMs} ms: ${x.detail ?? ''}`,
    );
    expect(result.status, `${result.error}: ${result.cause}\n${steps.join('\n')}`).toBe('SUCCEEDED');
    expect(newLoads.length).toBe(3);

    const after = await handle(service);
    expect(after.d.hostSet).toBe(TO);
    expect(after.d.nodes.map((n) => n.hostId)).toEqual([`${TO}/host-1`, `${TO}/host-2`, `${TO}/host-3`]);
    expect(after.d.sentinels.map((s) => s.hostId)).toEqual([`${TO}/host-1`, `${TO}/host-2`, `${TO}/host-3`]);
    expect(after.d.proxies).toHaveLength(6);
    for (const pid of oldPids) expect(isAlive(pid), `old node pid ${pid} stopped`).toBe(false);

    const { lost, acked } = await stopAndCountLost(after, [...loads, ...newLoads]);
    expect(acked).toBeGreaterThan(200);
    expect(lost, 'acknowledged writes missing on the new master').toEqual([]);
    const gap = result.state?.writeGapMs ?? 0;
    const reports = await Promise.all(loads.map((l) => l.stop()));
    const longest = Math.max(...reports.map((r) => r.maxGapMs));
    // The switchover's own measure and the writers' longest pause: no second gap anywhere in the move.
    expect(gap).toBeGreaterThan(0);
    expect(longest, `the writers' longest gap (the switchover blocked writes ${gap} ms)`).toBeLessThan(
      gap + 1000,
    );
    process.stdout.write(
      `move: switchover write gap ${gap} ms; writers' longest gap ${longest} ms; ${acked} acked, 0 lost; watcher ${watched.samples} samples\n`,
    );

    expect(watched.samples).toBeGreaterThan(200);
    expect(watched.violations, 'moments with no majority of the configured Sentinels on one master').toEqual(
      [],
    );
    await sentinelsForgotTheOld(after);
    await writableThroughProxies(after);
    // `local status` of the target set shows the service host by host: its node there, and the frontend's route.
    const io = capture();
    expect(await hostSetStatusCommand({ name: TO, json: true }, io)).toBe(0);
    const hosts = (
      JSON.parse(io.stdout) as { hosts: { services: { service: string; node: string; route: string }[] }[] }
    ).hosts;
    expect(hosts.map((h) => h.services.find((x) => x.service === service)?.node)).toEqual([
      'redis-4',
      'redis-5',
      'redis-6',
    ]);
    for (const h of hosts)
      expect(h.services.find((x) => x.service === service)?.route).toMatch(/^redis-4@.* \(ready\)$/);
    // The source set serves it still (orchestrator, files): it does not go down before the target set.
    await expect(hostSetDown({ name: FROM, root })).rejects.toThrow(
      new RegExp(`${service} of set ${FROM} lives on set ${TO}'s hosts now .*local down --name ${TO}' first`),
    );
    const entry = await waitForHistory(
      after,
      (e) => (e.kind as string) === 'move' && e.outcome === 'succeeded',
    );
    expect(entry.trigger).toContain(`${FROM} -> ${TO}`);
    expect(entry.newMaster).toEqual(await after.soleMaster());

    // The clients have moved: the old hosts' proxies are retired. They leave the definition and refuse to route.
    const retire = capture();
    expect(await retireProxiesCommand({ cluster: service }, retire)).toBe(0);
    expect(retire.lines.join('\n')).toMatch(/proxy-1 on .*\/host-1: disabled redis_.*master/);
    const retired = await handle(service);
    expect(retired.d.proxies.map((p) => p.id)).toEqual(['proxy-4', 'proxy-5', 'proxy-6']);
    const old = before.d.proxies[1] as Descriptor['proxies'][number];
    const client = new Redis({
      host: old.host,
      port: old.plainPort,
      password: before.password,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    await expect(client.set('after-retire', '1')).rejects.toThrow();
    client.disconnect();
    await writableThroughProxies(retired);
    await retired.down();
    await Promise.all([before.down(), after.down()]);
  }, 300_000);
});

describe('move: faults during the move', () => {
  it('kill -9 of the master after the Sentinel handover: the reaction fails over, and the move stops and says so, or goes on', async () => {
    const service = from.services[1] as string;
    const before = await handle(service);
    const loads = loadsThrough(before.d, before.password).slice(1);
    await Promise.all(loads.map((l) => l.waitForAcks(20, 20_000)));
    let killed: string | undefined;
    const result = await move(service, (step) => async (event, context) => {
      const out = await step(event, context);
      if ((event.action as MoveAction) === 'sentinels') {
        const master = await before.soleMaster();
        const node = before.d.nodes.find((n) => n.host === master.host && n.port === master.port);
        if (node) process.kill(node.pid, 'SIGKILL');
        killed = node?.id;
      }
      return out;
    });
    expect(killed).toBe('redis-1');
    // Whatever the move did next, the automatic reaction followed Sentinel's failover on the new Sentinels.
    const t = await handle(service);
    const failover = await waitForHistory(t, (e) => e.kind === 'failover' && (e.epoch ?? 0) > 0, 60_000);
    expect(failover.outcome).toBe('succeeded');
    if (result.status !== 'SUCCEEDED') {
      expect(result.ending).toBe('MoveStopped');
      expect(result.state?.recovery?.join(' ')).toMatch(/done: nodes, sentinels/);
      expect(result.state?.recovery?.join(' ')).toMatch(/run `ha-redis move --cluster .* --to-set .*` again/);
    }
    const agreed = await sentinelMajority(t);
    expect(agreed, 'a majority of the Sentinels names a master').toBeDefined();
    let again: Awaited<ReturnType<typeof move>> | undefined;
    if (result.status !== 'SUCCEEDED') {
      // The operator brings the killed node back (ha-redis fences it: a replica of the new master), and runs the
      // move again: it goes on from where it stopped.
      const dead = t.d.nodes.find((n) => n.id === killed);
      if (!dead) throw new Error('the killed node is gone from the descriptor');
      startDetached(which('redis-server'), [dead.configPath], join(dirname(dead.configPath), 'stdout.log'));
      await waitUntil(
        async () => (await t.role(dead)) === 'slave',
        30_000,
        `${killed} back as a replica`,
        200,
      );
      again = await move(service);
      expect(again.status, `${again.error}: ${again.cause}`).toBe('SUCCEEDED');
    }
    const { lost, acked } = await stopAndCountLost(await handle(service), loads);
    expect(acked).toBeGreaterThan(40);
    expect(lost, 'WAIT 1 writes missing on the master').toEqual([]);
    process.stdout.write(
      `move with a kill -9 after the handover: ${result.status} ${result.ending ?? ''} (${result.error}: ${result.cause}); ${(result.state?.recovery ?? []).join(' ')}; run again: ${again?.status ?? 'not needed'}; failover to ${formatEndpoint(failover.newMaster ?? { host: '?', port: 0 })}; ${acked} acked, 0 lost\n`,
    );
    await t.down();
    await before.down();
  }, 300_000);

  it('a crash after each step in turn: the service stays writable with a Sentinel majority; run again, the move goes on and ends', async () => {
    const service = from.services[2] as string;
    const said: string[] = [];
    for (const crashAfter of ['nodes', 'sentinels', 'switchover', 'proxies'] as const) {
      const result = await move(service, (step) => async (event, context) => {
        const out = await step(event, context);
        if (event.action === crashAfter)
          throw new Error(`test: the ${crashAfter} Task crashed after its work`);
        return out;
      });
      expect(result.ending, `after a crash in ${crashAfter}: ${result.error}: ${result.cause}`).toBe(
        'MoveStopped',
      );
      const recovery = result.state?.recovery?.join(' ') ?? '';
      said.push(`${crashAfter}: ${recovery}`);
      expect(recovery).toMatch(/^done: /);
      expect(recovery).toMatch(/name the master .*which takes writes/);
      const t = await handle(service);
      expect(await sentinelMajority(t)).toBeDefined();
      await writableThroughProxies(t);
      await t.down();
    }
    const last = await move(service);
    expect(last.status, `${last.error}: ${last.cause}\n${said.join('\n')}`).toBe('SUCCEEDED');
    const t = await handle(service);
    expect(t.d.hostSet).toBe(TO);
    expect(t.d.nodes).toHaveLength(3);
    await sentinelsForgotTheOld(t);
    await writableThroughProxies(t);
    await t.down();
  }, 600_000);
});

import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Endpoint, sameEndpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import { NODE_EVENT_CONTRACT, type NodeEnvelope } from '../../events/node-events.ts';
import { startNode } from '../../local/launcher.ts';
import { countLost, WriteLoad } from '../../local/load.ts';
import { waitUntil } from '../../local/processes.ts';
import { startTestCluster, type TestCluster, waitForHistory } from './cluster.ts';

/** The last lines of the cluster's logs, for a failure's message. */
async function logsOf(t: TestCluster, ...names: string[]): Promise<string> {
  const tails = await Promise.all(
    names.map(async (name) => {
      const text = await readFile(`${t.d.dir}/${name}`, 'utf8').catch((e: unknown) => String(e));
      return `--- ${name}\n${text.split('\n').slice(-15).join('\n')}`;
    }),
  );
  return tails.join('\n');
}

/**
 * The fast path with real processes: a node agent per node (`local up --node-agent`), down-after 5000, so that
 * a failover within it can only be the fast path's. In order: a stopped master (SIGSTOP) and a dead replica
 * fail nothing over; a kill -9 of the master fails over at once with no acknowledged write lost; the same
 * node-exited event delivered again (3 times, and once more later) changes nothing.
 */
describe('the fast path: a node agent reports a dead master, and ha-redis fails over at once', () => {
  let t: TestCluster;
  const failovers = async () =>
    (await t.history()).filter((e) => e.kind === 'failover' && e.trigger !== 'adopt');

  beforeAll(async () => {
    t = await startTestCluster({ downAfterMs: 5000, failoverTimeoutMs: 10_000, nodeAgent: true });
  });
  afterAll(async () => {
    await t?.down();
  });

  it('starts an agent per node, each holding its node', () => {
    expect(t.d.agents.map((a) => a.nodeId)).toEqual(t.d.nodes.map((n) => n.id));
    expect(t.d.agentEventsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/events$/);
  });

  it('does nothing when the master is stopped for 3 s (SIGSTOP): the process is alive', async () => {
    const master = t.d.nodes[0];
    if (!master) throw new Error('no nodes');
    process.kill(master.pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 3000));
    process.kill(master.pid, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await failovers()).toEqual([]);
    expect(sameEndpoint(await t.soleMaster(), master)).toBe(true);
    expect((await t.history()).filter((e) => e.kind === 'node-exit')).toEqual([]);
  });

  it('records and tells a replica that dies, and fails nothing over', async () => {
    const replica = t.d.nodes[2];
    if (!replica) throw new Error('no nodes');
    process.kill(replica.pid, 'SIGKILL');
    try {
      const entry = await waitForHistory(t, (e) => e.kind === 'node-exit', 10_000).catch(
        async (error: unknown) => {
          throw new Error(
            `${String(error)}\n${await logsOf(t, `agent-${replica.id}.log`, 'orchestrator.log')}`,
          );
        },
      );
      expect(entry.outcome).toBe('partial');
      expect(entry.error).toMatch(new RegExp(`replica ${replica.id} exited; no failover`));
      // The notification follows the history entry.
      const told = new RegExp(`replica ${replica.id}'s redis-server exited`);
      await waitUntil(
        async () => told.test(await readFile(t.d.orchestrator?.notificationsPath ?? '', 'utf8')),
        5000,
        'the notification of the replica exit',
      );
      expect(await failovers()).toEqual([]);
    } finally {
      await startNode({ name: t.name, root: t.root }, replica.id);
    }
    await waitUntil(async () => (await t.role(replica)) === 'slave', 10_000, `${replica.id} back`);
  });

  let entry: HistoryEntry;
  let oldMaster: Endpoint;
  it('fails over at once after kill -9 of the master, and loses no write acknowledged by a replica', async () => {
    const [p1] = t.d.proxies;
    const master = t.d.nodes[0];
    if (!p1 || !master) throw new Error('expected proxies and nodes');
    oldMaster = { host: master.host, port: master.port };
    // The replica killed before must be back in sync, or min-replicas-to-write would refuse the load.
    const load = new WriteLoad({
      target: { kind: 'direct', endpoint: { host: p1.host, port: p1.plainPort } },
      password: t.password,
      writers: 4,
      ackReplicas: 1,
    });
    load.start();
    await load.waitForAcks(200);
    process.kill(master.pid, 'SIGKILL');
    entry = await waitForHistory(t, (e) => e.kind === 'failover' && e.trigger === 'node-exited', 20_000);
    const acked = load.ackCount;
    await load.waitForAcks(acked + 100, 15_000);
    const report = await load.stop();
    const newMaster = await t.soleMaster();
    expect(entry.outcome, entry.error).toBe('succeeded');
    expect(entry.startedBy).toMatch(
      /^the fast path: redis-1's redis-server exited \(pid \d+ gone, connect refused/,
    );
    expect(entry.oldMaster).toEqual(oldMaster);
    expect(entry.newMaster).toEqual(newMaster);
    expect(await countLost(newMaster, t.password, report.ackedKeys)).toEqual([]);
  });

  it("names the fast path's steps before the reaction's in the entry's timeline", () => {
    const steps = entry.timeline.map((s) => s.step);
    expect(steps.slice(0, 7)).toEqual([
      'exited',
      'probed',
      'candidates',
      'held',
      'failover-asked',
      'promoted',
      'fast-rerouted',
    ]);
    expect(steps).toContain('epoch-claimed');
    expect(steps).toContain('verified');
    expect(entry.timeline.every((s) => s.status === 'ok')).toBe(true);
  });

  it('acts once: the same node-exited delivered 3 times at once, and once more later, changes nothing', async () => {
    if (!t.d.agentEventsUrl) throw new Error('no events endpoint');
    const url = t.d.agentEventsUrl;
    const envelope: NodeEnvelope = {
      contract: NODE_EVENT_CONTRACT.name,
      version: NODE_EVENT_CONTRACT.version,
      type: 'node-exited',
      cluster: t.name,
      node: oldMaster,
      agent: { host: 'host-of-redis-1', runId: 'test-redelivery' },
      exitedAt: entry.startedAt,
      evidence: {
        pid: t.d.nodes[0]?.pid ?? 1,
        processGone: true,
        connect: 'refused',
        lastRole: 'master',
        lastOffset: 0,
        lastInfoAt: entry.startedAt - 100,
      },
      seenAt: Date.now(),
    };
    const post = () =>
      fetch(url, { method: 'POST', body: JSON.stringify({ ...envelope, seenAt: Date.now() }) }).then(
        (r) => r.status,
      );
    expect(await Promise.all([post(), post(), post()])).toEqual([202, 202, 202]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await post()).toBe(202);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await failovers()).length).toBe(1);
    expect((await t.history()).filter((e) => e.kind === 'node-exit' && e.oldMaster !== null)).toEqual([]);
    const applied = await t.state.appliedEpoch(t.name);
    expect(applied?.epoch).toBe(entry.epoch);
  });
});

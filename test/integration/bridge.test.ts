import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../core/model/cluster.ts';
import type { Logger } from '../../core/ports.ts';
import { SentinelBridge } from '../../events/bridge/bridge.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';
import { startNode } from '../../local/launcher.ts';
import { commandLine, waitUntil } from '../../local/processes.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

describe('Sentinel event bridge against a real Sentinel', () => {
  let t: TestCluster;
  let bridge: SentinelBridge;
  const published: SentinelEnvelope[] = [];

  beforeAll(async () => {
    t = await startTestCluster();
    const s1 = t.d.sentinels[0] as Endpoint;
    bridge = new SentinelBridge({
      cluster: t.name,
      sentinel: { host: s1.host, port: s1.port },
      password: t.password,
      publisher: { publish: async (e) => void published.push(e) },
      logger: silent,
    });
    await bridge.start();
  });
  afterAll(async () => {
    await bridge?.stop();
    await t?.down();
  });

  it('publishes typed envelopes of real Sentinel events, and reconnects after the Sentinel restarts', async () => {
    // Arrange: a replica restart makes Sentinel publish +sdown / -sdown / +reboot for it.
    const replica = t.d.nodes[1];
    const sentinel = t.d.sentinels[0];
    if (!replica || !sentinel) throw new Error('cluster incomplete');

    // Act 1: kill the bridge's Sentinel and start it again.
    process.kill(sentinel.pid, 'SIGKILL');
    await waitUntil(async () => !(await commandLine(sentinel.pid)), 5000, 'the Sentinel to die');
    await startNode({ name: t.name, root: t.root }, sentinel.id);
    await waitUntil(async () => bridge.stats.reconnects > 0, 10_000, 'the bridge to notice');

    // Act 2: restart a replica, which the restarted Sentinel reports.
    process.kill(replica.pid, 'SIGKILL');
    await waitUntil(
      async () => published.some((e) => e.channel === '+sdown' && e.payload.includes(`:${replica.port}`)),
      15_000,
      '+sdown of the killed replica through the reconnected bridge',
    );
    await startNode({ name: t.name, root: t.root }, replica.id);
    await waitUntil(
      async () => published.some((e) => e.channel === '-sdown' && e.payload.includes(`:${replica.port}`)),
      15_000,
      '-sdown of the restarted replica',
    );

    // Assert: envelopes carry the contract, the cluster and the Sentinel; nothing malformed.
    const sdown = published.find((e) => e.channel === '+sdown');
    expect(sdown).toMatchObject({
      contract: 'sentinel-event',
      version: 1,
      cluster: t.name,
      sentinel: { host: sentinel.host, port: sentinel.port },
    });
    expect(bridge.stats.malformed).toBe(0);
    expect(bridge.stats.published).toBe(published.length);
  });
});

import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchMetricSink } from '../../adapters/aws/cloudwatch-metric-sink.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import { BRIDGE_METRICS } from '../../core/model/metrics.ts';
import type { Logger } from '../../core/ports.ts';
import { SentinelBridge } from '../../events/bridge/bridge.ts';
import { BridgeHeartbeat } from '../../events/bridge/heartbeat.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';
import { startNode } from '../../local/launcher.ts';
import { commandLine, waitUntil } from '../../local/processes.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const cloudWatch = mockClient(CloudWatchClient);
const MINUTE = BRIDGE_METRICS.periodMs;

/** The heartbeat datums (the deployment's and the bridge's) of each PutMetricData sent so far. */
const heartbeatsSent = () =>
  cloudWatch
    .commandCalls(PutMetricDataCommand)
    .map(
      (c) =>
        (c.args[0].input.MetricData ?? []).filter((d) => d.MetricName === BRIDGE_METRICS.heartbeat).length,
    );

describe('Sentinel event bridge against a real Sentinel', () => {
  let t: TestCluster;
  let bridge: SentinelBridge;
  let heartbeat: BridgeHeartbeat;
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
    // Beaten by hand (no timer), for minutes 1, 2, 3... after now.
    heartbeat = new BridgeHeartbeat({
      source: bridge,
      sink: new CloudWatchMetricSink(new CloudWatchClient({ region: 'eu-west-1' }), BRIDGE_METRICS.namespace),
      topic: 'ha-redis-sentinel-events',
      bridge: `${s1.host}:${s1.port}`,
      logger: silent,
    });
  });
  afterAll(async () => {
    await bridge?.stop();
    await t?.down();
    cloudWatch.restore();
  });

  it('publishes typed envelopes of real Sentinel events, and reconnects after the Sentinel restarts; heartbeats only while subscribed, and a refused heartbeat changes nothing', async () => {
    // Arrange: a replica restart makes Sentinel publish +sdown / -sdown / +reboot for it.
    const replica = t.d.nodes[1];
    const sentinel = t.d.sentinels[0];
    if (!replica || !sentinel) throw new Error('cluster incomplete');
    const start = Date.now();
    cloudWatch.on(PutMetricDataCommand).resolves({});
    await heartbeat.beat(start + MINUTE);

    // Act 1: kill the bridge's Sentinel (a heartbeat while it is down) and start it again.
    process.kill(sentinel.pid, 'SIGKILL');
    await waitUntil(async () => !(await commandLine(sentinel.pid)), 5000, 'the Sentinel to die');
    await waitUntil(async () => !bridge.subscribed, 5000, 'the bridge to lose its subscription');
    await heartbeat.beat(start + 2 * MINUTE);
    await startNode({ name: t.name, root: t.root }, sentinel.id);
    await waitUntil(async () => bridge.stats.reconnects > 0, 10_000, 'the bridge to notice');
    await waitUntil(async () => bridge.subscribed, 10_000, 'the bridge to subscribe again');
    await heartbeat.beat(start + 3 * MINUTE);

    // Act 2: restart a replica, which the restarted Sentinel reports, while CloudWatch refuses heartbeats.
    cloudWatch.on(PutMetricDataCommand).rejects(new Error('Rate exceeded'));
    await heartbeat.beat(start + 4 * MINUTE);
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
    // Two heartbeat datums (the deployment's count and the bridge's) a minute while subscribed, none while the
    // Sentinel was down; the refused request carried minute 4 only (minute 3 had been sent).
    expect(heartbeatsSent()).toEqual([2, 0, 2, 2]);
  });
});

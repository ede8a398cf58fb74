import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CloudWatchMetricSink } from '../../adapters/aws/cloudwatch-metric-sink.ts';
import { BRIDGE_METRICS } from '../../core/model/metrics.ts';
import type { Logger } from '../../core/ports.ts';
import { SentinelBridge } from '../../events/bridge/bridge.ts';
import {
  BridgeHeartbeat,
  HEARTBEAT_RESEND_MINUTES,
  type HeartbeatSource,
  type MetricSink,
} from '../../events/bridge/heartbeat.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';
import { loadEnvelope } from '../support/samples.ts';
import { throttling } from './aws/sdk-errors.ts';

const cloudWatch = mockClient(CloudWatchClient);

const TOPIC = 'HaRedisProd-SentinelEvents1A2B3C4D-0123456789AB';
const BRIDGE = '10.0.1.11:26379';
const MINUTE = 60_000;
/** A minute's start; the tests start 20 s into it. */
const M0 = Date.UTC(2026, 11, 7, 9, 30);
const OFFSET_MS = 7000;

/** A logger that keeps each line's attributes, to check what a failure logs. */
class CapturingLogger implements Logger {
  readonly lines: { level: string; message: string; attributes?: Record<string, unknown> }[] = [];
  debug = (message: string, attributes?: Record<string, unknown>) => this.at('debug', message, attributes);
  info = (message: string, attributes?: Record<string, unknown>) => this.at('info', message, attributes);
  warn = (message: string, attributes?: Record<string, unknown>) => this.at('warn', message, attributes);
  error = (message: string, attributes?: Record<string, unknown>) => this.at('error', message, attributes);
  private at(level: string, message: string, attributes?: Record<string, unknown>): void {
    this.lines.push({ level, message, ...(attributes ? { attributes } : {}) });
  }
}

/** A bridge as the heartbeat sees it, subscribed, with nothing waiting. */
const aliveBridge = (): { subscribed: boolean; backlog: number; stats: { dropped: number } } => ({
  subscribed: true,
  backlog: 0,
  stats: { dropped: 0 },
});

function heartbeatOf(source: HeartbeatSource, logger: Logger = new CapturingLogger(), sink?: MetricSink) {
  return new BridgeHeartbeat({
    source,
    sink:
      sink ??
      new CloudWatchMetricSink(new CloudWatchClient({ region: 'eu-west-1' }), BRIDGE_METRICS.namespace),
    topic: TOPIC,
    bridge: BRIDGE,
    logger,
    offsetMs: OFFSET_MS,
  });
}

const ofTopic = [{ Name: 'EventsTopic', Value: TOPIC }];
const ofBridge = [...ofTopic, { Name: 'Bridge', Value: BRIDGE }];
const count = (MetricName: string, Dimensions: typeof ofTopic, minute: number, Value: number) => ({
  MetricName,
  Dimensions,
  Timestamp: new Date(minute),
  Value,
  Unit: 'Count',
});
const beatsOf = (minute: number) => [
  count('BridgeHeartbeat', ofTopic, minute, 1),
  count('BridgeHeartbeat', ofBridge, minute, 1),
];
const inputs = () => cloudWatch.commandCalls(PutMetricDataCommand).map((c) => c.args[0].input);

beforeEach(() => {
  cloudWatch.reset();
  vi.useFakeTimers({ now: M0 + 20_000 });
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(() => {
  cloudWatch.restore();
});

describe('BridgeHeartbeat', () => {
  it('sends nothing for the minute it starts in, then one PutMetricData a minute at its offset: the heartbeat for the deployment and for this bridge, the backlog and the drops since', async () => {
    // Arrange: started 20 s into M0, past its 7-s offset; 2 events dropped and 3 waiting by the first heartbeat.
    cloudWatch.on(PutMetricDataCommand).resolves({});
    const bridge = aliveBridge();
    const heartbeat = heartbeatOf(bridge);

    // Act
    heartbeat.start();
    await vi.advanceTimersByTimeAsync(MINUTE - 20_000 + OFFSET_MS - 1);
    const beforeFirst = inputs().length;
    bridge.stats.dropped = 2;
    bridge.backlog = 3;
    await vi.advanceTimersByTimeAsync(1);
    bridge.backlog = 0;
    await vi.advanceTimersByTimeAsync(MINUTE);
    heartbeat.stop();
    await vi.advanceTimersByTimeAsync(3 * MINUTE);

    // Assert
    expect(beforeFirst).toBe(0);
    expect(inputs()).toEqual([
      {
        Namespace: 'HaRedis/Bridge',
        MetricData: [
          ...beatsOf(M0 + MINUTE),
          count('BridgeBacklog', ofTopic, M0 + MINUTE, 3),
          count('BridgeEventsDropped', ofTopic, M0 + MINUTE, 2),
        ],
      },
      {
        Namespace: 'HaRedis/Bridge',
        MetricData: [
          ...beatsOf(M0 + 2 * MINUTE),
          count('BridgeBacklog', ofTopic, M0 + 2 * MINUTE, 0),
          count('BridgeEventsDropped', ofTopic, M0 + 2 * MINUTE, 0),
        ],
      },
    ]);
  });

  it('sends no heartbeat while its bridge is not subscribed to its Sentinel, only its backlog and drops', async () => {
    // Arrange
    cloudWatch.on(PutMetricDataCommand).resolves({});
    const bridge = { ...aliveBridge(), subscribed: false };
    const heartbeat = heartbeatOf(bridge);

    // Act
    heartbeat.start();
    await vi.advanceTimersByTimeAsync(MINUTE);
    heartbeat.stop();

    // Assert
    expect(inputs().map((i) => i.MetricData?.map((d) => d.MetricName))).toEqual([
      ['BridgeBacklog', 'BridgeEventsDropped'],
    ]);
  });

  it('sends a minute whose heartbeat failed again with the next, stamped with its own minute, and the drops it did not report', async () => {
    // Arrange: CloudWatch throttles the first request.
    cloudWatch.on(PutMetricDataCommand).rejectsOnce(throttling()).resolves({});
    const bridge = aliveBridge();
    const heartbeat = heartbeatOf(bridge);

    // Act
    heartbeat.start();
    bridge.stats.dropped = 1;
    await vi.advanceTimersByTimeAsync(MINUTE);
    await vi.advanceTimersByTimeAsync(MINUTE);
    heartbeat.stop();

    // Assert
    expect(inputs()[1]?.MetricData).toEqual([
      ...beatsOf(M0 + MINUTE),
      ...beatsOf(M0 + 2 * MINUTE),
      count('BridgeBacklog', ofTopic, M0 + 2 * MINUTE, 0),
      count('BridgeEventsDropped', ofTopic, M0 + 2 * MINUTE, 1),
    ]);
  });

  it(`keeps the heartbeats of the last ${HEARTBEAT_RESEND_MINUTES} minutes at most while CloudWatch refuses them`, async () => {
    // Arrange
    cloudWatch.on(PutMetricDataCommand).rejects(throttling());
    const heartbeat = heartbeatOf(aliveBridge());

    // Act
    heartbeat.start();
    await vi.advanceTimersByTimeAsync(8 * MINUTE);
    heartbeat.stop();

    // Assert: the 8th request carries minutes 4 to 8.
    const last = inputs().at(-1)?.MetricData ?? [];
    expect(inputs()).toHaveLength(8);
    expect(last.filter((d) => d.MetricName === 'BridgeHeartbeat' && d.Dimensions?.length === 1)).toEqual(
      [4, 5, 6, 7, 8].map((m) => count('BridgeHeartbeat', ofTopic, M0 + m * MINUTE, 1)),
    );
  });
});

describe('a failing heartbeat and the bridge', () => {
  it('logs a refused PutMetricData with its topic, bridge and error only, keeps beating, and the bridge goes on forwarding', async () => {
    // Arrange: a bridge (with a Sentinel password) whose every heartbeat CloudWatch refuses.
    cloudWatch.on(PutMetricDataCommand).rejects(throttling());
    const published: SentinelEnvelope[] = [];
    const logger = new CapturingLogger();
    const bridge = new SentinelBridge({
      cluster: 'orders',
      sentinel: { host: '10.0.1.11', port: 26379 },
      password: 'sentinel-secret-do-not-log',
      publisher: { publish: async (e) => void published.push(e) },
      logger,
    });
    const heartbeat = heartbeatOf(bridge, logger);
    const event = loadEnvelope('switch-master');

    // Act
    heartbeat.start();
    await vi.advanceTimersByTimeAsync(3 * MINUTE);
    await bridge.handle(event.channel, event.payload);
    heartbeat.stop();

    // Assert
    expect(inputs()).toHaveLength(3);
    expect(published.map((e) => e.channel)).toEqual(['+switch-master']);
    expect(bridge.stats).toMatchObject({ published: 1, publishFailures: 0 });
    const failures = logger.lines.filter((l) => l.level === 'error');
    expect(failures).toHaveLength(3);
    expect(failures[0]).toEqual({
      level: 'error',
      message: 'bridge heartbeat not sent; it goes with the next one',
      attributes: { topic: TOPIC, bridge: BRIDGE, minutes: 0, error: 'Rate exceeded' },
    });
    expect(JSON.stringify(logger.lines)).not.toContain('sentinel-secret-do-not-log');
  });

  it('never throws into the bridge, even from a sink that throws before it returns a promise', async () => {
    // Arrange
    const logger = new CapturingLogger();
    const sink: MetricSink = {
      put: () => {
        throw new Error('credentials not loaded');
      },
    };
    const heartbeat = heartbeatOf(aliveBridge(), logger, sink);
    heartbeat.start();

    // Act
    await vi.advanceTimersByTimeAsync(2 * MINUTE);
    const direct = heartbeat.beat();
    heartbeat.stop();

    // Assert
    await expect(direct).resolves.toBeUndefined();
    expect(logger.lines.map((l) => [l.level, l.attributes?.error])).toEqual([
      ['error', 'credentials not loaded'],
      ['error', 'credentials not loaded'],
      ['error', 'credentials not loaded'],
    ]);
  });
});

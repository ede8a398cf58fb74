import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SnsNotifier } from '../../adapters/aws/sns-notifier.ts';
import { SnsPublisher } from '../../adapters/aws/sns-publisher.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import { type Publisher, SentinelBridge } from '../../events/bridge/bridge.ts';
import { NodeEnvelopeSchema } from '../../events/node-events.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';
import { RecordingLogger } from '../fakes/reporting.ts';
import { N1, N2, START } from '../support/fixtures.ts';
import { loadEnvelope, SAMPLE_CASES } from '../support/samples.ts';

const EVENTS_TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events';
const NOTIFY_TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ha-redis-notifications';

const snsMock = mockClient(SNSClient);

/** The error the SDK raises when SNS throttles a caller. */
function throttling(): Error {
  return Object.assign(new Error('Rate exceeded'), {
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400, attempts: 1, totalRetryDelay: 0 },
  });
}

beforeEach(() => {
  snsMock.reset();
});
afterAll(() => {
  snsMock.restore();
});

describe('SnsPublisher', () => {
  it('publishes one message with the envelope as JSON and cluster/eventType attributes', async () => {
    // Arrange
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const envelope = loadEnvelope('switch-master');

    // Act
    await new SnsPublisher(new SNSClient({ region: 'eu-west-1' }), EVENTS_TOPIC).publish(envelope);

    // Assert
    const calls = snsMock.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      TopicArn: EVENTS_TOPIC,
      Message: JSON.stringify(envelope),
      MessageAttributes: {
        cluster: { DataType: 'String', StringValue: 'orders' },
        eventType: { DataType: 'String', StringValue: '+switch-master' },
      },
    });
  });

  it('adds a Number epoch attribute for +new-epoch', async () => {
    // Arrange
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-2' });

    // Act
    await new SnsPublisher(new SNSClient({ region: 'eu-west-1' }), EVENTS_TOPIC).publish(
      loadEnvelope('new-epoch'),
    );

    // Assert
    expect(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.MessageAttributes).toEqual({
      cluster: { DataType: 'String', StringValue: 'orders' },
      eventType: { DataType: 'String', StringValue: '+new-epoch' },
      epoch: { DataType: 'Number', StringValue: '7' },
    });
  });

  it('publishes a node-event envelope with its cluster and node-exited as attributes, and no epoch', async () => {
    // Arrange: what the node agent publishes when the master's redis-server exits.
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-3' });
    const envelope = NodeEnvelopeSchema.parse({
      contract: 'node-event',
      version: 1,
      type: 'node-exited',
      cluster: 'orders',
      node: { host: '10.0.1.21', port: 6379 },
      agent: { host: 'ip-10-0-1-21', runId: '3f2a9c4e-0d1b-4a57-9e2f-6b8c1d0e7a45' },
      exitedAt: START,
      evidence: {
        pid: 4242,
        processGone: true,
        connect: 'refused',
        lastRole: 'master',
        lastOffset: 1048576,
        lastInfoAt: START - 120,
      },
      seenAt: START + 3,
    });

    // Act
    await new SnsPublisher(new SNSClient({ region: 'eu-west-1' }), EVENTS_TOPIC).publish(envelope);

    // Assert
    const calls = snsMock.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      TopicArn: EVENTS_TOPIC,
      Message: JSON.stringify(envelope),
      MessageAttributes: {
        cluster: { DataType: 'String', StringValue: 'orders' },
        eventType: { DataType: 'String', StringValue: 'node-exited' },
      },
    });
    expect(NodeEnvelopeSchema.parse(JSON.parse(calls[0]?.args[0].input.Message ?? ''))).toEqual(envelope);
  });

  it('lets a ThrottlingException propagate to the caller', async () => {
    // Arrange
    snsMock.on(PublishCommand).rejects(throttling());
    const publisher = new SnsPublisher(new SNSClient({ region: 'eu-west-1' }), EVENTS_TOPIC);

    // Act
    const publish = publisher.publish(loadEnvelope('switch-master'));

    // Assert
    await expect(publish).rejects.toMatchObject({ name: 'ThrottlingException', message: 'Rate exceeded' });
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
  });
});

describe('SnsNotifier', () => {
  it('publishes the notification with a short subject and cluster/kind/outcome attributes', async () => {
    // Arrange
    snsMock.on(PublishCommand).resolves({ MessageId: 'n-1' });
    const entry: HistoryEntry = {
      id: 'h-1',
      cluster: 'orders',
      kind: 'failover',
      epoch: 7,
      oldMaster: N1,
      newMaster: N2,
      outcome: 'succeeded',
      trigger: '+switch-master',
      startedAt: START,
      durationMs: 812,
      timeline: [],
      bytesAtRisk: 0,
    };
    const notification = {
      cluster: 'orders',
      kind: 'failover' as const,
      outcome: 'succeeded' as const,
      summary: `failover of orders: n1 -> n2 at epoch 7, succeeded ${'x'.repeat(200)}`,
      entry,
    };

    // Act
    await new SnsNotifier(new SNSClient({ region: 'eu-west-1' }), NOTIFY_TOPIC).publish(notification);

    // Assert
    const calls = snsMock.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toEqual({
      TopicArn: NOTIFY_TOPIC,
      Subject: notification.summary.slice(0, 99),
      Message: JSON.stringify(notification),
      MessageAttributes: {
        cluster: { DataType: 'String', StringValue: 'orders' },
        kind: { DataType: 'String', StringValue: 'failover' },
        outcome: { DataType: 'String', StringValue: 'succeeded' },
      },
    });
    expect(input?.Subject?.length).toBeLessThan(100);
  });

  it('lets an SNS error propagate, for the core to log', async () => {
    // Arrange
    snsMock.on(PublishCommand).rejects(throttling());

    // Act
    const publish = new SnsNotifier(new SNSClient({ region: 'eu-west-1' }), NOTIFY_TOPIC).publish({
      cluster: 'orders',
      kind: 'alarm',
      outcome: 'failed',
      summary: 'x',
    });

    // Assert
    await expect(publish).rejects.toThrow('Rate exceeded');
  });
});

describe('SentinelBridge.handle', () => {
  const SENTINEL = { host: '10.0.1.11', port: 26379 };

  function bridgeWith(publisher: Publisher, retry: { retryBuffer?: number; retryEveryMs?: number } = {}) {
    const logger = new RecordingLogger();
    const bridge = new SentinelBridge({
      cluster: 'orders',
      sentinel: SENTINEL,
      publisher,
      logger,
      now: () => START,
      ...retry,
    });
    return { bridge, logger };
  }

  it('keeps a failed publish for a retry, and publishes the waiting events in their order once SNS answers', async () => {
    // Arrange: SNS fails the first three publishes (throttled), then answers.
    const published: string[] = [];
    let failures = 3;
    const { bridge } = bridgeWith(
      {
        publish: async (e) => {
          if (failures > 0) {
            failures -= 1;
            throw new Error('Rate exceeded');
          }
          published.push(e.channel);
        },
      },
      { retryEveryMs: 5 },
    );

    // Act
    await bridge.handle('+switch-master', 'mymaster 10.0.1.21 6379 10.0.1.22 6379');
    await bridge.handle('+failover-end', 'master mymaster 10.0.1.21 6379');
    const backlogAfterFailures = bridge.backlog;
    await vi.waitFor(() => expect(bridge.backlog).toBe(0), { timeout: 2000, interval: 5 });
    await bridge.stop();

    // Assert
    expect(backlogAfterFailures).toBe(2);
    expect(published).toEqual(['+switch-master', '+failover-end']);
    expect(bridge.stats).toMatchObject({ publishFailures: 2, republished: 2, dropped: 0 });
  });

  it('drops the oldest waiting event when the retry buffer is full, and counts it', async () => {
    // Arrange: SNS keeps failing; the buffer holds 2.
    const { bridge, logger } = bridgeWith(
      {
        publish: async () => {
          throw new Error('socket hang up');
        },
      },
      { retryBuffer: 2, retryEveryMs: 60_000 },
    );

    // Act
    await bridge.handle('+odown', 'master mymaster 10.0.1.21 6379 #quorum 2/2');
    await bridge.handle('+switch-master', 'mymaster 10.0.1.21 6379 10.0.1.22 6379');
    await bridge.handle('+failover-end', 'master mymaster 10.0.1.21 6379');
    await bridge.stop();

    // Assert
    expect(bridge.backlog).toBe(2);
    expect(bridge.stats).toMatchObject({ publishFailures: 3, dropped: 1 });
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: 'sentinel event dropped: the retry buffer is full',
      }),
    );
  });

  it('publishes a parsed message as a sentinel-event v1 envelope stamped with its clock', async () => {
    // Arrange
    const published: SentinelEnvelope[] = [];
    const { bridge } = bridgeWith({ publish: async (e) => void published.push(e) });

    // Act
    await bridge.handle('+switch-master', 'mymaster 10.0.1.21 6379 10.0.1.22 6379');

    // Assert
    expect(published).toEqual([{ ...loadEnvelope('switch-master'), seenAt: START }]);
    expect(bridge.stats).toMatchObject({ received: 1, published: 1, unknown: 0, malformed: 0 });
  });

  it('publishes every sample case through SnsPublisher', async () => {
    // Arrange
    snsMock.on(PublishCommand).resolves({ MessageId: 'm' });
    const { bridge } = bridgeWith(new SnsPublisher(new SNSClient({ region: 'eu-west-1' }), EVENTS_TOPIC));

    // Act
    for (const name of SAMPLE_CASES) {
      const { channel, payload } = loadEnvelope(name);
      await bridge.handle(channel, payload);
    }

    // Assert
    expect(bridge.stats.published).toBe(SAMPLE_CASES.length);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(SAMPLE_CASES.length);
  });

  it('counts a publish failure (SNS throttling) and does not throw', async () => {
    // Arrange
    snsMock.on(PublishCommand).rejects(throttling());
    const { bridge, logger } = bridgeWith(
      new SnsPublisher(new SNSClient({ region: 'eu-west-1' }), EVENTS_TOPIC),
    );

    // Act
    await bridge.handle('+switch-master', 'mymaster 10.0.1.21 6379 10.0.1.22 6379');
    await bridge.handle('+failover-end', 'master mymaster 10.0.1.21 6379');

    // Assert
    expect(bridge.stats).toMatchObject({ received: 2, published: 0, publishFailures: 2 });
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(2);
    expect(bridge.backlog).toBe(2);
    await bridge.stop();
  });

  it('counts a publisher that rejects as a failure and still resolves', async () => {
    // Arrange
    const { bridge } = bridgeWith({
      publish: async () => {
        throw new Error('socket hang up');
      },
    });

    // Act
    const handled = bridge.handle('+odown', 'master mymaster 10.0.1.21 6379 #quorum 2/2');

    // Assert
    await expect(handled).resolves.toBeUndefined();
    expect(bridge.stats.publishFailures).toBe(1);
    await bridge.stop();
  });

  it('counts unknown and malformed messages, publishes none of them, and never throws', async () => {
    // Arrange
    const published: SentinelEnvelope[] = [];
    const { bridge, logger } = bridgeWith({ publish: async (e) => void published.push(e) });
    const bad = [
      'unknown-channel',
      'malformed-switch-master-four-words',
      'malformed-port-not-a-number',
      'malformed-slave-without-master',
      'malformed-new-epoch-not-a-number',
    ].map(loadEnvelope);

    // Act
    for (const { channel, payload } of bad) await bridge.handle(channel, payload);
    await bridge.handle('+failover-state-teleport', 'master mymaster 10.0.1.21 6379');
    await bridge.handle('+sdown', '');

    // Assert
    expect(published).toEqual([]);
    expect(bridge.stats).toEqual({
      received: 7,
      published: 0,
      unknown: 2,
      malformed: 5,
      publishFailures: 0,
      republished: 0,
      dropped: 0,
      reconnects: 0,
      unattributed: 0,
    });
    expect(logger.lines.filter((l) => l.message === 'sentinel message dropped')).toHaveLength(7);
  });
});

describe('SentinelBridge for a Sentinel that monitors several masters (a host set with shared Sentinels)', () => {
  const SENTINEL = { host: '10.0.1.11', port: 26379 };
  const masters = new Map([
    ['orders-master', 'orders'],
    ['carts-master', 'carts'],
  ]);

  function sharedBridge() {
    const published: SentinelEnvelope[] = [];
    const bridge = new SentinelBridge({
      cluster: 'orders',
      sentinel: SENTINEL,
      publisher: { publish: async (e) => void published.push(e) },
      logger: new RecordingLogger(),
      masters,
      now: () => START,
    });
    return { bridge, published };
  }

  it("sends an event that names a master to that master's cluster only", async () => {
    const { bridge, published } = sharedBridge();
    await bridge.handle('+switch-master', 'carts-master 10.0.1.21 6379 10.0.1.22 6379');
    await bridge.handle('+sdown', 'master orders-master 10.0.1.21 6380');
    await bridge.handle(
      '+promoted-slave',
      'slave 10.0.1.22:6379 10.0.1.22 6379 @ carts-master 10.0.1.21 6379',
    );
    expect(published.map((e) => [e.channel, e.cluster])).toEqual([
      ['+switch-master', 'carts'],
      ['+sdown', 'orders'],
      ['+promoted-slave', 'carts'],
    ]);
  });

  it('drops an event of a master it does not map, and a vote that cannot be told apart; +new-epoch goes to every cluster', async () => {
    const { bridge, published } = sharedBridge();
    await bridge.handle('+switch-master', 'other-master 10.0.1.21 6379 10.0.1.22 6379');
    await bridge.handle('+vote-for-leader', '4b1d2f0c9e0a7c1b2d3e4f5a6b7c8d9e0f1a2b3c 7');
    await bridge.handle('+new-epoch', '7');
    expect(published.map((e) => [e.channel, e.cluster])).toEqual([
      ['+new-epoch', 'orders'],
      ['+new-epoch', 'carts'],
    ]);
    expect(bridge.stats).toMatchObject({ received: 3, published: 2, unattributed: 2 });
  });
});

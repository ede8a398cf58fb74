import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { epochOf, parseSentinelMessage } from '../../core/failover/sentinel-event.ts';
import type { Publisher } from '../../events/bridge/bridge.ts';
import type { NodeEnvelope } from '../../events/node-events.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';
import { eventTypeOf } from '../../events/subscription.ts';

/** Publishes sentinel-event and node-event envelopes to SNS, with attributes for subscription filters. */
export class SnsPublisher implements Publisher {
  private readonly client: SNSClient;
  private readonly topicArn: string;
  constructor(client: SNSClient, topicArn: string) {
    this.client = client;
    this.topicArn = topicArn;
  }

  async publish(envelope: SentinelEnvelope | NodeEnvelope): Promise<void> {
    if (envelope.contract === 'node-event') {
      await this.send(envelope.cluster, eventTypeOf(envelope), JSON.stringify(envelope));
      return;
    }
    const parsed = parseSentinelMessage(envelope.channel, envelope.payload);
    const epoch = parsed.ok ? epochOf(parsed.event) : undefined;
    await this.send(envelope.cluster, eventTypeOf(envelope), JSON.stringify(envelope), epoch);
  }

  private async send(cluster: string, eventType: string, message: string, epoch?: number): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: message,
        MessageAttributes: {
          cluster: { DataType: 'String', StringValue: cluster },
          eventType: { DataType: 'String', StringValue: eventType },
          ...(epoch !== undefined ? { epoch: { DataType: 'Number', StringValue: String(epoch) } } : {}),
        },
      }),
    );
  }
}

import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { epochOf, parseSentinelMessage } from '../../core/failover/sentinel-event.ts';
import type { Publisher } from '../../events/bridge/bridge.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';

/** Publishes sentinel-event envelopes to SNS, with attributes for subscription filters. */
export class SnsPublisher implements Publisher {
  private readonly client: SNSClient;
  private readonly topicArn: string;
  constructor(client: SNSClient, topicArn: string) {
    this.client = client;
    this.topicArn = topicArn;
  }

  async publish(envelope: SentinelEnvelope): Promise<void> {
    const parsed = parseSentinelMessage(envelope.channel, envelope.payload);
    const epoch = parsed.ok ? epochOf(parsed.event) : undefined;
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: JSON.stringify(envelope),
        MessageAttributes: {
          cluster: { DataType: 'String', StringValue: envelope.cluster },
          eventType: { DataType: 'String', StringValue: envelope.channel },
          ...(epoch !== undefined ? { epoch: { DataType: 'Number', StringValue: String(epoch) } } : {}),
        },
      }),
    );
  }
}

import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Notification } from '../../core/model/records.ts';
import type { Notifier } from '../../core/ports.ts';

/** Publishes outcomes to the notification topic; the notify Lambda formats and delivers them. */
export class SnsNotifier implements Notifier {
  private readonly client: SNSClient;
  private readonly topicArn: string;
  constructor(client: SNSClient, topicArn: string) {
    this.client = client;
    this.topicArn = topicArn;
  }
  async publish(notification: Notification): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: notification.summary.slice(0, 99),
        Message: JSON.stringify(notification),
        MessageAttributes: {
          cluster: { DataType: 'String', StringValue: notification.cluster },
          kind: { DataType: 'String', StringValue: notification.kind },
          outcome: { DataType: 'String', StringValue: notification.outcome },
        },
      }),
    );
  }
}

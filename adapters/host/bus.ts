import { randomUUID } from 'node:crypto';
import type { SNSEvent } from 'aws-lambda';
import type { Publisher } from '../../events/bridge/bridge.ts';
import type { NodeEnvelope } from '../../events/node-events.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';

/** What travels on the bus: a Sentinel's event (the bridge) or a node agent's. */
type Envelope = SentinelEnvelope | NodeEnvelope;

/** The local stand-in for SNS: delivers each published envelope to every subscriber, as an SNS record would. */
export class InProcessBus implements Publisher {
  private readonly subscribers: ((message: string, envelope: Envelope) => Promise<unknown>)[] = [];

  subscribe(fn: (message: string, envelope: Envelope) => Promise<unknown>): void {
    this.subscribers.push(fn);
  }

  async publish(envelope: Envelope): Promise<void> {
    const message = JSON.stringify(envelope);
    // Like SNS, publishing does not wait for the consumers.
    for (const fn of this.subscribers) void fn(message, envelope).catch(() => undefined);
  }
}

/** Wrap a message the way SNS delivers it to a Lambda, so the local runtime calls the same handler. */
export function toSnsEvent(message: string, topicArn = 'arn:local:sns:ha-redis-sentinel-events'): SNSEvent {
  const now = new Date().toISOString();
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: `${topicArn}:local`,
        Sns: {
          Type: 'Notification',
          MessageId: randomUUID(),
          TopicArn: topicArn,
          Subject: '',
          Message: message,
          Timestamp: now,
          SignatureVersion: '1',
          Signature: '',
          SigningCertUrl: '',
          UnsubscribeUrl: '',
          MessageAttributes: {},
        },
      },
    ],
  };
}

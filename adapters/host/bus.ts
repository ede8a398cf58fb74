import { randomUUID } from 'node:crypto';
import type { SNSEvent } from 'aws-lambda';
import type { Publisher } from '../../events/bridge/bridge.ts';
import type { NodeEnvelope } from '../../events/node-events.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';
import { eventTypeOf } from '../../events/subscription.ts';

/** What travels on the bus: a Sentinel's event (the bridge) or a node agent's. */
type Envelope = SentinelEnvelope | NodeEnvelope;

type Subscriber = (message: string, envelope: Envelope) => Promise<unknown>;

/**
 * The local stand-in for SNS: delivers each published envelope to every subscriber whose filter takes its
 * `eventType` (as an SNS subscription's filter policy on the attribute SnsPublisher sets), as an SNS record would.
 */
export class InProcessBus implements Publisher {
  private readonly subscribers: { fn: Subscriber; eventTypes: ReadonlySet<string> | undefined }[] = [];

  /** `eventTypes`: only envelopes of these types (absent: every one). */
  subscribe(fn: Subscriber, eventTypes?: readonly string[]): void {
    this.subscribers.push({ fn, eventTypes: eventTypes ? new Set(eventTypes) : undefined });
  }

  async publish(envelope: Envelope): Promise<void> {
    const type = eventTypeOf(envelope);
    const wanted = this.subscribers.filter((s) => !s.eventTypes || s.eventTypes.has(type));
    if (wanted.length === 0) return;
    const message = JSON.stringify(envelope);
    // Like SNS, publishing does not wait for the consumers.
    for (const { fn } of wanted) void fn(message, envelope).catch(() => undefined);
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

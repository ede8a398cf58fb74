import { ACTED_ON_EVENT_TYPES } from '../core/failover/handle-event.ts';
import { NODE_EVENT_TYPES, type NodeEnvelope } from './node-events.ts';
import type { SentinelEnvelope } from './sentinel-events.ts';

/**
 * The event types the sentinel-event handler is subscribed to, each once: the SNS subscription's filter policy in
 * AWS, and the in-process bus's filter locally, so that both runtimes hand the handler the same events.
 */
export const SUBSCRIBED_EVENT_TYPES: readonly string[] = [
  ...new Set<string>([...ACTED_ON_EVENT_TYPES, ...NODE_EVENT_TYPES]),
];

/** The `eventType` an envelope is published with: a Sentinel event's channel, a node event's type. */
export const eventTypeOf = (envelope: SentinelEnvelope | NodeEnvelope): string =>
  envelope.contract === 'node-event' ? envelope.type : envelope.channel;

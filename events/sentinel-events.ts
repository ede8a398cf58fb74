import { z } from 'zod';
import { HostSchema as host, PortSchema as port } from '../core/failover/sentinel-event.ts';

/**
 * The Sentinel event contract (name `sentinel-event`, version 1).
 * The bridge publishes one envelope per Sentinel pub/sub message; consumers parse `channel` + `payload`
 * with `parseSentinelMessage` (core/failover/sentinel-event.ts), the single parser of the raw Sentinel format.
 */
export const SENTINEL_EVENT_CONTRACT = { name: 'sentinel-event', version: 1 } as const;

/** What the bridge publishes (to SNS in AWS, to the in-process bus locally). */
export const SentinelEnvelopeSchema = z.object({
  contract: z.literal(SENTINEL_EVENT_CONTRACT.name),
  version: z.literal(SENTINEL_EVENT_CONTRACT.version),
  cluster: z.string().min(1),
  sentinel: z.object({ host, port }),
  channel: z.string().min(1),
  payload: z.string(),
  /** When the bridge received the message, epoch milliseconds. */
  seenAt: z.number().int().positive(),
});
export type SentinelEnvelope = z.infer<typeof SentinelEnvelopeSchema>;

import { z } from 'zod';
import { HostSchema as host } from '../core/failover/sentinel-event.ts';

/** A port as a JSON number (no coercion: `"6379"` or `true` is refused). */
const port = z.number().int().min(1).max(65535);

/**
 * The node event contract (name `node-event`, version 1): what a node agent on a Redis host publishes when a
 * local redis-server has exited. It travels on the same topic (SNS in AWS, the in-process bus locally) as the
 * `sentinel-event` envelopes, and the same handler takes both, told apart by `contract`.
 */
export const NODE_EVENT_CONTRACT = { name: 'node-event', version: 1 } as const;

/** The event types a node agent publishes. */
export const NODE_EVENT_TYPES = ['node-exited'] as const;

/** What the agent saw, on the node's own host, when its connection to the node closed. */
export const NodeExitEvidenceSchema = z.strictObject({
  /** The redis-server's process id (`INFO server` process_id, read when the agent connected). */
  pid: z.number().int().positive(),
  /** `kill(pid, 0)` answered ESRCH: no process has that id any more. */
  processGone: z.boolean(),
  /** What a new TCP connect to the node's port got: a refusal (RST) is the only proof of a dead listener. */
  connect: z.enum(['refused', 'timeout', 'accepted', 'error']),
  /** The role in the node's last `INFO replication` before the exit. */
  lastRole: z.enum(['master', 'slave', 'unknown']),
  /** The node's replication offset in that INFO (master_repl_offset). */
  lastOffset: z.number().int().nonnegative(),
  /** When that INFO was read, epoch ms. */
  lastInfoAt: z.number().int().positive(),
});
export type NodeExitEvidence = z.infer<typeof NodeExitEvidenceSchema>;

export const NodeEnvelopeSchema = z.strictObject({
  contract: z.literal(NODE_EVENT_CONTRACT.name),
  version: z.literal(NODE_EVENT_CONTRACT.version),
  type: z.enum(NODE_EVENT_TYPES),
  cluster: z.string().min(1),
  /** The node as the cluster config names it (host and port). */
  node: z.strictObject({ host, port }),
  /** The agent that saw it: its host, and its run id (one per agent process). */
  agent: z.strictObject({ host: z.string().min(1), runId: z.string().min(1).max(64) }),
  /** When the agent's connection to the node closed, epoch ms: the exit, to within a few ms. */
  exitedAt: z.number().int().positive(),
  evidence: NodeExitEvidenceSchema,
  /** When the agent published, epoch ms. */
  seenAt: z.number().int().positive(),
});
/** What a node agent publishes. */
export type NodeEnvelope = z.infer<typeof NodeEnvelopeSchema>;

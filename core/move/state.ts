import { z } from 'zod';
import { EndpointSchema } from '../model/cluster.ts';
import { TimelineStepSchema } from '../switchover/state.ts';

/**
 * The move workflow's state: what a person asks for (move a service to another set of hosts), the plan, and the
 * execution state carried from Task to Task. Every step is idempotent: it looks at what is there and does only
 * what is missing, so a Task retried, or a move run again after a failure, goes on from where the last one stopped.
 */

/** What a person (CLI, Slack) asks for. */
export const MoveInputSchema = z.object({
  cluster: z.string().min(1),
  /** The set of hosts the service moves to. */
  toSet: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,30}$/, 'a host set name: lower-case letters, digits and dashes'),
  reason: z.string().min(1).default('move to another set of hosts'),
  requestedBy: z.string().min(1).default('unknown'),
  dryRun: z.boolean().default(false),
});
export type MoveInput = z.infer<typeof MoveInputSchema>;

const PlacedSchema = EndpointSchema.extend({
  id: z.string().min(1),
  /** The host it runs on (`<set>/host-2`). */
  hostId: z.string().min(1),
});
export type PlacedMember = z.infer<typeof PlacedSchema>;

/** A Sentinel of the target hosts: a new process for the service, or the host's shared Sentinel. */
const TargetSentinelSchema = PlacedSchema.extend({ shared: z.boolean() });
export type TargetSentinel = z.infer<typeof TargetSentinelSchema>;

/** The target hosts' HAProxy frontends of the service. */
const TargetProxySchema = z.object({
  id: z.string().min(1),
  hostId: z.string().min(1),
  host: z.string().min(1),
  plainPort: z.number().int().min(1).max(65535),
  tlsPort: z.number().int().min(1).max(65535),
});
export type TargetProxy = z.infer<typeof TargetProxySchema>;

export const MovePlanSchema = z.object({
  fromSet: z.string(),
  toSet: z.string(),
  /** The master when the move was planned, and the service's members then (its old home). */
  master: PlacedSchema.extend({ hostId: z.string() }),
  oldNodes: z.array(PlacedSchema),
  oldSentinels: z.array(PlacedSchema.extend({ shared: z.boolean() })),
  oldProxies: z.array(z.object({ id: z.string(), hostId: z.string() })),
  newNodes: z.array(PlacedSchema),
  newSentinels: z.array(TargetSentinelSchema),
  newProxies: z.array(TargetProxySchema),
  /** The new node the switchover promotes. */
  target: z.string(),
  expectedWriteGapMs: z.number(),
  steps: z.array(z.string()),
});
export type MovePlan = z.infer<typeof MovePlanSchema>;

/** The workflow's steps that change something, in order; each one's name in `done` once it completed. */
export const MOVE_PHASES = ['nodes', 'sentinels', 'switchover', 'proxies', 'retire'] as const;
export type MovePhase = (typeof MOVE_PHASES)[number];

export const MoveStateSchema = z.object({
  input: MoveInputSchema,
  /** The Step Functions execution name: the lease owner and the history id. */
  executionId: z.string().min(1),
  startedAt: z.union([z.number(), z.iso.datetime({ offset: true }).transform((iso) => Date.parse(iso))]),
  plan: MovePlanSchema.optional(),
  done: z.array(z.enum(MOVE_PHASES)).default([]),
  /** The switchover's write gap, once it ran. */
  writeGapMs: z.number().optional(),
  timeline: z.array(TimelineStepSchema).default([]),
  outcome: z.enum(['planned', 'succeeded', 'stopped']).optional(),
  /** What Recover found and did, in words, for the person who started the move. */
  recovery: z.array(z.string()).optional(),
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
});
export type MoveState = z.infer<typeof MoveStateSchema>;

/** The Task actions, in order; `recover` is the Catch path of every step after Plan. */
export const MOVE_ACTIONS = ['plan', ...MOVE_PHASES, 'recover'] as const;
export type MoveAction = (typeof MOVE_ACTIONS)[number];

/** The Error of the execution when it ends in a Fail state (the Fail state has the same name). */
export const MOVE_FAILURES = {
  /** Plan refused; nothing was changed. */
  refused: 'MoveRefused',
  /** A step failed; Recover left the service writable with a Sentinel majority, and says where the move stopped. */
  stopped: 'MoveStopped',
  /** Recover itself failed: an operator must look. */
  recoveryFailed: 'MoveFailed',
} as const;

import { z } from 'zod';
import { EndpointSchema } from '../model/cluster.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../model/limits.ts';

/**
 * The switchover workflow's state: what a person asks for, the plan, and the execution state carried from Task
 * to Task (each Task replaces it with the step's answer). The Task event itself, `{ action, state }`, is the
 * step handler's contract (functions/switchover-step/contract.ts).
 */

/** What a person (CLI, Slack) asks for. */
export const SwitchoverInputSchema = z.object({
  cluster: z.string().min(1),
  /** A node id (`redis-2`) or `host:port`; omitted: the best replica. */
  target: z.string().min(1).optional(),
  reason: z.string().min(1).default('planned switchover'),
  requestedBy: z.string().min(1).default('unknown'),
  dryRun: z.boolean().default(false),
  /** The target may lag the master by at most this many bytes at plan time. */
  maxLagBytes: z.number().int().nonnegative().default(DEFAULT_MAX_LAG_BYTES),
});
export type SwitchoverInput = z.infer<typeof SwitchoverInputSchema>;

/** One timeline step as a workflow's state carries it (the switchover's and the move's). */
export const TimelineStepSchema = z.object({
  step: z.string(),
  at: z.number(),
  durationMs: z.number(),
  status: z.enum(['ok', 'failed', 'skipped']),
  detail: z.string().optional(),
});

export const PlanSchema = z.object({
  master: EndpointSchema.extend({ id: z.string() }),
  target: EndpointSchema.extend({ id: z.string() }),
  replicas: z.array(
    EndpointSchema.extend({
      id: z.string(),
      lagBytes: z.number(),
      priority: z.number(),
      online: z.boolean(),
    }),
  ),
  epoch: z.number().int(),
  expectedWriteGapMs: z.number(),
  steps: z.array(z.string()),
});
export type SwitchoverPlan = z.infer<typeof PlanSchema>;

/** The execution state, carried from Task to Task. */
export const SwitchoverStateSchema = z.object({
  input: SwitchoverInputSchema,
  /** The Step Functions execution name: the lease owner and the history id. */
  executionId: z.string().min(1),
  /** Epoch ms; Plan receives the execution's start time as Step Functions gives it (ISO 8601). */
  startedAt: z.union([z.number(), z.iso.datetime({ offset: true }).transform((iso) => Date.parse(iso))]),
  plan: PlanSchema.optional(),
  /** Replica priorities changed for the duration, to restore (node id -> original priority). */
  priorities: z.record(z.string(), z.number()).optional(),
  leaseHeld: z.boolean().optional(),
  /** Set when the critical section blocked writes (proxies in maint, master paused). */
  blocked: z.boolean().optional(),
  /** Set once the target answers ROLE master. */
  promoted: z.boolean().optional(),
  /** Client-visible write gap, from the block to the reroute step timestamps. */
  writeGapMs: z.number().optional(),
  timeline: z.array(TimelineStepSchema).default([]),
  outcome: z.enum(['planned', 'succeeded', 'rolled-back', 'completed-forward', 'failed']).optional(),
  /** Set by a Catch (`ResultPath: $.error`): Step Functions' `{ Error, Cause }`. */
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
});
export type SwitchoverState = z.infer<typeof SwitchoverStateSchema>;

/** The Task actions, in order; `recover` is the Catch path of every one of them. */
export const SWITCHOVER_ACTIONS = [
  'plan',
  'prepare',
  'switch',
  'fence',
  'verify',
  'finish',
  'recover',
] as const;
export type SwitchoverAction = (typeof SWITCHOVER_ACTIONS)[number];

/** The Error of the execution when it ends in a Fail state (the Fail state has the same name). */
export const SWITCHOVER_FAILURES = {
  /** Plan refused (precheck failed); nothing was changed. */
  refused: 'SwitchoverRefused',
  /** A step failed after Plan; Recover put the old master back. */
  rolledBack: 'SwitchoverRolledBack',
  /** A step failed after the promotion; Recover finished the switchover forward. */
  completedForward: 'SwitchoverCompletedForward',
  /** Recover itself failed: the cluster may be half switched; an operator must look. */
  recoveryFailed: 'SwitchoverFailed',
} as const;

import { z } from 'zod';
import { EndpointSchema } from '../model/cluster.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../model/limits.ts';
import { MAINTENANCE_ACTIONS } from '../model/maintenance.ts';
import { SwitchoverStateSchema } from '../switchover/state.ts';

/**
 * The maintenance workflow's state: what a person or a schedule asks for, the plan, and the execution state
 * carried from Task to Task (each Task replaces it with the step's answer). The Task event itself,
 * `{ action, state }`, is the step handler's contract (functions/maintenance-step/contract.ts).
 */

/** The allow-listed maintenance actions (the `maintenance-action` document refuses any other). */

/** Longest wait for one node to come back; the Wait state's retry policy is sized from it. */
export const MAX_NODE_BACK_TIMEOUT_MS = 900_000;

/** What a person (CLI, Slack) or a schedule asks for. */
export const MaintenanceInputSchema = z.object({
  cluster: z.string().min(1),
  action: z.enum(MAINTENANCE_ACTIONS).default('restart'),
  /** After the old master: switch back to it, so the cluster ends with the master it started with. */
  switchback: z.boolean().default(false),
  /**
   * Drain instead of a rolling action: move the master off this host (an IP: every node on it; or host:port:
   * one node) by a switchover to a replica elsewhere, and act on no node.
   */
  drainHost: z.string().min(1).optional(),
  reason: z.string().min(1).default('rolling maintenance'),
  requestedBy: z.string().min(1).default('unknown'),
  /** A scheduled run: the time the schedule fired for (epoch ms). */
  scheduledAt: z.number().int().optional(),
  /** A node is back in sync when it trails the master by at most this many bytes. */
  maxLagBytes: z.number().int().nonnegative().default(DEFAULT_MAX_LAG_BYTES),
  /** How long a node may take to come back after its action, before the run fails. */
  nodeBackTimeoutMs: z.number().int().positive().max(MAX_NODE_BACK_TIMEOUT_MS).default(300_000),
});
export type MaintenanceInput = z.infer<typeof MaintenanceInputSchema>;

/** The timeline, start time and caught error are carried as the switchover carries them. */
const {
  timeline: TimelineSchema,
  startedAt: StartedAtSchema,
  error: CaughtErrorSchema,
} = SwitchoverStateSchema.shape;

export const NodeRefSchema = EndpointSchema.extend({ id: z.string() });
/** A node of the cluster, by id and address. */
export type NodeRef = z.infer<typeof NodeRefSchema>;

export const MaintenancePlanSchema = z.object({
  /** The master when the run started. */
  master: NodeRefSchema,
  /** The replicas, in the order they are maintained. */
  replicas: z.array(NodeRefSchema),
});
export type MaintenancePlan = z.infer<typeof MaintenancePlanSchema>;

/** A switchover run as part of the maintenance. */
export const MaintenanceSwitchoverSchema = z.object({
  kind: z.enum(['switchover', 'switchback']),
  executionId: z.string(),
  from: z.string(),
  to: z.string(),
  writeGapMs: z.number().optional(),
});

/**
 * Where the run is. `Next` sets node|switchover|switchback|done and the Choice routes on it; `finished` and
 * `failed` are the ends.
 */
export const MAINTENANCE_PHASES = [
  'planned',
  'node',
  'switchover',
  'switchback',
  'done',
  'finished',
  'failed',
] as const;
export type MaintenancePhase = (typeof MAINTENANCE_PHASES)[number];

/** The execution state, carried from Task to Task. */
export const MaintenanceStateSchema = z.object({
  input: MaintenanceInputSchema,
  /** The Step Functions execution name: the history id; its switchovers are named after it. */
  executionId: z.string().min(1),
  /** Epoch ms; Plan receives the execution's start time as Step Functions gives it (ISO 8601). */
  startedAt: StartedAtSchema,
  plan: MaintenancePlanSchema.optional(),
  /** The master now (it changes with the switchover and the switchback). */
  master: NodeRefSchema.optional(),
  /** Node ids whose action ran and who came back, in order. */
  done: z.array(z.string()).default([]),
  /** The node being maintained; `actedAt` is set once its action ran (the wait's deadline counts from it). */
  current: z
    .object({ node: NodeRefSchema, startedAt: z.number(), actedAt: z.number().optional() })
    .optional(),
  switchovers: z.array(MaintenanceSwitchoverSchema).default([]),
  phase: z.enum(MAINTENANCE_PHASES).default('planned'),
  timeline: TimelineSchema,
  outcome: z.enum(['succeeded', 'failed']).optional(),
  /** Set by a Catch (`ResultPath: $.error`): Step Functions' `{ Error, Cause }`. */
  error: CaughtErrorSchema,
});
export type MaintenanceState = z.infer<typeof MaintenanceStateSchema>;

/** The Task actions; `recover` is the Catch path of every one after `plan`. */
export const MAINTENANCE_STEP_ACTIONS = [
  'plan',
  'next',
  'act',
  'wait',
  'switchover',
  'switchback',
  'finish',
  'recover',
] as const;
export type MaintenanceStepAction = (typeof MAINTENANCE_STEP_ACTIONS)[number];

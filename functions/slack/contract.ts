import type { KnownBlock } from '@slack/types';
import { z } from 'zod';
import type { ClusterSlackSchema } from '../../config/schema.ts';
import type { MaintenanceMode } from '../../core/model/records.ts';
import { MoveInputSchema } from '../../core/move/state.ts';
import { PlanSchema, SwitchoverInputSchema } from '../../core/switchover/state.ts';

/**
 * The contracts of the Slack front door: what Slack sends (a slash command, a block_actions callback), what the
 * Confirm button carries, and the deferred tasks the handler hands to itself for work that outlasts Slack's 3 s.
 */

/** The cluster's `slack` block of the deployment config: who may act on it from Slack. */
export type ClusterSlack = z.infer<typeof ClusterSlackSchema>;

/**
 * A message to Slack: the immediate reply to a slash command, or a POST to a `response_url`. `text` is always
 * set: it is the notification text and the fallback where blocks are not shown.
 */
export interface SlackMessage {
  text: string;
  blocks?: KnownBlock[];
  /** Slash command replies and new response_url messages: only the user sees it, or the whole channel. */
  response_type?: 'ephemeral' | 'in_channel';
  /** response_url only: replace the message the button was on (true), or post a new one (false). */
  replace_original?: boolean;
  delete_original?: boolean;
}

/** The form fields of a slash command that the handler uses (Slack sends a few more). */
export const SlashCommandSchema = z.object({
  command: z.string().min(1),
  text: z.string().default(''),
  user_id: z.string().min(1),
  user_name: z.string().default(''),
  channel_id: z.string().min(1),
  team_id: z.string().min(1),
  response_url: z.string().min(1),
  trigger_id: z.string().min(1),
});
export type SlashCommand = z.infer<typeof SlashCommandSchema>;

/** A `block_actions` interaction payload (the JSON in the `payload` form field), as far as it is used. */
export const BlockActionsSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1), username: z.string().optional(), name: z.string().optional() }),
  team: z
    .object({ id: z.string().min(1) })
    .nullable()
    .optional(),
  channel: z.object({ id: z.string().min(1) }).optional(),
  response_url: z.string().min(1),
  actions: z
    .array(z.object({ action_id: z.string(), value: z.string().optional() }).loose())
    .min(1, 'no action'),
});
export type BlockActions = z.infer<typeof BlockActionsSchema>;

/** The action ids of the switchover plan's buttons. */
export const ACTIONS = { confirm: 'switchover-confirm', cancel: 'switchover-cancel' } as const;
/** The action ids of the move plan's buttons. */
export const MOVE_ACTIONS = { confirm: 'move-confirm', cancel: 'move-cancel' } as const;

/** A request id: 24 hex digits of a hash of the command (team, channel, user, trigger id). */
export const RequestIdSchema = z.string().regex(/^[0-9a-f]{24}$/, '24 lower-case hex digits');

/** What the Confirm and Cancel buttons carry: what Confirm needs to start exactly the switchover planned. */
export const SwitchoverButtonSchema = z.strictObject({
  v: z.literal(1),
  cluster: z.string().min(1),
  /** The node the plan chose (or was told to use): Confirm switches to what the person saw. */
  target: z.string().min(1),
  requestId: RequestIdSchema,
  /** Who ran the command, for the reason recorded with the switchover. */
  requestedBy: z.string().min(1),
});
export type SwitchoverButton = z.infer<typeof SwitchoverButtonSchema>;

/** What the move plan's Confirm and Cancel carry: the service, where it moves from and to, the request. */
export const MoveButtonSchema = z.strictObject({
  v: z.literal(1),
  cluster: z.string().min(1),
  /** The set the service lived on when planned (for the messages; the move plans again when it starts). */
  fromSet: z.string().min(1),
  toSet: MoveInputSchema.shape.toSet,
  requestId: RequestIdSchema,
  /** Who ran the command, for the reason recorded with the move. */
  requestedBy: z.string().min(1),
});
export type MoveButton = z.infer<typeof MoveButtonSchema>;

const ResponseUrl = z.string().min(1);

/**
 * Work that outlasts Slack's 3-second deadline, handed over by `SlackFrontDeps.defer` (AWS: the worker Lambda invoked
 * asynchronously; local: in-process). Each posts its result to the command's or button's response_url.
 */
export const DeferredTaskSchema = z.strictObject({
  deferred: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('status'), cluster: z.string().min(1), responseUrl: ResponseUrl }),
    z.strictObject({
      kind: z.literal('history'),
      cluster: z.string().min(1),
      limit: z.number().int().positive(),
      responseUrl: ResponseUrl,
    }),
    /** The dry-run plan, when it did not answer within the reply's time budget. */
    z.strictObject({
      kind: z.literal('plan'),
      input: SwitchoverInputSchema,
      requestId: RequestIdSchema,
      requestedBy: z.string().min(1),
      responseUrl: ResponseUrl,
    }),
    /** Follow a started switchover, posting when writes flow again and when it ends. */
    z.strictObject({
      kind: z.literal('watch'),
      cluster: z.string().min(1),
      executionId: z.string().min(1),
      target: z.string().min(1),
      /** Who confirmed it (a Slack user id). */
      startedBy: z.string().min(1),
      responseUrl: ResponseUrl,
    }),
    /** The dry-run plan of a move, when it did not answer within the reply's time budget. */
    z.strictObject({
      kind: z.literal('move-plan'),
      input: MoveInputSchema,
      requestId: RequestIdSchema,
      requestedBy: z.string().min(1),
      responseUrl: ResponseUrl,
    }),
    /** Follow a started move, posting when writes flow to the new master and when it ends. */
    z.strictObject({
      kind: z.literal('move-watch'),
      cluster: z.string().min(1),
      executionId: z.string().min(1),
      fromSet: z.string().min(1),
      toSet: z.string().min(1),
      /** Who confirmed it (a Slack user id). */
      startedBy: z.string().min(1),
      responseUrl: ResponseUrl,
    }),
  ]),
});
export type DeferredTask = z.infer<typeof DeferredTaskSchema>;
export type DeferredWork = DeferredTask['deferred'];

/**
 * What the front asks the worker and waits for (AWS: a synchronous invoke), because the answer goes into the reply:
 * the dry-run plan (it reads the live cluster with its secrets) and the maintenance mode (a write to the state
 * table, which the front may not touch).
 */
/** A maintenance mode as the front sends it (core/model/records.ts MaintenanceMode). */
const MaintenanceModeSchema = z.strictObject({
  paused: z.boolean(),
  by: z.string().min(1),
  at: z.number(),
  reason: z.string(),
}) satisfies z.ZodType<MaintenanceMode>;

export const WorkerCallSchema = z.strictObject({
  call: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('plan'), input: SwitchoverInputSchema }),
    z.strictObject({
      kind: z.literal('set-maintenance-mode'),
      cluster: z.string().min(1),
      mode: MaintenanceModeSchema,
    }),
  ]),
});
export type WorkerCall = z.infer<typeof WorkerCallSchema>;

/** The worker's answer to a call: a refusal or failure is an answer too (its message is shown to the user). */
export const WorkerAnswerSchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), plan: PlanSchema.optional() }),
  z.strictObject({ ok: z.literal(false), error: z.string() }),
]);
export type WorkerAnswer = z.infer<typeof WorkerAnswerSchema>;

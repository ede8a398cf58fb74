import { z } from 'zod';
import { SWITCHOVER_ACTIONS, SwitchoverStateSchema } from '../../core/switchover/state.ts';

/**
 * The contract between the switchover state machine and its step handler: every Task state sends
 * `{ action, state }` and replaces the execution state with the handler's answer.
 */
export const SwitchoverStepEventSchema = z.object({
  action: z.enum(SWITCHOVER_ACTIONS),
  state: SwitchoverStateSchema,
});
export type SwitchoverStepEvent = z.infer<typeof SwitchoverStepEventSchema>;

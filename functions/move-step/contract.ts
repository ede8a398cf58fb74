import { z } from 'zod';
import { MOVE_ACTIONS, MoveStateSchema } from '../../core/move/state.ts';

/** The contract between the move state machine and its step handler: `{ action, state }` in, the new state out. */
export const MoveStepEventSchema = z.object({
  action: z.enum(MOVE_ACTIONS),
  state: MoveStateSchema,
});
export type MoveStepEvent = z.infer<typeof MoveStepEventSchema>;

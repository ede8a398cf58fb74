import { z } from 'zod';
import { MAINTENANCE_STEP_ACTIONS, MaintenanceStateSchema } from '../../core/maintenance/state.ts';

/**
 * The contract between the maintenance state machine and its step handler: every Task state sends
 * `{ action, state }` and replaces the execution state with the handler's answer.
 */
export const MaintenanceStepEventSchema = z.object({
  action: z.enum(MAINTENANCE_STEP_ACTIONS),
  state: MaintenanceStateSchema,
});
export type MaintenanceStepEvent = z.infer<typeof MaintenanceStepEventSchema>;

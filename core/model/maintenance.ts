/**
 * What a rolling maintenance may do to each node, the one list: the workflow's input schema, the deployment
 * config's schedules, the CLI's `--action` choices and the node operation all take it from here. No zod here,
 * so the CLI can import it without slowing its start-up.
 */
export const MAINTENANCE_ACTIONS = ['restart', 'upgrade', 'reboot'] as const;

/** One maintenance action. */
export type MaintenanceAction = (typeof MAINTENANCE_ACTIONS)[number];

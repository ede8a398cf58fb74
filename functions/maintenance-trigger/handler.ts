import { z } from 'zod';
import type { DeploymentConfig } from '../../config/schema.ts';
import { decideScheduledRun } from '../../core/maintenance/schedule.ts';
import { errorMessage, InvalidInputError, issuesText, UnknownClusterError } from '../../core/model/errors.ts';
import type { Clock, Logger, Notifier, StateStore, WorkflowStarter } from '../../core/ports.ts';

/**
 * The target of each cluster's maintenance schedules (EventBridge Scheduler):
 * 1. validate the input 2. find the schedule in the deployment config 3. read the maintenance mode
 * 4. decide (paused, freeze window) 5. start the maintenance workflow under a name derived from the scheduled
 * time, so that a retried invocation starts nothing new; or notify that the run was skipped, and why.
 * This file holds the trigger's factory; the AWS entry is lambda.ts.
 */

/** What a schedule sends: `scheduledTime` is `<aws.scheduler.scheduled-time>`, the same on every retry. */
export const MaintenanceTriggerInputSchema = z.strictObject({
  cluster: z.string().min(1),
  schedule: z.string().min(1),
  scheduledTime: z.iso.datetime({ offset: true }),
});
export type MaintenanceTriggerInput = z.infer<typeof MaintenanceTriggerInputSchema>;

/** What the trigger needs from the world. */
export interface MaintenanceTriggerDeps {
  /** The clusters of the deployment config, with their `maintenance` blocks. */
  config: Pick<DeploymentConfig, 'clusters'>;
  state: Pick<StateStore, 'maintenanceMode'>;
  workflows: Pick<WorkflowStarter, 'start'>;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
}

export type MaintenanceTriggerResult =
  | { outcome: 'started' | 'already-started'; executionName: string; executionId: string }
  | { outcome: 'skipped'; executionName: string; reason: string };

/** The trigger, for tests and the AWS entry point alike. */
export function makeMaintenanceTriggerHandler(
  getDeps: () => MaintenanceTriggerDeps | Promise<MaintenanceTriggerDeps>,
) {
  return async (event: unknown): Promise<MaintenanceTriggerResult> => {
    const parsed = MaintenanceTriggerInputSchema.safeParse(event);
    if (!parsed.success) {
      throw new InvalidInputError(
        `invalid maintenance trigger input (expected { cluster, schedule, scheduledTime: ISO time }): ${issuesText(parsed.error, 'input')}`,
      );
    }
    const input = parsed.data;
    const deps = await getDeps();
    const cluster = deps.config.clusters.find((c) => c.name === input.cluster);
    if (!cluster) {
      throw new UnknownClusterError(
        input.cluster,
        deps.config.clusters.map((c) => c.name),
      );
    }
    const schedule = cluster.maintenance.schedules.find((s) => s.name === input.schedule);
    if (!schedule) {
      throw new InvalidInputError(
        `cluster ${cluster.name} has no maintenance schedule '${input.schedule}'; known: ${cluster.maintenance.schedules.map((s) => s.name).join(', ') || '(none)'}; redeploy so that the schedules match the config`,
      );
    }
    const scheduledAt = Date.parse(input.scheduledTime);
    // A mode that cannot be read fails the invocation: the scheduler retries it, under the same name.
    const mode = await deps.state.maintenanceMode(cluster.name);
    const decision = decideScheduledRun({
      cluster: cluster.name,
      schedule: schedule.name,
      maintenance: cluster.maintenance,
      mode,
      scheduledAt,
      now: deps.clock.now(),
    });
    const log = { cluster: cluster.name, schedule: schedule.name, executionName: decision.executionName };
    if (!decision.run) {
      deps.logger.info('scheduled maintenance skipped', { ...log, reason: decision.reason });
      try {
        // No Outcome says "skipped": partial (a warning) with the reason in the summary.
        await deps.notifier.publish({
          cluster: cluster.name,
          kind: 'maintenance',
          outcome: 'partial',
          summary: decision.reason,
        });
      } catch (error) {
        deps.logger.error('notifying the skipped maintenance failed', { ...log, error: errorMessage(error) });
      }
      return { outcome: 'skipped', executionName: decision.executionName, reason: decision.reason };
    }
    const started = await deps.workflows.start({
      workflow: 'maintenance',
      name: decision.executionName,
      input: {
        cluster: cluster.name,
        action: schedule.action,
        switchback: schedule.switchback,
        requestedBy: `schedule:${schedule.name}`,
        reason: `scheduled maintenance '${schedule.name}' (${schedule.cron} ${schedule.timezone})`,
        scheduledAt,
      },
    });
    deps.logger.info(
      started.started
        ? 'scheduled maintenance started'
        : 'scheduled maintenance already started for this time',
      { ...log, executionId: started.executionId },
    );
    return {
      outcome: started.started ? 'started' : 'already-started',
      executionName: decision.executionName,
      executionId: started.executionId,
    };
  };
}

import middy from '@middy/core';
import { observability } from '../../adapters/logging/observability.ts';
import { makeMaintenanceTriggerHandler } from './handler.ts';

/** The maintenance trigger's AWS entry: observability, and the composition root loaded on first use. */

const { logger, middlewares } = observability('ha-redis-maintenance-trigger');

/** AWS entry point (the target of EventBridge Scheduler's maintenance schedules). */
export const handler = middy(
  makeMaintenanceTriggerHandler(async () =>
    (await import('../../compose/maintenance-aws.ts')).maintenanceTriggerDeps(logger),
  ),
).use(middlewares);

import middy from '@middy/core';
import { observability } from '../../adapters/logging/observability.ts';
import { makeMaintenanceStepHandler } from './handler.ts';

/** The maintenance step's AWS entry: observability, and the composition root loaded on first use. */

const { logger, middlewares } = observability('ha-redis-maintenance-step');

/** AWS entry point (the state machine's Task resource). */
export const handler = middy(
  makeMaintenanceStepHandler(async () => {
    const { awsDeps } = await import('../../compose/aws.ts');
    return awsDeps(logger);
  }),
).use(middlewares);

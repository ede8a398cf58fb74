import middy from '@middy/core';
import { observability } from '../../adapters/logging/observability.ts';
import { makeSwitchoverStepHandler } from './handler.ts';

/** The switchover step's AWS entry: observability, and the composition root loaded on first use. */

const { logger, middlewares } = observability('ha-redis-switchover-step');

/** AWS entry point (the state machine's Task resource). */
export const handler = middy(
  makeSwitchoverStepHandler(async () => {
    const { awsDeps } = await import('../../compose/aws.ts');
    return awsDeps(logger);
  }),
).use(middlewares);

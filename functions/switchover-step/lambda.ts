import middy from '@middy/core';
import { observability } from '../../adapters/logging/observability.ts';
import { makeSwitchoverStepHandler, writeGapTiming } from './handler.ts';

/** The switchover step's AWS entry: observability, and the composition root loaded on first use. */

const { logger, time, middlewares } = observability('ha-redis-switchover-step');

const step = makeSwitchoverStepHandler(async () => {
  const { awsDeps } = await import('../../compose/aws.ts');
  return awsDeps(logger);
});

/** AWS entry point (the state machine's Task resource); the step that finishes a switchover emits its write gap. */
export const handler = middy(async (event: unknown) => {
  const state = await step(event);
  const timing = writeGapTiming(event, state);
  if (timing) time(timing);
  return state;
}).use(middlewares);

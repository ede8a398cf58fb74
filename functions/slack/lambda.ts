import middy from '@middy/core';
import { observability } from '../../adapters/logging/observability.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { makeLambdaHandler } from './handler.ts';

/** The Slack Lambda's AWS entry: observability, and the composition root loaded on first use. */

const { logger, middlewares } = observability('ha-redis-slack');

/** AWS entry point: the Function URL that Slack calls, and the asynchronous self-invocations. */
export const handler = middy(
  makeLambdaHandler(async () => {
    try {
      return await (await import('../../compose/slack-aws.ts')).slackAwsDeps(logger);
    } catch (error) {
      logger.error('configuration is missing or invalid; no action taken', { error: errorMessage(error) });
      throw error;
    }
  }),
).use(middlewares);

import middy from '@middy/core';
import { observability } from '../../adapters/logging/observability.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { makeSlackWorkerHandler } from './handler.ts';

/** The Slack worker's AWS entry: observability, and the composition root loaded on first use. */

const { logger, middlewares } = observability('ha-redis-slack-worker');

/** AWS entry point: the Slack front function's asynchronous tasks and synchronous calls. */
export const handler = middy(
  makeSlackWorkerHandler(async () => {
    try {
      return await (await import('../../compose/slack-worker-aws.ts')).slackWorkerAwsDeps(logger);
    } catch (error) {
      logger.error('configuration is missing or invalid; no action taken', { error: errorMessage(error) });
      throw error;
    }
  }),
).use(middlewares);

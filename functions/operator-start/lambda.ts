import middy from '@middy/core';
import { observability } from '../../adapters/logging/observability.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { makeOperatorStartHandler } from './handler.ts';

/** The operator-start Lambda's AWS entry: observability, and the composition root loaded on first use. */

const { logger, middlewares } = observability('ha-redis-operator-start');

/** AWS entry point: the IAM-authenticated Function URL operators call. */
export const handler = middy(
  makeOperatorStartHandler(async () => {
    try {
      return await (await import('../../compose/operator-start-aws.ts')).operatorStartAwsDeps(logger);
    } catch (error) {
      logger.error('configuration is missing or invalid; no action taken', { error: errorMessage(error) });
      throw error;
    }
  }),
).use(middlewares);

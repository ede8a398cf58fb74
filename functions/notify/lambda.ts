import middy from '@middy/core';
import type { SNSEvent } from 'aws-lambda';
import { observability } from '../../adapters/logging/observability.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { makeNotifyHandler } from './handler.ts';

/** The notify Lambda's AWS entry: observability, and the composition root loaded on first use. */

const { logger, middlewares } = observability('ha-redis-notify');

const handleNotifications = makeNotifyHandler(async () => {
  try {
    return await (await import('../../compose/notify-aws.ts')).notifyAwsDeps(logger);
  } catch (error) {
    // Missing or invalid configuration: say which; the Lambda retries after a fix, then the DLQ keeps it.
    logger.error('configuration is missing or invalid; nothing delivered', { error: errorMessage(error) });
    throw error;
  }
});

/** AWS entry point, subscribed to the notification topic; the composition root is built once per container. */
export const handler = middy(async (event: SNSEvent) => handleNotifications(event)).use(middlewares);

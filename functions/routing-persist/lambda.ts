import middy from '@middy/core';
import type { Context, SQSEvent } from 'aws-lambda';
import { observability } from '../../adapters/logging/observability.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { makeRoutingPersistHandler } from './handler.ts';

/** The routing-persist Lambda's AWS entry: observability, and the composition root loaded on first use. */

const { logger, middlewares } = observability('ha-redis-routing-persist');

const persistRouting = makeRoutingPersistHandler(async () => {
  try {
    return (await import('../../compose/routing-persist-aws.ts')).routingPersistDeps(logger);
  } catch (error) {
    // Missing configuration: say which; SQS hands the batch again after its visibility timeout.
    logger.error('configuration is missing or invalid; nothing persisted', { error: errorMessage(error) });
    throw error;
  }
});

/** AWS entry point: an SQS FIFO event source with ReportBatchItemFailures. */
export const handler = middy(
  async (event: SQSEvent, context: Context) => (await persistRouting(event, context)).response,
).use(middlewares);

import middy from '@middy/core';
import type { SQSEvent } from 'aws-lambda';
import { observability } from '../../adapters/logging/observability.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { makeDnsWriterHandler, writeTimings } from './handler.ts';

/** The dns-writer Lambda's AWS entry: observability, and the composition root loaded on first use. */

const { logger, time, middlewares } = observability('ha-redis-dns-writer');

const writeRecords = makeDnsWriterHandler(async () => {
  try {
    return await (await import('../../compose/dns-writer-aws.ts')).dnsWriterDeps(logger);
  } catch (error) {
    // Missing or invalid configuration: say which; SQS hands the batch again after its visibility timeout.
    logger.error('configuration is missing or invalid; nothing written', { error: errorMessage(error) });
    throw error;
  }
});

/** AWS entry point: an SQS FIFO event source with ReportBatchItemFailures. */
export const handler = middy(async (event: SQSEvent) => {
  const { response, writes } = await writeRecords(event);
  for (const timing of writeTimings(writes)) time(timing);
  return response;
}).use(middlewares);

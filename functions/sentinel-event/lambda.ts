import middy from '@middy/core';
import type { Context, SNSEvent } from 'aws-lambda';
import { observability } from '../../adapters/logging/observability.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { makeSentinelEventHandler, outcomeMetrics, outcomeTimings } from './handler.ts';

/** The sentinel-event Lambda's AWS entry: observability, outcome metrics, and the composition root on first use. */

const { logger, count, time, middlewares } = observability('ha-redis-sentinel-event');

const handleSentinelEvents = makeSentinelEventHandler(async () => {
  try {
    return await (await import('../../compose/aws.ts')).awsDeps(logger);
  } catch (error) {
    // Missing or invalid configuration: say which, act on nothing; SNS / Lambda retry after a fix.
    logger.error('configuration is missing or invalid; no action taken', { error: errorMessage(error) });
    throw error;
  }
});

// The composition root and the config (an S3 read, bounded) while the environment initializes, awaited: with
// provisioned concurrency that is before any event, so the promotion's event finds both in memory. A failure
// here is left to the handler, which asks again (and says why).
await import('../../compose/aws.ts').then((m) => m.awsDeps(logger)).catch(() => undefined);

/** AWS entry point: the composition root is loaded once per container; outcomes are counted as metrics. */
export const handler = middy(async (event: SNSEvent, context: Context) => {
  const outcomes = await handleSentinelEvents(event, context);
  for (const outcome of outcomes) {
    for (const metric of outcomeMetrics(outcome)) count(metric);
    for (const timing of outcomeTimings(outcome)) time(timing);
  }
  return outcomes;
}).use(middlewares);

import middy from '@middy/core';
import { observability } from '../../adapters/logging/observability.ts';
import { makeReconcileHandler } from './handler.ts';

/** The reconcile Lambda's AWS entry: observability, and the composition root loaded on first use. */

const { logger, middlewares } = observability('ha-redis-reconcile');

/** AWS entry point (an EventBridge Scheduler target). */
export const handler = middy(
  makeReconcileHandler(async () => (await import('../../compose/aws.ts')).awsDeps(logger)),
).use(middlewares);

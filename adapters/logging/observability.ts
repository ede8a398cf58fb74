import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { MiddlewareObj } from '@middy/core';
import { METRICS, type MetricName, type Timing } from '../../core/model/metrics.ts';
import { powertoolsLogger } from './powertools.ts';

/**
 * Powertools logger, metrics (CloudWatch EMF) and tracer (X-Ray) of one Lambda, and the middy middlewares that
 * attach them. Outside Lambda the tracer is disabled by Powertools itself and metrics are not flushed.
 */
export function observability(serviceName: string) {
  const logger = powertoolsLogger(serviceName);
  const metrics = new Metrics({ namespace: METRICS.namespace, serviceName });
  const tracer = new Tracer({ serviceName });
  const middlewares: MiddlewareObj[] = [
    injectLambdaContext(logger.powertools),
    logMetrics(metrics),
    captureLambdaHandler(tracer),
  ];
  /** Count one occurrence of a named metric. */
  const count = (name: MetricName) => metrics.addMetric(name, MetricUnit.Count, 1);
  /** A duration in milliseconds; with a dimension (e.g. the step), as a metric of its own. */
  const time = (t: Timing) => {
    if (!t.dimension) {
      metrics.addMetric(t.name, MetricUnit.Milliseconds, t.ms);
      return;
    }
    const single = metrics.singleMetric();
    single.addDimension(t.dimension.name, t.dimension.value);
    single.addMetric(t.name, MetricUnit.Milliseconds, t.ms);
  };
  return { logger, metrics, tracer, middlewares, count, time };
}

import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRICS, TIMING_METRICS } from '../../core/model/metrics.ts';
import type { HaRedisStack } from '../../infra/stack.ts';
import { SYNTH_TIMEOUT_MS, synthesize } from './stack-fixture.ts';

/** The deployment's CloudWatch dashboard: every widget on-call needs, on the stack's own resources. */

let stack: HaRedisStack;
let template: Template;
let body: string;

beforeAll(() => {
  ({ stack, template } = synthesize({ bundle: false }));
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as {
    Properties: { DashboardBody: unknown; DashboardName: string };
  }[];
  expect(dashboards).toHaveLength(1);
  body = JSON.stringify(dashboards[0]?.Properties.DashboardBody);
}, SYNTH_TIMEOUT_MS);

const logicalId = (c: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(c.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);

describe('HaRedisStack dashboard', () => {
  it('is named after the deployment, and its name is an output', () => {
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'ha-redis-ha-redis' });
    template.hasOutput('DashboardName', {});
  });

  it('shows failovers and their outcomes, and the unconfirmed ones', () => {
    for (const name of [
      METRICS.failoverActedOn,
      METRICS.failoverPartial,
      METRICS.fastFailoverFailed,
      METRICS.failoverUnconfirmed,
    ]) {
      expect(body).toContain(`\\"${name}\\"`);
    }
  });

  it('tables reactions per cluster from the sentinel-event and reconcile logs', () => {
    expect(body).toContain('stats count(*) as reactions, max(epoch) as last_epoch by cluster, kind, outcome');
    for (const f of [stack.sentinelEventFunction, stack.reconcileFunction]) {
      expect(body).toContain(logicalId(f.logGroup as never));
    }
  });

  it('graphs promotion -> rerouted, each step by SEARCH on its dimension, and the switchovers write gap', () => {
    expect(body).toContain(`\\"${TIMING_METRICS.reroutedAfterPromotion}\\"`);
    expect(body).toContain(
      `SEARCH('{${METRICS.namespace},${TIMING_METRICS.stepDimension},service} MetricName=\\\\\\"${TIMING_METRICS.stepDuration}\\\\\\"', 'p50', 300)`,
    );
    expect(body).toContain(`\\"${TIMING_METRICS.switchoverWriteGap}\\"`);
  });

  it("graphs the four dead-letter queues, both state machines' executions, and every Lambda's errors, duration, concurrency and throttles", () => {
    expect(body.match(/ApproximateNumberOfMessagesVisible/g)).toHaveLength(4);
    for (const m of [
      'ExecutionsStarted',
      'ExecutionsSucceeded',
      'ExecutionsFailed',
      'ExecutionsTimedOut',
      'ExecutionsAborted',
    ]) {
      expect(body.match(new RegExp(`\\\\"${m}\\\\"`, 'g')), m).toHaveLength(2);
    }
    for (const f of stack.functions()) {
      const ref = `{"Ref":"${logicalId(f)}"}`;
      expect(body.split(ref).length - 1, f.node.id).toBeGreaterThanOrEqual(4);
    }
    for (const m of ['Errors', 'Duration', 'ConcurrentExecutions', 'Throttles']) {
      expect(body).toContain(`\\"AWS/Lambda\\",\\"${m}\\"`);
    }
  });
});

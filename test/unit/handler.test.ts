import type { SNSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ClusterRegistry } from '../../core/model/cluster.ts';
import { makeReconcileHandler } from '../../functions/reconcile/handler.ts';
import { makeSentinelEventHandler } from '../../functions/sentinel-event/handler.ts';
import { N2, testCluster } from '../support/fixtures.ts';
import { loadEnvelope, loadSample } from '../support/samples.ts';
import { failedOverWorld, rejectingSentinelEventHandler, untouchableDeps } from '../support/world.ts';

describe('makeSentinelEventHandler', () => {
  it('handles the SNS switch-master sample: the cluster fails over to the new master', async () => {
    // Arrange
    const w = failedOverWorld();
    const handler = makeSentinelEventHandler(async () => ({
      clusters: new ClusterRegistry([w.cluster]),
      failover: w.deps,
    }));

    // Act
    const results = await handler(loadSample<SNSEvent>('sns/switch-master'));

    // Assert
    expect(results.map((r) => r.action)).toEqual(['failed-over']);
    expect(w.router.calls.map((c) => c.node)).toEqual([N2, N2]);
    expect(w.state.history[0]).toMatchObject({
      trigger: '+switch-master',
      startedAt: loadEnvelope('switch-master').seenAt,
    });
  });

  it('carries the +switch-master envelope as the Message of the SNS sample', () => {
    // Act
    const event = loadSample<SNSEvent>('sns/switch-master');

    // Assert
    expect(event.Records).toHaveLength(1);
    expect(JSON.parse(event.Records[0]?.Sns.Message ?? '')).toEqual(loadEnvelope('switch-master'));
  });

  it('handles every record of a batch, each with its own outcome', async () => {
    // Arrange
    const w = failedOverWorld();
    const handler = makeSentinelEventHandler(() => ({
      clusters: new ClusterRegistry([w.cluster]),
      failover: w.deps,
    }));
    const event = loadSample<SNSEvent>('sns/switch-master');
    const second = structuredClone(event.Records[0]);
    if (!second) throw new Error('sample has no record');
    second.Sns.Message = JSON.stringify(loadEnvelope('sdown-master'));
    event.Records.push(second);

    // Act
    const results = await handler(event);

    // Assert
    expect(results).toEqual([
      expect.objectContaining({ action: 'failed-over' }),
      { action: 'ignored', reason: '+sdown needs no action' },
    ]);
  });

  it('lets an infrastructure failure throw, so that SNS and Lambda retry', async () => {
    // Arrange
    const w = failedOverWorld();
    w.state.appliedEpoch = async () => {
      throw new Error('DynamoDB throttled');
    };
    const handler = makeSentinelEventHandler(() => ({
      clusters: new ClusterRegistry([w.cluster]),
      failover: w.deps,
    }));

    // Act
    const result = handler(loadSample<SNSEvent>('sns/switch-master'));

    // Assert
    await expect(result).rejects.toThrow('DynamoDB throttled');
    expect(w.router.calls).toEqual([]);
  });

  it('returns no outcome for an event without records', async () => {
    // Arrange
    const { handler, touched } = rejectingSentinelEventHandler();

    // Act
    const results = await handler({ Records: [] });

    // Assert
    expect(results).toEqual([]);
    expect(touched).toEqual([]);
  });
});

describe('makeReconcileHandler', () => {
  it('acts on a confirmed failover that no event reported, for every cluster', async () => {
    // Arrange
    const w = failedOverWorld();
    const handler = makeReconcileHandler(() => ({
      clusters: new ClusterRegistry([w.cluster]),
      failover: w.deps,
    }));

    // Act
    const results = await handler({});

    // Assert
    expect(results).toEqual([
      expect.objectContaining({ cluster: w.cluster.name, ok: true, outcomes: expect.any(Array) }),
    ]);
    const [result] = results;
    expect(result?.ok && result.outcomes[0]?.action).toBe('failed-over');
    expect(w.router.calls.map((c) => c.node)).toEqual([N2, N2]);
  });

  it('reconciles the other clusters when one fails, then fails so the error alarm fires', async () => {
    // Arrange
    const w = failedOverWorld();
    const broken = testCluster({ name: 'broken' });
    const touched: string[] = [];
    const handler = makeReconcileHandler(() => ({
      clusters: new ClusterRegistry([w.cluster, broken]),
      failover: {
        ...w.deps,
        // The broken cluster's state cannot be read; the healthy one still goes through the fakes.
        state: new Proxy(w.deps.state, {
          get: (target, method, receiver) => {
            const real = Reflect.get(target, method, receiver);
            return typeof real === 'function'
              ? (cluster: string, ...rest: unknown[]) => {
                  if (cluster === 'broken') {
                    touched.push(String(method));
                    return Promise.reject(new Error('state table unavailable'));
                  }
                  return real.call(target, cluster, ...rest);
                }
              : real;
          },
        }),
      },
    }));

    // Act
    const run = handler({});

    // Assert
    await expect(run).rejects.toThrow('reconcile failed for broken; see the log for each cause');
    expect(touched.length).toBeGreaterThan(0);
    expect(w.router.calls.map((c) => c.node)).toEqual([N2, N2]);
  });

  it('refuses an unknown cluster named in the event, touching nothing', async () => {
    // Arrange
    const touched: string[] = [];
    const handler = makeReconcileHandler(() => ({
      clusters: new ClusterRegistry([testCluster()]),
      failover: untouchableDeps(touched),
    }));

    // Act
    const run = handler({ cluster: 'payments' });

    // Assert
    await expect(run).rejects.toMatchObject({ name: 'UnknownClusterError' });
    expect(touched).toEqual([]);
  });
});

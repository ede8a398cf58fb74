/** The state store down, told to people: once per outage (and again every 15 min), with what routing does, and when it is back. */

import type { SNSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { asStateStoreError } from '../../../adapters/aws/dynamodb-state-store.ts';
import { STATE_STORE_RETELL_MS, StateStoreWatch } from '../../../core/failover/state-store-watch.ts';
import { ClusterRegistry } from '../../../core/model/cluster.ts';
import { NodeOpsError, StateStoreError } from '../../../core/model/errors.ts';
import { makeReconcileHandler } from '../../../functions/reconcile/handler.ts';
import { makeSentinelEventHandler } from '../../../functions/sentinel-event/handler.ts';
import { N2, N3 } from '../../support/fixtures.ts';
import { loadSample } from '../../support/samples.ts';
import { failedOverWorld } from '../../support/world.ts';

const down = new StateStoreError(
  'state store (table ha-redis) did not answer: Error: connect ECONNREFUSED 127.0.0.1:4567',
);

describe('StateStoreWatch', () => {
  it('tells people once that no failover can be claimed, naming where the proxies route and the master the Sentinels name', async () => {
    // Arrange: Sentinel failed n1 over to n2 at epoch 7; both proxies still route to n1.
    const w = failedOverWorld();
    const watch = new StateStoreWatch();

    // Act
    const told = await watch.failed(w.cluster, down, w.deps);
    const again = await watch.failed(w.cluster, down, w.deps);

    // Assert
    expect([told, again]).toEqual([true, true]);
    expect(w.notifier.published).toEqual([
      {
        cluster: 'orders',
        kind: 'state-store',
        outcome: 'failed',
        summary:
          'ha-redis cannot reach its state store: state store (table ha-redis) did not answer: Error: connect ECONNREFUSED 127.0.0.1:4567. ' +
          'No failover of orders can be claimed, so ha-redis changes no routing, DNS or fence until it answers. ' +
          `Meanwhile the proxies keep their routes (p1 -> n1, p2 -> n1), while the Sentinels name n2 (${N2.host}:${N2.port}, epoch 7): writes through p1, p2 fail (fail closed) until the store answers. ` +
          "Sentinel's own failover goes on, and clients that ask Sentinel follow it. The reconcile acts as soon as the store answers.",
      },
    ]);
    expect(w.router.calls).toEqual([]);
    expect(w.dns.calls).toEqual([]);
  });

  it('says writes go on when every proxy already routes to the Sentinels’ master', async () => {
    const w = failedOverWorld();
    for (const proxy of w.cluster.proxies) w.router.routes.set(proxy.id, N2);

    await new StateStoreWatch().failed(w.cluster, down, w.deps);

    expect(w.notifier.published[0]?.summary).toContain(
      `Meanwhile every proxy routes to the master the Sentinels name, n2 (${N2.host}:${N2.port}, epoch 7): writes go on.`,
    );
  });

  it('tells an outage that lasts again every 15 minutes, saying how long it has lasted', async () => {
    const w = failedOverWorld();
    const watch = new StateStoreWatch();
    await watch.failed(w.cluster, down, w.deps);

    w.clock.advance(STATE_STORE_RETELL_MS - 1);
    await watch.failed(w.cluster, down, w.deps);
    w.clock.advance(1);
    await watch.failed(w.cluster, down, w.deps);

    expect(w.notifier.published).toHaveLength(2);
    expect(w.notifier.published[1]?.summary).toMatch(
      /^ha-redis cannot reach its state store \(for 15 min now\): /,
    );
  });

  it('tells again at once when what routing does changes meanwhile (Sentinel failed over during the outage)', async () => {
    // Arrange: told while every proxy routed to the Sentinels' master n2.
    const w = failedOverWorld();
    for (const proxy of w.cluster.proxies) w.router.routes.set(proxy.id, N2);
    const watch = new StateStoreWatch();
    await watch.failed(w.cluster, down, w.deps);

    // Act: Sentinel fails n2 over to n3 at epoch 8; the proxies stay on n2 (nothing can be claimed).
    w.sentinels.answersNow = [0, 1, 2].map(() => ({ master: N3, epoch: 8 }));
    await Promise.all([watch.failed(w.cluster, down, w.deps), watch.failed(w.cluster, down, w.deps)]);

    // Assert
    expect(w.notifier.published).toHaveLength(2);
    expect(w.notifier.published[1]?.summary).toContain(
      `while the Sentinels name n3 (${N3.host}:${N3.port}, epoch 8): writes through p1, p2 fail`,
    );
  });

  it('ignores an error that is not the state store, and tells nothing', async () => {
    const w = failedOverWorld();

    const told = await new StateStoreWatch().failed(w.cluster, new NodeOpsError('ssm failed'), w.deps);

    expect(told).toBe(false);
    expect(w.notifier.published).toEqual([]);
  });

  it('tells people the store is back once it answers, and only when they were told it was down', async () => {
    const w = failedOverWorld();
    const watch = new StateStoreWatch();
    await watch.answered(w.cluster, w.deps);
    await watch.failed(w.cluster, down, w.deps);
    w.clock.advance(3 * 60_000);

    await watch.answered(w.cluster, w.deps);
    await watch.answered(w.cluster, w.deps);

    expect(w.notifier.published.map((n) => [n.kind, n.outcome])).toEqual([
      ['state-store', 'failed'],
      ['state-store', 'succeeded'],
    ]);
    expect(w.notifier.published[1]?.summary).toBe(
      "The state store answers again, after about 3 min: ha-redis claims and acts on orders's failovers again.",
    );
  });
});

describe('the handlers tell a state store outage', () => {
  /** The world whose state store does not answer at all. */
  const storeDown = () => {
    const w = failedOverWorld();
    const state = new Proxy(w.deps.state, {
      get: (target, method, receiver) => {
        const real = Reflect.get(target, method, receiver);
        return typeof real === 'function'
          ? async () => {
              throw down;
            }
          : real;
      },
    });
    return { w, deps: { ...w.deps, state } };
  };

  it('reconcile: fails (the error alarm fires), tells people once over two runs, and says so when the store is back', async () => {
    // Arrange
    const { w, deps } = storeDown();
    let failover = deps;
    const handler = makeReconcileHandler(() => ({ clusters: new ClusterRegistry([w.cluster]), failover }));

    // Act
    await expect(handler({})).rejects.toThrow('reconcile failed for orders');
    await expect(handler({})).rejects.toThrow('reconcile failed for orders');
    failover = w.deps;
    await handler({});

    // Assert: nothing was rerouted without a claim; then the reconcile acted once the store answered.
    expect(w.notifier.published.filter((n) => n.kind === 'state-store').map((n) => n.outcome)).toEqual([
      'failed',
      'succeeded',
    ]);
    expect(w.notifier.published.findIndex((n) => n.kind === 'failover')).toBeGreaterThan(0);
  });

  it('sentinel-event: tells people, then lets the invocation fail so that it is retried', async () => {
    // Arrange
    const { w, deps } = storeDown();
    const handler = makeSentinelEventHandler(() => ({
      clusters: new ClusterRegistry([w.cluster]),
      failover: deps,
    }));

    // Act
    const handled = handler(loadSample<SNSEvent>('sns/switch-master'));

    // Assert
    await expect(handled).rejects.toThrow(down.message);
    expect(w.notifier.published.map((n) => [n.kind, n.outcome])).toEqual([['state-store', 'failed']]);
    expect(w.router.calls).toEqual([]);
  });
});

describe('asStateStoreError', () => {
  const awsError = (name: string, status?: number) =>
    Object.assign(new Error(`${name} happened`), {
      name,
      $metadata: status ? { httpStatusCode: status } : {},
    });

  it.each([
    ['no answer (connection refused)', awsError('Error')],
    ['a server error', awsError('InternalServerError', 500)],
    ['throttling past the retries', awsError('ThrottlingException', 400)],
  ])('makes %s a StateStoreError naming the table and the cause', (_, error) => {
    const mapped = asStateStoreError(error, 'ha-redis-state');

    expect(mapped).toBeInstanceOf(StateStoreError);
    expect((mapped as Error).message).toBe(
      `state store (table ha-redis-state) did not answer: ${error.name}: ${error.message}`,
    );
  });

  it('leaves an answer as it is: a refused condition, a missing table', () => {
    const refused = awsError('ConditionalCheckFailedException', 400);
    const missing = awsError('ResourceNotFoundException', 400);

    expect(asStateStoreError(refused, 't')).toBe(refused);
    expect(asStateStoreError(missing, 't')).toBe(missing);
  });
});

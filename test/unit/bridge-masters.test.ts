import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../core/model/errors.ts';
import { SentinelBridge } from '../../events/bridge/bridge.ts';
import { parseBridgeClusters } from '../../events/bridge/masters.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';
import { RecordingLogger } from '../fakes/reporting.ts';
import { START } from '../support/fixtures.ts';

/** HA_REDIS_CLUSTER of the bridge service: one cluster, or the cluster of each master of a shared Sentinel. */

describe('parseBridgeClusters', () => {
  it('takes a cluster name as the one cluster of every event', () => {
    expect(parseBridgeClusters('orders-eu-1')).toEqual({ cluster: 'orders-eu-1' });
  });

  it('takes master=cluster pairs as the cluster of each master, labelled by the clusters', () => {
    // Act
    const parsed = parseBridgeClusters('carts=carts,payments-master=payments,queues.v2=queues');

    // Assert
    expect(parsed.cluster).toBe('carts,payments,queues');
    expect([...(parsed.masters ?? [])]).toEqual([
      ['carts', 'carts'],
      ['payments-master', 'payments'],
      ['queues.v2', 'queues'],
    ]);
  });

  it('maps several masters to one cluster', () => {
    const parsed = parseBridgeClusters('a=orders,b=orders');
    expect(parsed.cluster).toBe('orders');
    expect(parsed.masters?.get('b')).toBe('orders');
  });

  it.each([
    ['', "HA_REDIS_CLUSTER '' is not a cluster name: give a cluster name"],
    ['Orders', "HA_REDIS_CLUSTER 'Orders' is not a cluster name: give a cluster name"],
    ['carts,payments', "HA_REDIS_CLUSTER 'carts,payments' is not a cluster name"],
    ['carts=', "HA_REDIS_CLUSTER 'carts=': 'carts=' is no master=cluster pair"],
    ['=carts', "'=carts' is no master=cluster pair"],
    ['carts=carts,', "HA_REDIS_CLUSTER 'carts=carts,': '' is no master=cluster pair"],
    ['carts=Carts', "'carts=Carts' is no master=cluster pair"],
    ['a=b=c', "'a=b=c' is no master=cluster pair"],
    ['my master=carts', "'my master=carts' is no master=cluster pair"],
  ])('refuses %j, saying which forms it takes', (value, message) => {
    expect(() => parseBridgeClusters(value)).toThrow(ConfigurationError);
    expect(() => parseBridgeClusters(value)).toThrow(message);
    expect(() => parseBridgeClusters(value)).toThrow('e.g. carts=carts,payments=payments');
  });

  it('refuses a master mapped twice, naming both clusters', () => {
    expect(() => parseBridgeClusters('carts=carts,carts=payments', 'cluster')).toThrow(
      "cluster 'carts=carts,carts=payments' maps master 'carts' twice (to carts and payments): give each master one cluster",
    );
  });

  it("gives SentinelBridge the masters, so each event goes to its master's cluster", async () => {
    // Arrange
    const published: SentinelEnvelope[] = [];
    const bridge = new SentinelBridge({
      ...parseBridgeClusters('carts=carts,payments=payments'),
      sentinel: { host: '10.0.1.51', port: 26300 },
      publisher: { publish: async (e) => void published.push(e) },
      logger: new RecordingLogger(),
      now: () => START,
    });

    // Act
    await bridge.handle('+switch-master', 'payments 10.0.1.51 6380 10.0.2.51 6380');
    await bridge.handle('+new-epoch', '7');

    // Assert
    expect(published.map((e) => [e.channel, e.cluster])).toEqual([
      ['+switch-master', 'payments'],
      ['+new-epoch', 'carts'],
      ['+new-epoch', 'payments'],
    ]);
  });
});

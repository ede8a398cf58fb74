import { describe, expect, it } from 'vitest';
import { DescriptorSchema } from '../../../config/local-descriptor.ts';
import { InvalidInputError } from '../../../core/model/errors.ts';
import { LocalWorkflowStarter, rootOfDescriptor } from '../../../local/workflows.ts';
import { silentLogger } from '../../fakes/reporting.ts';

/** The local WorkflowStarter's checks before it runs anything (the runs themselves are integration tests). */

const DESCRIPTOR = DescriptorSchema.parse({
  version: 1,
  cluster: 'orders',
  masterName: 'orders-master',
  dir: '/srv/ha-redis/local/orders',
  hostSet: 'blue',
  createdAt: '2024-11-24T17:00:00.000Z',
  sentinelSettings: { downAfterMs: 1000, failoverTimeoutMs: 5000 },
  nodes: [],
  sentinels: [],
  proxies: [],
  caCertPath: '/srv/ha-redis/local/orders/ca.pem',
  passwordFile: '/srv/ha-redis/local/orders/password',
  dns: { file: '/srv/ha-redis/local/orders/dns.json', recordName: 'orders.redis.local', ttl: 5 },
  stateStore: {
    pid: 1,
    pidFile: '/srv/ha-redis/local/orders/dynalite.pid',
    logPath: '/srv/ha-redis/local/orders/dynalite.log',
    endpoint: 'http://127.0.0.1:1',
    table: 'ha-redis-state',
  },
  slack: { endpointUrl: null, signingSecretPath: null },
});

const MOVE = { cluster: 'orders', toSet: 'green', requestedBy: 'slack:U0OPERATOR', reason: 'test' };

describe('LocalWorkflowStarter', () => {
  it('finds the local root above the cluster directory, where the move looks for host sets', () => {
    // Act
    const root = rootOfDescriptor(DESCRIPTOR);

    // Assert
    expect(root).toBe('/srv/ha-redis/local');
  });

  it.each([
    ['another cluster', { ...MOVE, cluster: 'billing' }, 'this runtime runs cluster orders, not billing'],
    [
      'a set name that is not one',
      { ...MOVE, toSet: 'Green!' },
      'invalid move input: toSet: a host set name',
    ],
  ])('refuses to start a move for %s, and starts nothing', async (_case, input, problem) => {
    // Arrange
    const workflows = new LocalWorkflowStarter(DESCRIPTOR, silentLogger);

    // Act
    const start = workflows.start({ workflow: 'move', name: 'slack-orders-1', input });

    // Assert
    await expect(start).rejects.toThrow(InvalidInputError);
    await expect(start).rejects.toThrow(problem);
    await expect(workflows.describe('slack-orders-1')).rejects.toThrow('no execution named slack-orders-1');
  });

  it('refuses to plan a move of another cluster', async () => {
    // Arrange
    const workflows = new LocalWorkflowStarter(DESCRIPTOR, silentLogger);

    // Act
    const planning = workflows.planMove({ ...MOVE, cluster: 'billing', dryRun: true });

    // Assert
    await expect(planning).rejects.toThrow('this runtime runs cluster orders, not billing');
  });
});

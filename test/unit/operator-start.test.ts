import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadDeploymentConfig, parseDeploymentConfig } from '../../config/load.ts';
import type { Operator } from '../../config/operators.ts';
import { hostNeighbours } from '../../config/operators.ts';
import { InvalidInputError } from '../../core/model/errors.ts';
import { clustersOf, principalKey } from '../../functions/operator-start/access.ts';
import { operatorExecutionName } from '../../functions/operator-start/contract.ts';
import { makeOperatorStartHandler, type OperatorStartDeps } from '../../functions/operator-start/handler.ts';
import { rejectionOf } from './aws/sdk-errors.ts';
import { CapturingLogger, FakeWorkflows } from './slack/fixtures.ts';

/** operator-start: per-cluster starts for the IAM callers the config's operator groups name. */

const ORDERS_ONCALL = 'arn:aws:iam::123456789012:role/oncall/orders-oncall';
const ORDERS_SESSION = 'arn:aws:sts::123456789012:assumed-role/orders-oncall/alice';
const SESSIONS_SESSION = 'arn:aws:sts::123456789012:assumed-role/sessions-oncall/bob';

const OPERATORS: Operator[] = [
  {
    name: 'orders',
    principals: [ORDERS_ONCALL, 'arn:aws:iam::123456789012:user/carol'],
    clusters: ['orders'],
  },
  { name: 'dba', principals: ['arn:aws:iam::123456789012:role/dba'], clusters: ['orders', 'sessions'] },
];

/** A Function URL event with AWS_IAM auth, as Lambda builds it after checking the caller's signature. */
function iamEvent(caller: string, body: unknown, method = 'POST') {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      http: { method, path: '/', protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'curl' },
      authorizer: {
        iam: {
          accessKey: 'ASIAEXAMPLE',
          accountId: '123456789012',
          callerId: 'AROAEXAMPLE:alice',
          userArn: caller,
        },
      },
    },
  };
}

function world() {
  const workflows = new FakeWorkflows();
  const logger = new CapturingLogger();
  const deps: OperatorStartDeps = {
    operators: OPERATORS,
    clusterNames: ['orders', 'sessions', 'carts'],
    // carts shares orders' hosts (a host set, say); sessions has hosts of its own.
    neighbours: (cluster) => ({ orders: ['carts'], carts: ['orders'] })[cluster] ?? [],
    workflows,
    logger,
    newId: () => 'generated0001',
  };
  return { handle: makeOperatorStartHandler(() => deps), workflows, logger };
}

describe('principals', () => {
  it('matches a role session by account and role name, a user by account and name', () => {
    expect(principalKey(ORDERS_SESSION)).toBe('123456789012:role:orders-oncall');
    expect(principalKey(ORDERS_ONCALL)).toBe('123456789012:role:orders-oncall');
    expect(principalKey('arn:aws:iam::123456789012:user/carol')).toBe('123456789012:user:carol');
    expect(principalKey('arn:aws:sts::123456789012:federated-user/dave')).toBeUndefined();
    expect(principalKey('arn:aws:iam::123456789012:root')).toBeUndefined();
  });

  it('gives a caller the clusters of every group that names it, and another account none', () => {
    expect([...clustersOf(OPERATORS, 'arn:aws:sts::123456789012:assumed-role/dba/erin').clusters]).toEqual([
      'orders',
      'sessions',
    ]);
    expect([...clustersOf(OPERATORS, ORDERS_SESSION).clusters]).toEqual(['orders']);
    expect([
      ...clustersOf(OPERATORS, 'arn:aws:sts::999999999999:assumed-role/orders-oncall/x').clusters,
    ]).toEqual([]);
  });
});

describe('operator-start', () => {
  it('starts a switchover of an allowed cluster, named by cluster and request id, requested by the caller', async () => {
    // Arrange
    const w = world();

    // Act
    const response = await w.handle(
      iamEvent(ORDERS_SESSION, {
        workflow: 'switchover',
        input: { cluster: 'orders', target: 'redis-2' },
        requestId: 'chg-4711',
      }),
    );

    // Assert
    expect(response.statusCode).toBe(201);
    expect(JSON.parse(response.body)).toEqual({
      executionArn: `arn:aws:states:eu-west-1:123456789012:execution:ha-redis-switchover:${operatorExecutionName('orders', 'chg-4711')}`,
      started: true,
    });
    expect(w.workflows.starts).toEqual([
      {
        workflow: 'switchover',
        name: operatorExecutionName('orders', 'chg-4711'),
        input: {
          cluster: 'orders',
          target: 'redis-2',
          reason: 'planned switchover',
          dryRun: false,
          maxLagBytes: 1_048_576,
          requestedBy: `iam:${ORDERS_SESSION}`,
        },
      },
    ]);
  });

  it('starts nothing new for the same request id', async () => {
    // Arrange
    const w = world();
    const event = iamEvent(ORDERS_SESSION, {
      workflow: 'switchover',
      input: { cluster: 'orders' },
      requestId: 'r1',
    });

    // Act
    await w.handle(event);
    const again = await w.handle(event);

    // Assert
    expect(again.statusCode).toBe(200);
    expect(JSON.parse(again.body).started).toBe(false);
    expect(w.workflows.names).toEqual(new Set([operatorExecutionName('orders', 'r1')]));
  });

  it('refuses a caller on a cluster no group of theirs names, starts nothing, and logs who', async () => {
    // Arrange
    const w = world();

    // Act
    const response = await w.handle(
      iamEvent(ORDERS_SESSION, { workflow: 'switchover', input: { cluster: 'sessions' } }),
    );
    const stranger = await w.handle(
      iamEvent(SESSIONS_SESSION, { workflow: 'maintenance', input: { cluster: 'orders' } }),
    );

    // Assert
    expect(response.statusCode).toBe(403);
    expect(JSON.parse(response.body).error).toBe(
      `${ORDERS_SESSION} is in no operator group of cluster sessions (config operators[]); nothing was started`,
    );
    expect(stranger.statusCode).toBe(403);
    expect(w.workflows.starts).toEqual([]);
    expect(w.logger.lines.filter((l) => l.level === 'warn').map((l) => l.attributes?.caller)).toEqual([
      ORDERS_SESSION,
      SESSIONS_SESSION,
    ]);
  });

  it.each([
    ['an unknown cluster', { workflow: 'switchover', input: { cluster: 'billing' } }, 404],
    [
      'a requestedBy of its own',
      { workflow: 'switchover', input: { cluster: 'orders', requestedBy: 'someone' } },
      400,
    ],
    ['an unknown workflow', { workflow: 'failover', input: { cluster: 'orders' } }, 400],
    [
      'a request id with a colon',
      { workflow: 'switchover', input: { cluster: 'orders' }, requestId: 'a:b' },
      400,
    ],
    ['a body that is not JSON', 'cluster=orders', 400],
  ])('answers %s with an error and starts nothing', async (_case, body, status) => {
    // Arrange
    const w = world();

    // Act
    const response = await w.handle(iamEvent(ORDERS_SESSION, body));

    // Assert
    expect(response.statusCode).toBe(status);
    expect(JSON.parse(response.body).error).toEqual(expect.any(String));
    expect(w.workflows.starts).toEqual([]);
  });

  it('answers 405 to a GET, and throws on an event without the IAM caller (not through the URL)', async () => {
    // Arrange
    const w = world();
    const { authorizer: _dropped, ...context } = iamEvent(ORDERS_SESSION, {}).requestContext;

    // Act
    const get = await w.handle(iamEvent(ORDERS_SESSION, '', 'GET'));
    const error = await rejectionOf(w.handle({ ...iamEvent(ORDERS_SESSION, {}), requestContext: context }));

    // Assert
    expect(get.statusCode).toBe(405);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(w.workflows.starts).toEqual([]);
  });

  it('says when Step Functions refuses the start', async () => {
    // Arrange
    const w = world();
    w.workflows.startError = new Error('ThrottlingException: rate exceeded');

    // Act
    const response = await w.handle(
      iamEvent(ORDERS_SESSION, { workflow: 'switchover', input: { cluster: 'orders' } }),
    );

    // Assert
    expect(response.statusCode).toBe(502);
    expect(JSON.parse(response.body).error).toBe(
      'starting the switchover failed: ThrottlingException: rate exceeded',
    );
  });
});

describe('operators in the deployment config', () => {
  const example = () => JSON.parse(readFileSync('config/example.json', 'utf8'));

  it('accepts groups of configured clusters, and refuses a cluster that is not configured', () => {
    // Arrange
    const good = {
      ...example(),
      operators: [{ name: 'orders', principals: [ORDERS_ONCALL], clusters: ['orders'] }],
    };
    const bad = {
      ...example(),
      operators: [{ name: 'orders', principals: [ORDERS_ONCALL], clusters: ['billing'] }],
    };

    // Act
    const parsed = parseDeploymentConfig(good, 'good.json');
    const refused = () => parseDeploymentConfig(bad, 'bad.json');

    // Assert
    expect(parsed.operators).toEqual(good.operators);
    expect(refused).toThrow(
      "operators[0].clusters[0]: operator group 'orders' names cluster 'billing', which is not configured",
    );
  });

  it('refuses a principal that is not an IAM role or user ARN', () => {
    const bad = {
      ...example(),
      operators: [{ name: 'x', principals: ['orders-oncall'], clusters: ['orders'] }],
    };
    expect(() => parseDeploymentConfig(bad, 'bad.json')).toThrow('an IAM role or user ARN');
  });
});

describe('operator-start: acts only on what the caller may touch', () => {
  it('refuses a node action on hosts that also serve a cluster the caller has no group for, and starts nothing', async () => {
    // Arrange: orders-oncall may act on orders only; carts runs on the same hosts.
    const w = world();

    // Act
    const restart = await w.handle(
      iamEvent(ORDERS_SESSION, { workflow: 'maintenance', input: { cluster: 'orders', action: 'reboot' } }),
    );
    const drain = await w.handle(
      iamEvent(ORDERS_SESSION, {
        workflow: 'maintenance',
        input: { cluster: 'orders', drainHost: '10.0.1.11' },
      }),
    );

    // Assert: the reboot is refused naming carts; a drain (a switchover, no node action) is this cluster's own.
    expect(restart.statusCode).toBe(403);
    expect(JSON.parse(restart.body).error).toBe(
      `maintenance of orders acts on hosts that also serve carts, and ${ORDERS_SESSION} is in no operator group of those; nothing was started`,
    );
    expect(drain.statusCode).toBe(201);
    expect(w.workflows.starts.map((s) => s.input)).toEqual([
      expect.objectContaining({ drainHost: '10.0.1.11' }),
    ]);
  });

  it('names executions so that no two clusters and request ids share one', () => {
    expect(operatorExecutionName('a', 'b-c')).not.toBe(operatorExecutionName('a-b', 'c'));
    expect(operatorExecutionName('orders', 'r1')).toBe(operatorExecutionName('orders', 'r1'));
    expect(operatorExecutionName('orders', 'r1')).toMatch(/^op-orders-[0-9a-f]{24}$/);
  });

  it('finds the clusters on the same hosts: every other service of a host set, none for a cluster on hosts of its own', () => {
    const set = hostNeighbours(loadDeploymentConfig('config/example-host-set.json').clusters);
    const services = [...set.keys()];
    expect(services).toHaveLength(8);
    for (const service of services) {
      expect(set.get(service)).toEqual(services.filter((s) => s !== service).sort());
    }
    const example = hostNeighbours(loadDeploymentConfig('config/example.json').clusters);
    expect(example.get('orders')).toEqual([]);
  });
});

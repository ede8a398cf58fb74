/** The cluster the samples describe ("orders", master name "mymaster"), its addresses, and the start time. */
import { type ClusterConfig, ClusterSchema, type Endpoint } from '../../core/model/cluster.ts';

/** The time every test world starts at (epoch ms). */
export const START = 1_732_467_600_000;

export const N1: Endpoint = { host: '10.0.1.21', port: 6379 };
export const N2: Endpoint = { host: '10.0.1.22', port: 6379 };
export const N3: Endpoint = { host: '10.0.1.23', port: 6379 };
export const SENTINELS: Endpoint[] = [
  { host: '10.0.1.11', port: 26379 },
  { host: '10.0.1.12', port: 26379 },
  { host: '10.0.1.13', port: 26379 },
];

/** Three nodes, three Sentinels, two proxies (p1 with a TLS listener, p2 plain only), short test timings. */
export function testCluster(overrides: Partial<Record<string, unknown>> = {}): ClusterConfig {
  return ClusterSchema.parse({
    name: 'orders',
    masterName: 'mymaster',
    nodes: [
      { id: 'n1', ...N1 },
      { id: 'n2', ...N2 },
      { id: 'n3', ...N3 },
    ],
    sentinels: SENTINELS,
    proxies: [
      {
        id: 'p1',
        host: '10.0.2.11',
        plainPort: 6379,
        tlsPort: 6380,
        runtimeApi: { kind: 'unix', path: '/run/p1' },
      },
      {
        id: 'p2',
        host: '10.0.2.12',
        plainPort: 6379,
        runtimeApi: { kind: 'tcp', host: '10.0.2.12', port: 9999 },
      },
    ],
    dns: { recordName: 'master.orders.redis.internal', ttl: 5 },
    timing: {
      sentinelTimeoutMs: 100,
      nodeTimeoutMs: 100,
      confirmPollMs: 10,
      confirmDeadlineMs: 1000,
      claimLeaseMs: 60_000,
      verifyAttempts: 3,
      verifyIntervalMs: 5,
    },
    ...overrides,
  });
}

/** Just host and port, so that a NodeConfig (with its id) and an Endpoint compare equal in assertions. */
export const endpointOf = (e: Endpoint): Endpoint => ({ host: e.host, port: e.port });

/** The test world: every port fake of one test wired as CorePorts, and deps that must not be touched. */
import { type ClusterConfig, ClusterRegistry } from '../../core/model/cluster.ts';
import type { AppliedEpoch } from '../../core/model/records.ts';
import type {
  Clock,
  CorePorts,
  Dns,
  NodeOps,
  Notifier,
  RedisNodes,
  Router,
  SentinelView,
  StateStore,
} from '../../core/ports.ts';
import { makeSentinelEventHandler } from '../../functions/sentinel-event/handler.ts';
import { FakeClock } from '../fakes/clock.ts';
import { FakeRedisNodes } from '../fakes/redis.ts';
import { FakeNotifier, RecordingLogger, silentLogger } from '../fakes/reporting.ts';
import { FakeDns, FakeNodeOps, FakeRouter } from '../fakes/routing.ts';
import { FakeSentinelView } from '../fakes/sentinels.ts';
import { InMemoryStateStore } from '../fakes/state-store.ts';
import { N1, N2, N3, START, testCluster } from './fixtures.ts';

/** All the fakes of one test, wired as CorePorts. */
export interface FakeWorld {
  cluster: ClusterConfig;
  clock: FakeClock;
  sentinels: FakeSentinelView;
  router: FakeRouter;
  redis: FakeRedisNodes;
  dns: FakeDns;
  nodeOps: FakeNodeOps;
  state: InMemoryStateStore;
  notifier: FakeNotifier;
  logger: RecordingLogger;
  deps: CorePorts;
}

/**
 * The world right after Sentinel failed `mymaster` over from n1 to n2 at epoch 7:
 * every Sentinel names n2 at epoch 7, n2 answers ROLE master, n1 still claims master (offset 1500,
 * n2 was promoted at 1200), n3 replicates n2, and the store has epoch 6 (n1) applied.
 */
export function failedOverWorld(
  options: { sentinels?: FakeSentinelView; applied?: AppliedEpoch | null } = {},
): FakeWorld {
  const cluster = testCluster();
  const clock = new FakeClock();
  const router = new FakeRouter();
  for (const proxy of cluster.proxies) router.routes.set(proxy.id, N1);
  const redis = new FakeRedisNodes(router)
    .set(N1, { role: 'master', offset: 1500 })
    .set(N2, { role: 'master', offset: 1200 })
    .set(N3, { role: 'slave', offset: 1200, master: N2 });
  const state = new InMemoryStateStore();
  const applied =
    options.applied === undefined
      ? { epoch: 6, master: N1, status: 'done' as const, token: 'previous', leaseUntil: START - 1 }
      : options.applied;
  if (applied) state.epochs.set(cluster.name, applied);
  const sentinels = options.sentinels ?? FakeSentinelView.agreeing(N2, 7);
  const dns = new FakeDns();
  const nodeOps = new FakeNodeOps();
  const notifier = new FakeNotifier();
  const logger = new RecordingLogger();
  let ids = 0;
  const deps: CorePorts = {
    sentinels,
    redis,
    router,
    dns,
    nodeOps,
    state,
    notifier,
    clock,
    logger,
    newId: () => {
      ids += 1;
      return `id-${ids}`;
    },
  };
  return { cluster, clock, sentinels, router, redis, dns, nodeOps, state, notifier, logger, deps };
}

/** CorePorts whose every port method records that it was touched and then throws: for "no action" tests. */
export function untouchableDeps(touched: string[]): CorePorts {
  const port = (name: string) =>
    new Proxy(
      {},
      {
        get: (_target, method) => () => {
          touched.push(`${name}.${String(method)}`);
          throw new Error(`${name}.${String(method)} must not be called`);
        },
      },
    );
  return {
    sentinels: port('sentinels') as SentinelView,
    redis: port('redis') as RedisNodes,
    router: port('router') as Router,
    dns: port('dns') as Dns,
    nodeOps: port('nodeOps') as NodeOps,
    state: port('state') as StateStore,
    notifier: port('notifier') as Notifier,
    clock: port('clock') as Clock,
    logger: silentLogger,
    newId: () => {
      touched.push('newId');
      return 'x';
    },
  };
}

/** The sentinel-event handler of the test cluster, whose every port records a call: for input it must reject. */
export function rejectingSentinelEventHandler() {
  const touched: string[] = [];
  const handler = makeSentinelEventHandler(() => ({
    clusters: new ClusterRegistry([testCluster()]),
    failover: untouchableDeps(touched),
  }));
  return { handler, touched };
}

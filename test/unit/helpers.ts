import { readFileSync } from 'node:fs';
import type { SNSEvent } from 'aws-lambda';
import { parseSentinelMessage, type SentinelEvent } from '../../core/failover/sentinel-event.ts';
import {
  type ClusterConfig,
  ClusterRegistry,
  ClusterSchema,
  type Endpoint,
  formatEndpoint,
  type ProxyConfig,
  sameEndpoint,
} from '../../core/model/cluster.ts';
import { HistoryEntryExistsError, UnreachableError, VerificationError } from '../../core/model/errors.ts';
import type {
  AppliedEpoch,
  ClaimResult,
  Clock,
  ClusterLease,
  Dns,
  FailoverDeps,
  HistoryEntry,
  LeaderVote,
  Logger,
  MaintenanceMode,
  NodeOperation,
  NodeOps,
  Notification,
  Notifier,
  PendingFence,
  RedisNodes,
  ReplicaLink,
  ReplicationInfo,
  Role,
  Router,
  SentinelMasterView,
  SentinelView,
  StateStore,
  WriteProbe,
} from '../../core/ports.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';
import { makeSentinelEventHandler } from '../../functions/sentinel-event/handler.ts';

// ---------------------------------------------------------------------------------------------
// Samples (Powertools' getTestEvent pattern: read once, hand out a structured clone per test)
// ---------------------------------------------------------------------------------------------

const SAMPLES = new URL('../../events/samples/', import.meta.url);
const sampleCache = new Map<string, unknown>();

/** A sample under events/samples, e.g. `sentinel/switch-master`; every call returns a fresh clone. */
export function loadSample<T = unknown>(name: string): T {
  let data = sampleCache.get(name);
  if (data === undefined) {
    data = JSON.parse(readFileSync(new URL(`${name}.json`, SAMPLES), 'utf8'));
    sampleCache.set(name, data);
  }
  return structuredClone(data) as T;
}

/** A sentinel-event envelope sample by case name, e.g. `switch-master`. */
export const loadEnvelope = (name: string): SentinelEnvelope =>
  loadSample<SentinelEnvelope>(`sentinel/${name}`);

/** The typed event of a sentinel sample; fails the test when the sample does not parse. */
export function loadEvent(name: string): SentinelEvent {
  const envelope = loadEnvelope(name);
  const parsed = parseSentinelMessage(envelope.channel, envelope.payload);
  if (!parsed.ok) throw new Error(`sample ${name} does not parse: ${parsed.message}`);
  return parsed.event;
}

/** An SNS Lambda event carrying `message` as the Message of its single record (from the SNS sample). */
export function snsEventWith(message: unknown): SNSEvent {
  const event = loadSample<SNSEvent>('sns/switch-master');
  const record = event.Records[0];
  if (!record) throw new Error('the SNS sample has no record');
  (record.Sns as { Message: unknown }).Message = message;
  return event;
}

/** The sentinel sample case names (not malformed, not unknown). */
export const SAMPLE_CASES = [
  'sdown-master',
  'sdown-slave',
  'sdown-sentinel',
  'odown',
  'new-epoch',
  'try-failover',
  'vote-for-leader',
  'elected-leader',
  'failover-state-select-slave',
  'selected-slave',
  'failover-state-send-slaveof-noone',
  'failover-state-wait-promotion',
  'promoted-slave',
  'failover-state-reconf-slaves',
  'failover-end',
  'switch-master',
  'odown-cleared',
  'sdown-cleared',
  'convert-to-slave',
  'reboot',
  'tilt',
  'tilt-exited',
] as const;

// ---------------------------------------------------------------------------------------------
// The cluster the samples describe: "orders", master name "mymaster"
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Port fakes
// ---------------------------------------------------------------------------------------------

export const START = 1_732_467_600_000;

/** A clock whose sleep advances time at once. */
export class FakeClock implements Clock {
  time: number;
  readonly sleeps: number[] = [];
  constructor(start = START) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.time += ms;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** What one Sentinel says in one poll, or 'down' when it does not answer. */
export type ViewSpec = { master: Endpoint; epoch: number; failoverState?: string; flags?: string[] } | 'down';

/**
 * Sentinels driven by a script: `rounds[k][i]` is what Sentinel i answers at its (k+1)-th question;
 * the last round repeats. `onQuestion` runs before each answer (to simulate the world changing).
 */
export class FakeSentinelView implements SentinelView {
  readonly questions: { sentinel: Endpoint; masterName: string }[] = [];
  private readonly sentinels: readonly Endpoint[];
  private readonly rounds: ViewSpec[][];
  private readonly asked = new Map<string, number>();
  onQuestion?: (sentinel: Endpoint, round: number) => Promise<void> | void;

  constructor(rounds: ViewSpec[][], sentinels: readonly Endpoint[] = SENTINELS) {
    this.rounds = rounds;
    this.sentinels = sentinels;
  }

  /** Every Sentinel says the same thing, every time. */
  static agreeing(master: Endpoint, epoch: number): FakeSentinelView {
    const view = { master, epoch };
    return new FakeSentinelView([[view, view, view]]);
  }

  /** Sentinel endpoint (host:port) -> run id; by default `id-<port>`. */
  readonly ids = new Map<string, string>();

  /** Sentinel (host:port) -> its SENTINEL CKQUORUM refusal; a Sentinel not listed answers OK. */
  readonly quorumProblems = new Map<string, string>();

  async checkQuorum(sentinel: Endpoint): Promise<string | undefined> {
    return this.quorumProblems.get(formatEndpoint(sentinel));
  }

  /** SENTINEL REPLICAS of a Sentinel at its (poll+1)-th question; unset: no replicas. */
  replicasViewOf?: (
    sentinel: Endpoint,
    poll: number,
  ) => { address: Endpoint; priority: number; flags: string[] }[];
  readonly replicasViewCalls: Endpoint[] = [];

  async replicasView(
    sentinel: Endpoint,
  ): Promise<{ address: Endpoint; priority: number; flags: string[] }[]> {
    const poll = this.replicasViewCalls.filter((s) => sameEndpoint(s, sentinel)).length;
    this.replicasViewCalls.push(endpointOf(sentinel));
    return this.replicasViewOf?.(sentinel, poll) ?? [];
  }

  /** Sentinel (host:port) -> its answer to SENTINEL FAILOVER (an Error is thrown); a Sentinel not listed says 'ok'. */
  readonly failoverAnswers = new Map<string, string | Error>();
  readonly failoverCalls: Endpoint[] = [];
  /** Runs when a Sentinel accepts SENTINEL FAILOVER, to simulate what the failover does to the world. */
  onFailover?: (sentinel: Endpoint) => void;

  /** Sentinels in TILT, by `host:port`. */
  readonly tilted = new Set<string>();
  async inTilt(sentinel: Endpoint): Promise<boolean> {
    return this.tilted.has(formatEndpoint(sentinel));
  }

  async failover(sentinel: Endpoint): Promise<'ok' | string> {
    this.failoverCalls.push(endpointOf(sentinel));
    const answer = this.failoverAnswers.get(formatEndpoint(sentinel)) ?? 'ok';
    if (answer instanceof Error) throw answer;
    if (answer === 'ok') this.onFailover?.(sentinel);
    return answer;
  }

  /** When set, every Sentinel answers this (by index) instead of following the script. */
  answersNow?: ViewSpec[];

  async myId(sentinel: Endpoint): Promise<string> {
    return this.ids.get(formatEndpoint(sentinel)) ?? `id-${sentinel.port}`;
  }

  async masterView(sentinel: Endpoint, masterName: string): Promise<SentinelMasterView> {
    this.questions.push({ sentinel, masterName });
    const key = formatEndpoint(sentinel);
    const round = this.asked.get(key) ?? 0;
    this.asked.set(key, round + 1);
    await this.onQuestion?.(sentinel, round);
    const index = this.sentinels.findIndex((s) => sameEndpoint(s, sentinel));
    const spec = this.answersNow
      ? this.answersNow[index]
      : this.rounds[Math.min(round, this.rounds.length - 1)]?.[index];
    if (spec === undefined || spec === 'down') throw new UnreachableError(`sentinel ${key} timed out`);
    return {
      sentinel,
      master: spec.master,
      configEpoch: spec.epoch,
      flags: spec.flags ?? ['master'],
      failoverState: spec.failoverState ?? 'none',
      numOtherSentinels: this.sentinels.length - 1,
      quorum: 2,
    };
  }
}

/** Just host and port, so that a NodeConfig (with its id) and an Endpoint compare equal in assertions. */
export const endpointOf = (e: Endpoint): Endpoint => ({ host: e.host, port: e.port });

export interface FakeNodeState {
  /** Answers of ROLE in order; the last one repeats. */
  roles: Role[];
  offset: number;
  master?: Endpoint;
  reachable: boolean;
  /** A node that ignores REPLICAOF and keeps accepting writes. */
  acceptsWritesAnyway?: boolean;
  /** For a master: the replicas INFO replication lists. */
  replicas?: ReplicaLink[];
  /** Answers of the replication offset in order (each replication() call takes one); the last one repeats. */
  offsets?: number[];
  /** AOF persistence; on unless set to false. */
  aof?: boolean;
}

/** Redis nodes held in memory. Canary writes land where the router points, when a router is given. */
export class FakeRedisNodes implements RedisNodes {
  readonly nodes = new Map<string, FakeNodeState>();
  readonly roleCalls: Endpoint[] = [];
  readonly replicaOfCalls: { node: Endpoint; master: Endpoint }[] = [];
  readonly probeCalls: Endpoint[] = [];
  readonly canaryCalls: { proxy: string; listener: 'plain' | 'tls'; expected: Endpoint }[] = [];
  private readonly router: FakeRouter | undefined;

  constructor(router?: FakeRouter) {
    this.router = router;
  }

  set(node: Endpoint, state: Partial<FakeNodeState> & { role?: Role }): this {
    const current = this.nodes.get(formatEndpoint(node)) ?? {
      roles: ['unknown'],
      offset: 0,
      reachable: true,
    };
    const { role, ...rest } = state;
    this.nodes.set(formatEndpoint(node), { ...current, ...(role ? { roles: [role] } : {}), ...rest });
    return this;
  }

  private reach(node: Endpoint): FakeNodeState {
    const state = this.nodes.get(formatEndpoint(node));
    if (!state?.reachable) throw new UnreachableError(`${formatEndpoint(node)} timed out`);
    return state;
  }

  private currentRole(state: FakeNodeState): Role {
    return state.roles[0] ?? 'unknown';
  }

  async role(node: Endpoint): Promise<Role> {
    this.roleCalls.push(endpointOf(node));
    const state = this.reach(node);
    const role = this.currentRole(state);
    if (state.roles.length > 1) state.roles.shift();
    return role;
  }

  async replication(node: Endpoint): Promise<ReplicationInfo> {
    const state = this.reach(node);
    const role = this.currentRole(state);
    const next = state.offsets?.[0];
    if (next !== undefined) {
      state.offset = next;
      if (state.offsets && state.offsets.length > 1) state.offsets.shift();
    }
    return {
      role,
      offset: state.offset,
      ...(state.master ? { master: state.master, linkUp: true } : {}),
      ...(state.replicas ? { replicas: structuredClone(state.replicas) } : {}),
    };
  }

  async replicaOf(node: Endpoint, master: Endpoint): Promise<void> {
    this.replicaOfCalls.push({ node: endpointOf(node), master: endpointOf(master) });
    const state = this.reach(node);
    state.roles = ['slave'];
    state.master = master;
  }

  async aofEnabled(node: Endpoint): Promise<boolean> {
    const state = this.nodes.get(formatEndpoint(node));
    if (!state?.reachable) throw new UnreachableError(`${formatEndpoint(node)} did not answer`);
    return state.aof !== false;
  }

  async probeWrite(node: Endpoint): Promise<WriteProbe> {
    this.probeCalls.push(endpointOf(node));
    const state = this.reach(node);
    return this.currentRole(state) === 'master' || state.acceptsWritesAnyway ? 'accepted' : 'readonly';
  }

  async canaryThroughProxy(
    proxy: ProxyConfig,
    listener: 'plain' | 'tls',
    expectedMaster: Endpoint,
  ): Promise<{ key: string; value: string }> {
    this.canaryCalls.push({ proxy: proxy.id, listener, expected: expectedMaster });
    const canary = { key: `canary:${proxy.id}:${listener}`, value: 'v' };
    if (!this.router) return canary;
    const route = this.router.routes.get(proxy.id);
    if (!sameEndpoint(route, expectedMaster)) {
      throw new VerificationError(
        `canary through ${proxy.id}/${listener} landed on ${route ? formatEndpoint(route) : 'nothing'}`,
      );
    }
    return canary;
  }

  readonly pauses: { node: Endpoint; ms: number }[] = [];
  readonly unpauses: Endpoint[] = [];
  readonly priorities = new Map<string, number>();
  readonly prioritySets: { node: Endpoint; priority: number }[] = [];

  async pauseWrites(node: Endpoint, pauseMs: number): Promise<void> {
    this.reach(node);
    this.pauses.push({ node: endpointOf(node), ms: pauseMs });
  }

  async unpause(node: Endpoint): Promise<void> {
    this.reach(node);
    this.unpauses.push(endpointOf(node));
  }

  async replicaPriority(node: Endpoint): Promise<number> {
    this.reach(node);
    return this.priorities.get(formatEndpoint(node)) ?? 100;
  }

  async setReplicaPriority(node: Endpoint, priority: number): Promise<void> {
    this.reach(node);
    this.prioritySets.push({ node: endpointOf(node), priority });
    this.priorities.set(formatEndpoint(node), priority);
  }

  async read(node: Endpoint): Promise<string | null> {
    this.reach(node);
    return 'v';
  }
}

/** HAProxy fake: records every reroute; a proxy can be told to fail. */
export class FakeRouter implements Router {
  readonly routes = new Map<string, Endpoint>();
  readonly calls: { proxy: string; node: Endpoint }[] = [];
  /** Proxy id -> how many more attempts fail (Infinity: all). */
  readonly failures = new Map<string, number>();

  async pointMasterAt(proxy: ProxyConfig, node: Endpoint): Promise<void> {
    this.calls.push({ proxy: proxy.id, node });
    const left = this.failures.get(proxy.id) ?? 0;
    if (left > 0) {
      this.failures.set(proxy.id, left - 1);
      throw new Error(`proxy ${proxy.id}: connection refused`);
    }
    this.routes.set(proxy.id, node);
    // Like the Runtime API adapter, a reroute ends with `set server ... state ready`.
    this.blocked.delete(proxy.id);
  }

  /** Proxies whose master server is in maint (writes through them stop). */
  readonly blocked = new Set<string>();
  readonly blockCalls: string[] = [];

  async blockMaster(proxy: ProxyConfig): Promise<void> {
    this.blockCalls.push(proxy.id);
    this.blocked.add(proxy.id);
  }

  async masterRoute(proxy: ProxyConfig): Promise<{ address: Endpoint; state: string }> {
    const address = this.routes.get(proxy.id);
    if (!address) throw new Error(`proxy ${proxy.id} has no route`);
    return { address, state: this.blocked.has(proxy.id) ? 'maint' : 'ready' };
  }
}

/** DNS fake guarded by epoch, like the real adapters. */
export class FakeDns implements Dns {
  record: { master: Endpoint; epoch: number } | undefined;
  readonly calls: { master: Endpoint; epoch: number }[] = [];

  async upsertMaster(
    _cluster: ClusterConfig,
    master: Endpoint,
    epoch: number,
  ): Promise<'updated' | 'unchanged' | 'stale'> {
    this.calls.push({ master, epoch });
    if (this.record && this.record.epoch > epoch) return 'stale';
    if (this.record && this.record.epoch === epoch && sameEndpoint(this.record.master, master))
      return 'unchanged';
    this.record = { master, epoch };
    return 'updated';
  }

  async currentMaster(): Promise<{ master: Endpoint; epoch: number } | undefined> {
    return this.record;
  }
}

export class FakeNodeOps implements NodeOps {
  readonly runs: NodeOperation[] = [];
  async run(operation: NodeOperation): Promise<{ output: string }> {
    this.runs.push(operation);
    return { output: `${operation.document} ok` };
  }
}

/** The state store in memory, with the claim semantics of adapters/aws/dynamodb-state-store.ts. */
export class InMemoryStateStore implements StateStore {
  readonly modes = new Map<string, MaintenanceMode>();

  async maintenanceMode(cluster: string): Promise<MaintenanceMode | undefined> {
    const mode = this.modes.get(cluster);
    return mode ? { ...mode } : undefined;
  }

  async setMaintenanceMode(cluster: string, mode: MaintenanceMode): Promise<void> {
    this.modes.set(cluster, { ...mode });
  }

  readonly epochs = new Map<string, AppliedEpoch>();
  readonly fences = new Map<string, PendingFence[]>();
  readonly history: HistoryEntry[] = [];

  async appliedEpoch(cluster: string): Promise<AppliedEpoch | undefined> {
    const current = this.epochs.get(cluster);
    return current ? structuredClone(current) : undefined;
  }

  async claimEpoch(
    cluster: string,
    claim: { epoch: number; master: Endpoint; token: string; now: number; leaseMs: number },
  ): Promise<ClaimResult> {
    const current = this.epochs.get(cluster);
    const allowed =
      !current ||
      current.epoch < claim.epoch ||
      (current.epoch === claim.epoch &&
        current.status !== 'done' &&
        (current.status === 'failed' || current.leaseUntil < claim.now));
    if (!allowed) {
      return {
        claimed: false,
        reason: current.epoch > claim.epoch ? 'stale' : 'duplicate',
        current: structuredClone(current),
      };
    }
    this.epochs.set(cluster, {
      epoch: claim.epoch,
      master: claim.master,
      status: 'claimed',
      token: claim.token,
      leaseUntil: claim.now + claim.leaseMs,
    });
    return { claimed: true };
  }

  async finishEpoch(cluster: string, epoch: number, token: string, status: 'done' | 'failed'): Promise<void> {
    const current = this.epochs.get(cluster);
    if (current && current.epoch === epoch && current.token === token) current.status = status;
  }

  async pendingFences(cluster: string): Promise<PendingFence[]> {
    return structuredClone(this.fences.get(cluster) ?? []);
  }

  async addPendingFence(cluster: string, fence: PendingFence): Promise<void> {
    const others = (this.fences.get(cluster) ?? []).filter((f) => !sameEndpoint(f.node, fence.node));
    this.fences.set(cluster, [...others, fence]);
  }

  async removePendingFence(cluster: string, node: Endpoint): Promise<void> {
    this.fences.set(
      cluster,
      (this.fences.get(cluster) ?? []).filter((f) => !sameEndpoint(f.node, node)),
    );
  }

  leaseHeld: ClusterLease | undefined;

  async takeLease(
    _cluster: string,
    lease: ClusterLease,
    now: number,
  ): Promise<{ taken: true } | { taken: false; holder: ClusterLease }> {
    const held = this.leaseHeld;
    if (held && held.owner !== lease.owner && held.until >= now) return { taken: false, holder: held };
    this.leaseHeld = { ...lease };
    return { taken: true };
  }

  async releaseLease(_cluster: string, owner: string): Promise<void> {
    if (this.leaseHeld?.owner === owner) this.leaseHeld = undefined;
  }

  async lease(): Promise<ClusterLease | undefined> {
    return this.leaseHeld;
  }

  readonly leaderVotes: LeaderVote[] = [];

  async recordVote(_cluster: string, vote: LeaderVote): Promise<void> {
    const i = this.leaderVotes.findIndex((v) => v.epoch === vote.epoch && sameEndpoint(v.voter, vote.voter));
    if (i >= 0) this.leaderVotes.splice(i, 1);
    this.leaderVotes.push(structuredClone(vote));
  }

  async votes(): Promise<LeaderVote[]> {
    return [...this.leaderVotes].sort((a, b) => b.epoch - a.epoch);
  }

  /** Append-only, as the DynamoDB adapter: the same id and start time are refused. */
  async appendHistory(entry: HistoryEntry): Promise<void> {
    const recorded = this.history.some(
      (e) => e.cluster === entry.cluster && e.id === entry.id && e.startedAt === entry.startedAt,
    );
    if (recorded) throw new HistoryEntryExistsError(`history entry ${entry.id} is recorded already`);
    this.history.push(structuredClone(entry));
  }

  async listHistory(cluster: string, limit: number): Promise<HistoryEntry[]> {
    return this.history
      .filter((e) => e.cluster === cluster)
      .sort((a, b) => b.startedAt - a.startedAt)
      .slice(0, limit);
  }
}

export class FakeNotifier implements Notifier {
  readonly published: Notification[] = [];
  failWith: Error | undefined;
  async publish(notification: Notification): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.published.push(notification);
  }
}

/** A logger that keeps what it was told, and prints nothing. */
export class RecordingLogger implements Logger {
  readonly lines: { level: 'debug' | 'info' | 'warn' | 'error'; message: string }[] = [];
  debug(message: string): void {
    this.lines.push({ level: 'debug', message });
  }
  info(message: string): void {
    this.lines.push({ level: 'info', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** All the fakes of one test, wired as FailoverDeps. */
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
  deps: FailoverDeps;
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
  const deps: FailoverDeps = {
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

/** FailoverDeps whose every port method records that it was touched and then throws: for "no action" tests. */
export function untouchableDeps(touched: string[]): FailoverDeps {
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

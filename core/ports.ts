import type { ClusterConfig, Endpoint, NodeConfig, ProxyConfig } from './model/cluster.ts';
import type { TimelineStep } from './model/timeline.ts';

/** What one Sentinel says about the master it monitors (`SENTINEL MASTER <name>`). */
export interface SentinelMasterView {
  sentinel: Endpoint;
  master: Endpoint;
  configEpoch: number;
  flags: string[];
  failoverState: string;
  numOtherSentinels: number;
  quorum: number;
}

/** Sentinel, seen from outside: one question per call, with a bounded timeout. */
export interface SentinelView {
  masterView(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<SentinelMasterView>;
  /** The Sentinel's run id (`SENTINEL MYID`), the name it is voted for by. */
  myId(sentinel: Endpoint, timeoutMs: number): Promise<string>;
  /** `SENTINEL CKQUORUM`: undefined when OK, else Sentinel's reason. */
  checkQuorum(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<string | undefined>;
  /** The replicas as this Sentinel sees them (`SENTINEL REPLICAS`), with the priority from its last INFO. */
  replicasView(
    sentinel: Endpoint,
    masterName: string,
    timeoutMs: number,
  ): Promise<{ address: Endpoint; priority: number; flags: string[] }[]>;
  /** `SENTINEL FAILOVER`: 'ok', or Sentinel's refusal (`INPROG`, `NOGOODSLAVE`, ...). */
  failover(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<'ok' | string>;
  /** Whether the Sentinel is in TILT mode (`INFO sentinel`): its view is not to be trusted. */
  inTilt(sentinel: Endpoint, timeoutMs: number): Promise<boolean>;
}

/** One Sentinel's vote for a failover leader in an epoch (`+vote-for-leader`); a Sentinel votes once per epoch. */
export interface LeaderVote {
  epoch: number;
  voter: Endpoint;
  leaderRunId: string;
}

export type Role = 'master' | 'slave' | 'sentinel' | 'unknown';

/** Replication facts of one node (`ROLE` and `INFO replication`). */
export interface ReplicaLink {
  address: Endpoint;
  state: string;
  offset: number;
}

export interface ReplicationInfo {
  role: Role;
  offset: number;
  /** For a master: its connected replicas. */
  replicas?: ReplicaLink[];
  /** The master it replicates from, for a replica. */
  master?: Endpoint;
  linkUp?: boolean;
}

/** Outcome of a write attempt used to prove a node is (or is not) writable. */
export type WriteProbe = 'accepted' | 'readonly' | 'noreplicas' | 'error';

/** The Redis node operations the core needs. */
export interface RedisNodes {
  role(node: Endpoint, timeoutMs: number): Promise<Role>;
  replication(node: Endpoint, timeoutMs: number): Promise<ReplicationInfo>;
  /** REPLICAOF master, and persist it (CONFIG REWRITE). */
  replicaOf(node: Endpoint, master: Endpoint, timeoutMs: number): Promise<void>;
  /** `CLIENT PAUSE <ms> WRITE`: writes block, and the pause expires by itself. */
  pauseWrites(node: Endpoint, pauseMs: number, timeoutMs: number): Promise<void>;
  unpause(node: Endpoint, timeoutMs: number): Promise<void>;
  replicaPriority(node: Endpoint, timeoutMs: number): Promise<number>;
  setReplicaPriority(node: Endpoint, priority: number, timeoutMs: number): Promise<void>;
  /** Read a key directly from a node (canary read-back). */
  read(node: Endpoint, key: string, timeoutMs: number): Promise<string | null>;
  /** Try one canary write directly on the node. */
  probeWrite(node: Endpoint, timeoutMs: number): Promise<WriteProbe>;
  /** Whether AOF persistence is on (`INFO persistence`). */
  aofEnabled(node: Endpoint, timeoutMs: number): Promise<boolean>;
  /** Write a canary through a proxy listener, and read it back from the expected master; returns the key. */
  canaryThroughProxy(
    proxy: ProxyConfig,
    listener: 'plain' | 'tls',
    expectedMaster: Endpoint,
    timeoutMs: number,
  ): Promise<{ key: string; value: string }>;
}

/** HAProxy, through its Runtime API. */
export interface Router {
  /** Point the master server at `node` and cut every session to the previous address. */
  pointMasterAt(proxy: ProxyConfig, node: Endpoint): Promise<void>;
  /** Stop new sessions to the master server and cut the existing ones (writes through the proxy stop). */
  blockMaster(proxy: ProxyConfig): Promise<void>;
  /** Where the master server points now, and its operational state. */
  masterRoute(proxy: ProxyConfig): Promise<{ address: Endpoint; state: string }>;
}

/** The cluster's DNS master record. */
export interface Dns {
  /** Move the record to `master`; refuses (returns 'stale') when a newer epoch is already written. */
  upsertMaster(
    cluster: ClusterConfig,
    master: Endpoint,
    epoch: number,
  ): Promise<'updated' | 'unchanged' | 'stale'>;
  /** What the record says now: the master and the epoch written with it (undefined: no record yet). */
  currentMaster(cluster: ClusterConfig): Promise<{ master: Endpoint; epoch: number } | undefined>;
}

/** Named operations that run on a host: an SSM document in AWS, the same script under bash locally. */
export type NodeOperation =
  | { document: 'update-haproxy'; proxy: ProxyConfig; master: Endpoint }
  | { document: 'fence-node'; node: NodeConfig; master: Endpoint }
  | { document: 'maintenance-action'; node: NodeConfig; action: MaintenanceAction };

/** The allow-listed maintenance actions on a node's host. */
export type MaintenanceAction = 'restart' | 'upgrade' | 'reboot';

export interface NodeOps {
  run(operation: NodeOperation): Promise<{ output: string }>;
}

/** Status of an epoch claim. `failed` lets a retry take the epoch again. */
export type EpochClaimStatus = 'claimed' | 'done' | 'failed';

export interface AppliedEpoch {
  epoch: number;
  master: Endpoint;
  status: EpochClaimStatus;
  token: string;
  leaseUntil: number;
}

export type ClaimResult =
  | { claimed: true }
  | { claimed: false; reason: 'duplicate' | 'stale'; current: AppliedEpoch };

/** Who holds a cluster for a planned operation, and until when (epoch ms). */
export interface ClusterLease {
  owner: string;
  purpose: 'switchover' | 'maintenance';
  until: number;
}

/** A node that must be fenced as soon as it answers again. */
export interface PendingFence {
  node: Endpoint;
  master: Endpoint;
  epoch: number;
  since: number;
}

export type HistoryKind = 'failover' | 'deferred-fence' | 'switchover' | 'maintenance';
export type Outcome = 'succeeded' | 'partial' | 'failed' | 'unconfirmed';

/** One record of what ha-redis did, with its step timeline. */
export interface HistoryEntry {
  id: string;
  cluster: string;
  kind: HistoryKind;
  epoch: number | null;
  oldMaster: Endpoint | null;
  newMaster: Endpoint | null;
  outcome: Outcome;
  trigger: string;
  startedAt: number;
  durationMs: number;
  timeline: TimelineStep[];
  /** Replication bytes that may be lost: old master's last known offset minus the new master's at promotion. */
  bytesAtRisk: number | null;
  /** Planned switchover: writes blocked, from the block to the reroute. */
  writeGapMs?: number;
  error?: string;
}

/** Durable state: epoch claims, pending fences, history. */
export interface StateStore {
  appliedEpoch(cluster: string): Promise<AppliedEpoch | undefined>;
  claimEpoch(
    cluster: string,
    claim: { epoch: number; master: Endpoint; token: string; now: number; leaseMs: number },
  ): Promise<ClaimResult>;
  finishEpoch(cluster: string, epoch: number, token: string, status: 'done' | 'failed'): Promise<void>;
  pendingFences(cluster: string): Promise<PendingFence[]>;
  addPendingFence(cluster: string, fence: PendingFence): Promise<void>;
  removePendingFence(cluster: string, node: Endpoint): Promise<void>;
  /** Take the cluster lease (switchover, maintenance) unless another owner holds one unexpired at `now`. */
  takeLease(
    cluster: string,
    lease: ClusterLease,
    now: number,
  ): Promise<{ taken: true } | { taken: false; holder: ClusterLease }>;
  releaseLease(cluster: string, owner: string): Promise<void>;
  lease(cluster: string): Promise<ClusterLease | undefined>;
  recordVote(cluster: string, vote: LeaderVote): Promise<void>;
  /** Votes of the newest epochs first. */
  votes(cluster: string): Promise<LeaderVote[]>;
  appendHistory(entry: HistoryEntry): Promise<void>;
  listHistory(cluster: string, limit: number): Promise<HistoryEntry[]>;
  /** The cluster's maintenance mode; never set means running (not paused). */
  maintenanceMode(cluster: string): Promise<MaintenanceMode | undefined>;
  setMaintenanceMode(cluster: string, mode: MaintenanceMode): Promise<void>;
}

/** Maintenance mode: while paused, scheduled maintenance runs are skipped (the failover reaction still runs). */
export interface MaintenanceMode {
  paused: boolean;
  /** Who changed it (`cli:<user>`, `slack:<user id>`), when, and why. */
  by: string;
  at: number;
  reason: string;
}

/** An outcome worth telling people about. */
export interface Notification {
  cluster: string;
  kind: HistoryKind | 'alarm';
  outcome: Outcome;
  summary: string;
  entry?: HistoryEntry;
}

export interface Notifier {
  publish(notification: Notification): Promise<void>;
}

/** Time, so that tests are exact. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Structured logging; attributes never carry secrets. */
export interface Logger {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/** Everything the failover reaction needs from the world. */
export interface FailoverDeps {
  sentinels: SentinelView;
  redis: RedisNodes;
  router: Router;
  dns: Dns;
  nodeOps: NodeOps;
  state: StateStore;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  newId(): string;
}

/** Starts a workflow execution; the name is the idempotency key (a retry with the same name starts none). */
export interface WorkflowStarter {
  start(request: {
    workflow: 'switchover' | 'maintenance';
    /** Unique per request: [A-Za-z0-9_-], at most 80 characters. */
    name: string;
    input: unknown;
  }): Promise<{ executionId: string; started: boolean }>;
  /** Where an execution is: running (and in which state), or ended with its output or error. */
  describe(executionId: string): Promise<WorkflowExecution>;
}

export interface WorkflowExecution {
  executionId: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  /** The state it is in (running) or ended in (the Fail state's name on failure). */
  currentState?: string;
  /** The final state document (succeeded), or the last one known. */
  output?: unknown;
  error?: string;
  cause?: string;
}

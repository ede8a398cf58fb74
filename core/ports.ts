/** The ports: the narrow interfaces through which the core sees the world, each with its contract. */
import type { ClusterConfig, Endpoint, NodeConfig, ProxyConfig } from './model/cluster.ts';
import type { MaintenanceAction } from './model/maintenance.ts';
import type {
  AppliedEpoch,
  ClaimResult,
  ClusterLease,
  EpochClaim,
  HistoryEntry,
  LeaderVote,
  MaintenanceMode,
  Notification,
  PendingFence,
} from './model/records.ts';

// The records live in the model; re-exported here until every importer takes them from core/model/records.ts.

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
  /**
   * The replicas as this Sentinel sees them (`SENTINEL REPLICAS`), with the priority and the role
   * (`role-reported`: `master` or `slave`) from its last INFO.
   */
  replicasView(
    sentinel: Endpoint,
    masterName: string,
    timeoutMs: number,
  ): Promise<{ address: Endpoint; priority: number; flags: string[]; roleReported?: string }[]>;
  /** `SENTINEL FAILOVER`: 'ok', or Sentinel's refusal (`INPROG`, `NOGOODSLAVE`, ...). */
  failover(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<'ok' | string>;
  /** Whether the Sentinel is in TILT mode (`INFO sentinel`): its view is not to be trusted. */
  inTilt(sentinel: Endpoint, timeoutMs: number): Promise<boolean>;
  /**
   * This Sentinel's own vote for the failover leader of the master it knows at `master` (the address, not the
   * name: one Sentinel may monitor many masters), or undefined when it holds none: it has not voted, or it has
   * adopted the new master since (which clears the vote). Reading never casts a vote.
   */
  vote(
    sentinel: Endpoint,
    master: Endpoint,
    timeoutMs: number,
  ): Promise<{ leaderRunId: string; epoch: number } | undefined>;
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
  /** For a replica whose link is down: seconds since it went down (`master_link_down_since_seconds`). */
  linkDownSinceSeconds?: number;
}

/** What a TCP connect to a node's port got: only `refused` (a reset) proves that nothing listens there. */
export type ConnectProbe = 'refused' | 'accepted' | 'timeout' | 'unreachable';

/** Outcome of a write attempt used to prove a node is (or is not) writable. */
export type WriteProbe = 'accepted' | 'readonly' | 'noreplicas' | 'error';

/** The Redis node operations the core needs. */
export interface RedisNodes {
  role(node: Endpoint, timeoutMs: number): Promise<Role>;
  replication(node: Endpoint, timeoutMs: number): Promise<ReplicationInfo>;
  /**
   * REPLICAOF master, and persist it (CONFIG REWRITE), unless `persist` is false: the rewrite's fsync holds the
   * node's event loop, and with it a replication handshake just started (the switchover persists later).
   */
  replicaOf(
    node: Endpoint,
    master: Endpoint,
    timeoutMs: number,
    options?: { persist?: boolean },
  ): Promise<void>;
  /**
   * `REPLICAOF NO ONE`, not persisted: only for the replica that Sentinel's failover leader has selected, whose
   * own promotion follows within a tick and rewrites the config (see the switchover's `waitForPromotion`).
   */
  promoteSelected(node: Endpoint, timeoutMs: number): Promise<void>;
  /** `CLIENT PAUSE <ms> WRITE`: writes block, and the pause expires by itself. */
  pauseWrites(node: Endpoint, pauseMs: number, timeoutMs: number): Promise<void>;
  unpause(node: Endpoint, timeoutMs: number): Promise<void>;
  replicaPriority(node: Endpoint, timeoutMs: number): Promise<number>;
  setReplicaPriority(node: Endpoint, priority: number, timeoutMs: number): Promise<void>;
  /** Read a key directly from a node (canary read-back). */
  read(node: Endpoint, key: string, timeoutMs: number): Promise<string | null>;
  /** Try one canary write directly on the node. */
  probeWrite(node: Endpoint, timeoutMs: number): Promise<WriteProbe>;
  /** Open a TCP connection to the node's port and close it: what came back (no Redis command is sent). */
  probeConnect(node: Endpoint, timeoutMs: number): Promise<ConnectProbe>;
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
/**
 * What an upsert did: written, already so, refused (a newer epoch is written), or `queued`: handed to the
 * zone's one writer (AWS: a FIFO queue per hosted zone), which writes it in order and refuses an older epoch.
 */
export type DnsUpsertResult = 'updated' | 'unchanged' | 'stale' | 'queued';

export interface Dns {
  /** Move the record to `master`; refuses (returns 'stale') when a newer epoch is already written. */
  upsertMaster(cluster: ClusterConfig, master: Endpoint, epoch: number): Promise<DnsUpsertResult>;
  /** What the record says now: the master and the epoch written with it (undefined: no record yet). */
  currentMaster(cluster: ClusterConfig): Promise<{ master: Endpoint; epoch: number } | undefined>;
}

/** Named operations that run on a host: an SSM document in AWS, the same script under bash locally. */
export type NodeOperation =
  /**
   * `epoch`: the failover epoch the routing or the fence belongs to. The host records it beside what it writes
   * and refuses an older one (a late command: an SSM command that waited for an unreachable host), reporting it
   * `stale`: a late persist never rolls HAProxy's config back, a late fence never demotes a newer master.
   */
  | { document: 'update-haproxy'; proxy: ProxyConfig; master: Endpoint; epoch: number }
  | { document: 'fence-node'; node: NodeConfig; master: Endpoint; epoch: number }
  /** Take out a `replicaof` line that points at NO_MASTER (the fast path's hold) and, live, end that replication. */
  | { document: 'release-node'; node: NodeConfig }
  | { document: 'maintenance-action'; node: NodeConfig; action: MaintenanceAction };

/** The allow-listed maintenance actions on a node's host. */

/**
 * What an operation did: its output; `stale` when the host refused it for an older epoch than the one it
 * recorded (nothing changed there; a newer failover's command ran first). A failure throws a NodeOpsError.
 */
export interface NodeOperationResult {
  output: string;
  stale?: boolean;
  /**
   * Handed to the host's queue (AWS: a FIFO message group per host, run by the routing-persist Lambda), which runs
   * it in order, retries it, and dead-letters it with an alarm: nothing of its outcome is known yet.
   */
  queued?: boolean;
}

export interface NodeOps {
  /**
   * `deadlineAt` (epoch ms): stop waiting for the result then, with a NodeOpsError that says so. The command
   * itself may still run on the host later (SSM delivers it when the host answers); the epoch fences it.
   */
  run(operation: NodeOperation, options?: { deadlineAt?: number }): Promise<NodeOperationResult>;
}

// ---------------------------------------------------------------------------------------------
// Durable state. Every method is scoped to one cluster: nothing written for one cluster is seen by
// another. Reads are strongly consistent: they see every write that completed before them.
// ---------------------------------------------------------------------------------------------

/**
 * The cluster's epoch record: which failover epoch is (being) applied, so that each epoch is acted on once.
 * There is one record per cluster; a claim replaces it.
 */
export interface EpochClaims {
  /** The record of the last winning claim, with its status; undefined when no epoch was ever claimed. */
  appliedEpoch(cluster: string): Promise<AppliedEpoch | undefined>;
  /**
   * Claim `claim.epoch`, atomically: of two concurrent claims for the same epoch exactly one wins.
   * The claim wins when there is no record, when the record's epoch is older, or when it is the same epoch
   * and that claim `failed` or is still `claimed` with its lease run out (`leaseUntil < now`: a lease that
   * ends at `now` still holds). A `done` epoch is never given again. The winner's record is
   * `{ epoch, master, status: 'claimed', token, leaseUntil: now + leaseMs }`.
   * A refused claim changes nothing and says why: `stale` when the record holds a newer epoch, `duplicate`
   * when it holds the same one; `current` is the record as it stood.
   * Expiry is judged at the caller's `now`, never by the store's clock. Not idempotent: the same claim
   * (same token) again while it holds is a `duplicate`.
   */
  claimEpoch(cluster: string, claim: EpochClaim): Promise<ClaimResult>;
  /**
   * Set the status of the claim of `epoch` made with `token` (`done`: never given again; `failed`: a retry
   * may take it at once). When the record holds another epoch or token (a newer claim took over), or there is
   * none, it does nothing and does not throw. Idempotent; the lease (`leaseUntil`) is left as it is.
   */
  finishEpoch(cluster: string, epoch: number, token: string, status: 'done' | 'failed'): Promise<void>;
}

/** Sentinel's `+vote-for-leader` events, kept so that a failover can be confirmed by who voted for whom. */
export interface LeaderVotes {
  /**
   * Keep one vote per (epoch, voter address): recording it again overwrites it (last write wins), so a
   * redelivery is harmless. Votes matter only during a failover: the DynamoDB store drops them after a day.
   */
  recordVote(cluster: string, vote: LeaderVote): Promise<void>;
  /**
   * At most LEADER_VOTES_READ_LIMIT votes, the newest epochs first; within an epoch ordered by the voter's
   * `host:port` as text, descending. Empty when none were recorded.
   */
  votes(cluster: string): Promise<LeaderVote[]>;
}

/** The cluster lease: one planned operation (switchover, maintenance) at a time per cluster. */
export interface ClusterLeases {
  /**
   * Take the lease, atomically: it is taken when there is none, when the one held has expired
   * (`until < now`: a lease that ends at `now` still holds), or when `lease.owner` holds it already (a renewal,
   * which stores the new purpose and `until`). Otherwise nothing changes and the holder is returned.
   * Expiry is judged at the caller's `now`, never by the store's clock.
   */
  takeLease(
    cluster: string,
    lease: ClusterLease,
    now: number,
  ): Promise<{ taken: true } | { taken: false; holder: ClusterLease }>;
  /** Remove the lease if `owner` holds it (expired or not); another owner's lease, or none, is left alone. Idempotent. */
  releaseLease(cluster: string, owner: string): Promise<void>;
  /** The lease as stored, expired or not (the caller judges expiry); undefined when none is held. */
  lease(cluster: string): Promise<ClusterLease | undefined>;
}

/** Nodes to fence as soon as they answer again, one per node. */
export interface PendingFences {
  /** The cluster's pending fences, ordered by the node's `host:port` as text; empty when none. */
  pendingFences(cluster: string): Promise<PendingFence[]>;
  /** Keyed by the node's address (host and port): adding one for a node that has one replaces it. Idempotent. */
  addPendingFence(cluster: string, fence: PendingFence): Promise<void>;
  /** Remove the fence of the node at this address (other properties are ignored); none: nothing happens. */
  removePendingFence(cluster: string, node: Endpoint): Promise<void>;
}

/** What ha-redis did, append-only. */
export interface HistoryLog {
  /**
   * Record an entry, keyed by (cluster, startedAt, id): an entry whose key is recorded already is refused
   * with HistoryEntryExistsError and the first one is kept. Properties set to undefined are not stored.
   */
  appendHistory(entry: HistoryEntry): Promise<void>;
  /** The newest `limit` entries of the cluster, newest `startedAt` first (ties: `id` as text, descending). */
  listHistory(cluster: string, limit: number): Promise<HistoryEntry[]>;
}

/** Whether scheduled maintenance of a cluster is paused. */
export interface MaintenanceModes {
  /** The mode last set; undefined when never set, which callers read as running (not paused). */
  maintenanceMode(cluster: string): Promise<MaintenanceMode | undefined>;
  /** Replace the mode (last write wins, no condition). Idempotent. */
  setMaintenanceMode(cluster: string, mode: MaintenanceMode): Promise<void>;
}

/** Durable state, all the narrow state ports at once (the DynamoDB store implements them all). */
export type StateStore = EpochClaims &
  LeaderVotes &
  ClusterLeases &
  PendingFences &
  HistoryLog &
  MaintenanceModes;

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

/**
 * Everything the core's use cases (failover, switchover, maintenance, status) need from the world: the ports,
 * a clock, a logger and fresh ids. Each composition root builds one.
 */
export interface CorePorts {
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
  /**
   * Orders the steps of reactions that run at once in this process (absent: one at a time, as in a Lambda
   * environment, or no ordering).
   */
  pacer?: ReactionPacer;
  /**
   * When the invocation that runs the core ends (epoch ms): a Lambda's deadline. Waits on hosts are cut short so
   * that what was done still reaches history and people before it. Absent: no end (the local orchestrator).
   */
  endsAt?: number;
}

/**
 * Critical steps first, for reactions that run at once in one process (the local orchestrator of a host set,
 * whose services all fail over when a host dies): while any reaction confirms, claims, reroutes or re-points the
 * replicas that answer, the others' follow-up steps (DNS, routing persists, fences of nodes that do not answer,
 * canaries) wait, for a bounded time. On 2 cores the follow-ups of 8 reactions (script runs, HTTP) otherwise
 * delayed the reroutes of the services promoted last.
 */
export interface ReactionPacer {
  /** A reaction enters its critical steps; the returned function says it left them (calls after the first do nothing). */
  enterCritical(): () => void;
  /** Resolves once no reaction is in its critical steps, or after the pacer's bound, whichever is first. */
  settled(): Promise<void>;
}

/** The workflows a WorkflowStarter may start (`move` runs in the local runtime only, for now). */
export type WorkflowName = 'switchover' | 'maintenance' | 'move';

/**
 * Starts a workflow execution; the name is the idempotency key (a retry with the same name starts none). A
 * runtime that cannot run a workflow refuses to start it with an error saying so; it never starts nothing quietly.
 */
export interface WorkflowStarter {
  start(request: {
    workflow: WorkflowName;
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

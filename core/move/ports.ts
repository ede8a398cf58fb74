import type { Endpoint } from '../model/cluster.ts';
import type { PlacedMember, TargetProxy, TargetSentinel } from './state.ts';

/**
 * The ports of the move workflow, beside the core's (CorePorts): the hosts a service lives on, and Sentinel's
 * admin commands. Locally the hosts are a host set's (processes, hosts.json, the service's descriptor).
 */

/**
 * A move under way, as its first changing step recorded it: where to, by which execution, and the service's old
 * members then. A move run again after a crash takes its old members from here (the definition has lost some of
 * them by then), so that every one of them is retired, and its new members land on the same ports.
 */
export interface MoveRecord {
  toSet: string;
  executionId: string;
  /** Whether the execution that recorded it still runs (locally: its process is alive). */
  holderAlive: boolean;
  oldNodes: PlacedMember[];
  oldSentinels: (PlacedMember & { shared: boolean })[];
}

/** The service's members as the runtime knows them now: the definition every reaction reads. */
export interface ServiceHome {
  /** The set of hosts the service lives on. */
  set: string;
  nodes: PlacedMember[];
  sentinels: (PlacedMember & { shared: boolean })[];
  proxies: { id: string; hostId: string }[];
  /** A move that began and has not ended. */
  moving?: MoveRecord;
}

/** Where the service would live on the target set: new members, with their ports (free there now, or its own). */
export interface MovePlacement {
  nodes: PlacedMember[];
  sentinels: TargetSentinel[];
  proxies: TargetProxy[];
}

export interface MoveHosts {
  /** The service's home now. */
  home(cluster: string): Promise<ServiceHome>;
  /**
   * The service's members on `toSet`: the ones it has there already (a move that stopped half way), and new ones
   * on ports free there. Refuses (MoveRefusedError, naming it) an unknown set, a host of it out of reach, a port
   * in use, or missing software; changes nothing.
   */
  placement(
    cluster: string,
    toSet: string,
    old: { nodes: readonly PlacedMember[]; sentinels: readonly PlacedMember[] },
  ): Promise<MovePlacement>;
  /**
   * Record the move as begun (MoveRecord), before anything changes: the first time with the old members; again
   * (a move run again) only as taken over by `executionId`. Refuses (MoveRefusedError) while another execution
   * that still runs holds it, or a move to another set is half done.
   */
  begin(
    cluster: string,
    move: {
      toSet: string;
      executionId: string;
      oldNodes: PlacedMember[];
      oldSentinels: (PlacedMember & { shared: boolean })[];
    },
  ): Promise<void>;
  /** Start the node as a replica of `master`, with the service's settings; `running` if it runs already. */
  startNode(cluster: string, node: PlacedMember, master: Endpoint): Promise<'started' | 'running'>;
  /** Start the service's Sentinel (with no master: the workflow adds it); a host's shared Sentinel runs already. */
  startSentinel(cluster: string, sentinel: TargetSentinel): Promise<'started' | 'running'>;
  /**
   * Give the proxy host's HAProxy the service's frontends and backend, routed to `master` at `epoch`, and reload
   * it; nothing when it has them already.
   */
  addFrontends(cluster: string, proxy: TargetProxy, master: Endpoint, epoch: number): Promise<string>;
  /** Stop a node or a Sentinel process of the service (a shared Sentinel is never stopped); `gone` if not running. */
  stopMember(cluster: string, kind: 'node' | 'sentinel', id: string): Promise<'stopped' | 'gone'>;
  /**
   * Add members to, or remove them from, the service's definition. Reactions from then on confirm against the new
   * Sentinels, route the new proxies and fence the new nodes. Idempotent.
   */
  addMembers(
    cluster: string,
    members: { nodes?: PlacedMember[]; sentinels?: TargetSentinel[]; proxies?: TargetProxy[] },
  ): Promise<void>;
  removeMembers(cluster: string, members: { nodes?: string[]; sentinels?: string[] }): Promise<void>;
  /**
   * Retire a proxy of the service on its old hosts: out of the definition first (no reaction routes it any more),
   * then its master slot disabled in its HAProxy (config and running: fail-closed, its sessions cut).
   */
  retireProxy(cluster: string, proxyId: string): Promise<string>;
  /** The service's proxies on hosts of other sets than the one it lives on (its old hosts' after a move). */
  oldProxies(cluster: string): Promise<{ id: string; hostId: string }[]>;
  /** The service now lives on `set` (its old hosts keep only the proxies that still route it); the move record ends. */
  moved(cluster: string, set: string): Promise<void>;
}

/** What one Sentinel knows of a master it monitors (`SENTINEL MASTER`), or undefined when it monitors none by that name. */
export interface SentinelKnowledge {
  master: Endpoint;
  configEpoch: number;
  failoverState: string;
  flags: string[];
  quorum: number;
  otherSentinels: number;
  replicas: number;
}

/** Sentinel's admin commands, one Sentinel per call, each with a bounded timeout. */
export interface SentinelAdmin {
  knowledge(
    sentinel: Endpoint,
    masterName: string,
    timeoutMs: number,
  ): Promise<SentinelKnowledge | undefined>;
  /**
   * `SENTINEL MONITOR` the master, then `SENTINEL SET` its auth-pass and timings (down-after, failover-timeout, the
   * same as the service's other Sentinels); `already` when it monitors it.
   */
  monitor(
    sentinel: Endpoint,
    masterName: string,
    master: Endpoint,
    settings: { quorum: number; downAfterMs: number; failoverTimeoutMs: number },
    timeoutMs: number,
  ): Promise<'added' | 'already'>;
  setQuorum(sentinel: Endpoint, masterName: string, quorum: number, timeoutMs: number): Promise<void>;
  /** `SENTINEL REMOVE`: it stops monitoring the master; `absent` when it did not. */
  remove(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<'removed' | 'absent'>;
  /** `SENTINEL RESET`: it forgets the replicas and Sentinels it knew, and finds the live ones again. */
  reset(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<void>;
}

export interface MovePorts {
  hosts: MoveHosts;
  sentinelAdmin: SentinelAdmin;
  /** The service's Sentinel timings, for the Sentinels it gains. */
  sentinelSettings: { downAfterMs: number; failoverTimeoutMs: number };
  /**
   * Aborted when the Task's time is up: the step stops at its next wait (between two safe points) instead of
   * acting on while Recover runs.
   */
  signal?: AbortSignal;
}

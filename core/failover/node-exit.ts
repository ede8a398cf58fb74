import type { Endpoint } from '../model/cluster.ts';
import type { HistoryEntry } from '../model/records.ts';
import type { FailoverResult } from './react.ts';

/** The fast path's input and outcomes (core/failover/fast-path.ts). */

/** What a node agent saw, as the core reads it (the wire contract is `node-event` v1 in events/). */
export interface NodeExit {
  node: Endpoint;
  /** When the agent's connection to the node closed, epoch ms. */
  exitedAt: number;
  /** The agent's host, for the record. */
  agentHost: string;
  evidence: {
    pid: number;
    processGone: boolean;
    connect: 'refused' | 'timeout' | 'accepted' | 'error';
    lastRole: 'master' | 'slave' | 'unknown';
    lastOffset: number;
    lastInfoAt: number;
  };
}

export type NodeExitOutcome =
  /** Not for this cluster, a policy of `wait`, or a repeat of an exit already acted on. */
  | { action: 'ignored'; reason: string }
  /** A check did not hold: nothing was done, Sentinel's own failover follows as without the fast path. */
  | { action: 'declined'; reason: string }
  /** A replica (not the master) exited: recorded and told, no failover. */
  | { action: 'replica-exited'; entry: HistoryEntry }
  /** Sentinel promoted a replica; the proxies were rerouted and the reaction ran. */
  | { action: 'fast-failover'; promoted: Endpoint; reaction: FailoverResult }
  /** Asked, but no promotion followed in time: the hold was lifted, recorded and told. */
  | { action: 'fast-failover-failed'; entry: HistoryEntry };

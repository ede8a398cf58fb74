/** The records ha-redis keeps in its state store and tells people about: claims, leases, fences, votes, history. */
import type { Endpoint } from './cluster.ts';
import type { TimelineStep } from './timeline.ts';

/** Status of an epoch claim. `failed` lets a retry take the epoch again. */
export type EpochClaimStatus = 'claimed' | 'done' | 'failed';

/** The cluster's epoch record: the newest epoch claimed, by whom (token), and until when the claim holds. */
export interface AppliedEpoch {
  epoch: number;
  master: Endpoint;
  status: EpochClaimStatus;
  token: string;
  leaseUntil: number;
}

/** A request to claim an epoch: the claim holds from `now` (epoch ms) for `leaseMs`. */
export interface EpochClaim {
  epoch: number;
  master: Endpoint;
  token: string;
  now: number;
  leaseMs: number;
}

export type ClaimResult =
  | { claimed: true }
  | { claimed: false; reason: 'duplicate' | 'stale'; current: AppliedEpoch };

/** One Sentinel's vote for a failover leader in an epoch (`+vote-for-leader`); a Sentinel votes once per epoch. */
export interface LeaderVote {
  epoch: number;
  voter: Endpoint;
  leaderRunId: string;
}

/** Who holds a cluster for a planned operation, and until when (epoch ms). */
export interface ClusterLease {
  owner: string;
  /**
   * `fast-path`: a node agent's `node-exited` is being acted on (see core/failover/fast-path.ts);
   * `election-rescue`: a failover is being forced after Sentinel's election stalled (core/failover/stalled-election.ts).
   */
  purpose: 'switchover' | 'maintenance' | 'fast-path' | 'election-rescue';
  until: number;
}

/** A node that must be fenced as soon as it answers again. */
export interface PendingFence {
  node: Endpoint;
  master: Endpoint;
  epoch: number;
  since: number;
}

export type HistoryKind = 'failover' | 'deferred-fence' | 'switchover' | 'maintenance' | 'node-exit' | 'move';
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
  /** A failover that ha-redis started itself, and why (the fast path after a node agent's `node-exited`). */
  startedBy?: string;
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
  kind: HistoryKind | 'alarm' | 'state-store';
  outcome: Outcome;
  summary: string;
  entry?: HistoryEntry;
}

/** Promotion seen -> every reachable proxy rerouted, from a failover's timeline (ms), or null without both steps. */
export function reroutedAfterPromotion(entry: Pick<HistoryEntry, 'timeline'>): number | null {
  const detected = entry.timeline.find((s) => s.step === 'detected');
  const rerouted = entry.timeline.find((s) => s.step === 'rerouted');
  return detected && rerouted ? rerouted.at + rerouted.durationMs - detected.at : null;
}

/**
 * The state ports in memory. They keep the contracts written on the ports in core/ports.ts, exactly as the
 * DynamoDB store does: the contract tables (test/contracts) run against both.
 */
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { HistoryEntryExistsError } from '../../core/model/errors.ts';
import { LEADER_VOTES_READ_LIMIT } from '../../core/model/limits.ts';
import type {
  AppliedEpoch,
  ClaimResult,
  ClusterLease,
  EpochClaim,
  HistoryEntry,
  LeaderVote,
  MaintenanceMode,
  PendingFence,
} from '../../core/model/records.ts';
import type {
  ClusterLeases,
  EpochClaims,
  HistoryLog,
  LeaderVotes,
  MaintenanceModes,
  PendingFences,
} from '../../core/ports.ts';

/** The cluster that the shorthands `leaseHeld`, `lease()` and `votes()` of tests of one cluster mean (testCluster's). */
const SOLE_CLUSTER = 'orders';

/** Text order, as DynamoDB sorts its string sort keys. */
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Every state port in memory; tests read and set its maps directly to arrange and assert. */
export class InMemoryStateStore
  implements EpochClaims, LeaderVotes, ClusterLeases, PendingFences, HistoryLog, MaintenanceModes
{
  readonly modes = new Map<string, MaintenanceMode>();
  readonly epochs = new Map<string, AppliedEpoch>();
  readonly fences = new Map<string, PendingFence[]>();
  /** Every entry of every cluster, in the order appended. */
  readonly history: HistoryEntry[] = [];
  readonly leases = new Map<string, ClusterLease>();
  readonly leaderVotes = new Map<string, LeaderVote[]>();

  async maintenanceMode(cluster: string): Promise<MaintenanceMode | undefined> {
    const mode = this.modes.get(cluster);
    return mode ? { ...mode } : undefined;
  }

  async setMaintenanceMode(cluster: string, mode: MaintenanceMode): Promise<void> {
    this.modes.set(cluster, { ...mode });
  }

  async appliedEpoch(cluster: string): Promise<AppliedEpoch | undefined> {
    const current = this.epochs.get(cluster);
    return current ? structuredClone(current) : undefined;
  }

  async claimEpoch(cluster: string, claim: EpochClaim): Promise<ClaimResult> {
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

  /** Ordered by address as text, as the DynamoDB store's sort key `fence#host:port` orders them. */
  async pendingFences(cluster: string): Promise<PendingFence[]> {
    const fences = structuredClone(this.fences.get(cluster) ?? []);
    return fences.sort((a, b) => byText(formatEndpoint(a.node), formatEndpoint(b.node)));
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

  /** Shorthand for tests of one cluster: the lease of `orders`, read or set (undefined removes it). */
  get leaseHeld(): ClusterLease | undefined {
    return this.leases.get(SOLE_CLUSTER);
  }

  set leaseHeld(lease: ClusterLease | undefined) {
    if (lease) this.leases.set(SOLE_CLUSTER, lease);
    else this.leases.delete(SOLE_CLUSTER);
  }

  async takeLease(
    cluster: string,
    lease: ClusterLease,
    now: number,
  ): Promise<{ taken: true } | { taken: false; holder: ClusterLease }> {
    const held = this.leases.get(cluster);
    if (held && held.owner !== lease.owner && held.until >= now) return { taken: false, holder: { ...held } };
    this.leases.set(cluster, { ...lease });
    return { taken: true };
  }

  async releaseLease(cluster: string, owner: string): Promise<void> {
    if (this.leases.get(cluster)?.owner === owner) this.leases.delete(cluster);
  }

  /** `cluster` may be left out by tests of one cluster (`orders`). */
  async lease(cluster = SOLE_CLUSTER): Promise<ClusterLease | undefined> {
    const held = this.leases.get(cluster);
    return held ? { ...held } : undefined;
  }

  async recordVote(cluster: string, vote: LeaderVote): Promise<void> {
    const others = (this.leaderVotes.get(cluster) ?? []).filter(
      (v) => !(v.epoch === vote.epoch && sameEndpoint(v.voter, vote.voter)),
    );
    this.leaderVotes.set(cluster, [...others, structuredClone(vote)]);
  }

  /**
   * Ordered as the DynamoDB store's sort key `vote#<epoch>#host:port`, descending; `cluster` may be left out
   * by tests of one cluster (`orders`).
   */
  async votes(cluster = SOLE_CLUSTER): Promise<LeaderVote[]> {
    return structuredClone(this.leaderVotes.get(cluster) ?? [])
      .sort((a, b) => b.epoch - a.epoch || byText(formatEndpoint(b.voter), formatEndpoint(a.voter)))
      .slice(0, LEADER_VOTES_READ_LIMIT);
  }

  /** Append-only, as the DynamoDB store: the same id and start time are refused. */
  async appendHistory(entry: HistoryEntry): Promise<void> {
    const recorded = this.history.some(
      (e) => e.cluster === entry.cluster && e.id === entry.id && e.startedAt === entry.startedAt,
    );
    if (recorded) {
      throw new HistoryEntryExistsError(
        `history entry ${entry.id} of ${entry.cluster} (started ${entry.startedAt}) is recorded already`,
      );
    }
    this.history.push(structuredClone(entry));
  }

  /** Newest first, ties by id descending, as the DynamoDB store's sort key `history#<startedAt>#<id>`. */
  async listHistory(cluster: string, limit: number): Promise<HistoryEntry[]> {
    return structuredClone(this.history.filter((e) => e.cluster === cluster))
      .sort((a, b) => b.startedAt - a.startedAt || byText(b.id, a.id))
      .slice(0, limit);
  }
}

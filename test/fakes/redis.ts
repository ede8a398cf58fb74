/** An in-memory fake of the RedisNodes port. */
import { type Endpoint, formatEndpoint, type ProxyConfig, sameEndpoint } from '../../core/model/cluster.ts';
import { UnreachableError, VerificationError } from '../../core/model/errors.ts';
import type {
  ConnectProbe,
  RedisNodes,
  ReplicaLink,
  ReplicationInfo,
  Role,
  WriteProbe,
} from '../../core/ports.ts';
import { endpointOf } from '../support/fixtures.ts';
import type { FakeRouter } from './routing.ts';

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
  /** What a TCP connect gets; `refused` when unreachable and unset, else `accepted`. */
  connect?: ConnectProbe;
  /** For a replica: its link to the master is down since this many seconds. */
  linkDownSinceSeconds?: number;
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
      ...(state.master
        ? state.linkDownSinceSeconds !== undefined
          ? { master: state.master, linkUp: false, linkDownSinceSeconds: state.linkDownSinceSeconds }
          : { master: state.master, linkUp: true }
        : {}),
      ...(state.replicas ? { replicas: structuredClone(state.replicas) } : {}),
    };
  }

  /** The REPLICAOF calls made without persisting them (`persist: false`). */
  readonly unpersistedReplicaOfs: Endpoint[] = [];
  async replicaOf(
    node: Endpoint,
    master: Endpoint,
    _timeoutMs?: number,
    options?: { persist?: boolean },
  ): Promise<void> {
    this.replicaOfCalls.push({ node: endpointOf(node), master: endpointOf(master) });
    if (options?.persist === false) this.unpersistedReplicaOfs.push(endpointOf(node));
    const state = this.reach(node);
    state.roles = ['slave'];
    state.master = master;
  }

  readonly promoteCalls: Endpoint[] = [];
  async promoteSelected(node: Endpoint): Promise<void> {
    this.promoteCalls.push(endpointOf(node));
    const state = this.reach(node);
    state.roles = ['master'];
    delete state.master;
  }

  readonly connectProbes: Endpoint[] = [];
  async probeConnect(node: Endpoint): Promise<ConnectProbe> {
    this.connectProbes.push(endpointOf(node));
    const state = this.nodes.get(formatEndpoint(node));
    return state?.connect ?? (state?.reachable === false ? 'refused' : 'accepted');
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

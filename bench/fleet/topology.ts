/**
 * The simulated fleet: N clusters over 3 AZs, each with a node, a Sentinel and an HAProxy per AZ, masters spread
 * round robin; and the ports a Lambda reaches them by (Sentinel, Redis, HAProxy Runtime API), as the real ones
 * behave when an AZ is gone: a call to a host there waits out its timeout, then fails as the adapters do.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ClusterConfig,
  ClusterSchema,
  type Endpoint,
  formatEndpoint,
  type ProxyConfig,
  sameEndpoint,
} from '../../core/model/cluster.ts';
import { UnreachableError } from '../../core/model/errors.ts';
import type {
  RedisNodes,
  ReplicationInfo,
  Router,
  SentinelMasterView,
  SentinelView,
} from '../../core/ports.ts';

export const AZS = [1, 2, 3] as const;
export const HOSTED_ZONE = 'Z0FLEETSIMULATED0001';
export const OLD_EPOCH = 6;
export const NEW_EPOCH = OLD_EPOCH + 1;

/** The address of cluster i's host of a kind in an AZ: 10.<az><kind>.<i / 250>.<i % 250 + 1>. */
const hostOf = (i: number, az: number, kind: 0 | 1) =>
  `10.${az}${kind}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
/** A fake but well-formed EC2 instance id for a host. */
export const instanceOf = (host: string) =>
  `i-${host
    .split('.')
    .map((p) => Number(p).toString(16).padStart(2, '0'))
    .join('')}00000000`.slice(0, 19);
const runIdOf = (sentinel: Endpoint) =>
  formatEndpoint(sentinel).replace(/\W/g, '').padEnd(40, 'f').slice(0, 40);

/** One simulated cluster and its failover's schedule (epoch ms; set when the AZ fails). */
export interface SimCluster {
  index: number;
  config: ClusterConfig;
  masterAz: number;
  oldMaster: Endpoint;
  /** The replica Sentinel promotes (the next AZ's node). */
  newMaster: Endpoint;
  /** The Sentinel that leads the failover (the new master's AZ). */
  leader: Endpoint;
  failsOver: boolean;
  electedAt?: number;
  promotedAt?: number;
  /** When each surviving Sentinel adopts the new master (publishes +switch-master). */
  switchAt: Map<string, number>;
}

export function buildFleet(clusters: number): SimCluster[] {
  return Array.from({ length: clusters }, (_, i) => {
    const masterAz = AZS[i % 3] as number;
    const replicaAz = AZS[(i + 1) % 3] as number;
    const node = (az: number) => ({ id: `n${az}`, host: hostOf(i, az, 0), port: 6379 });
    const nodes = AZS.map((az) => ({
      ...node(az),
      instance: { id: instanceOf(hostOf(i, az, 0)) },
      configPath: '/etc/redis/redis.conf',
    }));
    const config = ClusterSchema.parse({
      name: `c${String(i).padStart(4, '0')}`,
      masterName: 'mymaster',
      nodes,
      sentinels: AZS.map((az) => ({ host: hostOf(i, az, 0), port: 26379 })),
      proxies: AZS.map((az) => ({
        id: `p${az}`,
        host: hostOf(i, az, 1),
        plainPort: 6379,
        runtimeApi: { kind: 'tcp', host: hostOf(i, az, 1), port: 9999 },
        instance: { id: instanceOf(hostOf(i, az, 1)) },
        configPath: '/etc/haproxy/haproxy.cfg',
        stateFilePath: '/var/lib/haproxy/server-state',
        hostSocketPath: '/run/haproxy/admin.sock',
        reload: 'systemd:haproxy',
      })),
      dns: {
        recordName: `master.c${String(i).padStart(4, '0')}.redis.internal`,
        ttl: 5,
        hostedZoneId: HOSTED_ZONE,
      },
      // The AWS deployment's timings (config/example.json leaves the defaults).
    });
    const oldMaster = { host: node(masterAz).host, port: 6379 };
    const newMaster = { host: node(replicaAz).host, port: 6379 };
    return {
      index: i,
      config,
      masterAz,
      oldMaster,
      newMaster,
      leader: { host: node(replicaAz).host, port: 26379 },
      failsOver: false,
      switchAt: new Map(),
    };
  });
}

/** Which AZ a host of the fleet is in. */
export const azOf = (host: string): number => Number(host.split('.')[1]?.[0]);

/** The world the ports see: which AZ is lost, and each cluster's failover schedule. */
export class FleetWorld {
  lostAz: number | undefined;
  readonly byName = new Map<string, SimCluster>();
  readonly byHost = new Map<string, SimCluster>();
  /** When each live proxy was pointed at the new master, by cluster name and proxy id. */
  readonly routedAt = new Map<string, Map<string, number>>();
  runtimeApiCalls = 0;

  readonly clusters: readonly SimCluster[];
  constructor(clusters: readonly SimCluster[]) {
    this.clusters = clusters;
    for (const c of clusters) {
      this.byName.set(c.config.name, c);
      for (const h of [...c.config.nodes, ...c.config.proxies]) this.byHost.set(h.host, c);
    }
  }

  lost(host: string): boolean {
    return this.lostAz !== undefined && azOf(host) === this.lostAz;
  }

  clusterAt(host: string): SimCluster {
    const c = this.byHost.get(host);
    if (!c) throw new Error(`no simulated cluster has a node at ${host}`);
    return c;
  }

  /** A host in the lost AZ: the caller waits its whole timeout, then gets what the adapters throw. */
  async reach(host: string, timeoutMs: number, what: string): Promise<void> {
    if (this.lost(host)) {
      await sleep(timeoutMs);
      throw new UnreachableError(`${what} at ${host} timed out after ${timeoutMs} ms`);
    }
    // A round trip inside a Region: about a millisecond.
    await sleep(1);
  }
}

/** Sentinel as seen through `SENTINEL MASTER`: the old master until this Sentinel adopts the new one. */
export class SimSentinels implements SentinelView {
  private readonly world: FleetWorld;
  constructor(world: FleetWorld) {
    this.world = world;
  }

  async masterView(sentinel: Endpoint, _masterName: string, timeoutMs: number): Promise<SentinelMasterView> {
    await this.world.reach(sentinel.host, timeoutMs, 'Sentinel');
    const c = this.world.clusterAt(sentinel.host);
    const now = Date.now();
    const adopted = (c.switchAt.get(formatEndpoint(sentinel)) ?? Infinity) <= now;
    const leading = sameEndpoint(sentinel, c.leader) && (c.electedAt ?? Infinity) <= now && !adopted;
    const odown = c.failsOver && (c.electedAt ?? Infinity) <= now && !adopted;
    return {
      sentinel,
      master: adopted ? c.newMaster : c.oldMaster,
      configEpoch: adopted ? NEW_EPOCH : OLD_EPOCH,
      flags: odown ? ['master', 's_down', 'o_down'] : ['master'],
      failoverState: leading ? 'wait_promotion' : 'none',
      numOtherSentinels: 2,
      quorum: 2,
    };
  }
  async myId(sentinel: Endpoint, timeoutMs: number): Promise<string> {
    await this.world.reach(sentinel.host, timeoutMs, 'Sentinel');
    return runIdOf(sentinel);
  }
  /** A live Sentinel holds its vote for the leader from the election until it adopts the new master. */
  async vote(sentinel: Endpoint, master: Endpoint, timeoutMs: number) {
    await this.world.reach(sentinel.host, timeoutMs, 'Sentinel');
    const c = this.world.clusterAt(sentinel.host);
    const now = Date.now();
    const adopted = (c.switchAt.get(formatEndpoint(sentinel)) ?? Infinity) <= now;
    if (!c.failsOver || (c.electedAt ?? Infinity) > now || adopted || !sameEndpoint(master, c.oldMaster))
      return undefined;
    return { leaderRunId: runIdOf(c.leader), epoch: NEW_EPOCH };
  }
  async checkQuorum(sentinel: Endpoint, _m: string, timeoutMs: number): Promise<string | undefined> {
    await this.world.reach(sentinel.host, timeoutMs, 'Sentinel');
    return undefined;
  }
  async replicasView(sentinel: Endpoint, _m: string, timeoutMs: number) {
    await this.world.reach(sentinel.host, timeoutMs, 'Sentinel');
    return [];
  }
  async failover(sentinel: Endpoint, _m: string, timeoutMs: number): Promise<'ok' | string> {
    await this.world.reach(sentinel.host, timeoutMs, 'Sentinel');
    return 'INPROG';
  }
  async inTilt(sentinel: Endpoint, timeoutMs: number): Promise<boolean> {
    await this.world.reach(sentinel.host, timeoutMs, 'Sentinel');
    return false;
  }
}

export { runIdOf };

/** Redis nodes: the promoted replica answers ROLE master from its promotion; a node in the lost AZ answers nothing. */
export class SimRedis implements RedisNodes {
  private readonly world: FleetWorld;
  constructor(world: FleetWorld) {
    this.world = world;
  }
  private isMaster(node: Endpoint): boolean {
    const c = this.world.clusterAt(node.host);
    if (sameEndpoint(node, c.newMaster)) return (c.promotedAt ?? Infinity) <= Date.now();
    return sameEndpoint(node, c.oldMaster);
  }
  async role(node: Endpoint, timeoutMs: number) {
    await this.world.reach(node.host, timeoutMs, 'Redis');
    return this.isMaster(node) ? ('master' as const) : ('slave' as const);
  }
  async replication(node: Endpoint, timeoutMs: number): Promise<ReplicationInfo> {
    await this.world.reach(node.host, timeoutMs, 'Redis');
    const c = this.world.clusterAt(node.host);
    return this.isMaster(node)
      ? { role: 'master', offset: 1200, replicas: [] }
      : { role: 'slave', offset: 1200, master: c.newMaster, linkUp: true };
  }
  async replicaOf(node: Endpoint, _master: Endpoint, timeoutMs: number) {
    await this.world.reach(node.host, timeoutMs, 'Redis');
  }
  async promoteSelected(node: Endpoint): Promise<void> {
    throw new Error(`the fleet simulation runs no switchover (asked to promote ${node.host}:${node.port})`);
  }
  async pauseWrites(node: Endpoint, _ms: number, timeoutMs: number) {
    await this.world.reach(node.host, timeoutMs, 'Redis');
  }
  async unpause(node: Endpoint, timeoutMs: number) {
    await this.world.reach(node.host, timeoutMs, 'Redis');
  }
  async replicaPriority(node: Endpoint, timeoutMs: number) {
    await this.world.reach(node.host, timeoutMs, 'Redis');
    return 100;
  }
  async setReplicaPriority(node: Endpoint, _p: number, timeoutMs: number) {
    await this.world.reach(node.host, timeoutMs, 'Redis');
  }
  async read(node: Endpoint, key: string, timeoutMs: number) {
    await this.world.reach(node.host, timeoutMs, 'Redis');
    return key;
  }
  async probeWrite(node: Endpoint, timeoutMs: number) {
    await this.world.reach(node.host, timeoutMs, 'Redis');
    return this.isMaster(node) ? ('accepted' as const) : ('readonly' as const);
  }
  async probeConnect(node: Endpoint, timeoutMs: number) {
    if (this.world.lost(node.host)) {
      await sleep(timeoutMs);
      return 'timeout' as const;
    }
    return 'accepted' as const;
  }
  async aofEnabled(node: Endpoint, timeoutMs: number) {
    await this.world.reach(node.host, timeoutMs, 'Redis');
    return true;
  }
  async canaryThroughProxy(proxy: ProxyConfig, _l: 'plain' | 'tls', expected: Endpoint, timeoutMs: number) {
    await this.world.reach(proxy.host, timeoutMs, 'HAProxy');
    const c = this.world.clusterAt(expected.host);
    const routed = this.world.routedAt.get(c.config.name)?.has(proxy.id);
    if (!routed)
      throw new Error(`canary through ${proxy.id} reached a node that is not ${formatEndpoint(expected)}`);
    const key = `canary:${c.config.name}:${proxy.id}`;
    return { key, value: key };
  }
}

/** HAProxy's Runtime API: a live proxy answers in about a millisecond; one in the lost AZ times out (1 s). */
export class SimRouter implements Router {
  private readonly routes = new Map<string, Endpoint>();
  private readonly world: FleetWorld;
  private readonly timeoutMs: number;
  constructor(world: FleetWorld, timeoutMs = 1000) {
    this.world = world;
    this.timeoutMs = timeoutMs;
  }
  private key(proxy: ProxyConfig) {
    return proxy.host;
  }
  async pointMasterAt(proxy: ProxyConfig, node: Endpoint): Promise<void> {
    this.world.runtimeApiCalls += 1;
    await this.world.reach(proxy.host, this.timeoutMs, 'HAProxy Runtime API');
    this.routes.set(this.key(proxy), node);
    const c = this.world.clusterAt(node.host);
    if (sameEndpoint(node, c.newMaster)) {
      const routed = this.world.routedAt.get(c.config.name) ?? new Map<string, number>();
      if (!routed.has(proxy.id)) routed.set(proxy.id, Date.now());
      this.world.routedAt.set(c.config.name, routed);
    }
  }
  async blockMaster(proxy: ProxyConfig): Promise<void> {
    await this.world.reach(proxy.host, this.timeoutMs, 'HAProxy Runtime API');
  }
  async masterRoute(proxy: ProxyConfig): Promise<{ address: Endpoint; state: string }> {
    this.world.runtimeApiCalls += 1;
    await this.world.reach(proxy.host, this.timeoutMs, 'HAProxy Runtime API');
    const address = this.routes.get(this.key(proxy)) ?? this.world.clusterAt(proxy.host).oldMaster;
    if (!address) throw new Error(`proxy ${proxy.id} at ${proxy.host} has no route`);
    return { address, state: 'ready' };
  }
}

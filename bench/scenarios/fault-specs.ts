/**
 * The master-fault scenarios' specs and systems under test: how each system's writers reach the master
 * (ha-redis through its HAProxies; the baselines through a Sentinel-aware client or the two HAProxy recipes of
 * baseline-proxies.ts), and which systems each fault measures with which Redis settings.
 */

import type { Descriptor } from '../../config/local-descriptor.ts';
import { HaRedisError } from '../../core/model/errors.ts';
import type { LoadTarget } from '../../local/load.ts';
import type { BaselineProxy } from '../baseline-proxies.ts';

export type Fault = 'kill' | 'zombie' | 'restart';
/**
 * ha-redis reacts on its own cluster; ha-redis with a node agent per node (the fast path) on another; the
 * baselines share one where the orchestrator is stopped.
 */
export type Group = 'ha-redis' | 'ha-redis-agent' | 'baselines';

/** A system under test: how its writers reach the master. */
export interface SystemUnderTest {
  system: string;
  group: Group;
  target(d: Descriptor, ca: string, baselines: readonly BaselineProxy[]): LoadTarget;
  /** Writers count an ack only once WAIT says this many replicas have the write. */
  ackReplicas?: number;
}

const proxy = (d: Descriptor, index: number) => {
  const p = d.proxies[index];
  if (!p) throw new HaRedisError(`the cluster has no proxy #${index + 1}`);
  return p;
};

const baselineProxy = (baselines: readonly BaselineProxy[], kind: BaselineProxy['kind']): LoadTarget => {
  const p = baselines.find((b) => b.kind === kind);
  if (!p) throw new HaRedisError(`the baseline proxy ${kind} is not running`);
  return { kind: 'direct', endpoint: { host: p.host, port: p.port } };
};

const HA_REDIS: SystemUnderTest = {
  system: 'ha-redis',
  group: 'ha-redis',
  target: (d) => ({ kind: 'direct', endpoint: { host: proxy(d, 0).host, port: proxy(d, 0).plainPort } }),
};
const HA_REDIS_TLS: SystemUnderTest = {
  system: 'ha-redis-tls',
  group: 'ha-redis',
  target: (d, ca) => ({
    kind: 'direct',
    endpoint: { host: proxy(d, 1).host, port: proxy(d, 1).tlsPort },
    tlsCa: ca,
  }),
};
/** The same proxy, with writes acknowledged by WAIT 1: what a client that needs durability sees. */
const HA_REDIS_WAIT1: SystemUnderTest = { ...HA_REDIS, system: 'ha-redis-wait1', ackReplicas: 1 };
/** The same, on a cluster with a node agent per node: a dead master's exit is reported at once (the fast path). */
const HA_REDIS_AGENT: SystemUnderTest = { ...HA_REDIS, system: 'ha-redis+agent', group: 'ha-redis-agent' };
const HA_REDIS_AGENT_WAIT1: SystemUnderTest = {
  ...HA_REDIS_AGENT,
  system: 'ha-redis+agent-wait1',
  ackReplicas: 1,
};
const BASELINES: readonly SystemUnderTest[] = [
  {
    system: 'sentinel-ioredis',
    group: 'baselines',
    target: (d) => ({
      kind: 'sentinel',
      sentinels: d.sentinels.map((s) => ({ host: s.host, port: s.port })),
      masterName: d.masterName,
    }),
  },
  {
    system: 'haproxy-sentinels',
    group: 'baselines',
    target: (_d, _ca, b) => baselineProxy(b, 'haproxy-sentinels'),
  },
  { system: 'haproxy-role', group: 'baselines', target: (_d, _ca, b) => baselineProxy(b, 'haproxy-role') },
];

export interface FaultSpec {
  name: string;
  description: string;
  fault: Fault;
  /** Set min-replicas-to-write 0 (Sentinel's default) on every node before the run. */
  plainSettings: boolean;
  systems: readonly SystemUnderTest[];
}

export const KILL_MASTER: FaultSpec = {
  name: 'kill-master',
  description: 'kill -9 the master under write load',
  fault: 'kill',
  plainSettings: false,
  systems: [HA_REDIS, HA_REDIS_TLS, HA_REDIS_WAIT1, HA_REDIS_AGENT, HA_REDIS_AGENT_WAIT1, ...BASELINES],
};
export const ZOMBIE_MASTER: FaultSpec = {
  name: 'zombie-master',
  description: 'SIGSTOP the master past the failover, then SIGCONT: the old master comes back as a zombie',
  fault: 'zombie',
  plainSettings: true,
  systems: [HA_REDIS, ...BASELINES],
};
export const RESTART_OLD_MASTER: FaultSpec = {
  name: 'restart-old-master',
  description: 'kill -9 the master, fail over, then start the old master again while clients reconnect',
  fault: 'restart',
  plainSettings: true,
  systems: [HA_REDIS, ...BASELINES],
};

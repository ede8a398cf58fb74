import { describe, expect, it } from 'vitest';
import { type DoctorFacts, denyScriptsReconfigOf, doctorChecks } from '../../cli/commands/doctor.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import {
  buildStatusReport,
  DEFAULT_MAX_LAG_BYTES,
  type NodeObservation,
  type SentinelObservation,
  type StatusObservations,
} from '../../core/status/report.ts';

const n1: Endpoint = { host: '127.0.0.1', port: 7001 };
const n2: Endpoint = { host: '127.0.0.1', port: 7002 };
const n3: Endpoint = { host: '127.0.0.1', port: 7003 };
const s = (port: number): Endpoint => ({ host: '127.0.0.1', port });

const sentinel = (port: number, master: Endpoint, epoch: number, tilt = false): SentinelObservation => ({
  answer: {
    ok: true,
    view: {
      sentinel: s(port),
      master,
      configEpoch: epoch,
      flags: ['master'],
      failoverState: 'none',
      numOtherSentinels: 2,
      quorum: 2,
    },
  },
  tilt,
});

const replica = (id: string, address: Endpoint, offset: number): NodeObservation => ({
  id,
  address,
  reachable: true,
  role: 'slave',
  offset,
  master: n1,
  linkUp: true,
  replicaPriority: 100,
  aofEnabled: true,
});

/** A healthy cluster: n1 master, n2 and n3 replicas in step, 3 Sentinels agree, 2 proxies route to n1. */
function healthy(): StatusObservations {
  return {
    cluster: 'c1',
    observedAt: 1_000_000,
    sentinelsConfigured: 3,
    nodes: [
      {
        id: 'redis-1',
        address: n1,
        reachable: true,
        role: 'master',
        offset: 5000,
        replicaPriority: 100,
        aofEnabled: true,
      },
      replica('redis-2', n2, 5000),
      replica('redis-3', n3, 4990),
    ],
    sentinels: [sentinel(26001, n1, 3), sentinel(26002, n1, 3), sentinel(26003, n1, 3)],
    proxies: [
      { id: 'haproxy-1', route: { address: n1, state: 'ready' } },
      { id: 'haproxy-2', route: { address: n1, state: 'ready' } },
    ],
    dns: { master: n1, epoch: 3 },
  };
}

const report = (obs: StatusObservations, maxLagBytes = DEFAULT_MAX_LAG_BYTES) =>
  buildStatusReport(obs, { maxLagBytes });

describe('buildStatusReport', () => {
  it('reports a healthy cluster with the master, its epoch and each replica lag', () => {
    const r = report(healthy());

    expect(r.healthy).toBe(true);
    expect(r.reasons).toEqual([]);
    expect(r.master).toEqual({ id: 'redis-1', address: n1, epoch: 3 });
    expect(r.nodes.map((n) => n.lagBytes)).toEqual([undefined, 0, 10]);
    expect(r.proxies.every((p) => p.pointsAtMaster)).toBe(true);
    expect(r.dns).toEqual({ master: n1, epoch: 3, pointsAtMaster: true });
  });

  it('is unhealthy when a Sentinel names another master, and names the dissenter', () => {
    const obs = healthy();
    obs.sentinels[2] = sentinel(26003, n2, 4);

    const r = report(obs);

    expect(r.healthy).toBe(false);
    expect(r.reasons).toEqual([
      expect.stringMatching(/Sentinels disagree: 127\.0\.0\.1:26003 names redis-2 at epoch 4/),
    ]);
  });

  it('is unhealthy when no majority of the configured Sentinels answers', () => {
    const obs = healthy();
    obs.sentinels = [
      sentinel(26001, n1, 3),
      { answer: { ok: false, sentinel: s(26002), error: 'timed out' } },
      { answer: { ok: false, sentinel: s(26003), error: 'timed out' } },
    ];

    const r = report(obs);

    expect(r.healthy).toBe(false);
    expect(r.reasons[0]).toMatch(/no Sentinel majority: 1 of 3 answered, 2 must agree/);
  });

  it('is unhealthy when a proxy routes to a replica', () => {
    const obs = healthy();
    obs.proxies[1] = { id: 'haproxy-2', route: { address: n2, state: 'ready' } };

    const r = report(obs);

    expect(r.healthy).toBe(false);
    expect(r.reasons).toEqual(['proxy haproxy-2 routes to redis-2, not to the master redis-1']);
  });

  it('is unhealthy when a proxy has its master server in maint', () => {
    const obs = healthy();
    obs.proxies[0] = { id: 'haproxy-1', route: { address: n1, state: 'maint' } };

    const r = report(obs);

    expect(r.healthy).toBe(false);
    expect(r.reasons).toEqual(['proxy haproxy-1 has its master server in maint']);
  });

  it('is unhealthy when a replica is down', () => {
    const obs = healthy();
    obs.nodes[2] = { id: 'redis-3', address: n3, reachable: false, error: 'ECONNREFUSED' };

    const r = report(obs);

    expect(r.healthy).toBe(false);
    expect(r.reasons).toEqual(['replica redis-3 is down: ECONNREFUSED']);
  });

  it('is unhealthy when a replica replicates from another node', () => {
    const obs = healthy();
    obs.nodes[2] = { ...replica('redis-3', n3, 5000), master: n2 };

    const r = report(obs);

    expect(r.reasons).toEqual(['replica redis-3 replicates from redis-2, not from the master redis-1']);
  });

  it('is unhealthy when a replica lags beyond the bound, and healthy within it', () => {
    const obs = healthy();
    obs.nodes[1] = replica('redis-2', n2, 1000);

    expect(report(obs, 3999).reasons).toEqual([
      'replica redis-2 is 4000 bytes behind the master (limit 3999)',
    ]);
    expect(report(obs, 4000).healthy).toBe(true);
  });

  it('warns, without failing, about a Sentinel in TILT, a stale DNS record and AOF off', () => {
    const obs = healthy();
    obs.sentinels[0] = sentinel(26001, n1, 3, true);
    obs.dns = { master: n2, epoch: 2 };
    obs.nodes[1] = { ...replica('redis-2', n2, 5000), aofEnabled: false };

    const r = report(obs);

    expect(r.healthy).toBe(true);
    expect(r.warnings).toEqual([
      'Sentinel 127.0.0.1:26001 is in TILT; its view is not trusted (not counted) until it leaves',
      'redis-2 has AOF off',
      'DNS names redis-2, not the master redis-1',
    ]);
  });

  it('shows a lease only while it is held', () => {
    const obs = healthy();
    obs.lease = { owner: 'cli:ops', purpose: 'switchover', until: obs.observedAt + 1 };
    expect(report(obs).lease?.owner).toBe('cli:ops');

    obs.lease.until = obs.observedAt - 1;
    expect(report(obs).lease).toBeUndefined();
  });
});

describe('doctorChecks', () => {
  const facts = (): DoctorFacts => ({
    sentinelsConfigured: 3,
    sentinels: [{ address: '127.0.0.1:26001', quorum: 2, downAfterMs: 5000 }],
    nodes: [
      { id: 'redis-1', role: 'master', minReplicasToWrite: 1, appendonly: true, replicaPriority: 100 },
      {
        id: 'redis-2',
        role: 'slave',
        minReplicasToWrite: 1,
        appendonly: true,
        replicaPriority: 100,
        configHasReplicaOf: true,
      },
    ],
    proxies: [{ id: 'haproxy-1', hasRoleMasterCheck: false }],
  });

  it('passes every check of a well-configured cluster', () => {
    expect(doctorChecks(facts()).every((c) => c.level === 'pass')).toBe(true);
  });

  it('warns about a clock more than 500 ms off, either way, and passes one within', () => {
    // Arrange
    const f = facts();
    f.sentinels[0] = { ...(f.sentinels[0] as DoctorFacts['sentinels'][number]), clockSkewMs: -1200 };
    (f.nodes[0] as DoctorFacts['nodes'][number]).clockSkewMs = 40;
    (f.nodes[1] as DoctorFacts['nodes'][number]).clockSkewMs = 501;

    // Act
    const clocks = doctorChecks(f).filter((c) => c.id === 'clock');

    // Assert
    expect(clocks.map((c) => [c.level, c.check])).toEqual([
      ['warn', 'Sentinel 127.0.0.1:26001 clock within 500 ms of this host (-1200 ms)'],
      ['pass', 'node redis-1 clock within 500 ms of this host (+40 ms)'],
      ['warn', 'node redis-2 clock within 500 ms of this host (+501 ms)'],
    ]);
    expect(clocks[0]?.fix).toMatch(/chrony or NTP/);
  });

  it('fails an even Sentinel count, a wrong quorum, AOF off, a missing replicaof and a role:master check', () => {
    const f = facts();
    f.sentinelsConfigured = 4;
    f.nodes[1] = {
      ...(f.nodes[1] as DoctorFacts['nodes'][number]),
      appendonly: false,
      configHasReplicaOf: false,
    };
    f.proxies[0] = { id: 'haproxy-1', hasRoleMasterCheck: true };

    const failed = doctorChecks(f).filter((c) => c.level === 'fail');

    expect(failed.map((c) => c.check)).toEqual([
      '4 Sentinels (need >= 3 and odd)',
      'Sentinel 127.0.0.1:26001 quorum 2 = majority 3',
      'redis-2 AOF on',
      'redis-2 config file has a replicaof line',
      "proxy haproxy-1 has no 'tcp-check expect string role:master'",
    ]);
    expect(failed.every((c) => c.fix)).toBe(true);
  });

  it('warns about a slow down-after-milliseconds and a replica-priority of 0', () => {
    const f = facts();
    f.sentinels[0] = { address: '127.0.0.1:26001', quorum: 2, downAfterMs: 60_000 };
    f.nodes[1] = { ...(f.nodes[1] as DoctorFacts['nodes'][number]), replicaPriority: 0 };

    const warned = doctorChecks(f).filter((c) => c.level === 'warn');

    expect(warned.map((c) => c.check)).toEqual([
      'Sentinel 127.0.0.1:26001 down-after-milliseconds 60000 <= 30000',
      'redis-2 replica-priority 0 is not 0',
    ]);
  });
  const full = (): DoctorFacts => {
    const f = facts();
    const sentinel = {
      address: '127.0.0.1:26001',
      quorum: 2,
      downAfterMs: 5000,
      failoverTimeoutMs: 60_000,
      version: '7.0.15',
      configHasRequirepass: true,
      denyScriptsReconfig: true,
    };
    f.sentinels = [sentinel, { ...sentinel, address: '127.0.0.1:26002' }];
    f.nodes = f.nodes.map((n) => ({ ...n, minReplicasMaxLag: 10, requirepassSet: true, version: '7.0.15' }));
    f.proxies = [{ id: 'haproxy-1', hasRoleMasterCheck: false, hasTlsPort: true }];
    return f;
  };

  it('passes every added check of a fully described, well-configured cluster', () => {
    const checks = doctorChecks(full());

    expect(checks.filter((c) => c.level !== 'pass')).toEqual([]);
    expect(new Set(checks.map((c) => c.id))).toEqual(
      new Set([
        'sentinel-count',
        'quorum',
        'down-after',
        'failover-timeout',
        'sentinel-password',
        'deny-scripts-reconfig',
        'min-replicas-to-write',
        'min-replicas-max-lag',
        'aof',
        'redis-password',
        'replica-priority',
        'replicaof-in-config',
        'proxy-fails-closed',
        'proxy-tls',
        'redis-version',
        'sentinel-version',
      ]),
    );
  });

  it('fails missing passwords, deny-scripts-reconfig no, no TLS port and min-replicas-max-lag 0', () => {
    const f = full();
    f.sentinels[0] = { ...(f.sentinels[0] as DoctorFacts['sentinels'][number]), configHasRequirepass: false };
    f.sentinels[1] = { ...(f.sentinels[1] as DoctorFacts['sentinels'][number]), denyScriptsReconfig: false };
    f.nodes[0] = {
      ...(f.nodes[0] as DoctorFacts['nodes'][number]),
      requirepassSet: false,
      minReplicasMaxLag: 0,
    };
    f.proxies[0] = { id: 'haproxy-1', hasRoleMasterCheck: false, hasTlsPort: false };

    const failed = doctorChecks(f).filter((c) => c.level === 'fail');

    expect(failed.map((c) => c.id)).toEqual([
      'sentinel-password',
      'deny-scripts-reconfig',
      'min-replicas-max-lag',
      'redis-password',
      'proxy-tls',
    ]);
    expect(failed.every((c) => c.fix)).toBe(true);
  });

  it('warns about a too-short down-after, a short failover-timeout, a long max-lag and mixed versions', () => {
    const f = full();
    f.sentinels[0] = {
      ...(f.sentinels[0] as DoctorFacts['sentinels'][number]),
      downAfterMs: 500,
      failoverTimeoutMs: 800,
      version: '7.2.4',
    };
    f.nodes[1] = { ...(f.nodes[1] as DoctorFacts['nodes'][number]), minReplicasMaxLag: 30, version: '6.2.0' };

    const warned = doctorChecks(f).filter((c) => c.level === 'warn');

    expect(warned.map((c) => c.check)).toEqual([
      'Sentinel 127.0.0.1:26001 down-after-milliseconds 500 >= 1000',
      'Sentinel 127.0.0.1:26001 failover-timeout 800 >= 2 x down-after-milliseconds',
      'redis-2 min-replicas-max-lag 30 <= 10',
      'Redis versions equal (7.0.15, 6.2.0)',
      'Sentinel versions equal (7.2.4, 7.0.15)',
    ]);
    expect(doctorChecks(f).some((c) => c.level === 'fail')).toBe(false);
  });

  it('lists the file checks as skipped, and judges nothing of the files, when they were not read', () => {
    // Arrange: what doctor --config gathers (no config file facts).
    const f = facts();
    f.filesRead = false;
    f.nodes = f.nodes.map(({ configHasReplicaOf: _, ...n }) => n);
    f.proxies = [{ id: 'haproxy-1', hasTlsPort: true }];

    // Act
    const checks = doctorChecks(f);

    // Assert
    expect(checks.filter((c) => c.level === 'warn' || c.level === 'fail')).toEqual([]);
    expect(checks.filter((c) => c.level === 'skip').map((c) => c.id)).toEqual([
      'sentinel-password',
      'deny-scripts-reconfig',
      'replicaof-in-config',
      'proxy-fails-closed',
    ]);
    expect(checks.filter((c) => c.level === 'skip').every((c) => c.fix?.startsWith('on each'))).toBe(true);
  });

  it('reads deny-scripts-reconfig from a Sentinel config file: absent is yes, the last line wins', () => {
    expect(denyScriptsReconfigOf('port 26379\n')).toBe(true);
    expect(denyScriptsReconfigOf('sentinel deny-scripts-reconfig yes\n')).toBe(true);
    expect(denyScriptsReconfigOf('port 1\nsentinel deny-scripts-reconfig no\n')).toBe(false);
    expect(
      denyScriptsReconfigOf('sentinel deny-scripts-reconfig no\nsentinel deny-scripts-reconfig yes\n'),
    ).toBe(true);
  });
});

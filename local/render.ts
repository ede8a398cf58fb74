/** Config files of the local cluster's real processes. */

/**
 * A TLS-only Redis or Sentinel (as the seed runs them): `port 0`, its port a `tls-port`, clients must present a
 * certificate of the CA (`tls-auth-clients yes`), and its own links (replication; a Sentinel's links to nodes and
 * other Sentinels) are TLS too. Its certificate serves both ends, so it needs serverAuth and clientAuth.
 */
export interface TlsListenerConf {
  certPath: string;
  keyPath: string;
  caPath: string;
}

/** The listener lines: plain `port`, or TLS only. */
function listenerLines(port: number, tls: TlsListenerConf | undefined): string[] {
  if (!tls) return [`port ${port}`];
  return [
    'port 0',
    `tls-port ${port}`,
    `tls-cert-file ${tls.certPath}`,
    `tls-key-file ${tls.keyPath}`,
    `tls-ca-cert-file ${tls.caPath}`,
    'tls-auth-clients yes',
    'tls-replication yes',
  ];
}

export interface RedisConfInput {
  port: number;
  dir: string;
  password: string;
  /** The master to replicate from; undefined for the initial master. */
  replicaOf?: { host: string; port: number };
  /** How many replicas must be connected for the master to accept writes (default 1; 0 turns the check off). */
  minReplicasToWrite?: number;
  minReplicasMaxLag: number;
  /** The address to listen on (default 127.0.0.1). */
  bind?: string;
  /** TLS only, on `port` (absent: plain TCP). */
  tls?: TlsListenerConf;
}

/**
 * A process bound to a loopback address other than 127.0.0.1 (a host of a host set without namespaces) connects
 * out from that address and announces it. Otherwise a replica's link to its master leaves from 127.0.0.1, the
 * master lists it there, and Sentinels look for it (and for each other) where nothing listens. In a network
 * namespace the host's one address is the source already, and nothing is added.
 */
function ownAddress(bind: string | undefined, announce: string): string[] {
  return bind?.startsWith('127.') && bind !== '127.0.0.1'
    ? [`bind-source-addr ${bind}`, `${announce} ${bind}`]
    : [];
}

/**
 * Redis: AOF on; an isolated master refuses writes (min-replicas-*); a replica carries a `replicaof` line,
 * so a node restarted by hand comes back read-only.
 */
export function renderRedisConf(i: RedisConfInput): string {
  return [
    `bind ${i.bind ?? '127.0.0.1'}`,
    ...listenerLines(i.port, i.tls),
    'daemonize no',
    `pidfile ${i.dir}/redis.pid`,
    `logfile ${i.dir}/redis.log`,
    `dir ${i.dir}/data`,
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    `requirepass ${i.password}`,
    `masterauth ${i.password}`,
    `min-replicas-to-write ${i.minReplicasToWrite ?? 1}`,
    `min-replicas-max-lag ${i.minReplicasMaxLag}`,
    'replica-read-only yes',
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
    // A replica that reconnects within a few seconds at tens of MB/s of writes (one cut by Sentinel's own
    // promotion command, see the switchover) resyncs from the backlog; Redis's default 1 MB holds ~25 ms.
    'repl-backlog-size 128mb',
    ...(i.replicaOf ? [`replicaof ${i.replicaOf.host} ${i.replicaOf.port}`] : []),
    ...ownAddress(i.bind, 'replica-announce-ip'),
    '',
  ].join('\n');
}

export interface SentinelConfInput {
  port: number;
  dir: string;
  password: string;
  masterName: string;
  master: { host: string; port: number };
  quorum: number;
  downAfterMs: number;
  failoverTimeoutMs: number;
  /** The address to listen on (default 127.0.0.1). */
  bind?: string;
  /** TLS only, on `port`; the nodes it monitors are reached over TLS too (absent: plain TCP). */
  tls?: TlsListenerConf;
}

export function renderSentinelConf(i: SentinelConfInput): string {
  return renderSharedSentinelConf({
    ...i,
    bind: i.bind ?? '127.0.0.1',
    masters: [{ masterName: i.masterName, master: i.master }],
  });
}

export interface SharedSentinelConfInput {
  port: number;
  dir: string;
  password: string;
  bind: string;
  /** Every service's master, by the name Sentinel monitors it under. */
  masters: { masterName: string; master: { host: string; port: number } }[];
  quorum: number;
  downAfterMs: number;
  failoverTimeoutMs: number;
  tls?: TlsListenerConf;
}

/** One Sentinel on a host that monitors every service's master (the `shared` layout). */
export function renderSharedSentinelConf(i: SharedSentinelConfInput): string {
  return [
    `bind ${i.bind}`,
    ...listenerLines(i.port, i.tls),
    'daemonize no',
    `pidfile ${i.dir}/sentinel.pid`,
    `logfile ${i.dir}/sentinel.log`,
    `dir ${i.dir}`,
    `requirepass ${i.password}`,
    `sentinel sentinel-pass ${i.password}`,
    ...ownAddress(i.bind, 'sentinel announce-ip'),
    ...i.masters.flatMap(({ masterName, master }) => [
      `sentinel monitor ${masterName} ${master.host} ${master.port} ${i.quorum}`,
      `sentinel auth-pass ${masterName} ${i.password}`,
      `sentinel down-after-milliseconds ${masterName} ${i.downAfterMs}`,
      `sentinel failover-timeout ${masterName} ${i.failoverTimeoutMs}`,
      `sentinel parallel-syncs ${masterName} 1`,
    ]),
    '',
  ].join('\n');
}

export interface HaproxyConfInput {
  dir: string;
  plainPort: number;
  tlsPort: number;
  socketPath: string;
  stateFilePath: string;
  pemPath: string;
  /** The Runtime API over TLS on loopback, for clients that present a certificate of this CA (the AWS way). */
  apiTls?: { port: number; caPath: string };
  backend: string;
  server: string;
  master: { host: string; port: number };
  /** The address the listeners bind (default 127.0.0.1). */
  bind?: string;
  /**
   * The classic setup without ha-redis, for comparison: every node is a server, and a `role:master` health
   * check decides where clients go. The config then holds the password: write it mode 600.
   */
  roleCheck?: { password: string; nodes: { id: string; host: string; port: number }[] };
}

/**
 * HAProxy fails closed: one master server slot, no `role:master` health check, so it routes only where
 * the orchestrator points it. The server-state file keeps runtime changes across a reload.
 */
export function renderHaproxyConf(i: HaproxyConfInput): string {
  const bind = i.bind ?? '127.0.0.1';
  return [
    ...haproxyPreamble(i),
    'frontend redis_plain',
    `    bind ${bind}:${i.plainPort}`,
    `    default_backend ${i.backend}`,
    '',
    'frontend redis_tls',
    `    bind ${bind}:${i.tlsPort} ssl crt ${i.pemPath}`,
    `    default_backend ${i.backend}`,
    '',
    `backend ${i.backend}`,
    ...(i.roleCheck
      ? roleCheckServers(i.roleCheck)
      : [`    server ${i.server} ${i.master.host}:${i.master.port}`]),
    '',
  ].join('\n');
}

/** The global and defaults sections, and the Runtime API over TLS: what every HAProxy config here starts with. */
export function haproxyPreamble(
  i: Pick<HaproxyConfInput, 'socketPath' | 'stateFilePath' | 'pemPath' | 'apiTls' | 'bind'>,
): string[] {
  const bind = i.bind ?? '127.0.0.1';
  return [
    'global',
    `    stats socket ${i.socketPath} mode 600 level admin`,
    // The orchestrator keeps a session per proxy for up to a second after its last command (HaproxyRouter);
    // on AWS each warm Lambda environment may hold one: more than the default 10 (README, "Before deploying").
    '    stats maxconn 100',

    `    server-state-file ${i.stateFilePath}`,
    '    maxconn 4096',
    // After a reload the old worker keeps its client sessions, and a later `shutdown sessions` on the stats
    // socket reaches only the new worker: bound how long an old worker (and its route) can live.
    '    hard-stop-after 10s',
    '',
    'defaults',
    '    mode tcp',
    '    timeout connect 500ms',
    // No retry of a failed backend connect: the client reconnects and lands wherever the orchestrator points now.
    '    retries 0',
    '    timeout client 1h',
    '    timeout server 1h',
    '    load-server-state-from-file global',
    '',
    // The Runtime API over TLS: HAProxy's CLI speaks no TLS itself, so a TCP listener terminates it (client
    // certificate required) in front of the admin socket, as on a host reached from a Lambda.
    ...(i.apiTls
      ? [
          'listen runtime_api_tls',
          `    bind ${bind}:${i.apiTls.port} ssl crt ${i.pemPath} ca-file ${i.apiTls.caPath} verify required`,
          `    server admin unix@${i.socketPath}`,
          '',
        ]
      : []),
  ];
}

/**
 * The widespread HAProxy-in-front-of-Sentinel recipe: route to any node whose `INFO replication` says
 * `role:master`, checked every 500 ms; sessions on a node marked down are cut, so clients reconnect.
 */
function roleCheckServers(check: NonNullable<HaproxyConfInput['roleCheck']>): string[] {
  return [
    '    option tcp-check',
    '    tcp-check connect',
    `    tcp-check send AUTH\\ ${check.password}\\r\\n`,
    '    tcp-check expect string +OK',
    '    tcp-check send PING\\r\\n',
    '    tcp-check expect string +PONG',
    '    tcp-check send info\\ replication\\r\\n',
    '    tcp-check expect string role:master',
    '    tcp-check send QUIT\\r\\n',
    '    tcp-check expect string +OK',
    '    default-server check inter 500ms on-marked-down shutdown-sessions',
    ...check.nodes.map((n) => `    server ${n.id} ${n.host}:${n.port}`),
  ];
}

/**
 * The two HAProxy set-ups teams build by hand around Sentinel, started beside a local cluster as baselines.
 * Neither is rerouted by anybody: each follows the cluster through its own health checks, every 500 ms.
 * - `haproxy-sentinels` (the classic "ask the Sentinels"): a connection goes to the node that at least 2 of the
 *   3 Sentinels name in `SENTINEL GET-MASTER-ADDR-BY-NAME`. One check backend per (node, Sentinel) pair asks that
 *   Sentinel and expects the node's port in the answer; the frontend picks the node with 2 passing checks.
 * - `haproxy-role` (the plain `role:master` check): every node is a server, checked with `INFO replication`
 *   expecting `role:master`; `balance first`, so connections go to the first node that passes.
 * Both are what the published recipes give: no `on-marked-down shutdown-sessions`, so an open connection stays
 * where it was until it breaks.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from '../config/local-descriptor.ts';
import { HaRedisError } from '../core/model/errors.ts';
import { freePorts, startDetached, stopProcess, waitForPort } from '../local/processes.ts';

/** Health check period and thresholds of both baselines: a failed check marks down within ~1 s. */
const CHECK = 'check inter 500ms rise 1 fall 2';

export type BaselineProxyKind = 'haproxy-sentinels' | 'haproxy-role';

export interface BaselineProxy {
  kind: BaselineProxyKind;
  host: string;
  port: number;
  pid: number;
  configPath: string;
}

/** The global and defaults sections of a baseline HAProxy (also the host-failure scenario's, one per host). */
export const baselinePreamble = (): string[] => [
  'global',
  '    maxconn 4096',
  '',
  'defaults',
  '    mode tcp',
  '    timeout connect 500ms',
  '    timeout check 500ms',
  '    timeout client 1h',
  '    timeout server 1h',
  '',
];

const header = (port: number) => [...baselinePreamble(), 'frontend redis', `    bind 127.0.0.1:${port}`];

/** RESP inline commands as a tcp-check sends them (spaces escaped, CRLF). */
const send = (command: string) => `    tcp-check send ${command.replaceAll(' ', '\\ ')}\\r\\n`;

/** The classic Sentinel-asking config: a node is the route when at least 2 of the 3 Sentinels name it. */
export function renderSentinelsConfig(d: Descriptor, password: string, port: number): string {
  if (d.sentinels.length !== 3) throw new HaRedisError('the Sentinel-asking baseline expects 3 Sentinels');
  const lines = [...header(port)];
  const pairs = [
    [0, 1],
    [0, 2],
    [1, 2],
  ] as const;
  for (const [n, node] of d.nodes.entries()) {
    for (const s of d.sentinels.keys()) lines.push(`    acl n${n}_s${s} nbsrv(chk_n${n}_s${s}) ge 1`);
    const agree = pairs.map(([a, b]) => `n${n}_s${a} n${n}_s${b}`).join(' || ');
    lines.push(`    use_backend node_${n} if ${agree}`, `    # node_${n}: ${node.id}`);
  }
  lines.push('');
  for (const [n, node] of d.nodes.entries()) {
    lines.push(`backend node_${n}`, `    server ${node.id} ${node.host}:${node.port}`, '');
    for (const [s, sentinel] of d.sentinels.entries()) {
      lines.push(
        `backend chk_n${n}_s${s}`,
        '    option tcp-check',
        send(`AUTH ${password}`),
        '    tcp-check expect string +OK',
        send(`SENTINEL get-master-addr-by-name ${d.masterName}`),
        `    tcp-check expect string ${node.port}`,
        send('QUIT'),
        `    server ${sentinel.id} ${sentinel.host}:${sentinel.port} ${CHECK}`,
        '',
      );
    }
  }
  return lines.join('\n');
}

/** The role-check backend `name`: every node a server; the first answering `role:master` gets new connections. */
export function roleCheckBackend(
  name: string,
  nodes: readonly { id: string; host: string; port: number }[],
  password: string,
): string[] {
  return [
    `backend ${name}`,
    '    balance first',
    '    option tcp-check',
    send(`AUTH ${password}`),
    '    tcp-check expect string +OK',
    send('INFO replication'),
    '    tcp-check expect string role:master',
    send('QUIT'),
    ...nodes.map((node) => `    server ${node.id} ${node.host}:${node.port} ${CHECK}`),
  ];
}

/** The plain role check: the first node answering `role:master` gets the new connections. */
export function renderRoleConfig(d: Descriptor, password: string, port: number): string {
  return [
    ...header(port),
    '    default_backend redis',
    '',
    ...roleCheckBackend('redis', d.nodes, password),
    '',
  ].join('\n');
}

const RENDER: Record<BaselineProxyKind, typeof renderRoleConfig> = {
  'haproxy-sentinels': renderSentinelsConfig,
  'haproxy-role': renderRoleConfig,
};

/** Start both baseline proxies beside the cluster, in its directory; `stopBaselineProxies` takes them down. */
export async function startBaselineProxies(d: Descriptor, password: string): Promise<BaselineProxy[]> {
  const kinds = Object.keys(RENDER) as BaselineProxyKind[];
  const ports = await freePorts(kinds.length);
  const started: BaselineProxy[] = [];
  try {
    for (const [i, kind] of kinds.entries()) {
      const dir = join(d.dir, kind);
      await mkdir(dir, { recursive: true });
      const port = ports[i] as number;
      const configPath = join(dir, 'haproxy.cfg');
      await writeFile(configPath, RENDER[kind](d, password, port), { mode: 0o600 });
      const pid = startDetached('haproxy', ['-f', configPath], join(dir, 'haproxy.log'));
      started.push({ kind, host: '127.0.0.1', port, pid, configPath });
    }
    await Promise.all(started.map((p) => waitForPort(p.port, 10_000, p.kind)));
    return started;
  } catch (error) {
    await stopBaselineProxies(started);
    throw error;
  }
}

export async function stopBaselineProxies(proxies: readonly BaselineProxy[]): Promise<void> {
  await Promise.all(
    proxies.map((p) => stopProcess(p.pid, (cmd) => cmd.includes('haproxy') && cmd.includes(p.configPath))),
  );
}

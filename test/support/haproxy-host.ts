/**
 * One real HAProxy (master-worker, `-W -p`, with a master CLI) serving many services from one config, as on a
 * proxy host of a host set: per service a plain frontend and a fail-closed backend with one `master` slot, one
 * admin socket, and the server-state file read back at every reload. For tests of update-haproxy.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseServersState, runtimeApi } from '../../adapters/haproxy/runtime-api.ts';
import { scriptPath } from '../../adapters/host/bash-node-ops.ts';
import { argsOf } from '../../adapters/node-ops/operations.ts';
import type { Endpoint, ProxyConfig } from '../../core/model/cluster.ts';
import { which } from '../../local/host-programs.ts';
import { freePorts, startDetached, stopProcess, waitForPort, waitUntil } from '../../local/processes.ts';

/** The programs update-haproxy and these tests need; the ones missing, and why that skips the tests. */
export function missingProxyTools(): string | undefined {
  // which() answers the bare name when the program is nowhere on PATH or in sbin.
  const missing = ['haproxy', 'socat', 'flock'].filter((tool) => which(tool) === tool);
  return missing.length
    ? `${missing.join(', ')} not installed (apt-get install haproxy socat util-linux)`
    : undefined;
}

/** One service behind the shared HAProxy. */
export interface ProxiedBackend {
  backend: string;
  plainPort: number;
  /** The address its `server master` line holds at start. */
  master: Endpoint;
}

export interface HaproxyHost {
  dir: string;
  configPath: string;
  stateFilePath: string;
  socketPath: string;
  pidFile: string;
  backends: ProxiedBackend[];
  /** The proxy as the orchestrator's configuration names it for one backend (reload: USR2 through the pid file). */
  proxyFor(backend: string): ProxyConfig;
  /** How many times the master has reloaded, as the master itself counts (`show proc` on the master CLI). */
  reloads(): Promise<number>;
  /** The pid of the worker answering on the admin socket. */
  workerPid(): Promise<string | undefined>;
  /** backend -> `addr:port` of its master slot in the running HAProxy (`show servers state`). */
  runtimeRoutes(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/** backend -> `addr:port` of the `server master` line of each backend section of a config. */
export function configRoutes(config: string): Record<string, string> {
  const routes: Record<string, string> = {};
  let backend: string | undefined;
  for (const line of config.split('\n')) {
    if (/^[a-z]/.test(line)) backend = /^backend (\S+)/.exec(line)?.[1];
    const server = /^\s+server master (\S+)/.exec(line)?.[1];
    if (backend && server) routes[backend] = server;
  }
  return routes;
}

/** backend -> `addr:port` of the `master` rows of a `show servers state` answer or server-state file. */
export function stateRoutes(state: string): Record<string, string> {
  return Object.fromEntries(
    parseServersState(state)
      .filter((row) => row.srv_name === 'master')
      .map((row) => [row.be_name, `${row.srv_addr}:${row.srv_port}`]),
  );
}

function renderConfig(h: Pick<HaproxyHost, 'socketPath' | 'stateFilePath' | 'backends'>): string {
  return [
    'global',
    `    stats socket ${h.socketPath} mode 600 level admin`,
    `    server-state-file ${h.stateFilePath}`,
    '    hard-stop-after 10s',
    '',
    'defaults',
    '    mode tcp',
    '    timeout connect 500ms',
    '    timeout client 1h',
    '    timeout server 1h',
    '    load-server-state-from-file global',
    '',
    ...h.backends.flatMap((b) => [
      `frontend ${b.backend}_plain`,
      `    bind 127.0.0.1:${b.plainPort}`,
      `    default_backend ${b.backend}`,
      '',
      `backend ${b.backend}`,
      `    server master ${b.master.host}:${b.master.port}`,
      '',
    ]),
  ].join('\n');
}

/** Start HAProxy in `dir` with `count` services (backends redis_svc1..N), each routed to a port of its own. */
export async function startHaproxyHost(dir: string, count: number): Promise<HaproxyHost> {
  const ports = await freePorts(2 * count);
  const backends = Array.from({ length: count }, (_, i) => ({
    backend: `redis_svc${i + 1}`,
    plainPort: ports[i] as number,
    master: { host: '127.0.0.1', port: ports[count + i] as number },
  }));
  const configPath = join(dir, 'haproxy.cfg');
  const socketPath = join(dir, 'admin.sock');
  const masterSocketPath = join(dir, 'master.sock');
  const stateFilePath = join(dir, 'server-state');
  const pidFile = join(dir, 'haproxy.pid');
  await writeFile(configPath, renderConfig({ socketPath, stateFilePath, backends }));
  const pid = startDetached(
    which('haproxy'),
    ['-W', '-f', configPath, '-p', pidFile, '-S', masterSocketPath],
    join(dir, 'haproxy.log'),
  );
  const admin = { kind: 'unix', path: socketPath } as const;
  const workerPid = async () => /^Pid: (\d+)$/m.exec(await runtimeApi(admin, ['show info']))?.[1];
  await Promise.all(backends.map((b) => waitForPort(b.plainPort, 10_000, 'haproxy')));
  // The master CLI refuses connections until the master has forked its worker, and while it re-executes itself
  // on a reload: ask until it answers.
  const reloads = async () => {
    let proc = '';
    await waitUntil(
      async () => {
        proc = await runtimeApi({ kind: 'unix', path: masterSocketPath }, ['show proc']);
        return true;
      },
      10_000,
      'the haproxy master CLI',
      25,
    );
    const count = /^\d+\s+master\s+(\d+)/m.exec(proc)?.[1];
    if (count === undefined) throw new Error(`no master line in 'show proc': ${proc}`);
    return Number(count);
  };
  await waitUntil(async () => (await workerPid()) !== undefined, 10_000, 'the haproxy admin socket');
  await reloads();
  return {
    dir,
    configPath,
    stateFilePath,
    socketPath,
    pidFile,
    backends,
    proxyFor: (backend) => ({
      id: 'proxy-1',
      host: '127.0.0.1',
      plainPort: backends.find((b) => b.backend === backend)?.plainPort ?? 0,
      runtimeApi: admin,
      backend,
      server: 'master',
      configPath,
      stateFilePath,
      reload: `pidfile:${pidFile}`,
    }),
    reloads,
    workerPid,
    runtimeRoutes: async () => stateRoutes(await runtimeApi(admin, ['show servers state'])),
    stop: async () => {
      await stopProcess(pid, (c) => c.includes('haproxy') && c.includes(configPath));
    },
  };
}

/** What a run of update-haproxy.sh ended with. */
export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run update-haproxy.sh for one backend of `h`, as BashNodeOps does, with extra environment; `reload` defaults to
 * the pid file, `epoch` to 1. Never rejects: the exit code and both outputs are the result.
 */
export function updateHaproxy(
  h: HaproxyHost,
  backend: string,
  target: Endpoint,
  options: { reload?: string; env?: NodeJS.ProcessEnv; epoch?: number } = {},
): Promise<ScriptResult> {
  const args = argsOf({
    config: h.configPath,
    stateFile: h.stateFilePath,
    socket: h.socketPath,
    backend,
    server: 'master',
    addr: target.host,
    port: String(target.port),
    reload: options.reload ?? `pidfile:${h.pidFile}`,
    epoch: String(options.epoch ?? 1),
  });
  return new Promise((resolve) => {
    // bash by its full path: a test may hand the script a PATH without some tools.
    execFile(
      which('bash'),
      [scriptPath('update-haproxy'), ...args],
      { env: { ...process.env, ...options.env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * `npm run bench:runtime-api`: what a reroute costs on the HAProxy Runtime API, over a kept session (what
 * HaproxyRouter does) against a new connection per request (what it did before; TLS sessions resumed), measured
 * in the same run against the real HAProxy of a local cluster, over TLS with a client certificate (as a Lambda
 * reaches a proxy host) and over the admin socket (as the local runtime does).
 *
 * - one after another: `--calls` reroutes (the four commands of pointMasterAt, to the address the proxy already
 *   has), `--gap-ms` apart, as the steps of a reaction and the next events of a Lambda container send them;
 *   latency p50 / p99, and this process's CPU per reroute (a handshake's cost, paid where the reaction runs).
 * - a burst: `--burst` reroutes to one proxy at once, as a host failure sends every service's; the wall time.
 * - connections opened, counted by the transport.
 *
 * Markdown to stdout, progress to stderr, `--json FILE` for the figures. Loopback has no network latency: in
 * AWS each connection also costs the TCP and TLS round trips (README, "Promotion → every HAProxy rerouted").
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ConnectionPerRequest, HaproxyRouter } from '../adapters/haproxy/runtime-api.ts';
import { RuntimeApiSessions, type RuntimeApiTransport } from '../adapters/haproxy/sessions.ts';
import { clusterFromDescriptor } from '../compose/local.ts';
import type { ProxyConfig } from '../core/model/cluster.ts';
import { errorMessage } from '../core/model/errors.ts';
import { localDown, localUp } from '../local/launcher.ts';
import { machineInfo } from './report.ts';
import { summarize } from './stats.ts';

const err = (line: string) => process.stderr.write(`${line}\n`);

interface Row {
  transport: 'TLS (TCP)' | 'admin socket';
  way: 'kept session' | 'connection per request';
  calls: number;
  gapMs: number;
  latencyMs: { p50: number; p99: number; max: number };
  cpuUsPerCall: number;
  burst: { reroutes: number; wallMs: number };
  connectionsOpened: number;
}

const round = (ms: number) => Math.round(ms * 100) / 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(
  router: HaproxyRouter,
  transport: RuntimeApiTransport,
  proxy: ProxyConfig,
  o: { calls: number; gapMs: number; burst: number },
): Promise<Pick<Row, 'latencyMs' | 'cpuUsPerCall' | 'burst' | 'connectionsOpened'>> {
  const { address } = await router.masterRoute(proxy);
  for (let i = 0; i < 5; i += 1) await router.pointMasterAt(proxy, address); // warm-up: JIT, TLS session
  const opened = transport.opened;
  const latencies: number[] = [];
  let cpuUs = 0;
  for (let i = 0; i < o.calls; i += 1) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await router.pointMasterAt(proxy, address);
    latencies.push(performance.now() - started);
    const used = process.cpuUsage(cpu);
    cpuUs += used.user + used.system;
    await sleep(o.gapMs);
  }
  const burstStarted = performance.now();
  await Promise.all(Array.from({ length: o.burst }, () => router.pointMasterAt(proxy, address)));
  const burstMs = performance.now() - burstStarted;
  const latency = summarize(latencies);
  return {
    latencyMs: { p50: round(latency.p50), p99: round(latency.p99), max: round(latency.max) },
    cpuUsPerCall: Math.round(cpuUs / o.calls),
    burst: { reroutes: o.burst, wallMs: round(burstMs) },
    connectionsOpened: transport.opened - opened,
  };
}

const count = (name: string, max: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > max)
    throw new InvalidArgumentError(`--${name} must be 1 to ${max}, got '${v}'`);
  return n;
};

const program = new Command()
  .name('bench:runtime-api')
  .description('a reroute on the HAProxy Runtime API: kept session against a connection per request')
  .option('--calls <n>', 'reroutes one after another, per case (default 200)', count('calls', 10_000), 200)
  .option(
    '--gap-ms <ms>',
    'pause between them (default 20; under the 800 ms a session is kept)',
    count('gap-ms', 700),
    20,
  )
  .option('--burst <n>', 'reroutes to one proxy at once (default 16, a host set)', count('burst', 1000), 16)
  .option('--json <file>', 'write the figures as JSON to FILE');

async function main(): Promise<void> {
  const o = program
    .parse(process.argv)
    .opts<{ calls: number; gapMs: number; burst: number; json?: string }>();
  const root = await mkdtemp(join(tmpdir(), 'ha-redis-bench-api-'));
  const name = 'bench-api';
  let up = false;
  const rows: Row[] = [];
  try {
    err('bench:runtime-api: starting a local cluster');
    up = true;
    const d = await localUp({ name, root, progress: () => undefined });
    const p = d.proxies[0];
    if (!p?.apiTlsPort || !d.clientPemPath)
      throw new Error('the local cluster has no Runtime API over TLS: update ha-redis and start it again');
    const pem = await readFile(d.clientPemPath, 'utf8');
    const tls = { ca: await readFile(d.caCertPath, 'utf8'), cert: pem, key: pem };
    const base = clusterFromDescriptor(d).proxies.find((proxy) => proxy.id === p.id);
    if (!base) throw new Error(`no proxy ${p.id} in the cluster`);
    const overTls: ProxyConfig = {
      ...base,
      runtimeApi: { kind: 'tcp', host: p.host, port: p.apiTlsPort, tls: true },
    };
    const overSocket: ProxyConfig = { ...base, runtimeApi: p.runtimeApi };
    for (const [transportName, proxy] of [
      ['TLS (TCP)', overTls],
      ['admin socket', overSocket],
    ] as const) {
      for (const way of ['connection per request', 'kept session'] as const) {
        const transport = way === 'kept session' ? new RuntimeApiSessions() : new ConnectionPerRequest();
        const router = new HaproxyRouter(1000, async () => tls, transport);
        err(`  ${transportName}, ${way}`);
        const figures = await measure(router, transport, proxy, o);
        router.close();
        rows.push({ transport: transportName, way, calls: o.calls, gapMs: o.gapMs, ...figures });
      }
    }
  } finally {
    if (up) await localDown({ name, root }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }

  const machine = await machineInfo();
  const lines = [
    `Runtime API reroute, ${new Date().toISOString().slice(0, 10)}, ${machine.cpu} (${machine.cores} cores), ${o.calls} reroutes ${o.gapMs} ms apart, then ${o.burst} at once`,
    '',
    '| Runtime API | how | latency p50 / p99 / max | CPU per reroute | burst of ' +
      `${o.burst} | connections opened |`,
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.transport} | ${r.way} | ${r.latencyMs.p50} / ${r.latencyMs.p99} / ${r.latencyMs.max} ms | ${r.cpuUsPerCall} µs | ${r.burst.wallMs} ms | ${r.connectionsOpened} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (o.json) {
    await writeFile(
      o.json,
      `${JSON.stringify({ date: new Date().toISOString(), machine, rows }, null, 2)}\n`,
    );
    err(`bench:runtime-api: written to ${o.json}`);
  }
}

main().catch((error: unknown) => {
  err(`bench:runtime-api: ${errorMessage(error)}`);
  process.exit(1);
});

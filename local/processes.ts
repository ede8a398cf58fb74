import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HaRedisError } from '../core/model/errors.ts';

/**
 * Reserve `count` distinct free ports (all held open together, then released), on every address: a port a host
 * set's process binds on its own loopback address (127.x.y.z) is taken too.
 *
 * They come from below the kernel's ephemeral range (`ip_local_port_range`): a port from `listen(0)` is in that
 * range, and between its reservation and the bind of the process it is for (seconds, for a host set's HAProxy)
 * the kernel may give it to an outgoing connection as its source port. Redis and Sentinel bind their outgoing
 * connections to their own address, so a replica's link once took a port a HAProxy frontend was to bind there.
 * A counter shared by every process on the machine (a file under a lock) hands them out in turn, so two test
 * processes that reserve at the same time never get the same port. Where the range below the ephemeral one is
 * too small, the kernel's `listen(0)` ports are used, as before.
 */
export async function freePorts(count: number): Promise<number[]> {
  const range = await reservableRange();
  if (!range) return kernelPorts(count);
  return withPortLock(async () => {
    const size = range.high - range.low + 1;
    let next = await readNextPort(range);
    const held: Server[] = [];
    try {
      for (let tried = 0; held.length < count; tried += 1) {
        if (tried >= size) throw new HaRedisError(`no ${count} free ports in ${range.low}-${range.high}`);
        const port = next;
        next = next >= range.high ? range.low : next + 1;
        const server = await listening(port).catch(() => undefined);
        if (server) held.push(server);
      }
      await writeFile(PORT_COUNTER, String(next));
      return held.map(portOf);
    } finally {
      await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  });
}

/** The lowest port reserved here; the highest is just below the ephemeral range. */
const RESERVED_FLOOR = 20_000;
/** The next port to hand out, shared by every process on the machine, and its lock. */
const PORT_COUNTER = join(tmpdir(), 'ha-redis-next-port');
const PORT_LOCK = `${PORT_COUNTER}.lock`;

async function reservableRange(): Promise<{ low: number; high: number } | undefined> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const ephemeralLow = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isInteger(ephemeralLow)) return undefined;
  const range = { low: RESERVED_FLOOR, high: ephemeralLow - 1 };
  return range.high - range.low >= 1000 ? range : undefined;
}

async function readNextPort(range: { low: number; high: number }): Promise<number> {
  const saved = Number(await readFile(PORT_COUNTER, 'utf8').catch(() => ''));
  if (Number.isInteger(saved) && saved >= range.low && saved <= range.high) return saved;
  // A first use (or a cleaned /tmp) starts anywhere in the range, not always where the last machine boot did.
  return range.low + Math.floor(Math.random() * (range.high - range.low + 1));
}

/** Run `fn` holding the port counter's lock (a directory: mkdir is atomic); a lock older than 10 s is stale. */
async function withPortLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await mkdir(PORT_LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = Date.now() - ((await stat(PORT_LOCK).catch(() => undefined))?.mtimeMs ?? Date.now());
      if (age > 10_000) await rm(PORT_LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new HaRedisError(`the port counter's lock ${PORT_LOCK} is held`);
      else await sleep(5);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(PORT_LOCK, { recursive: true, force: true });
  }
}

/** A server listening on `port` of every address, or an error when the port is taken. */
function listening(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => resolve(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (!address || typeof address === 'string') throw new HaRedisError('could not reserve a port');
  return address.port;
}

/** The kernel's choice (`listen(0)`): ports in the ephemeral range, none handed out again soon. */
async function kernelPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => listening(0)));
  const ports = servers.map(portOf);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Start a long-lived process in its own session, output to a log file; it outlives the CLI. */
export function startDetached(
  command: string,
  args: string[],
  logPath: string,
  env?: NodeJS.ProcessEnv,
): number {
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: env ?? process.env,
    });
    if (child.pid === undefined) throw new HaRedisError(`could not start ${command}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a pid, or undefined when it is gone (zombies count as gone). */
export async function commandLine(pid: number): Promise<string | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(status)) return undefined;
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ').trim();
  } catch {
    return undefined;
  }
}

/** Stop a pid only if its command line still matches (a recycled pid is left alone); TERM, then KILL. */
export async function stopProcess(
  pid: number,
  matches: (cmdline: string) => boolean,
  graceMs = 5000,
): Promise<boolean> {
  const cmd = await commandLine(pid);
  if (!cmd || !matches(cmd)) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await commandLine(pid))) return true;
    await sleep(20);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (await commandLine(pid)) await sleep(20);
  return true;
}

/** Wait until a TCP port accepts connections (on loopback, or on `host`). */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  what: string,
  host = '127.0.0.1',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new HaRedisError(`${what} did not open port ${host}:${port} within ${timeoutMs} ms; see its log`);
    await sleep(25);
  }
}

/** Poll `check` until it returns true. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new HaRedisError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Read a pid file; undefined when absent or not a number. */
export async function readPidFile(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

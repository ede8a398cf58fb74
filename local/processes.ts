import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HaRedisError } from '../core/model/errors.ts';

/**
 * Reserve `count` distinct free ports (all held open together, then released), as the kernel hands them out
 * (`listen(0)`), on every address: a port a host set's process binds on its own loopback address (127.x.y.z) is
 * taken too. The kernel does not hand a port it just gave out again soon, which keeps two test processes that
 * reserve at the same time apart (a random pick did not: two sets once got the same port).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '0.0.0.0', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (!address || typeof address === 'string') throw new HaRedisError('could not reserve a port');
    return address.port;
  });
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

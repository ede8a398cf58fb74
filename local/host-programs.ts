/**
 * The programs a local cluster runs, and where they run: the check that they are installed, their resolved
 * paths (sbin included), the `ip netns exec` wrapper of a placed host, and the environment of the Node children.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError } from '../core/model/errors.ts';

const REQUIRED_TOOLS = ['redis-server', 'redis-sentinel', 'haproxy', 'openssl', 'socat'] as const;

/** A host of a placed cluster: the address its processes listen on, and the network namespace they run in. */
export interface HostPlacement {
  ip: string;
  /** Start the host's processes with `ip netns exec <netns>` (needs root). */
  netns?: string;
}

/** Fail with one clear line when a required program is missing. */
export async function checkTools(): Promise<void> {
  const path = (process.env.PATH ?? '').split(':');
  const extra = ['/usr/sbin', '/sbin', '/usr/local/sbin'];
  const missing = REQUIRED_TOOLS.filter(
    (tool) => ![...path, ...extra].some((dir) => existsSync(join(dir, tool))),
  );
  if (missing.length) {
    throw new ConfigurationError(
      `missing required programs: ${missing.join(', ')}; run 'make setup' (as root) or apt-get install redis-server redis-sentinel haproxy openssl socat`,
    );
  }
}

/** Resolve a program that may live in sbin, which a non-login PATH often lacks. */
export function which(tool: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin']) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  return tool;
}

/** The program and arguments that start `program` on a host: inside its network namespace, if it has one. */
export function onHost(host: HostPlacement, program: string, args: string[]): [string, string[]] {
  // `ip netns exec` execs the program itself (no fork), so the pid we get is the program's.
  return host.netns ? [which('ip'), ['netns', 'exec', host.netns, program, ...args]] : [program, args];
}

/**
 * The environment of the Node processes `up` starts (dynalite, the orchestrator): with Node's compile cache on
 * (the directory `module.enableCompileCache()` uses), a start after the first reuses the stripped and compiled
 * modules, which takes about a second less on a busy machine. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
export function nodeChildEnv(): NodeJS.ProcessEnv {
  return { NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache'), ...process.env };
}

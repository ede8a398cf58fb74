import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HaRedisError } from '../core/model/errors.ts';

const run = promisify(execFile);

/** One network namespace on the bridge: a "host" with its address and the bridge-side end of its link. */
export interface NetnsHost {
  netns: string;
  ip: string;
  /** The veth end on the bridge, in the root namespace: set it down to cut the host off. */
  link: string;
}

/**
 * A throw-away network: a Linux bridge in the root namespace (which keeps an address on it, so processes here
 * reach every host) and network namespaces on it, each linked by a veth pair. Names carry a random id, so
 * runs side by side do not collide, and stay within IFNAMSIZ (15).
 */
export interface Topology {
  id: string;
  bridge: string;
  /** The root namespace's address on the bridge. */
  gateway: string;
  hosts: NetnsHost[];
  clients: NetnsHost[];
}

function ipPath(): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (dir && existsSync(join(dir, 'ip'))) return join(dir, 'ip');
  }
  return 'ip';
}

/** Run `ip <args>`; a failure says which command failed and why. */
async function ip(...args: string[]): Promise<string> {
  try {
    return (await run(ipPath(), args)).stdout;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new HaRedisError(`ip ${args.join(' ')} failed: ${stderr || (error as Error).message}`, {
      cause: error,
    });
  }
}

/** Why network namespaces cannot be used here, or undefined when they can (root, `ip netns`, a bridge). */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root)';
  const probe = `hrp${randomBytes(3).toString('hex')}`;
  try {
    await ip('netns', 'add', probe);
  } catch (error) {
    return `'ip netns add' does not work here (iproute2 installed? netns allowed?): ${(error as Error).message}`;
  }
  try {
    await ip('link', 'add', probe, 'type', 'bridge');
    await ip('link', 'del', probe);
  } catch (error) {
    return `a Linux bridge cannot be created here: ${(error as Error).message}`;
  } finally {
    await ip('netns', 'del', probe).catch(() => undefined);
  }
  return undefined;
}

/** A /24 in 10.0.0.0/8 that no address or route here uses yet. */
async function freeSubnet(): Promise<string> {
  const used = `${await ip('-4', '-o', 'addr')}\n${await ip('-4', 'route')}`;
  for (let i = 0; i < 50; i += 1) {
    const prefix = `10.${randomInt(200, 255)}.${randomInt(1, 255)}`;
    if (!used.includes(`${prefix}.`)) return prefix;
  }
  throw new HaRedisError('found no free 10.x.y.0/24 for the test network; remove stale bridges (ip link)');
}

/**
 * Create `hosts` host namespaces (10.X.Y.11, .12, ...) and `clients` client namespaces (10.X.Y.21, ...) on a
 * new bridge (10.X.Y.1). On failure, whatever was created is removed again.
 */
export async function createTopology(options: { hosts: number; clients: number }): Promise<Topology> {
  const id = randomBytes(2).toString('hex');
  const prefix = await freeSubnet();
  const t: Topology = {
    id,
    bridge: `hr${id}br`,
    gateway: `${prefix}.1`,
    hosts: Array.from({ length: options.hosts }, (_, i) => ({
      netns: `hr${id}h${i + 1}`,
      ip: `${prefix}.${11 + i}`,
      link: `hr${id}h${i + 1}`,
    })),
    clients: Array.from({ length: options.clients }, (_, i) => ({
      netns: `hr${id}c${i + 1}`,
      ip: `${prefix}.${21 + i}`,
      link: `hr${id}c${i + 1}`,
    })),
  };
  try {
    await ip('link', 'add', t.bridge, 'type', 'bridge');
    await ip('addr', 'add', `${t.gateway}/24`, 'dev', t.bridge);
    await ip('link', 'set', t.bridge, 'up');
    for (const h of [...t.hosts, ...t.clients]) {
      await ip('netns', 'add', h.netns);
      await ip('link', 'add', h.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns);
      await ip('link', 'set', h.link, 'master', t.bridge, 'up');
      await ip('-n', h.netns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
      await ip('-n', h.netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', h.netns, 'link', 'set', 'lo', 'up');
    }
    return t;
  } catch (error) {
    await destroyTopology(t);
    throw error;
  }
}

/** Cut a namespace off the bridge: its packets go nowhere and nothing reaches it (no reset, as on a real partition). */
export async function cutOff(host: NetnsHost): Promise<void> {
  await ip('link', 'set', host.link, 'down');
}

/** Link a cut-off namespace to the bridge again. */
export async function reconnect(host: NetnsHost): Promise<void> {
  await ip('link', 'set', host.link, 'up');
}

/** Remove the namespaces (which takes their veth pairs along) and the bridge; tolerates a half-made topology. */
export async function destroyTopology(t: Topology): Promise<string[]> {
  const problems: string[] = [];
  for (const h of [...t.hosts, ...t.clients]) {
    await ip('netns', 'del', h.netns).catch((error: Error) => {
      if (!/No such file|does not exist|Cannot find/i.test(error.message)) problems.push(error.message);
    });
    // A veth whose namespace was never made or moved (a failed start) is still here.
    await ip('link', 'del', h.link).catch(() => undefined);
  }
  await ip('link', 'del', t.bridge).catch((error: Error) => {
    if (!/Cannot find|does not exist/i.test(error.message)) problems.push(error.message);
  });
  return problems;
}

/** The named network namespace a process runs in ('' for the root namespace or an unnamed one). */
export async function netnsOfPid(pid: number): Promise<string> {
  return (await ip('netns', 'identify', String(pid))).trim();
}

/** The command that runs `program args` inside a namespace. */
export function inNetns(netns: string, program: string, args: string[]): [string, string[]] {
  return [ipPath(), ['netns', 'exec', netns, program, ...args]];
}

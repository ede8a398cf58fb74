import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../local/processes.ts';
import { startTestCluster, type TestCluster, waitForHistory } from './cluster.ts';

/**
 * The most common real crash: the kernel's OOM killer. The master runs in a memory cgroup of 64 MiB (no swap)
 * and is made to allocate 200 MB (one SETRANGE); the kernel kills it with SIGKILL, and the node agent must
 * report it as it reports a kill -9: the fast path fails over at once. Needs root and a memory cgroup
 * (v1 or v2); without them it says why and skips.
 */
const LIMIT_BYTES = 64 * 1024 * 1024;

interface MemoryCgroup {
  dir: string;
  /** The kernel's count of OOM kills in the group. */
  oomKills(): Promise<number>;
}

/** A memory cgroup of LIMIT_BYTES without swap, or why none can be made here. */
async function memoryCgroup(name: string): Promise<MemoryCgroup | string> {
  if (process.getuid?.() !== 0) return 'needs root to make a memory cgroup';
  const v1 = '/sys/fs/cgroup/memory';
  if (existsSync(join(v1, 'cgroup.procs'))) {
    const dir = join(v1, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'memory.limit_in_bytes'), String(LIMIT_BYTES));
    await writeFile(join(dir, 'memory.memsw.limit_in_bytes'), String(LIMIT_BYTES)).catch(() => undefined);
    return {
      dir,
      oomKills: async () =>
        Number(/oom_kill (\d+)/.exec(await readFile(join(dir, 'memory.oom_control'), 'utf8'))?.[1] ?? 0),
    };
  }
  const v2 = '/sys/fs/cgroup';
  const controllers = await readFile(join(v2, 'cgroup.controllers'), 'utf8').catch(() => '');
  if (!controllers.split(/\s+/).includes('memory')) return 'no memory cgroup controller on this machine';
  const dir = join(v2, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'memory.max'), String(LIMIT_BYTES));
  await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => undefined);
  return {
    dir,
    oomKills: async () =>
      Number(/oom_kill (\d+)/.exec(await readFile(join(dir, 'memory.events'), 'utf8'))?.[1] ?? 0),
  };
}

describe('the fast path after a real OOM kill of the master (kernel, memory cgroup)', () => {
  let t: TestCluster | undefined;
  let cgroup: MemoryCgroup | string;

  beforeAll(async () => {
    cgroup = await memoryCgroup(`ha-redis-oom-${process.pid}`).catch(
      (e: unknown) => `no cgroup: ${String(e)}`,
    );
    if (typeof cgroup === 'string') {
      console.warn(`skipping the OOM-kill test: ${cgroup}`);
      return;
    }
    t = await startTestCluster({ downAfterMs: 5000, failoverTimeoutMs: 10_000, nodeAgent: true });
  });
  afterAll(async () => {
    await t?.down();
    if (typeof cgroup !== 'string') await rmdir(cgroup.dir).catch(() => undefined);
  });

  it('fails over at once when the kernel kills the master for memory', async (context) => {
    if (typeof cgroup === 'string' || !t) {
      context.skip();
      return;
    }
    const master = t.d.nodes[0];
    if (!master) throw new Error('no nodes');
    await writeFile(join(cgroup.dir, 'cgroup.procs'), String(master.pid));
    const client = new Redis({
      host: master.host,
      port: master.port,
      password: t.password,
      maxRetriesPerRequest: 0,
    });
    client.on('error', () => undefined);
    // 200 MB in one allocation: past the group's limit, so the kernel kills redis-server (SIGKILL).
    await client.setrange('oom:big', 200_000_000, 'x').catch(() => undefined);
    client.disconnect();
    const cg = cgroup;
    await waitUntil(async () => (await cg.oomKills()) >= 1, 10_000, 'the OOM killer');
    const entry = await waitForHistory(
      t,
      (e) => e.kind === 'failover' && e.trigger === 'node-exited',
      20_000,
    );
    expect(entry.outcome, entry.error).toBe('succeeded');
    expect(entry.startedBy).toMatch(
      /^the fast path: redis-1's redis-server exited \(pid \d+ gone, connect refused/,
    );
    expect(entry.oldMaster).toEqual({ host: master.host, port: master.port });
    expect(entry.newMaster).toEqual(await t.soleMaster());
  });
});

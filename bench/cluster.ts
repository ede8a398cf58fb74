/** One fresh local cluster per benchmark run, always taken down again (also on Ctrl-C, through `downActiveClusters`). */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Descriptor } from '../config/local-descriptor.ts';
import { errorMessage } from '../core/model/errors.ts';
import { localDown, localUp } from '../local/launcher.ts';

export type Log = (line: string) => void;

/** Clusters that are up (or being started), by name, with their teardown once it has begun. */
const active = new Map<
  string,
  { root: string; keepFiles: boolean; cleanups: (() => Promise<void>)[]; down?: Promise<void> }
>();

/** localUp may still be starting processes when a signal arrives; a second sweep, this much later, stops those. */
const SECOND_SWEEP_AFTER_MS = 300;

/**
 * Stop a cluster's processes and remove its temp root; safe to call twice (the second waits for the first).
 * `sweeps` 2 for an interrupt: the descriptor is read again, so a process started meanwhile is stopped too.
 */
function teardown(name: string, log: Log, sweeps = 1): Promise<void> {
  const entry = active.get(name);
  if (!entry) return Promise.resolve();
  entry.down ??= (async () => {
    // Processes the run started beside the cluster (baseline proxies) go first.
    for (const cleanup of entry.cleanups.splice(0)) {
      await cleanup().catch((error: unknown) => log(`  cleanup of ${name}: ${errorMessage(error)}`));
    }
    for (let sweep = 1; sweep <= sweeps; sweep += 1) {
      if (sweep > 1) await sleep(SECOND_SWEEP_AFTER_MS);
      try {
        await localDown({ name, root: entry.root, keepFiles: true });
      } catch (error) {
        // localUp already took a failed start down; there is nothing left to stop then.
        if (sweep === 1) log(`  local down ${name}: ${errorMessage(error)}`);
      }
    }
    if (entry.keepFiles) log(`  kept the files of ${name} in ${entry.root}`);
    else await rm(entry.root, { recursive: true, force: true });
    active.delete(name);
  })();
  return entry.down;
}

/**
 * Start a local cluster under a temp root, run `fn`, and take the cluster down whatever happens. `fn` registers
 * the teardown of anything it starts beside the cluster with `onDown`; that runs first, also on Ctrl-C.
 */
export async function withLocalCluster<T>(
  options: { prefix: string; downAfterMs: number; log: Log; keepFiles?: boolean; nodeAgent?: boolean },
  fn: (d: Descriptor, root: string, onDown: (cleanup: () => Promise<void>) => void) => Promise<T>,
): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'ha-redis-bench-'));
  const name = `${options.prefix}-${randomBytes(3).toString('hex')}`;
  const cleanups: (() => Promise<void>)[] = [];
  active.set(name, { root, keepFiles: options.keepFiles ?? false, cleanups });
  try {
    const d = await localUp({
      name,
      root,
      downAfterMs: options.downAfterMs,
      ...(options.nodeAgent ? { nodeAgent: true } : {}),
      progress: (line) => options.log(`  ${line}`),
    });
    return await fn(d, root, (cleanup) => cleanups.push(cleanup));
  } finally {
    await teardown(name, options.log);
  }
}

/** Take down every cluster that is still up: for a SIGINT handler. */
export async function downActiveClusters(log: Log): Promise<void> {
  await Promise.all([...active.keys()].map((name) => teardown(name, log, 2)));
}

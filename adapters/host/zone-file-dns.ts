import { randomUUID } from 'node:crypto';
import { link, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterConfig, Endpoint } from '../../core/model/cluster.ts';
import type { Dns } from '../../core/ports.ts';

const EPOCH_LINE = /^; ha-redis epoch (\d+)/m;
const LOCK_WAIT_MS = 2000;
const STALE_LOCK_MS = 10_000; // a writer that died holding the lock

/** Render the master record as a zone file fragment: an A record and an SRV record that carries the port. */
export function renderZone(cluster: ClusterConfig, master: Endpoint, epoch: number, at: Date): string {
  const name = cluster.dns.recordName.endsWith('.') ? cluster.dns.recordName : `${cluster.dns.recordName}.`;
  const ttl = cluster.dns.ttl;
  return [
    `; ha-redis epoch ${epoch} updated ${at.toISOString()}`,
    `${name} ${ttl} IN A ${master.host}`,
    `_redis._tcp.${name} ${ttl} IN SRV 0 0 ${master.port} ${name}`,
    '',
  ].join('\n');
}

/** Read the master record back from a zone file written by `renderZone`. */
export function readZone(text: string): { epoch: number; master: Endpoint } | undefined {
  const epoch = EPOCH_LINE.exec(text)?.[1];
  const a = /\sIN A (\S+)/.exec(text)?.[1];
  const port = /\sIN SRV \d+ \d+ (\d+) /.exec(text)?.[1];
  return epoch && a && port ? { epoch: Number(epoch), master: { host: a, port: Number(port) } } : undefined;
}

/**
 * The local stand-in for Route53: a zone file, written atomically, never moved back in epoch.
 * Read-check-write runs under a lock file (O_EXCL), so concurrent writers, in or across processes, serialize.
 */
export class ZoneFileDns implements Dns {
  private readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  async upsertMaster(
    cluster: ClusterConfig,
    master: Endpoint,
    epoch: number,
  ): Promise<'updated' | 'unchanged' | 'stale'> {
    const release = await this.lock();
    try {
      const current = readZone(await readFile(this.path, 'utf8').catch(() => ''));
      if (current && current.epoch > epoch) return 'stale';
      if (
        current &&
        current.epoch === epoch &&
        current.master.host === master.host &&
        current.master.port === master.port
      ) {
        return 'unchanged';
      }
      const tmp = `${this.path}.${randomUUID()}.tmp`;
      await writeFile(tmp, renderZone(cluster, master, epoch, new Date()));
      await rename(tmp, this.path);
      return 'updated';
    } finally {
      await release();
    }
  }

  async currentMaster(_cluster: ClusterConfig): Promise<{ master: Endpoint; epoch: number } | undefined> {
    try {
      return readZone(await readFile(this.path, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  private async lock(): Promise<() => Promise<void>> {
    const lockPath = `${this.path}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      // The lock file appears with its holder's pid in it (written aside, then hard-linked into place: link
      // fails if the lock exists), so that a writer killed while it held the lock (an orchestrator stopped
      // mid-write) never leaves a lock without a pid, which would hold the zone for STALE_LOCK_MS.
      const mine = `${lockPath}.${process.pid}.${randomUUID()}`;
      try {
        await writeFile(mine, String(process.pid));
        await link(mine, lockPath);
        return () => unlink(lockPath).catch(() => undefined);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const age = await stat(lockPath).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > STALE_LOCK_MS || (await holderGone(lockPath)))
          await unlink(lockPath).catch(() => undefined);
        else if (Date.now() > deadline) throw new Error(`zone file ${this.path} is locked by another writer`);
        else await sleep(2);
      } finally {
        await unlink(mine).catch(() => undefined);
      }
    }
  }
}

/** Whether the lock's holder, by the pid it wrote, no longer runs on this host (a lock without a pid: not known). */
async function holderGone(lockPath: string): Promise<boolean> {
  const pid = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

import { readFile, rename, writeFile } from 'node:fs/promises';
import type { ClusterConfig, Endpoint } from '../../functions/core/cluster.ts';
import type { Dns } from '../../functions/core/ports.ts';

const EPOCH_LINE = /^; ha-redis epoch (\d+)/m;

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

/** The local stand-in for Route53: a zone file, written atomically, never moved back in epoch. */
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
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, renderZone(cluster, master, epoch, new Date()));
    await rename(tmp, this.path);
    return 'updated';
  }
}

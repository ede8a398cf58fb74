import type { Endpoint, ProxyConfig, RuntimeApiAddress } from '../../core/model/cluster.ts';
import { RoutingError } from '../../core/model/errors.ts';
import type { Router } from '../../core/ports.ts';
import {
  openRuntimeApi,
  type RuntimeApiTls,
  refuseUnsafeCommands,
  runtimeApiError,
  whereOf,
} from './connect.ts';

import { RuntimeApiSessions, type RuntimeApiTransport } from './sessions.ts';

export type { RuntimeApiTls } from './connect.ts';

/** Send commands to a HAProxy Runtime API (one connection, `;`-separated) and return the raw answer. */
export async function runtimeApi(
  address: RuntimeApiAddress,
  commands: readonly string[],
  timeoutMs = 1000,
  tls?: RuntimeApiTls,
): Promise<string> {
  refuseUnsafeCommands(commands);
  return new Promise((resolve, reject) => {
    const { socket, ready } = openRuntimeApi(address, tls);
    const chunks: Buffer[] = [];
    const where = whereOf(address);
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(
        Object.assign(new Error(`Runtime API ${where} timed out after ${timeoutMs} ms`), {
          code: 'ETIMEDOUT',
        }),
      ),
    );
    socket.on(ready, () => socket.end(`${commands.join(';')}\n`));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => reject(runtimeApiError(where, error)));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/**
 * A new connection for every request, as ha-redis sent commands before it kept sessions (TLS sessions are still
 * resumed): the benchmark's baseline. No `show info` check is needed, as a new connection reaches the process
 * that listens now.
 */
export class ConnectionPerRequest implements RuntimeApiTransport {
  opened = 0;
  async send(
    address: RuntimeApiAddress,
    commands: readonly string[],
    timeoutMs: number,
    tls?: RuntimeApiTls,
  ): Promise<string[]> {
    this.opened += 1;
    return [await runtimeApi(address, commands, timeoutMs, tls)];
  }
  close(): void {}
}

/** Parse `show servers state` into rows keyed by column name. */
export function parseServersState(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const at = lines.findIndex((l) => l.startsWith('# be_id'));
  const header = lines[at];
  if (at < 0 || !header) return [];
  const columns = header.slice(2).split(' ');
  // The line before the header is the format version ("1"); rows come after the header.
  return lines
    .slice(at + 1)
    .filter((l) => !l.startsWith('#') && /^\d/.test(l))
    .map((l) => Object.fromEntries(l.split(' ').map((v, i) => [columns[i] ?? `col${i}`, v])));
}

const ADMIN_STATES: Record<string, string> = { '0': 'ready' };

/**
 * Routing through the HAProxy Runtime API: a single master server slot that only the orchestrator moves. Its
 * commands go over kept sessions (RuntimeApiSessions), so a reroute and the reads that verify it share one.
 */
export class HaproxyRouter implements Router {
  private readonly timeoutMs: number;
  private readonly tlsFor: (proxy: ProxyConfig) => Promise<RuntimeApiTls | undefined>;
  readonly sessions: RuntimeApiTransport;
  constructor(
    timeoutMs = 1000,
    /** Client certificate and CA for proxies whose Runtime API is TCP with TLS. */
    tlsFor: (proxy: ProxyConfig) => Promise<RuntimeApiTls | undefined> = async () => undefined,
    sessions: RuntimeApiTransport = new RuntimeApiSessions(),
  ) {
    this.timeoutMs = timeoutMs;
    this.tlsFor = tlsFor;
    this.sessions = sessions;
  }

  private async send(proxy: ProxyConfig, commands: readonly string[]): Promise<string> {
    const tls =
      proxy.runtimeApi.kind === 'tcp' && proxy.runtimeApi.tls ? await this.tlsFor(proxy) : undefined;
    return (await this.sessions.send(proxy.runtimeApi, commands, this.timeoutMs, tls)).join('');
  }

  /** Close the kept sessions (they close themselves when idle; this is for a process that ends now). */
  close(): void {
    this.sessions.close();
  }

  async pointMasterAt(proxy: ProxyConfig, node: Endpoint): Promise<void> {
    const server = `${proxy.backend}/${proxy.server}`;
    // maint first so no new session reaches the old address, then cut the old sessions, move, and open again.
    const answer = await this.send(proxy, [
      `set server ${server} state maint`,
      `shutdown sessions server ${server}`,
      `set server ${server} addr ${node.host} port ${node.port}`,
      `set server ${server} state ready`,
    ]);
    const unexpected = answer
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^(IP changed|no need to change|port changed)/i.test(l));
    if (unexpected.length)
      throw new RoutingError(`proxy ${proxy.id} refused the reroute: ${unexpected.join(' | ')}`);
  }

  async blockMaster(proxy: ProxyConfig): Promise<void> {
    const server = `${proxy.backend}/${proxy.server}`;
    const answer = await this.send(proxy, [
      `set server ${server} state maint`,
      `shutdown sessions server ${server}`,
    ]);
    if (answer.trim() !== '') throw new RoutingError(`proxy ${proxy.id} refused to block: ${answer.trim()}`);
  }

  async masterRoute(proxy: ProxyConfig): Promise<{ address: Endpoint; state: string }> {
    const rows = parseServersState(await this.send(proxy, [`show servers state ${proxy.backend}`]));
    const row = rows.find((r) => r.srv_name === proxy.server);
    if (!row) throw new RoutingError(`proxy ${proxy.id} has no server ${proxy.backend}/${proxy.server}`);
    const admin = Number(row.srv_admin_state ?? 0);
    return {
      address: { host: row.srv_addr ?? '', port: Number(row.srv_port) },
      state:
        admin & 0x01 || admin & 0x20 || admin & 0x02
          ? 'maint'
          : (ADMIN_STATES[String(admin)] ?? `admin-${admin}`),
    };
  }
}

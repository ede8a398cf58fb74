import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls, createSecureContext, type SecureContext } from 'node:tls';
import type { Endpoint, ProxyConfig, RuntimeApiAddress } from '../../core/model/cluster.ts';
import { RoutingError, UnreachableError } from '../../core/model/errors.ts';
import type { Router } from '../../core/ports.ts';

/** PEM material for a Runtime API over TLS: the CA that signed HAProxy's certificate, and our client certificate. */
export interface RuntimeApiTls {
  ca?: string;
  /** Certificate chain and private key; one PEM holding both is fine. */
  cert?: string;
  key?: string;
}

/**
 * TLS sessions of the Runtime APIs, by address: each call is a new connection, and resuming the last session
 * skips the handshake's key exchange and certificate checks (a host failure reroutes every service on each
 * proxy at once, and every handshake costs CPU where the reactions run).
 */
const tlsSessions = new Map<string, Buffer>();

/**
 * Secure contexts by their PEM material: building one parses the CA, the certificate and the private key, CPU
 * that a host failure would otherwise spend again for every proxy of every service at the same moment.
 */
const secureContexts = new Map<string, SecureContext>();

const materialKey = (tls: RuntimeApiTls) => [tls.ca ?? '', tls.cert ?? '', tls.key ?? ''].join('\0');

function contextOf(tls: RuntimeApiTls | undefined): SecureContext | undefined {
  if (!tls) return undefined;
  const key = materialKey(tls);
  let context = secureContexts.get(key);
  if (!context) {
    context = createSecureContext({
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
    });
    // Rotated material makes a new entry: keep the map from growing past a handful.
    if (secureContexts.size >= 8) secureContexts.clear();
    secureContexts.set(key, context);
  }
  return context;
}

function resumingTls(host: string, port: number, tls: RuntimeApiTls | undefined): Socket {
  // A session is resumed only with the client certificate that opened it: resuming skips the certificate
  // check, so a caller without (or with another) certificate must never pick up someone else's session.
  const key = `${host}:${port}\0${tls ? materialKey(tls) : ''}`;
  const session = tlsSessions.get(key);
  const secureContext = contextOf(tls);
  const socket = connectTls({
    host,
    port,
    ...(secureContext ? { secureContext } : {}),
    // SNI carries a host name only (RFC 6066); the certificate is still checked against the address.
    ...(isIP(host) ? {} : { servername: host }),
    ...(session ? { session } : {}),
  });
  socket.on('session', (s: Buffer) => tlsSessions.set(key, s));
  return socket;
}

/** Send commands to a HAProxy Runtime API (one connection, `;`-separated) and return the raw answer. */
export async function runtimeApi(
  address: RuntimeApiAddress,
  commands: readonly string[],
  timeoutMs = 1000,
  tls?: RuntimeApiTls,
): Promise<string> {
  for (const command of commands) {
    if (/[;\n]/.test(command))
      throw new RoutingError(`refusing Runtime API command with ';' or newline: ${command}`);
  }
  return new Promise((resolve, reject) => {
    const socket: Socket =
      address.kind === 'unix'
        ? connect({ path: address.path })
        : address.tls
          ? resumingTls(address.host, address.port, tls)
          : connect({ host: address.host, port: address.port });
    const chunks: Buffer[] = [];
    const where = address.kind === 'unix' ? address.path : `${address.host}:${address.port}`;
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(
        Object.assign(new Error(`Runtime API ${where} timed out after ${timeoutMs} ms`), {
          code: 'ETIMEDOUT',
        }),
      ),
    );
    const send = () => socket.end(`${commands.join(';')}\n`);
    if (address.kind === 'tcp' && address.tls) socket.on('secureConnect', send);
    else socket.on('connect', send);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A proxy that cannot be reached (its host is gone, or HAProxy is down) is told apart from one that refused.
      const Kind = UNREACHABLE_CODES.has(error.code ?? '') ? UnreachableError : RoutingError;
      reject(new Kind(`Runtime API ${where}: ${error.message}`, { cause: error }));
    });
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Socket errors that mean nothing answers at the Runtime API's address. */
const UNREACHABLE_CODES = new Set([
  'ETIMEDOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOENT',
]);

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

/** Routing through the HAProxy Runtime API: a single master server slot that only the orchestrator moves. */
export class HaproxyRouter implements Router {
  private readonly timeoutMs: number;
  private readonly tlsFor: (proxy: ProxyConfig) => Promise<RuntimeApiTls | undefined>;
  constructor(
    timeoutMs = 1000,
    /** Client certificate and CA for proxies whose Runtime API is TCP with TLS. */
    tlsFor: (proxy: ProxyConfig) => Promise<RuntimeApiTls | undefined> = async () => undefined,
  ) {
    this.timeoutMs = timeoutMs;
    this.tlsFor = tlsFor;
  }

  private async send(proxy: ProxyConfig, commands: readonly string[]): Promise<string> {
    const tls =
      proxy.runtimeApi.kind === 'tcp' && proxy.runtimeApi.tls ? await this.tlsFor(proxy) : undefined;
    return runtimeApi(proxy.runtimeApi, commands, this.timeoutMs, tls);
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

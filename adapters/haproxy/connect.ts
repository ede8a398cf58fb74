/**
 * Opening a connection to a HAProxy Runtime API (a Unix socket, TCP, or TCP with TLS), shared by the one-shot
 * `runtimeApi` and the kept sessions of `RuntimeApiSessions`.
 */
import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls, createSecureContext, type SecureContext } from 'node:tls';
import type { RuntimeApiAddress } from '../../core/model/cluster.ts';
import { RoutingError, UnreachableError } from '../../core/model/errors.ts';

/** PEM material for a Runtime API over TLS: the CA that signed HAProxy's certificate, and our client certificate. */
export interface RuntimeApiTls {
  ca?: string;
  /** Certificate chain and private key; one PEM holding both is fine. */
  cert?: string;
  key?: string;
}

/**
 * TLS sessions of the Runtime APIs, by address: resuming the last session skips the handshake's key exchange
 * and certificate checks when a connection is opened again (a host failure reroutes every service on each proxy
 * at once, and every handshake costs CPU where the reactions run).
 */
const tlsSessions = new Map<string, Buffer>();

/**
 * Secure contexts by their PEM material: building one parses the CA, the certificate and the private key, CPU
 * that a host failure would otherwise spend again for every proxy of every service at the same moment.
 */
const secureContexts = new Map<string, SecureContext>();

export const materialKey = (tls: RuntimeApiTls) => [tls.ca ?? '', tls.cert ?? '', tls.key ?? ''].join('\0');

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

export function resumingTls(host: string, port: number, tls: RuntimeApiTls | undefined): Socket {
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

/** Socket errors that mean nothing answers at the Runtime API's address. */
export const UNREACHABLE_CODES = new Set([
  'ETIMEDOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOENT',
]);

/** The address as messages name it. */
export const whereOf = (address: RuntimeApiAddress): string =>
  address.kind === 'unix' ? address.path : `${address.host}:${address.port}`;

/**
 * Open a connection to a Runtime API. `ready` is the event after which it carries commands: `secureConnect` over
 * TLS, `connect` otherwise (what is written before it is buffered and sent then).
 */
export function openRuntimeApi(
  address: RuntimeApiAddress,
  tls: RuntimeApiTls | undefined,
): { socket: Socket; ready: 'connect' | 'secureConnect' } {
  if (address.kind === 'unix') return { socket: connect({ path: address.path }), ready: 'connect' };
  if (address.tls) return { socket: resumingTls(address.host, address.port, tls), ready: 'secureConnect' };
  return { socket: connect({ host: address.host, port: address.port }), ready: 'connect' };
}

/** A socket's error as ha-redis reports it: a proxy that cannot be reached is told apart from one that refused. */
export function runtimeApiError(
  where: string,
  error: NodeJS.ErrnoException,
): RoutingError | UnreachableError {
  const Kind = UNREACHABLE_CODES.has(error.code ?? '') ? UnreachableError : RoutingError;
  return new Kind(`Runtime API ${where}: ${error.message}`, { cause: error });
}

/** Commands go on one line, separated by `;`: one holding either could smuggle in a command of its own. */
export function refuseUnsafeCommands(commands: readonly string[]): void {
  for (const command of commands) {
    if (/[;\n]/.test(command))
      throw new RoutingError(`refusing Runtime API command with ';' or newline: ${command}`);
  }
}

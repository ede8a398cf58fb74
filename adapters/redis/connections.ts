import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import type { Endpoint } from '../../core/model/cluster.ts';
import { ConfigurationError, UnreachableError } from '../../core/model/errors.ts';

/**
 * How to reach Redis nodes and Sentinels: passwords come from a provider, never from code. The endpoint tells
 * a multi-cluster provider which cluster's secret to read.
 */
export interface RedisAccess {
  redisPassword(endpoint: Endpoint): Promise<string | undefined>;
  sentinelPassword(endpoint: Endpoint): Promise<string | undefined>;
  /** CA certificate (PEM) for TLS listeners. */
  ca?(endpoint: Endpoint): Promise<string | undefined>;
  /** Whether a node or Sentinel is reached over TLS, from the configuration alone (no secret is read). */
  transport?(kind: NodeKind, endpoint: Endpoint): Transport;
  /** What a TLS connection to a node or Sentinel checks and presents; read when a connection is opened. */
  tlsMaterial?(kind: NodeKind, endpoint: Endpoint): Promise<RedisTlsMaterial>;
}

/** A Redis node or a Sentinel: the processes whose transport the configuration chooses. */
export type NodeKind = 'redis' | 'sentinel';
export type Transport = 'plain' | 'tls';

/**
 * TLS to a node or Sentinel: the CA (PEM) its certificate must chain to; the client certificate and key (PEM)
 * for `tls-auth-clients`; the DNS name its certificate must carry, when not its IP address.
 */
export interface RedisTlsMaterial {
  ca: string;
  cert?: string;
  key?: string;
  servername?: string;
}

type Kind = NodeKind | 'proxy-plain' | 'proxy-tls';

/**
 * A small pool of ioredis connections, one per endpoint and kind, reused across polls.
 * Commands fail fast (no retries, bounded timeouts); a broken connection is dropped and made anew.
 */
export class RedisConnections {
  /** One connection per key; the promise is stored at once, so parallel first calls share it. */
  private readonly clients = new Map<string, Promise<Redis>>();
  private readonly access: RedisAccess;
  constructor(access: RedisAccess) {
    this.access = access;
  }

  async run<T>(
    kind: Kind,
    endpoint: Endpoint,
    timeoutMs: number,
    fn: (client: Redis) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.runOnce(kind, endpoint, timeoutMs, fn);
    } catch (error) {
      // A pooled connection whose server closed it (a restarted node, Sentinel's CLIENT KILL after a promotion)
      // fails its next command at once; the node may answer fine on a new one: try once more on a fresh one.
      // Never after a timeout, which a second try would only double.
      if (!(error instanceof StaleConnectionError)) throw error;
      return await this.runOnce(kind, endpoint, timeoutMs, fn).catch((retryError: unknown) => {
        throw retryError instanceof StaleConnectionError ? retryError.unreachable : retryError;
      });
    }
  }

  private async runOnce<T>(
    kind: Kind,
    endpoint: Endpoint,
    timeoutMs: number,
    fn: (client: Redis) => Promise<T>,
  ): Promise<T> {
    // A TLS and a plain connection to one address are different connections (the transport is part of the key).
    const key = `${kind}/${this.transport(kind)(endpoint)}/${endpoint.host}:${endpoint.port}`;
    let pending = this.clients.get(key);
    const reused = pending !== undefined;
    try {
      let client = pending !== undefined ? await pending : undefined;
      if (!client || client.status === 'end' || client.status === 'close') {
        if (pending && this.clients.get(key) === pending) this.clients.delete(key);
        pending = this.connectShared(kind, endpoint, timeoutMs, key);
        client = await pending;
      }
      return await withTimeout(fn(client), timeoutMs, `${kind} ${endpoint.host}:${endpoint.port}`);
    } catch (error) {
      const tlsProblem = tlsFailure(error);
      if (tlsProblem) {
        this.drop(key, pending);
        throw new UnreachableError(
          `TLS to ${kind} ${endpoint.host}:${endpoint.port} failed: ${tlsReason(error)}; ${tlsProblem}`,
          { cause: error },
        );
      }
      if (isConnectionError(error)) {
        this.drop(key, pending);
        const unreachable = new UnreachableError(
          `${kind} ${endpoint.host}:${endpoint.port} did not answer: ${describe(error)}`,
          { cause: error },
        );
        throw reused && isClosedConnection(error) ? new StaleConnectionError(unreachable) : unreachable;
      }
      throw error;
    }
  }

  /** Forget a pooled connection that failed, if it is still the one pooled under `key`, and close it. */
  private drop(key: string, pending: Promise<Redis> | undefined): void {
    if (pending && this.clients.get(key) === pending) {
      this.clients.delete(key);
      void pending.then((c) => c.disconnect()).catch(() => undefined);
    }
  }

  private transport(kind: Kind): (endpoint: Endpoint) => Transport {
    if (kind === 'proxy-tls') return () => 'tls';
    if (kind === 'proxy-plain') return () => 'plain';
    return (endpoint) => this.access.transport?.(kind, endpoint) ?? 'plain';
  }

  private connectShared(kind: Kind, endpoint: Endpoint, timeoutMs: number, key: string): Promise<Redis> {
    const existing = this.clients.get(key);
    if (existing !== undefined) return existing;
    const created = (async () => {
      const options = await this.options(kind, endpoint, timeoutMs);
      const client = new Redis(options);
      // Errors surface on the command that hit them; but a failed TLS handshake only closes the connection
      // ("Connection is closed"), and its cause comes as an error event: keep it to say what went wrong.
      let handshake: Error | undefined;
      client.on('error', (error: Error) => {
        if (tlsFailure(error)) handshake ??= error;
      });
      try {
        await withTimeout(client.connect(), timeoutMs, `connect to ${key}`);
      } catch (error) {
        client.disconnect();
        throw (
          handshake ??
          (isClosedConnection(error) && noClientCert(kind, options) ? CLIENT_CERT_REQUIRED() : error)
        );
      }
      return client;
    })();
    this.clients.set(key, created);
    created.catch(() => {
      if (this.clients.get(key) === created) this.clients.delete(key);
    });
    return created;
  }

  /** A fresh, unpooled connection (for subscribers and one-off probes). */
  async open(
    kind: Kind,
    endpoint: Endpoint,
    timeoutMs: number,
    extra: Partial<RedisOptions> = {},
  ): Promise<Redis> {
    return new Redis({ ...(await this.options(kind, endpoint, timeoutMs)), ...extra });
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((p) => p.then((c) => c.disconnect()).catch(() => undefined)));
  }

  private async options(kind: Kind, endpoint: Endpoint, timeoutMs: number): Promise<RedisOptions> {
    const password =
      kind === 'sentinel'
        ? await this.access.sentinelPassword(endpoint)
        : await this.access.redisPassword(endpoint);
    const tls = await this.tlsOptions(kind, endpoint);
    return {
      host: endpoint.host,
      port: endpoint.port,
      ...(password ? { password } : {}),
      ...(tls ? { tls } : {}),
      // CLIENT LIST shows ha-redis' own admin connections by name (its fence probes are writes, refused).
      connectionName: kind === 'redis' ? 'ha-redis-admin' : 'ha-redis',
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableReadyCheck: kind !== 'sentinel',
    };
  }

  /**
   * Node's TLS options, or undefined for plain TCP. The certificate is always verified: against the CA, and
   * for the IP address connected to (an IP subjectAltName), or for `servername` when the configuration gives one.
   */
  private async tlsOptions(kind: Kind, endpoint: Endpoint): Promise<ConnectionOptions | undefined> {
    if (kind === 'proxy-plain') return undefined;
    if (kind === 'proxy-tls') {
      const ca = await this.access.ca?.(endpoint);
      return ca ? { ca } : {};
    }
    if (this.transport(kind)(endpoint) === 'plain') return undefined;
    if (!this.access.tlsMaterial) {
      throw new ConfigurationError(
        `${kind} ${endpoint.host}:${endpoint.port} is reached over TLS, but no CA is configured for it`,
      );
    }
    const { ca, cert, key, servername } = await this.access.tlsMaterial(kind, endpoint);
    return {
      ca,
      ...(cert && key ? { cert, key } : {}),
      ...(servername ? { servername } : {}),
      rejectUnauthorized: true,
    };
  }
}

/** OpenSSL's reason (`tlsv13 alert certificate required`) rather than its whole line with source positions. */
const tlsReason = (error: unknown): string => {
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' && reason ? reason : describe(error);
};

/** A node or Sentinel reached over TLS without a client certificate. */
const noClientCert = (kind: Kind, options: RedisOptions): boolean =>
  (kind === 'redis' || kind === 'sentinel') && options.tls !== undefined && !options.tls.cert;

/**
 * A TLS-only Redis that requires a client certificate (`tls-auth-clients yes`, its default) and gets none
 * closes the connection right after the handshake, with no TLS alert: only the missing certificate tells why.
 */
const CLIENT_CERT_REQUIRED = () =>
  Object.assign(
    new Error(
      'the connection was closed right after the TLS handshake, and no client certificate was presented',
    ),
    {
      code: 'HA_REDIS_CLIENT_CERT_REQUIRED',
    },
  );

/**
 * What to check when a TLS connection fails, by the error's code; undefined when the error is no TLS failure.
 * Messages never carry a certificate or a key, only what is wrong with them.
 */
function tlsFailure(error: unknown): string | undefined {
  // A reply of the server (ioredis' ReplyError) is an answer, whatever its text.
  if (!(error instanceof Error) || error.name === 'ReplyError') return undefined;
  const code = String((error as { code?: unknown }).code ?? '');
  const text = `${code} ${error.message}`;
  if (/ALTNAME|Hostname\/IP does not match/i.test(text)) {
    return "its certificate does not name the address connected to: give it the host's IP address as a subjectAltName (IP:<address>), or set the cluster's tls.servername to the DNS name it carries";
  }
  if (
    /CERT_REQUIRED|certificate required|BAD_CERTIFICATE|bad certificate|UNKNOWN_CA|unknown ca/i.test(text)
  ) {
    return 'it wants a client certificate it trusts (tls-auth-clients, yes by default): name one signed by its tls-ca-cert-file in secrets.redisClientCert';
  }
  if (/WRONG_VERSION_NUMBER|wrong version number|packet length too long/i.test(text)) {
    return "the port does not speak TLS: give the node's or Sentinel's tls-port, or turn tls off for it";
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|certificate/i.test(text)) {
    return 'its certificate does not chain to the configured CA: secrets.tlsCa must name the CA that signed it';
  }
  return /ERR_SSL|ERR_TLS|EPROTO/.test(code) ? 'check its TLS settings (tls-port, certificates)' : undefined;
}

const CONNECTION_ERRORS =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|Connection is closed|Stream isn't writeable|timed out|Command timed out|connect/i;

/** A pooled connection found closed: the command failed at once, without waiting for an answer. */
class StaleConnectionError extends Error {
  readonly unreachable: UnreachableError;
  constructor(unreachable: UnreachableError) {
    super(unreachable.message, { cause: unreachable });
    this.unreachable = unreachable;
  }
}

const isClosedConnection = (error: unknown): boolean =>
  error instanceof Error &&
  /Connection is closed|ECONNRESET|EPIPE|Stream isn't writeable/i.test(
    `${error.message} ${(error as { code?: string }).code ?? ''}`,
  );

function isConnectionError(error: unknown): boolean {
  return (
    error instanceof Error &&
    CONNECTION_ERRORS.test(`${error.message} ${(error as { code?: string }).code ?? ''}`)
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Reject after `ms` unless the promise settles first. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

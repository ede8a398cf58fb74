import { Redis } from 'ioredis';
import { masterNameOf, parseSentinelMessage } from '../../core/failover/sentinel-event.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import { errorMessage } from '../../core/model/errors.ts';
import type { Logger } from '../../core/ports.ts';
import { SENTINEL_EVENT_CONTRACT, type SentinelEnvelope } from '../sentinel-events.ts';
import type { HostTls } from '../tls-files.ts';

/** Where the bridge sends envelopes: SNS in AWS, the in-process bus locally. */
export interface Publisher {
  publish(envelope: SentinelEnvelope): Promise<void>;
}

export interface BridgeStats {
  received: number;
  published: number;
  unknown: number;
  malformed: number;
  publishFailures: number;
  /** Envelopes published by a retry, after their first attempt failed. */
  republished: number;
  /** Envelopes given up: the retry buffer was full (the oldest goes), or their retries ran out. */
  dropped: number;
  reconnects: number;
  /** Events of a shared Sentinel that name no master this bridge maps to a cluster (see `masters`). */
  unattributed: number;
}

export interface BridgeOptions {
  /** The cluster every event belongs to; with `masters`, the cluster of events that name no master. */
  cluster: string;
  /**
   * A Sentinel that monitors several masters (a host set's `shared` layout): the cluster of each master name.
   * An event that names a master goes to that master's cluster, or nowhere. `+new-epoch` and `+tilt` go to
   * every cluster. A `+vote-for-leader` names no master, and a Sentinel's epochs are shared by all its masters,
   * so it cannot be told which failover it belongs to: it is dropped, and those clusters are confirmed by the
   * Sentinels' views (SENTINEL MASTER, per master) rather than by the election.
   */
  masters?: ReadonlyMap<string, string>;
  sentinel: Endpoint;
  password?: string | undefined;
  /** A TLS-only Sentinel: the CA its certificate chains to, and the client certificate it asks for (PEMs). */
  tls?: HostTls | undefined;
  publisher: Publisher;
  logger: Logger;
  now?: () => number;
  /** Envelopes kept for a retry after a failed publish (RETRY_BUFFER by default); the oldest goes first when full. */
  retryBuffer?: number;
  /** Pause between retries of the buffer (RETRY_EVERY_MS by default). */
  retryEveryMs?: number;
}

/**
 * A publish that fails (SNS throttled, a network blip, credentials being refreshed) is retried: up to this many
 * envelopes wait, in order, for RETRY_ATTEMPTS tries RETRY_EVERY_MS apart. A failover makes ~45 events, so
 * this holds ~20 failovers' worth; an event retried late only triggers the core, which acts on the present state.
 */
export const RETRY_BUFFER = 1000;
export const RETRY_EVERY_MS = 1000;
export const RETRY_ATTEMPTS = 60;

/** Reconnect backoff: fast at first (a restarted Sentinel is back in ms), capped so a long outage costs little. */
export const bridgeBackoffMs = (attempt: number): number =>
  Math.min(50 * 2 ** Math.max(0, attempt - 1), 2000);

/**
 * Subscribes to every event channel of one Sentinel (`PSUBSCRIBE *`), parses each message,
 * and publishes it as a sentinel-event envelope. Unknown or malformed messages are logged and counted.
 */
export class SentinelBridge {
  readonly stats: BridgeStats = {
    received: 0,
    published: 0,
    unknown: 0,
    malformed: 0,
    publishFailures: 0,
    republished: 0,
    dropped: 0,
    reconnects: 0,
    unattributed: 0,
  };
  private client: Redis | undefined;
  /** Envelopes waiting for a retry, oldest first, with the tries they had. */
  private readonly waiting: { envelope: SentinelEnvelope; tries: number }[] = [];
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The first PSUBSCRIBE succeeded (ioredis subscribes again on each reconnect). */
  private psubscribed = false;
  private readonly options: BridgeOptions;

  constructor(options: BridgeOptions) {
    this.options = options;
  }

  /** Resolves once subscribed; keeps reconnecting with backoff afterwards. */
  async start(): Promise<void> {
    const { sentinel, password, tls, logger, cluster } = this.options;
    const client = new Redis({
      host: sentinel.host,
      port: sentinel.port,
      ...(password ? { password } : {}),
      ...(tls ? { tls: { ...tls, rejectUnauthorized: true } } : {}),
      enableReadyCheck: false,
      lazyConnect: true,
      connectTimeout: 2000,
      maxRetriesPerRequest: null,
      retryStrategy: (attempt) => {
        this.stats.reconnects += 1;
        return bridgeBackoffMs(attempt);
      },
    });
    this.client = client;
    client.on('error', (error) =>
      logger.warn('sentinel connection error', { cluster, sentinel, error: error.message }),
    );
    client.on('ready', () => logger.info('subscribed to sentinel', { cluster, sentinel }));
    client.on('pmessage', (_pattern: string, channel: string, message: string) => {
      void this.handle(channel, message);
    });
    await client.connect();
    await client.psubscribe('*');
    this.psubscribed = true;
  }

  async stop(): Promise<void> {
    this.client?.disconnect();
    this.client = undefined;
    this.psubscribed = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.waiting.length)
      this.options.logger.error('bridge stopped with sentinel events not published', {
        cluster: this.options.cluster,
        waiting: this.waiting.length,
      });
  }

  /** Connected to its Sentinel and subscribed: what its heartbeat counts as alive. */
  get subscribed(): boolean {
    return this.psubscribed && this.client?.status === 'ready';
  }

  /** Envelopes waiting for a retry. */
  get backlog(): number {
    return this.waiting.length;
  }

  /** Parse and publish one message; never throws. */
  async handle(channel: string, payload: string): Promise<void> {
    const { cluster, sentinel, logger } = this.options;
    const seenAt = (this.options.now ?? Date.now)();
    this.stats.received += 1;
    const parsed = parseSentinelMessage(channel, payload);
    if (!parsed.ok) {
      if (parsed.reason === 'unknown-channel') this.stats.unknown += 1;
      else this.stats.malformed += 1;
      logger.warn('sentinel message dropped', {
        cluster,
        sentinel,
        reason: parsed.reason,
        detail: parsed.message,
      });
      return;
    }
    const clusters = this.clustersOf(parsed.event);
    if (clusters.length === 0) {
      this.stats.unattributed += 1;
      logger.debug('sentinel event of no mapped master dropped', { cluster, sentinel, type: channel });
      return;
    }
    await Promise.all(
      clusters.map((c) =>
        this.publish({
          contract: SENTINEL_EVENT_CONTRACT.name,
          version: SENTINEL_EVENT_CONTRACT.version,
          cluster: c,
          sentinel,
          channel,
          payload,
          seenAt,
        }),
      ),
    );
  }

  /** The clusters an event belongs to: the bridge's one, or (a shared Sentinel) by the master it names. */
  private clustersOf(event: Parameters<typeof masterNameOf>[0]): string[] {
    const { masters, cluster } = this.options;
    if (!masters) return [cluster];
    const name = masterNameOf(event);
    if (name !== undefined) {
      const owner = masters.get(name);
      return owner ? [owner] : [];
    }
    if (event.type === '+vote-for-leader') return [];
    return [...new Set(masters.values())];
  }

  private async publish(envelope: SentinelEnvelope): Promise<void> {
    const { logger, publisher, sentinel } = this.options;
    const { cluster, channel } = envelope;
    try {
      await publisher.publish(envelope);
      this.stats.published += 1;
      logger.debug('sentinel event published', { cluster, sentinel, type: channel });
    } catch (error) {
      this.stats.publishFailures += 1;
      logger.error('sentinel event not published; it waits for a retry', {
        cluster,
        sentinel,
        type: channel,
        error: errorMessage(error),
      });
      this.keepForRetry(envelope);
    }
  }

  /** Into the retry buffer (the oldest goes when it is full), and a retry scheduled. */
  private keepForRetry(envelope: SentinelEnvelope): void {
    const limit = this.options.retryBuffer ?? RETRY_BUFFER;
    if (this.waiting.length >= limit) {
      const gone = this.waiting.shift();
      this.stats.dropped += 1;
      this.options.logger.error('sentinel event dropped: the retry buffer is full', {
        cluster: gone?.envelope.cluster,
        type: gone?.envelope.channel,
        limit,
      });
    }
    this.waiting.push({ envelope, tries: 1 });
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.waiting.length === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retryWaiting();
    }, this.options.retryEveryMs ?? RETRY_EVERY_MS);
    this.retryTimer.unref?.();
  }

  /** Publish the waiting envelopes in order; stop at the first failure (the publisher is still failing). */
  private async retryWaiting(): Promise<void> {
    const { logger, publisher } = this.options;
    while (this.waiting.length) {
      const next = this.waiting[0] as { envelope: SentinelEnvelope; tries: number };
      try {
        await publisher.publish(next.envelope);
        this.waiting.shift();
        this.stats.republished += 1;
      } catch (error) {
        next.tries += 1;
        if (next.tries > RETRY_ATTEMPTS) {
          this.waiting.shift();
          this.stats.dropped += 1;
          logger.error('sentinel event dropped after its retries', {
            cluster: next.envelope.cluster,
            type: next.envelope.channel,
            tries: next.tries - 1,
            error: errorMessage(error),
          });
          continue;
        }
        break;
      }
    }
    this.scheduleRetry();
  }
}

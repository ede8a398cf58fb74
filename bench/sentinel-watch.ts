/** Listens to every Sentinel (PSUBSCRIBE *) and keeps the first time each event was published by any of them. */
import { Redis } from 'ioredis';
import type { Endpoint } from '../core/model/cluster.ts';

export interface SeenEvent {
  at: number;
  sentinel: Endpoint;
  message: string;
}

export class SentinelWatch {
  /** Event channel -> its first sighting on any Sentinel. */
  private readonly first = new Map<string, SeenEvent>();
  /** Event channel -> every distinct message (the same event from 3 Sentinels is one). */
  private readonly messages = new Map<string, Set<string>>();
  private readonly clients: Redis[] = [];

  /** Resolves once subscribed to every Sentinel. */
  async start(sentinels: readonly Endpoint[], password: string): Promise<void> {
    await Promise.all(
      sentinels.map(async (sentinel) => {
        const client = new Redis({
          host: sentinel.host,
          port: sentinel.port,
          password,
          lazyConnect: true,
          enableReadyCheck: false,
          connectTimeout: 2000,
          maxRetriesPerRequest: null,
          retryStrategy: () => 50,
        });
        client.on('error', () => undefined); // a Sentinel may restart; the first sighting elsewhere still counts
        client.on('pmessage', (_pattern: string, channel: string, message: string) => {
          if (!this.first.has(channel)) this.first.set(channel, { at: Date.now(), sentinel, message });
          const seen = this.messages.get(channel) ?? new Set<string>();
          this.messages.set(channel, seen.add(message));
        });
        this.clients.push(client);
        await client.connect();
        await client.psubscribe('*');
      }),
    );
  }

  /** The earliest first sighting among `channels`. */
  firstOf(...channels: string[]): SeenEvent | undefined {
    return channels
      .map((c) => this.first.get(c))
      .filter((e): e is SeenEvent => e !== undefined)
      .sort((a, b) => a.at - b.at)[0];
  }

  /** The distinct messages of `channel`, e.g. one `+switch-master` per failover. */
  distinct(channel: string): string[] {
    return [...(this.messages.get(channel) ?? [])];
  }

  stop(): void {
    for (const c of this.clients) c.disconnect();
  }
}

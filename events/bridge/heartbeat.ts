import { errorMessage } from '../../core/model/errors.ts';
import { BRIDGE_METRICS } from '../../core/model/metrics.ts';
import type { Logger } from '../../core/ports.ts';

/** One count of a bridge metric, for one minute. */
export interface MetricDatum {
  name: string;
  dimensions: Readonly<Record<string, string>>;
  /** The start of the minute the value is for. */
  timestamp: Date;
  value: number;
}

/**
 * Where heartbeats go: CloudWatch in AWS. `put` stores every datum of a call or rejects (the caller sends them
 * again); it may take seconds, and it never sees a secret.
 */
export interface MetricSink {
  put(datums: readonly MetricDatum[]): Promise<void>;
}

/** What a heartbeat reports of its bridge (SentinelBridge has each). */
export interface HeartbeatSource {
  /** Connected to its Sentinel with its subscription: only then does the bridge count as alive. */
  readonly subscribed: boolean;
  /** Envelopes waiting for a retry. */
  readonly backlog: number;
  readonly stats: { readonly dropped: number };
}

export interface HeartbeatOptions {
  source: HeartbeatSource;
  sink: MetricSink;
  /** The events topic's name (the last part of its ARN): the EventsTopic dimension. */
  topic: string;
  /** The Sentinel the bridge subscribes to, host:port: the Bridge dimension. */
  bridge: string;
  logger: Logger;
  now?: () => number;
  /** Where in each minute this bridge sends, in ms (random below HEARTBEAT_SPREAD_MS by default). */
  offsetMs?: number;
}

/** Bridges send at a point of their own in the first 45 s of each minute, so 1500 of them make ~33 requests a second. */
export const HEARTBEAT_SPREAD_MS = 45_000;
/** Minutes whose heartbeat could not be sent and goes with the next one (the alarm looks back 5 minutes). */
export const HEARTBEAT_RESEND_MINUTES = 5;

const MINUTE = BRIDGE_METRICS.periodMs;
const minuteOf = (at: number): number => Math.floor(at / MINUTE) * MINUTE;

/**
 * A bridge's heartbeat: once a minute, `BridgeHeartbeat` = 1 stamped with that minute (twice: for the deployment's
 * count, which the stack alarms on, and for this bridge alone), while the bridge is subscribed; and its backlog and
 * the events it dropped since. The first goes out in the minute after start, so a restarted bridge never counts
 * twice in a minute. A heartbeat that fails is logged and sent again with the next; nothing here ever throws into
 * the bridge.
 */
export class BridgeHeartbeat {
  private readonly options: HeartbeatOptions;
  private readonly offsetMs: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Minutes the bridge was alive whose heartbeat is not sent yet, oldest first. */
  private unsent: number[] = [];
  private lastMinute: number | undefined;
  /** stats.dropped as last sent. */
  private droppedSent = 0;
  private sending = false;

  constructor(options: HeartbeatOptions) {
    this.options = options;
    this.offsetMs = options.offsetMs ?? Math.floor(Math.random() * HEARTBEAT_SPREAD_MS);
    this.droppedSent = options.source.stats.dropped;
  }

  /** Sends from the next minute on. */
  start(): void {
    const now = this.now();
    this.lastMinute = minuteOf(now);
    this.schedule(now);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One heartbeat for the minute of `at`, with those not sent before; never throws. */
  async beat(at = this.now()): Promise<void> {
    const minute = minuteOf(at);
    const { source, sink, logger, bridge, topic } = this.options;
    if (source.subscribed && minute !== this.lastMinute) {
      this.unsent = [...this.unsent, minute].slice(-HEARTBEAT_RESEND_MINUTES);
    }
    this.lastMinute = minute;
    // One request at a time: one still in flight sends these minutes' heartbeats with the next.
    if (this.sending) return;
    this.sending = true;
    const dropped = source.stats.dropped;
    const minutes = this.unsent;
    try {
      await sink.put(this.datums(minutes, minute, source.backlog, dropped - this.droppedSent));
      this.unsent = this.unsent.filter((m) => !minutes.includes(m));
      this.droppedSent = dropped;
    } catch (error) {
      logger.error('bridge heartbeat not sent; it goes with the next one', {
        topic,
        bridge,
        minutes: this.unsent.length,
        error: errorMessage(error),
      });
    } finally {
      this.sending = false;
    }
  }

  private datums(minutes: number[], now: number, backlog: number, dropped: number): MetricDatum[] {
    const { topic, bridge } = this.options;
    const deployment = { [BRIDGE_METRICS.topicDimension]: topic };
    const ofBridge = { ...deployment, [BRIDGE_METRICS.bridgeDimension]: bridge };
    const at = (m: number) => new Date(m);
    return [
      ...minutes.flatMap((m) => [
        { name: BRIDGE_METRICS.heartbeat, dimensions: deployment, timestamp: at(m), value: 1 },
        { name: BRIDGE_METRICS.heartbeat, dimensions: ofBridge, timestamp: at(m), value: 1 },
      ]),
      { name: BRIDGE_METRICS.backlog, dimensions: deployment, timestamp: at(now), value: backlog },
      { name: BRIDGE_METRICS.dropped, dimensions: deployment, timestamp: at(now), value: dropped },
    ];
  }

  /**
   * At this bridge's point of the next minute, then each minute after (no drift: each is set from the clock), whether
   * or not the previous request has answered.
   */
  private schedule(now: number): void {
    const next = minuteOf(now) + MINUTE + this.offsetMs;
    this.timer = setTimeout(() => {
      this.schedule(this.now());
      void this.beat();
    }, next - now);
    this.timer.unref?.();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

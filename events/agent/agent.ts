import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { probeConnect } from '../../adapters/redis/redis-nodes.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import { errorMessage } from '../../core/model/errors.ts';
import type { Logger } from '../../core/ports.ts';
import { NODE_EVENT_CONTRACT, type NodeEnvelope, type NodeExitEvidence } from '../node-events.ts';
import type { HostTls } from '../tls-files.ts';

/**
 * The node agent: on a Redis host, it holds one connection to each local redis-server. When a connection
 * closes, it checks at once whether the process is gone and a new connect is refused; if both hold, it publishes
 * a `node-exited` event (the node-event contract) within a few ms of the exit. A stopped (SIGSTOP), slow or
 * cut-off node closes no connection, and a node whose process lives on is no exit: neither is reported.
 */

/** Where the agent sends its events: SNS in AWS, the local orchestrator over loopback HTTP. */
export interface NodeEventPublisher {
  publish(envelope: NodeEnvelope): Promise<void>;
}

/** One node the agent watches, and the cluster it belongs to. */
export interface WatchedNode {
  cluster: string;
  node: Endpoint;
}

export interface NodeAgentOptions {
  nodes: readonly WatchedNode[];
  password?: string | undefined;
  /** TLS-only nodes: the CA their certificates chain to, and the client certificate they ask for. */
  tls?: HostTls | undefined;
  publisher: NodeEventPublisher;
  logger: Logger;
  /** The agent's host, for the record (default: the host name). */
  host?: string;
  /** How often the node's role and offset are read, for the evidence (default 250 ms). */
  infoEveryMs?: number;
  now?: () => number;
}

export interface NodeAgentStats {
  exits: number;
  published: number;
  publishFailures: number;
  /** Connections that closed while the process lived on, or while its port still answered. */
  closesWithoutExit: number;
}

/** What a node said last. */
interface LastInfo {
  pid: number;
  role: NodeExitEvidence['lastRole'];
  offset: number;
  at: number;
}

const RECONNECT_MS = 100;
/**
 * The kernel tears a dying process down in steps: the agent's connection can close while the pid still runs its
 * exit, and while its listening socket still completes handshakes from its backlog (a connect is `accepted`,
 * then reset: seen in 1 of 10 bench runs). Look again, every 5 ms, for this long before calling a close no exit.
 */
const EXIT_SETTLE_MS = 100;
const PUBLISH_ATTEMPTS = 3;

/** Whether no live process has this id (a zombie, killed but not reaped yet, counts as gone). */
export async function processGone(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return / Z /.test(stat.slice(stat.lastIndexOf(')') + 1, stat.lastIndexOf(')') + 4));
}

/**
 * Whether the process is gone and a connect to its port is refused, looked at every 5 ms for up to `ms`: the
 * last look's answers.
 */
async function exitWithin(
  pid: number,
  node: Endpoint,
  ms: number,
): Promise<{ gone: boolean; connect: Awaited<ReturnType<typeof probeConnect>> }> {
  const end = Date.now() + ms;
  for (;;) {
    const [gone, connect] = await Promise.all([processGone(pid), probeConnect(node, 500)]);
    if ((gone && connect === 'refused') || Date.now() >= end) return { gone, connect };
    await new Promise((r) => setTimeout(r, 5));
  }
}

export class NodeAgent {
  readonly stats: NodeAgentStats = { exits: 0, published: 0, publishFailures: 0, closesWithoutExit: 0 };
  readonly runId = randomUUID();
  private readonly options: NodeAgentOptions;
  private readonly watches: NodeWatch[] = [];

  constructor(options: NodeAgentOptions) {
    this.options = options;
  }

  /** Start watching every node; resolves at once (a node that is down now is watched from when it answers). */
  start(): void {
    for (const watched of this.options.nodes) {
      const watch = new NodeWatch(watched, this.options, (evidence, exitedAt) => {
        if (!evidence) {
          this.stats.closesWithoutExit += 1;
          return Promise.resolve();
        }
        return this.report(watched, evidence, exitedAt);
      });
      this.watches.push(watch);
      watch.connect();
    }
  }

  async stop(): Promise<void> {
    for (const watch of this.watches) watch.stop();
  }

  /** Whether every watched node has been read at least once (for tests and readiness). */
  ready(): boolean {
    return this.watches.every((w) => w.connected());
  }

  private async report(watched: WatchedNode, evidence: NodeExitEvidence, exitedAt: number): Promise<void> {
    const { logger, publisher } = this.options;
    const now = this.options.now ?? Date.now;
    this.stats.exits += 1;
    const envelope: NodeEnvelope = {
      contract: NODE_EVENT_CONTRACT.name,
      version: NODE_EVENT_CONTRACT.version,
      type: 'node-exited',
      cluster: watched.cluster,
      node: watched.node,
      agent: { host: this.options.host ?? hostname(), runId: this.runId },
      exitedAt,
      evidence,
      seenAt: now(),
    };
    for (let attempt = 1; attempt <= PUBLISH_ATTEMPTS; attempt += 1) {
      try {
        await publisher.publish(envelope);
        this.stats.published += 1;
        logger.info('node exit published', { cluster: watched.cluster, node: watched.node, evidence });
        return;
      } catch (error) {
        logger.warn('node exit not published', {
          cluster: watched.cluster,
          attempt,
          error: errorMessage(error),
        });
        await new Promise((r) => setTimeout(r, 20 * attempt));
      }
    }
    this.stats.publishFailures += 1;
  }
}

/** One node: a connection held open, its role and offset read every `infoEveryMs`, a check when it closes. */
class NodeWatch {
  private client: Redis | undefined;
  private last: LastInfo | undefined;
  private poll: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly watched: WatchedNode;
  private readonly options: NodeAgentOptions;
  /** Called on every close: with the evidence of an exit, or with none. */
  private readonly onExit: (evidence: NodeExitEvidence | undefined, exitedAt: number) => Promise<void>;

  constructor(
    watched: WatchedNode,
    options: NodeAgentOptions,
    onExit: (evidence: NodeExitEvidence | undefined, exitedAt: number) => Promise<void>,
  ) {
    this.watched = watched;
    this.options = options;
    this.onExit = onExit;
  }

  connected(): boolean {
    return this.last !== undefined;
  }

  connect(): void {
    if (this.stopped) return;
    const { node } = this.watched;
    const client = new Redis({
      host: node.host,
      port: node.port,
      ...(this.options.password ? { password: this.options.password } : {}),
      ...(this.options.tls ? { tls: { ...this.options.tls, rejectUnauthorized: true } } : {}),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null, // this watch reconnects itself, after judging the close
      connectTimeout: 1000,
    });
    this.client = client;
    client.on('error', () => undefined); // a close follows; that is what is judged
    client.once('close', () => void this.closed(client));
    client
      .connect()
      .then(() => this.read(client))
      .catch(() => undefined);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.poll);
    this.client?.disconnect();
  }

  /** Read the pid once, then role and offset every `infoEveryMs`. */
  private async read(client: Redis): Promise<void> {
    const now = this.options.now ?? Date.now;
    const server = await client.info('server');
    const pid = Number(/process_id:(\d+)/.exec(server)?.[1]);
    const sample = async () => {
      const text = await client.info('replication');
      const role = /role:(\w+)/.exec(text)?.[1];
      const offset = Number(/master_repl_offset:(\d+)/.exec(text)?.[1] ?? 0);
      this.last = { pid, role: role === 'master' || role === 'slave' ? role : 'unknown', offset, at: now() };
    };
    await sample();
    this.poll = setInterval(() => void sample().catch(() => undefined), this.options.infoEveryMs ?? 250);
  }

  /** The connection closed: an exit when the process is gone and the port refuses; then watch the next one. */
  private async closed(client: Redis): Promise<void> {
    const exitedAt = (this.options.now ?? Date.now)();
    clearInterval(this.poll);
    const last = this.last;
    this.last = undefined;
    if (this.stopped || client !== this.client) return;
    if (last) {
      const { gone, connect } = await exitWithin(last.pid, this.watched.node, EXIT_SETTLE_MS);
      const evidence: NodeExitEvidence = {
        pid: last.pid,
        processGone: gone,
        connect: connect === 'unreachable' ? 'error' : connect,
        lastRole: last.role,
        lastOffset: last.offset,
        lastInfoAt: last.at,
      };
      if (gone && connect === 'refused') await this.onExit(evidence, exitedAt);
      else {
        await this.onExit(undefined, exitedAt);
        this.options.logger.info('connection to node closed, but no exit', {
          cluster: this.watched.cluster,
          node: this.watched.node,
          processGone: gone,
          connect,
        });
      }
    }
    setTimeout(() => this.connect(), RECONNECT_MS);
  }
}

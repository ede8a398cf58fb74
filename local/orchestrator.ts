/**
 * The local orchestrator runtime, started in the background by `ha-redis local up`:
 * one Sentinel bridge per Sentinel -> in-process bus -> the sentinel-event handler -> the core,
 * plus a periodic reconcile. One process serves one cluster, or every service of a host set.
 * Usage: node local/orchestrator.ts <descriptor.json> [<descriptor.json> ...]
 */
import { writeFile } from 'node:fs/promises';
import { ensureStateTable } from '../adapters/aws/dynamodb-state-store.ts';
import { InProcessBus, toSnsEvent } from '../adapters/host/bus.ts';
import { CriticalFirst } from '../adapters/host/critical-first.ts';
import { powertoolsLogger } from '../adapters/logging/powertools.ts';
import { LocalNotifier } from '../adapters/notify/local-notifier.ts';
import {
  clusterFromDescriptor,
  composeLocal,
  type LocalRuntime,
  localAccess,
  localDynamoClient,
} from '../compose/local.ts';
import { composeLocalSlack } from '../compose/slack-local.ts';
import { type Descriptor, readDescriptor } from '../config/local-descriptor.ts';
import { reconcile } from '../core/failover/handle-event.ts';
import { reactToFailover } from '../core/failover/react.ts';
import { StateStoreWatch } from '../core/failover/state-store-watch.ts';
import { ClusterRegistry, type Endpoint } from '../core/model/cluster.ts';
import { errorMessage } from '../core/model/errors.ts';
import type { ReactionPacer } from '../core/ports.ts';
import { SentinelBridge } from '../events/bridge/bridge.ts';
import type { NodeEnvelope } from '../events/node-events.ts';
import { SUBSCRIBED_EVENT_TYPES } from '../events/subscription.ts';
import { makeSentinelEventHandler } from '../functions/sentinel-event/handler.ts';
import { serialized } from '../functions/sentinel-event/serialize.ts';
import { makeSlackHandler } from '../functions/slack/handler.ts';
import { serveOnLoopback } from './http-endpoint.ts';
import { serveLivePage } from './live/live-page.ts';
import { LocalWorkflowStarter } from './workflows.ts';

const RECONCILE_EVERY_MS = 5000; // safety net for a lost event; events are the fast path
/** How often the descriptors are read again (a move changes a cluster's members while the orchestrator runs). */
const DESCRIPTOR_WATCH_MS = 1000;

type Log = ReturnType<typeof powertoolsLogger>;

/** One cluster (a service, in a host set) served by this process: its ports, its handler, its Slack endpoint. */
interface Served {
  /** Where the descriptor is read again from (a move changes the cluster's members while it runs). */
  path: string;
  descriptor: Descriptor;
  runtime: LocalRuntime;
  handle: ReturnType<typeof makeSentinelEventHandler>;
  consoleNotifier: LocalNotifier;
  workflows: LocalWorkflowStarter;
  slackEndpoint: { url: string; close(): Promise<void> } | undefined;
}

/** Compose one cluster: outcomes to its notifications file, the console and a webhook; its Slack endpoint. */
async function serve(
  path: string,
  descriptor: Descriptor,
  logger: Log,
  storeWatch: StateStoreWatch,
  pacer: ReactionPacer,
): Promise<Served> {
  const runtime = composeLocal(descriptor, logger, {}, pacer);
  const { cluster, deps } = runtime;
  const consoleNotifier = new LocalNotifier({
    logger,
    ...(descriptor.notifyWebhookUrl ? { webhookUrl: descriptor.notifyWebhookUrl } : {}),
  });
  runtime.notifier.onNotification((n) => void consoleNotifier.publish(n));
  // The cluster's definition as it is at each event: a move replaces runtime.cluster while this runs.
  const handle = makeSentinelEventHandler(() => ({
    clusters: new ClusterRegistry([runtime.cluster]),
    failover: deps,
    storeWatch,
  }));
  // The Slack front door on loopback: the same handler as the Lambda behind a Function URL.
  const served: Partial<Served> = { path, descriptor };
  const workflows = new LocalWorkflowStarter(() => served.descriptor ?? descriptor, logger);
  const slackEndpoint = descriptor.slack.endpointUrl
    ? await (() => {
        const slackDeps = composeLocalSlack(descriptor, runtime, workflows, logger);
        return serveOnLoopback(
          Number(new URL(descriptor.slack.endpointUrl).port),
          makeSlackHandler(() => slackDeps),
          (error) =>
            logger.error('slack endpoint failed', { cluster: cluster.name, error: errorMessage(error) }),
        );
      })()
    : undefined;
  return Object.assign(served, { runtime, handle, consoleNotifier, workflows, slackEndpoint }) as Served;
}

/**
 * One bridge per Sentinel process. A Sentinel that monitors several of the served masters (a host set's shared
 * Sentinels) gets one bridge that sends each event to its master's cluster. `sync` follows the served clusters'
 * Sentinels as they change (a move hands a service over to other Sentinels): it starts the bridges of new ones and
 * stops those of Sentinels no cluster names any more.
 */
class Bridges {
  private readonly running = new Map<string, { bridge: SentinelBridge; masters: string }>();
  private readonly bus: InProcessBus;
  private readonly logger: Log;
  constructor(bus: InProcessBus, logger: Log) {
    this.bus = bus;
    this.logger = logger;
  }

  get all(): SentinelBridge[] {
    return [...this.running.values()].map((r) => r.bridge);
  }

  async sync(served: Served[]): Promise<void> {
    const bySentinel = new Map<string, { sentinel: Endpoint; masters: Map<string, string> }>();
    for (const { runtime } of served) {
      for (const sentinel of runtime.cluster.sentinels) {
        const key = `${sentinel.host}:${sentinel.port}`;
        const entry = bySentinel.get(key) ?? { sentinel, masters: new Map<string, string>() };
        entry.masters.set(runtime.cluster.masterName, runtime.cluster.name);
        bySentinel.set(key, entry);
      }
    }
    const first = served[0];
    if (!first) return;
    const password = await localAccess(first.descriptor).sentinelPassword();
    const stops: Promise<void>[] = [];
    for (const [key, { bridge, masters }] of this.running) {
      const wanted = bySentinel.get(key);
      if (wanted && JSON.stringify([...wanted.masters]) === masters) continue;
      this.running.delete(key);
      stops.push(bridge.stop());
    }
    await Promise.all(stops);
    const starts: Promise<void>[] = [];
    for (const [key, { sentinel, masters }] of bySentinel) {
      if (this.running.has(key)) continue;
      const [only] = masters.values();
      const bridge = new SentinelBridge({
        cluster: only ?? first.runtime.cluster.name,
        sentinel,
        password,
        publisher: this.bus,
        logger: this.logger,
        ...(masters.size > 1 ? { masters } : {}),
      });
      this.running.set(key, { bridge, masters: JSON.stringify([...masters]) });
      // A bridge that cannot start is forgotten, so the next sync (the next change) tries it again.
      starts.push(
        bridge.start().catch((error: unknown) => {
          this.running.delete(key);
          throw error;
        }),
      );
    }
    await Promise.all(starts);
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((b) => b.stop()));
  }
}

/**
 * Read the served descriptors again every second. A change of a cluster's members (a move) becomes its definition
 * between two of its reactions (serialized with them), and the bridges follow its Sentinels.
 */
function watchDescriptors(served: Served[], bridges: Bridges, logger: Log): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      let changed = false;
      for (const s of served) {
        const now = await readDescriptor(s.path).catch(() => undefined);
        if (!now || JSON.stringify(now) === JSON.stringify(s.descriptor)) continue;
        await serialized(s.runtime.cluster.name, async () => {
          s.descriptor = now;
          s.runtime.cluster = clusterFromDescriptor(now);
        });
        changed = true;
        logger.info('cluster definition read again', {
          cluster: now.cluster,
          nodes: now.nodes.map((n) => n.id),
          sentinels: now.sentinels.map((x) => x.id),
          proxies: now.proxies.map((p) => p.id),
        });
      }
      if (changed) await bridges.sync(served);
    })()
      .catch((error: unknown) =>
        logger.error('reading the descriptors again failed', { error: errorMessage(error) }),
      )
      .finally(() => {
        busy = false;
      });
  }, DESCRIPTOR_WATCH_MS);
  return () => clearInterval(timer);
}

/**
 * The node agents' way in (`local up --node-agent`): each POSTs a node-event envelope, which goes on the bus as
 * SNS would carry it; the handler validates it. 202 once it is on the bus, 400 for a body that is no JSON object.
 */
async function serveAgentEvents(
  d: Descriptor,
  bus: InProcessBus,
  logger: Log,
): Promise<{ close(): Promise<void> } | undefined> {
  if (!d.agentEventsUrl) return undefined;
  return serveOnLoopback(
    Number(new URL(d.agentEventsUrl).port),
    async ({ body }) => {
      let envelope: unknown;
      try {
        envelope = JSON.parse(body);
      } catch {
        return { statusCode: 400, headers: { 'content-type': 'text/plain' }, body: 'not JSON\n' };
      }
      if (typeof envelope !== 'object' || envelope === null || !('cluster' in envelope)) {
        return { statusCode: 400, headers: { 'content-type': 'text/plain' }, body: 'no envelope\n' };
      }
      await bus.publish(envelope as NodeEnvelope);
      return { statusCode: 202, headers: { 'content-type': 'text/plain' }, body: 'accepted\n' };
    },
    (error) => logger.error('agent events endpoint failed', { error: errorMessage(error) }),
  );
}

/** The live page, when the launcher reserved its port. A page that cannot be served never stops failovers. */
async function startLivePage(
  descriptors: Descriptor[],
  logger: Log,
): Promise<{ url: string; close(): Promise<void> } | undefined> {
  const url = descriptors[0]?.livePageUrl;
  if (!url) return undefined;
  try {
    return await serveLivePage(url, descriptors, (error) =>
      logger.error('live page failed', { error: errorMessage(error) }),
    );
  } catch (error) {
    logger.error('live page not served', { url, error: errorMessage(error) });
    return undefined;
  }
}

/** Adopt the current master on first start (claims its epoch, points every proxy, writes DNS, verifies). */
async function adopt(s: Served, logger: Log): Promise<void> {
  const { cluster, deps } = s.runtime;
  if (await deps.state.appliedEpoch(cluster.name)) return;
  const adopted = await serialized(cluster.name, () =>
    reactToFailover(cluster, { type: 'adopt', seenAt: Date.now() }, deps),
  );
  logger.info('adopted the current master', { cluster: cluster.name, outcome: adopted.action });
}

async function main(): Promise<void> {
  const paths = process.argv.slice(2);
  if (paths.length === 0) throw new Error('usage: orchestrator.ts <descriptor.json> [<descriptor.json> ...]');
  const descriptors = await Promise.all(paths.map((p) => readDescriptor(p)));
  const logger = powertoolsLogger('ha-redis-local');
  const first = descriptors[0] as Descriptor;
  const dynamo = localDynamoClient(first.stateStore.endpoint);
  await ensureStateTable(dynamo, first.stateStore.table);
  dynamo.destroy();
  // People are told when the state store stops answering, and when it answers again: once, by the event
  // handler or the reconcile, whichever meets it first.
  const store = new StateStoreWatch();
  // One pacer for every service served here: a host's loss fails them over together (see ReactionPacer).
  const pacer = new CriticalFirst();
  const served = await Promise.all(
    descriptors.map((d, i) => serve(paths[i] as string, d, logger, store, pacer)),
  );
  const byName = new Map(served.map((s) => [s.runtime.cluster.name, s]));

  // Each event to its cluster's handler; different clusters' reactions run concurrently, one cluster's in turn. Only
  // the event types the Lambda is subscribed to in AWS (an event that needs no action takes no turn in the queue).
  const bus = new InProcessBus();
  bus.subscribe(async (message, envelope) => {
    const s = byName.get(envelope.cluster);
    if (!s) return;
    try {
      const outcomes = await s.handle(toSnsEvent(message));
      for (const outcome of outcomes) {
        if (outcome.action !== 'ignored')
          logger.info('event handled', { cluster: envelope.cluster, outcome: outcome.action });
      }
    } catch (error) {
      logger.error('event handling failed; reconcile will retry', {
        cluster: envelope.cluster,
        error: errorMessage(error),
      });
    }
  }, SUBSCRIBED_EVENT_TYPES);
  const bridges = new Bridges(bus, logger);
  await bridges.sync(served);
  const stopWatching = watchDescriptors(served, bridges, logger);
  const agentEvents = await serveAgentEvents(first, bus, logger);
  const livePage = await startLivePage(descriptors, logger);
  await Promise.all(served.map((s) => adopt(s, logger)));

  // At once (a failover while the orchestrator was down is acted on now, not in 5 s), then every 5 s.
  const reconcileAll = () => {
    for (const { runtime } of served) {
      const { cluster, deps } = runtime;
      void serialized(cluster.name, () => reconcile(cluster, deps)).then(
        () => store.answered(cluster, deps),
        async (error: unknown) => {
          logger.warn('reconcile failed', { cluster: cluster.name, error: errorMessage(error) });
          await store.failed(cluster, error, deps);
        },
      );
    }
  };
  reconcileAll();
  const timer = setInterval(reconcileAll, RECONCILE_EVERY_MS);

  const stop = async () => {
    clearInterval(timer);
    stopWatching();
    await Promise.all(served.map((s) => s.slackEndpoint?.close()));
    await agentEvents?.close();
    await livePage?.close();
    // A switchover started from Slack ends (and unblocks writes) before the process goes.
    await Promise.all(served.map((s) => s.workflows.settled()));
    await Promise.all(served.map((s) => s.consoleNotifier.idle()));
    const stats = bridges.all.map((b) => b.stats);
    await bridges.stop();
    await Promise.all(served.map((s) => s.runtime.close()));
    logger.info('orchestrator stopped', {
      clusters: [...byName.keys()],
      bridges: stats,
    });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());

  if (first.orchestrator) {
    await writeFile(
      first.orchestrator.readyFile,
      JSON.stringify({ pid: process.pid, at: new Date().toISOString() }),
    );
  }
  logger.info('orchestrator ready', {
    clusters: [...byName.keys()],
    bridges: bridges.all.length,
    slack: served.map((s) => s.slackEndpoint?.url ?? null),
    livePage: livePage?.url ?? null,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`orchestrator failed: ${errorMessage(error)}\n`);
  process.exit(1);
});

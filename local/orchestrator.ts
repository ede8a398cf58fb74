/**
 * The local orchestrator runtime, started in the background by `ha-redis local up`:
 * one Sentinel bridge per Sentinel -> in-process bus -> the sentinel-event handler -> the core,
 * plus a periodic reconcile. Usage: node local/orchestrator.ts <descriptor.json>
 */
import { writeFile } from 'node:fs/promises';
import { ensureStateTable } from '../adapters/aws/dynamodb-state-store.ts';
import { InProcessBus, toSnsEvent } from '../adapters/host/bus.ts';
import { powertoolsLogger } from '../adapters/logging/powertools.ts';
import { LocalNotifier } from '../adapters/notify/local-notifier.ts';
import { composeLocal, localAccess, localDynamoClient } from '../compose/local.ts';
import { composeLocalSlack } from '../compose/slack-local.ts';
import { readDescriptor } from '../config/local-descriptor.ts';
import { reconcile } from '../core/failover/handle-event.ts';
import { reactToFailover } from '../core/failover/react.ts';
import { ClusterRegistry } from '../core/model/cluster.ts';
import { errorMessage } from '../core/model/errors.ts';
import { SentinelBridge } from '../events/bridge/bridge.ts';
import { makeSentinelEventHandler } from '../functions/sentinel-event/handler.ts';
import { serialized } from '../functions/sentinel-event/serialize.ts';
import { makeSlackHandler } from '../functions/slack/handler.ts';
import { serveOnLoopback } from './http-endpoint.ts';
import { LocalWorkflowStarter } from './workflows.ts';

const RECONCILE_EVERY_MS = 5000; // safety net for a lost event; events are the fast path

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) throw new Error('usage: orchestrator.ts <descriptor.json>');
  const descriptor = await readDescriptor(path);
  const logger = powertoolsLogger('ha-redis-local');
  const runtime = composeLocal(descriptor, logger);
  const { cluster, deps } = runtime;
  // Outcomes: a JSON line in the notifications file (as before), a readable block on the console, a webhook.
  const consoleNotifier = new LocalNotifier({
    logger,
    ...(descriptor.notifyWebhookUrl ? { webhookUrl: descriptor.notifyWebhookUrl } : {}),
  });
  runtime.notifier.onNotification((n) => void consoleNotifier.publish(n));
  const dynamo = localDynamoClient(descriptor.stateStore.endpoint);
  await ensureStateTable(dynamo, descriptor.stateStore.table);
  dynamo.destroy();

  const handle = makeSentinelEventHandler(() => ({
    clusters: new ClusterRegistry([cluster]),
    failover: deps,
  }));
  const bus = new InProcessBus();
  bus.subscribe(async (message) => {
    try {
      const outcomes = await handle(toSnsEvent(message));
      for (const outcome of outcomes) {
        if (outcome.action !== 'ignored')
          logger.info('event handled', { cluster: cluster.name, outcome: outcome.action });
      }
    } catch (error) {
      logger.error('event handling failed; reconcile will retry', {
        cluster: cluster.name,
        error: errorMessage(error),
      });
    }
  });

  const password = await localAccess(descriptor).sentinelPassword();
  const bridges = cluster.sentinels.map(
    (sentinel) => new SentinelBridge({ cluster: cluster.name, sentinel, password, publisher: bus, logger }),
  );
  await Promise.all(bridges.map((b) => b.start()));

  // Adopt the current master on first start (claims its epoch, points every proxy, writes DNS, verifies).
  if (!(await deps.state.appliedEpoch(cluster.name))) {
    const adopted = await serialized(cluster.name, () =>
      reactToFailover(cluster, { type: 'adopt', seenAt: Date.now() }, deps),
    );
    logger.info('adopted the current master', { cluster: cluster.name, outcome: adopted.action });
  }

  // The Slack front door on loopback: the same handler as the Lambda behind a Function URL.
  const workflows = new LocalWorkflowStarter(descriptor, logger);
  const slackEndpoint = descriptor.slack.endpointUrl
    ? await (() => {
        const slackDeps = composeLocalSlack(descriptor, runtime, workflows, logger);
        return serveOnLoopback(
          Number(new URL(descriptor.slack.endpointUrl).port),
          makeSlackHandler(() => slackDeps),
          (error) => logger.error('slack endpoint failed', { error: errorMessage(error) }),
        );
      })()
    : undefined;

  const timer = setInterval(() => {
    void serialized(cluster.name, () => reconcile(cluster, deps)).catch((error: unknown) =>
      logger.warn('reconcile failed', { cluster: cluster.name, error: errorMessage(error) }),
    );
  }, RECONCILE_EVERY_MS);

  const stop = async () => {
    clearInterval(timer);
    await slackEndpoint?.close();
    // A switchover started from Slack ends (and unblocks writes) before the process goes.
    await workflows.settled();
    await consoleNotifier.idle();
    await Promise.all(bridges.map((b) => b.stop()));
    await runtime.close();
    logger.info('orchestrator stopped', { cluster: cluster.name, bridges: bridges.map((b) => b.stats) });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());

  if (descriptor.orchestrator) {
    await writeFile(
      descriptor.orchestrator.readyFile,
      JSON.stringify({ pid: process.pid, at: new Date().toISOString() }),
    );
  }
  logger.info('orchestrator ready', {
    cluster: cluster.name,
    sentinels: cluster.sentinels.length,
    proxies: cluster.proxies.length,
    slack: slackEndpoint?.url ?? null,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`orchestrator failed: ${errorMessage(error)}\n`);
  process.exit(1);
});

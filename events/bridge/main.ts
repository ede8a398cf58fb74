/**
 * The Sentinel event bridge as a service on a Sentinel host: one Sentinel -> SNS.
 * Environment: HA_REDIS_CLUSTER (a cluster name, or `master=cluster,...` for a Sentinel that monitors several
 * masters: see masters.ts), HA_REDIS_SENTINEL (host:port), HA_REDIS_SENTINEL_PASSWORD_FILE (optional),
 * HA_REDIS_EVENTS_TOPIC_ARN. AWS credentials and region come from the instance role.
 * Once a minute it sends a heartbeat to CloudWatch (heartbeat.ts); a heartbeat that fails never stops forwarding.
 * A TLS-only Sentinel: HA_REDIS_SENTINEL_TLS_CA_FILE (the CA, PEM; turns TLS on), and for its
 * `tls-auth-clients` HA_REDIS_SENTINEL_TLS_CERT_FILE and HA_REDIS_SENTINEL_TLS_KEY_FILE (PEM files readable by
 * the bridge's user): install-bridge's TLS parameters point them at the runtime directory the unit fetches the
 * material into at each start; <env dir>/bridge-<port>.tls.env, which install-bridge leaves alone, may override them.
 */
import { readFile } from 'node:fs/promises';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SNSClient } from '@aws-sdk/client-sns';
import { CloudWatchMetricSink } from '../../adapters/aws/cloudwatch-metric-sink.ts';
import { SnsPublisher } from '../../adapters/aws/sns-publisher.ts';
import { powertoolsLogger } from '../../adapters/logging/powertools.ts';
import { requireEnv } from '../../config/env.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { BRIDGE_METRICS } from '../../core/model/metrics.ts';
import { tlsFromFiles } from '../tls-files.ts';
import { SentinelBridge } from './bridge.ts';
import { BridgeHeartbeat } from './heartbeat.ts';
import { parseBridgeClusters } from './masters.ts';

async function main(): Promise<void> {
  const logger = powertoolsLogger('ha-redis-bridge');
  const { cluster, masters } = parseBridgeClusters(requireEnv('HA_REDIS_CLUSTER'));
  const [host, port] = requireEnv('HA_REDIS_SENTINEL').split(':');
  if (!host || !port || !Number.isInteger(Number(port)))
    throw new Error('HA_REDIS_SENTINEL must be host:port');
  const passwordFile = process.env.HA_REDIS_SENTINEL_PASSWORD_FILE;
  const password = passwordFile ? (await readFile(passwordFile, 'utf8')).trim() : undefined;
  const tls = await tlsFromFiles(process.env, 'HA_REDIS_SENTINEL');
  const topicArn = requireEnv('HA_REDIS_EVENTS_TOPIC_ARN');
  const publisher = new SnsPublisher(new SNSClient({}), topicArn);
  const bridge = new SentinelBridge({
    cluster,
    ...(masters ? { masters } : {}),
    sentinel: { host, port: Number(port) },
    password,
    tls,
    publisher,
    logger,
  });
  await bridge.start();
  const heartbeat = new BridgeHeartbeat({
    source: bridge,
    sink: new CloudWatchMetricSink(
      // A heartbeat that hangs must not hold the next ones: 10 s per attempt, 2 attempts.
      new CloudWatchClient({
        maxAttempts: 2,
        requestHandler: { connectionTimeout: 5000, requestTimeout: 10_000 },
      }),
      BRIDGE_METRICS.namespace,
    ),
    topic: topicArn.split(':').at(-1) ?? topicArn,
    bridge: `${host}:${port}`,
    logger,
  });
  heartbeat.start();
  const stop = () => {
    heartbeat.stop();
    void bridge.stop().then(() => {
      logger.info('bridge stopped', { cluster, stats: bridge.stats });
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setInterval(() => logger.info('bridge stats', { cluster, ...bridge.stats }), 60_000).unref();
}

main().catch((error: unknown) => {
  process.stderr.write(`ha-redis bridge: ${errorMessage(error)}\n`);
  process.exit(1);
});

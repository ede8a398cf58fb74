/**
 * The node agent as a service on a Redis host: every local redis-server -> SNS (the Sentinel events topic).
 * Environment: HA_REDIS_AGENT_NODES (`cluster=host:port,...`: each local node and the cluster it belongs to),
 * HA_REDIS_NODE_PASSWORD_FILE (optional), HA_REDIS_EVENTS_TOPIC_ARN. AWS credentials and region come from the
 * instance role. TLS-only nodes: HA_REDIS_NODE_TLS_CA_FILE, _CERT_FILE and _KEY_FILE (events/tls-files.ts): install-agent's
 * TLS parameters point them at the runtime directory the unit fetches the material into at each start;
 * <env dir>/agent.tls.env, which install-agent leaves alone, may override them.
 */
import { readFile } from 'node:fs/promises';
import { SNSClient } from '@aws-sdk/client-sns';
import { SnsPublisher } from '../../adapters/aws/sns-publisher.ts';
import { powertoolsLogger } from '../../adapters/logging/powertools.ts';
import { requireEnv } from '../../config/env.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { tlsFromFiles } from '../tls-files.ts';
import { NodeAgent } from './agent.ts';
import { parseAgentNodes } from './nodes.ts';

async function main(): Promise<void> {
  const logger = powertoolsLogger('ha-redis-agent');
  const nodes = parseAgentNodes(requireEnv('HA_REDIS_AGENT_NODES'));
  const passwordFile = process.env.HA_REDIS_NODE_PASSWORD_FILE;
  const password = passwordFile ? (await readFile(passwordFile, 'utf8')).trim() : undefined;
  const tls = await tlsFromFiles(process.env, 'HA_REDIS_NODE');
  const sns = new SNSClient({});
  // Resolve the instance role's credentials now, so the first node-exited does not wait for them too.
  await sns.config.credentials();
  const publisher = new SnsPublisher(sns, requireEnv('HA_REDIS_EVENTS_TOPIC_ARN'));
  const agent = new NodeAgent({ nodes, password, tls, publisher, logger });
  agent.start();
  const stop = () => {
    void agent.stop().then(() => {
      logger.info('agent stopped', { stats: agent.stats });
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setInterval(() => logger.info('agent stats', { ...agent.stats }), 60_000).unref();
}

main().catch((error: unknown) => {
  process.stderr.write(`ha-redis agent: ${errorMessage(error)}\n`);
  process.exit(1);
});

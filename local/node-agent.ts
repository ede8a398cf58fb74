/**
 * The local node agent, started by `ha-redis local up --node-agent`: one process per node, as on a Redis host.
 * It watches its node and POSTs each `node-exited` envelope to the orchestrator's events endpoint on loopback,
 * the local stand-in for SNS. Usage: node local/node-agent.ts <descriptor.json> <node id>
 */
import { readFile, writeFile } from 'node:fs/promises';
import { powertoolsLogger } from '../adapters/logging/powertools.ts';
import { readDescriptor } from '../config/local-descriptor.ts';
import { ConfigurationError, errorMessage } from '../core/model/errors.ts';
import { NodeAgent, type NodeEventPublisher } from '../events/agent/agent.ts';
import type { NodeEnvelope } from '../events/node-events.ts';

/** POSTs an envelope to the orchestrator's events endpoint; anything but 202 is a failure. */
class LoopbackPublisher implements NodeEventPublisher {
  private readonly url: string;
  constructor(url: string) {
    this.url = url;
  }
  async publish(envelope: NodeEnvelope): Promise<void> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(envelope),
      signal: AbortSignal.timeout(2000),
    });
    if (response.status !== 202) throw new Error(`events endpoint answered ${response.status}`);
  }
}

async function main(): Promise<void> {
  const [path, nodeId] = process.argv.slice(2);
  if (!path || !nodeId) throw new ConfigurationError('usage: node-agent.ts <descriptor.json> <node id>');
  const d = await readDescriptor(path);
  const node = d.nodes.find((n) => n.id === nodeId);
  const agentEntry = d.agents.find((a) => a.nodeId === nodeId);
  if (!node || !d.agentEventsUrl) {
    throw new ConfigurationError(`${path} has no node ${nodeId}, or no agent events endpoint`);
  }
  const logger = powertoolsLogger('ha-redis-agent');
  const password = (await readFile(d.passwordFile, 'utf8')).trim();
  const agent = new NodeAgent({
    nodes: [{ cluster: d.cluster, node: { host: node.host, port: node.port } }],
    password,
    publisher: new LoopbackPublisher(d.agentEventsUrl),
    logger,
    host: node.hostId ?? node.host,
  });
  agent.start();
  const stop = () => void agent.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const readyFile = agentEntry?.readyFile ?? `${d.dir}/agent-${nodeId}.ready`;
  const wait = setInterval(() => {
    if (!agent.ready()) return;
    clearInterval(wait);
    void writeFile(readyFile, JSON.stringify({ pid: process.pid, at: new Date().toISOString() }));
    logger.info('node agent ready', { cluster: d.cluster, node: nodeId });
  }, 20);
}

main().catch((error: unknown) => {
  process.stderr.write(`node agent failed: ${errorMessage(error)}\n`);
  process.exit(1);
});

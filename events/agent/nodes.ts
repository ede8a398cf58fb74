import { InvalidInputError } from '../../core/model/errors.ts';
import type { WatchedNode } from './agent.ts';

/** `cluster=host:port,cluster=host:port`: the nodes an agent watches, each with its cluster. */
export function parseAgentNodes(text: string): WatchedNode[] {
  const nodes = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const match = /^([a-z0-9][a-z0-9-]{0,62})=([A-Za-z0-9.:-]+):(\d{1,5})$/.exec(item);
      const port = Number(match?.[3]);
      if (!match?.[1] || !match[2] || !(port >= 1 && port <= 65535)) {
        throw new InvalidInputError(
          `HA_REDIS_AGENT_NODES: '${item}' is not cluster=host:port (a cluster name, a host, a port 1-65535)`,
        );
      }
      return { cluster: match[1], node: { host: match[2], port } };
    });
  if (nodes.length === 0) throw new InvalidInputError('HA_REDIS_AGENT_NODES names no node');
  return nodes;
}

import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/model/errors.ts';
import { parseAgentNodes } from '../../events/agent/nodes.ts';

/** HA_REDIS_AGENT_NODES of the node agent service: every local node, with the cluster it belongs to. */

describe('parseAgentNodes', () => {
  it('takes cluster=host:port items as the nodes to watch, in order', () => {
    // Act
    const nodes = parseAgentNodes(
      'carts=10.0.1.51:6379,payments=10.0.1.51:6380,orders-eu-1=redis-1.internal:1',
    );

    // Assert
    expect(nodes).toEqual([
      { cluster: 'carts', node: { host: '10.0.1.51', port: 6379 } },
      { cluster: 'payments', node: { host: '10.0.1.51', port: 6380 } },
      { cluster: 'orders-eu-1', node: { host: 'redis-1.internal', port: 1 } },
    ]);
  });

  it('takes an IPv6 host up to the last colon, and skips blanks around items', () => {
    expect(parseAgentNodes(' orders=::1:65535 , ')).toEqual([
      { cluster: 'orders', node: { host: '::1', port: 65535 } },
    ]);
  });

  it.each([
    ['orders=10.0.1.11:6379,orders=10.0.1.11:0', 'orders=10.0.1.11:0'],
    ['orders=10.0.1.11:65536', 'orders=10.0.1.11:65536'],
    ['orders=10.0.1.11', 'orders=10.0.1.11'],
    ['orders=10.0.1.11:', 'orders=10.0.1.11:'],
    ['orders=10.0.1.11:123456', 'orders=10.0.1.11:123456'],
    ['Orders=10.0.1.11:6379', 'Orders=10.0.1.11:6379'],
    ['=10.0.1.11:6379', '=10.0.1.11:6379'],
    ['orders:10.0.1.11:6379', 'orders:10.0.1.11:6379'],
    ['orders=10.0.1.11:6379;rm -rf /', 'orders=10.0.1.11:6379;rm -rf /'],
    ['orders=10.0.1.11:6379,sessions 10.0.1.11:6380', 'sessions 10.0.1.11:6380'],
    ['orders=10.0.1.11:http', 'orders=10.0.1.11:http'],
  ])('refuses %j, naming the item %j', (text, item) => {
    expect(() => parseAgentNodes(text)).toThrow(InvalidInputError);
    expect(() => parseAgentNodes(text)).toThrow(
      `HA_REDIS_AGENT_NODES: '${item}' is not cluster=host:port (a cluster name, a host, a port 1-65535)`,
    );
  });

  it.each(['', ' , ,'])('refuses %j, which names no node', (text) => {
    expect(() => parseAgentNodes(text)).toThrow(new InvalidInputError('HA_REDIS_AGENT_NODES names no node'));
  });
});

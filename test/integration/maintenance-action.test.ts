import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BashNodeOps } from '../../adapters/host/bash-node-ops.ts';
import type { NodeConfig } from '../../core/model/cluster.ts';
import { commandLine, readPidFile, waitUntil } from '../../local/processes.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';

describe('maintenance-action through BashNodeOps (real redis-server processes of the local launcher)', () => {
  let t: TestCluster;
  let downDone = false;
  const ops = new BashNodeOps();
  const replica = (): NodeConfig => t.cluster.nodes[1] as NodeConfig;
  const pidFileOf = (id: string): string => {
    const node = t.d.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id}`);
    return node.pidFile;
  };
  /** `role:slave`, the master's port and the link state from INFO replication. */
  const replication = async (node: NodeConfig) => {
    const info = await t.connections.run('redis', node, 1000, (c) => c.info('replication'));
    return {
      role: /^role:(\w+)/m.exec(info)?.[1],
      masterPort: Number(/^master_port:(\d+)/m.exec(info)?.[1]),
      link: /^master_link_status:(\w+)/m.exec(info)?.[1],
    };
  };

  beforeAll(async () => {
    t = await startTestCluster();
  });
  afterAll(async () => {
    if (!downDone) await t?.down();
  });

  it('restarts a replica: it comes back a replica of the same master, with a new pid in the same pidfile', async () => {
    // Arrange
    const node = replica();
    const before = await replication(node);
    const oldPid = await readPidFile(pidFileOf(node.id));
    expect(before.role).toBe('slave');
    expect(oldPid).toBeDefined();

    // Act
    const { output } = await ops.run({ document: 'maintenance-action', node, action: 'restart' });

    // Assert
    const newPid = await readPidFile(pidFileOf(node.id));
    expect(newPid).toBeDefined();
    expect(newPid).not.toBe(oldPid);
    expect(output).toBe(
      `restarted 127.0.0.1:${node.port}: stopped pid ${oldPid}, started pid ${newPid} (pidfile ${pidFileOf(node.id)})`,
    );
    expect(await commandLine(oldPid as number)).toBeUndefined();
    expect(await commandLine(newPid as number)).toContain(`:${node.port}`);
    await waitUntil(
      async () => (await replication(node)).link === 'up',
      15_000,
      'the replica link to come up',
    );
    const after = await replication(node);
    expect(after).toEqual({ role: 'slave', masterPort: before.masterPort, link: 'up' });
    expect(output).not.toContain(t.password);
  });

  it.each([
    ['upgrade', 'upgrade is refused for a local node'],
    ['reboot', 'reboot is refused for a local node'],
  ] as const)('refuses %s locally and leaves the node running', async (action, message) => {
    // Arrange
    const node = replica();
    const pid = await readPidFile(pidFileOf(node.id));

    // Act
    const refusal = await ops.run({ document: 'maintenance-action', node, action }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );

    // Assert
    expect(refusal?.message).toContain(message);
    expect(refusal?.message).not.toContain(t.password);
    expect(await readPidFile(pidFileOf(node.id))).toBe(pid);
    expect((await replication(node)).role).toBe('slave');
  });

  it('`local down` still stops the restarted node', async () => {
    // Arrange
    const node = replica();
    const pid = await readPidFile(pidFileOf(node.id));

    // Act
    const stopped = await t.down();
    downDone = true;

    // Assert
    expect(stopped).toContain(`${node.id} (pid ${pid})`);
    expect(await commandLine(pid as number)).toBeUndefined();
  });
});

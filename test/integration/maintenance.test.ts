import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { IoredisNodes } from '../../adapters/redis/redis-nodes.ts';
import { drainCommand } from '../../cli/commands/drain.ts';
import { sameEndpoint } from '../../core/model/cluster.ts';
import type { CorePorts, Logger } from '../../core/ports.ts';
import { startNode } from '../../local/launcher.ts';
import { countLost, WriteLoad } from '../../local/load.ts';
import { runLocalMaintenance } from '../../local/maintenance-runner.ts';
import { capture, startTestCluster, type TestCluster } from './cluster.ts';

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** The longest write gap a client may see: a planned switchover's (blocked well under a second; bounded here). */
const SWITCHOVER_GAP_BOUND_MS = 2000;

describe('rolling maintenance through the local Step Functions workflow (real processes)', () => {
  let t: TestCluster | undefined;
  afterEach(async () => {
    await t?.down().catch(() => undefined);
    t = undefined;
  });

  it('restarts every node one at a time under load through HAProxy, losing no acknowledged write', async () => {
    // Arrange: writers through both proxies, plain and TLS, with plain SET acknowledgements.
    t = await startTestCluster();
    const cluster = t;
    const [p1, p2] = cluster.d.proxies;
    if (!p1 || !p2) throw new Error('expected two proxies');
    const loads = [
      new WriteLoad({
        target: { kind: 'direct', endpoint: { host: p1.host, port: p1.plainPort } },
        password: cluster.password,
        writers: 4,
      }),
      new WriteLoad({
        target: { kind: 'direct', endpoint: { host: p2.host, port: p2.tlsPort }, tlsCa: cluster.ca },
        password: cluster.password,
        writers: 2,
      }),
    ];
    for (const l of loads) l.start();
    await Promise.all(loads.map((l) => l.waitForAcks(100, 10_000)));
    const oldMaster = await cluster.soleMaster();
    const pidsBefore = await Promise.all(cluster.d.nodes.map((n) => readPid(n.configPath)));

    // Act
    const result = await runLocalMaintenance(cluster.d, { action: 'restart' }, { logger: silent });
    const marks = loads.map((l) => l.ackCount);
    await Promise.all(loads.map((l, i) => l.waitForAcks((marks[i] ?? 0) + 50, 20_000)));
    const reports = await Promise.all(loads.map((l) => l.stop()));
    const newMaster = await cluster.soleMaster();
    const keys = reports.flatMap((r) => r.ackedKeys);
    const lost = await countLost(newMaster, cluster.password, keys);

    // Assert
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const pidsAfter = await Promise.all(cluster.d.nodes.map((n) => readPid(n.configPath)));
    for (const [i, pid] of pidsAfter.entries()) {
      expect(pid, cluster.d.nodes[i]?.id).not.toBe(pidsBefore[i]); // every node restarted
    }
    expect(sameEndpoint(newMaster, oldMaster)).toBe(false); // the master was switched away from, then restarted
    expect(keys.length).toBeGreaterThan(1000);
    expect(lost).toEqual([]);
    const maxGapMs = Math.max(...reports.map((r) => r.maxGapMs));
    expect(maxGapMs, `largest write gap ${maxGapMs} ms over ${keys.length} acked writes`).toBeLessThan(
      SWITCHOVER_GAP_BOUND_MS,
    );
    const [entry] = (await cluster.history()).filter((e) => e.kind === 'maintenance');
    expect(entry).toMatchObject({ outcome: 'succeeded', oldMaster, newMaster });
  });

  it('stops when a node does not come back in time, leaves the cluster writable, and says what was done', async () => {
    // Arrange: the action on the first replica stops it and never starts it again.
    t = await startTestCluster();
    const cluster = t;
    const stopped: string[] = [];
    const wrapDeps = (deps: CorePorts): CorePorts => ({
      ...deps,
      nodeOps: {
        run: async (op) => {
          if (op.document !== 'maintenance-action') return deps.nodeOps.run(op);
          stopped.push(op.node.id);
          await cluster.connections
            .run('redis', op.node, 2000, (c) => c.call('SHUTDOWN', 'NOSAVE'))
            .catch(() => undefined); // the connection drops as the node exits
          return { output: `stopped ${op.node.id} and left it down` };
        },
      },
    });

    // Act
    const result = await runLocalMaintenance(
      cluster.d,
      { action: 'restart', nodeBackTimeoutMs: 8000 },
      { logger: silent, wrapDeps, retryIntervalMs: 200 },
    );

    // Assert
    expect(result.status).toBe('FAILED');
    expect(result.ending).toBe('MaintenanceFailed');
    expect(stopped).toHaveLength(1);
    const master = await cluster.soleMaster();
    const nodes = new IoredisNodes(cluster.connections);
    for (const p of cluster.cluster.proxies) {
      await nodes.canaryThroughProxy(p, 'plain', master, 2000); // writable through every proxy
    }
    const [entry] = (await cluster.history()).filter((e) => e.kind === 'maintenance');
    expect(entry?.outcome).toBe('failed');
    expect(entry?.error).toContain(`failed at: ${stopped[0]}`);
    expect(entry?.error).toMatch(/not started: .+/);
    const notifications = await readFile(cluster.d.orchestrator?.notificationsPath ?? '', 'utf8');
    expect(notifications).toMatch(/"kind":"maintenance"/);
    // Leave the cluster whole for teardown.
    await startNode({ name: cluster.name, root: cluster.root }, stopped[0] ?? '');
  });
});

describe('ha-redis drain (real processes)', () => {
  let t: TestCluster | undefined;
  afterEach(async () => {
    await t?.down().catch(() => undefined);
    t = undefined;
  });

  it('moves the master off the drained node, then has nothing to do; refuses when no replica is elsewhere', async () => {
    // Arrange: locally every node is on 127.0.0.1, so a node is addressed as host:port.
    t = await startTestCluster();
    const cluster = t;
    const oldMaster = await cluster.soleMaster();
    const drained = `${oldMaster.host}:${oldMaster.port}`;
    const run = async (host: string, extra: { dryRun?: boolean } = {}) => {
      const io = capture();
      const code = await drainCommand(
        { host, clusters: [cluster.name], root: cluster.root, json: true, ...extra },
        io,
      );
      return {
        code,
        results: (JSON.parse(io.stdout) as { results: { action: string }[] }).results,
        lines: io.lines,
      };
    };

    // Act
    const dry = await run(drained, { dryRun: true });
    const first = await run(drained);
    const second = await run(drained);
    const wholeHost = await run(oldMaster.host);

    // Assert
    expect(dry).toMatchObject({ code: 0, results: [{ action: 'would-move' }] });
    expect(first).toMatchObject({ code: 0, results: [{ action: 'moved' }] });
    const newMaster = await cluster.soleMaster();
    expect(sameEndpoint(newMaster, oldMaster)).toBe(false);
    expect(second).toMatchObject({ code: 0, results: [{ action: 'not-on-host' }] });
    expect(wholeHost.code).toBe(1);
    expect(wholeHost.results).toMatchObject([{ action: 'refused' }]);
    expect(wholeHost.lines.join('\n')).toContain(`no reachable replica off ${oldMaster.host}`);
    const switchovers = (await cluster.history()).filter((e) => e.kind === 'switchover');
    expect(switchovers).toHaveLength(1);
  });
});

/** The pid a node wrote to its pidfile (from its redis.conf). */
async function readPid(configPath: string): Promise<number | undefined> {
  const config = await readFile(configPath, 'utf8');
  const pidfile = /^pidfile\s+(\S+)/m.exec(config)?.[1];
  if (!pidfile) return undefined;
  const text = await readFile(pidfile, 'utf8').catch(() => '');
  return Number(text.trim()) || undefined;
}

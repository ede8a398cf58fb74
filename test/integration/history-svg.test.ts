/**
 * `ha-redis history show <id> --svg FILE` on a stored entry: the local cluster's descriptor names its state
 * store, here a dynalite with no Redis around it (what the command reads is the history).
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore, ensureStateTable } from '../../adapters/aws/dynamodb-state-store.ts';
import { historyShowCommand } from '../../cli/commands/history.ts';
import { localDynamoClient } from '../../compose/local.ts';
import {
  clusterDir,
  type Descriptor,
  descriptorPath,
  writeDescriptor,
} from '../../config/local-descriptor.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import { capture } from './cluster.ts';

const CLUSTER = 'charts';
const T0 = 1_764_000_000_000;
const server = dynalite({ createTableMs: 0 });
let root = '';
let client: ReturnType<typeof localDynamoClient> | undefined;

const STEPS = ['lease-taken', 'writes-blocked', 'caught-up', 'promoted', 'rerouted', 'recorded'];
const stored: HistoryEntry = {
  id: 'sw-charts-1',
  cluster: CLUSTER,
  kind: 'switchover',
  epoch: 2,
  oldMaster: { host: '127.0.0.1', port: 17001 },
  newMaster: { host: '127.0.0.1', port: 17002 },
  outcome: 'succeeded',
  trigger: 'cli:test',
  startedAt: T0,
  durationMs: 400,
  bytesAtRisk: 0,
  writeGapMs: 210,
  timeline: STEPS.map((step, i) => ({ step, at: T0 + i * 60, durationMs: 10 + i, status: 'ok' })),
};

/** The descriptor of a local cluster whose processes are not running: only its nodes and state store matter. */
function descriptor(endpoint: string): Descriptor {
  const proc = (name: string) => ({
    pid: 1,
    pidFile: join(root, `${name}.pid`),
    logPath: join(root, `${name}.log`),
  });
  const node = (n: number) => ({
    ...proc(`redis-${n}`),
    id: `redis-${n}`,
    host: '127.0.0.1',
    port: 17000 + n,
    configPath: join(root, `redis-${n}.conf`),
    dataDir: root,
  });
  return {
    version: 1,
    cluster: CLUSTER,
    masterName: CLUSTER,
    livePageUrl: null,
    dir: clusterDir(CLUSTER, root),
    createdAt: new Date(T0).toISOString(),
    sentinelSettings: { downAfterMs: 5000, failoverTimeoutMs: 10_000 },
    nodes: [node(1), node(2)],
    sentinels: [],
    proxies: [],
    caCertPath: join(root, 'ca.pem'),
    passwordFile: join(root, 'password'),
    dns: { file: join(root, 'zone'), recordName: 'charts.local', ttl: 5 },
    stateStore: { ...proc('dynalite'), endpoint, table: 'state' },
    agentEventsUrl: null,
    agents: [],
    notifyWebhookUrl: null,
    slack: { endpointUrl: null, signingSecretPath: null, allowedUsers: [], channel: 'C0LOCALOPS' },
  };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'history-svg-'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = localDynamoClient(endpoint);
  await ensureStateTable(client, 'state');
  await new DynamoStateStore(client, 'state').appendHistory(stored);
  await mkdir(clusterDir(CLUSTER, root), { recursive: true });
  await writeDescriptor(descriptorPath(CLUSTER, root), descriptor(endpoint));
});

afterAll(async () => {
  client?.destroy();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

const show = (id: string, svg: string) => historyShowCommand({ cluster: CLUSTER, root, id, svg }, capture());

describe('history show --svg', () => {
  it('draws the stored entry as a Gantt chart: every step, durations in ms, the write gap, the node ids', async () => {
    // Arrange
    const file = join(root, 'timeline.svg');
    const io = capture();

    // Act
    const code = await historyShowCommand({ cluster: CLUSTER, root, id: 'sw-charts', svg: file }, io);

    // Assert
    expect(code).toBe(0);
    const svg = await readFile(file, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const step of STEPS) expect(svg).toContain(step);
    expect(svg).toContain('ms after the first step');
    expect(svg).toContain('15 ms');
    expect(svg).toContain('write gap 210 ms');
    expect(svg).toContain('redis-1 -&gt; redis-2');
    expect(io.lines).toContain(`timeline of ${stored.id} drawn to ${file}`);
  });

  it('names an unknown id and how to list the ids, and writes no file', async () => {
    // Arrange
    const file = join(root, 'unknown.svg');

    // Act + Assert
    await expect(show('no-such-entry', file)).rejects.toThrow(
      `no history entry 'no-such-entry' among the newest 1000 of cluster ${CLUSTER}; list ids with 'ha-redis history --cluster ${CLUSTER}'`,
    );
    await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says which file it cannot write, and what to do', async () => {
    // Arrange: a file in a directory that does not exist
    const file = join(root, 'no-such-dir', 'timeline.svg');

    // Act + Assert
    await expect(show(stored.id, file)).rejects.toThrow(
      `cannot write the timeline picture to ${file} (ENOENT); give --svg a writable file path`,
    );
  });
});

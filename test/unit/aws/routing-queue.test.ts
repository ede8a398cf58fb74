import { createHash } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  QueuedRoutingNodeOps,
  type RoutingPersistMessage,
  routingGroupOf,
} from '../../../adapters/aws/routing-queue.ts';
import type { ProxyConfig } from '../../../core/model/cluster.ts';
import { NodeOpsError } from '../../../core/model/errors.ts';
import type { Logger, NodeOperation, NodeOperationResult, NodeOps } from '../../../core/ports.ts';
import { makeRoutingPersistHandler } from '../../../functions/routing-persist/handler.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { N1, N2, START, testCluster } from '../../support/fixtures.ts';
import { awsError, rejectionOf } from './sdk-errors.ts';

/** Routing persists handed off the failover path (QueuedRoutingNodeOps) and run per proxy host (routing-persist). */

const sqsMock = mockClient(SQSClient);
const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ha-redis-routing.fifo';
const [p1, p2] = testCluster().proxies as [ProxyConfig, ProxyConfig];
const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** NodeOps that records what it ran and answers from `answer`. */
class RecordingNodeOps implements NodeOps {
  readonly ran: string[] = [];
  private readonly answer: (op: NodeOperation) => NodeOperationResult | Error;
  constructor(answer: (op: NodeOperation) => NodeOperationResult | Error = () => ({ output: 'ok' })) {
    this.answer = answer;
  }
  async run(op: NodeOperation): Promise<NodeOperationResult> {
    const what =
      op.document === 'update-haproxy' ? `${op.document} ${op.proxy.id} epoch ${op.epoch}` : op.document;
    this.ran.push(what);
    const result = this.answer(op);
    if (result instanceof Error) throw result;
    return result;
  }
}

afterAll(() => sqsMock.restore());
beforeEach(() => sqsMock.reset());

describe('QueuedRoutingNodeOps', () => {
  const clock = new FakeClock(START);
  const queued = (direct: NodeOps) =>
    new QueuedRoutingNodeOps({
      client: new SQSClient({ region: 'eu-west-1' }),
      queueUrl: QUEUE,
      direct,
      clock,
    });

  it("queues update-haproxy in its host's group, deduplicated by proxy, epoch and master, and answers queued", async () => {
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm1' });
    const direct = new RecordingNodeOps();
    const ops = queued(direct);

    const result = await ops.run({ document: 'update-haproxy', proxy: p1, master: N2, epoch: 5 });

    expect(result).toEqual({ output: 'queued', queued: true });
    expect(direct.ran).toEqual([]);
    const expected: RoutingPersistMessage = {
      contract: 'routing-persist',
      version: 1,
      proxy: p1,
      master: N2,
      epoch: 5,
      queuedAt: START,
    };
    expect(sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input)).toEqual([
      {
        QueueUrl: QUEUE,
        MessageBody: JSON.stringify(expected),
        MessageGroupId: `proxy-host:${p1.host}`,
        MessageDeduplicationId: createHash('sha256')
          .update(`${p1.host}\n${p1.id}/${p1.backend}\n5\n${N2.host}:${N2.port}`)
          .digest('hex'),
      },
    ]);
  });

  it('runs every other operation at once, waited for (a fence is never queued)', async () => {
    const direct = new RecordingNodeOps();
    const ops = queued(direct);
    const node = testCluster().nodes[0];
    if (!node) throw new Error('expected a node');

    await ops.run({ document: 'fence-node', node, master: N2, epoch: 5 });

    expect(direct.ran).toEqual(['fence-node']);
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('says which proxy it could not queue when SQS refuses', async () => {
    sqsMock.on(SendMessageCommand).rejects(awsError('AccessDenied', 'not authorized to sqs:SendMessage'));
    const ops = queued(new RecordingNodeOps());
    const error = await rejectionOf(ops.run({ document: 'update-haproxy', proxy: p2, master: N2, epoch: 5 }));
    expect(error).toBeInstanceOf(NodeOpsError);
    expect(error.message).toContain(
      `could not queue update-haproxy for proxy ${p2.id} (${p2.host}, epoch 5)`,
    );
  });
});

describe('the routing-persist handler', () => {
  const clock = new FakeClock(START + 250);
  let id = 0;
  const record = (proxy: ProxyConfig, epoch: number, master = N2): SQSRecord =>
    ({
      messageId: `m${++id}`,
      body: JSON.stringify({
        contract: 'routing-persist',
        version: 1,
        proxy,
        master,
        epoch,
        queuedAt: START,
      }),
      attributes: { MessageGroupId: routingGroupOf(proxy) },
    }) as unknown as SQSRecord;
  const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
  const handlerWith = (nodeOps: NodeOps) =>
    makeRoutingPersistHandler(async () => ({ nodeOps, clock, logger: silent }));

  it("runs a host's persists one at a time in order, the newest epoch of each service's routing only, and reports a stale one", async () => {
    const nodeOps = new RecordingNodeOps((op) => ({
      output: 'ok',
      stale: op.document === 'update-haproxy' && op.epoch === 3,
    }));
    // A host set's HAProxy: one proxy id, a backend per service, each service with epochs of its own.
    const orders = { ...p1, backend: 'redis_orders' };
    const carts = { ...p1, backend: 'redis_carts' };

    const { response, persists } = await handlerWith(nodeOps)(
      event(record(orders, 4), record(carts, 7, N1), record(orders, 6), record(carts, 3, N1)),
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(nodeOps.ran).toEqual([`update-haproxy ${p1.id} epoch 7`, `update-haproxy ${p1.id} epoch 6`]);
    expect(
      persists.map((p) =>
        'done' in p ? `${p.done.proxy}@${p.done.epoch}:${p.done.result}:${p.done.waitedMs}` : p,
      ),
    ).toEqual([
      `${p1.id}/redis_orders@4:superseded:250`,
      `${p1.id}/redis_carts@7:persisted:250`,
      `${p1.id}/redis_orders@6:persisted:250`,
      `${p1.id}/redis_carts@3:superseded:250`,
    ]);
  });

  it('reports a persist its host refused as stale (a newer epoch is recorded there)', async () => {
    const nodeOps = new RecordingNodeOps(() => ({ output: 'stale', stale: true }));

    const { persists } = await handlerWith(nodeOps)(event(record(p1, 3)));

    expect(persists.map((p) => ('done' in p ? p.done.result : p))).toEqual(['stale']);
  });

  it("reports the failed persist and every later one of its host, so SQS retries them in order; other hosts' stand", async () => {
    // p1 fails; p1-orders (same host, later) is not run; p2 (another host) is.
    const nodeOps = new RecordingNodeOps((op) =>
      op.document === 'update-haproxy' && op.proxy.id === p1.id
        ? new NodeOpsError('SSM kept throttling SendCommand')
        : { output: 'ok' },
    );
    const [a, b, c] = [record(p1, 4), record({ ...p1, id: 'p1-orders' }, 4), record(p2, 4)];

    const { response } = await handlerWith(nodeOps)(event(a, b, c));

    expect(p1.host).not.toBe(p2.host);
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: a.messageId },
      { itemIdentifier: b.messageId },
    ]);
    expect(nodeOps.ran).toEqual([`update-haproxy ${p1.id} epoch 4`, `update-haproxy ${p2.id} epoch 4`]);
  });

  it('drops, and does not retry, a message that is not the contract', async () => {
    const nodeOps = new RecordingNodeOps();
    const bad = {
      messageId: 'bad',
      body: '{"contract":"routing-persist","version":1}',
      attributes: {},
    } as unknown as SQSRecord;

    const { response, persists } = await handlerWith(nodeOps)(event(bad));

    expect(response.batchItemFailures).toEqual([]);
    expect(persists).toEqual([
      { messageId: 'bad', dropped: expect.stringContaining("not the queue's contract") },
    ]);
    expect(nodeOps.ran).toEqual([]);
  });
});

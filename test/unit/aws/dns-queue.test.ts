import { createHash } from 'node:crypto';
import {
  ChangeResourceRecordSetsCommand,
  type ChangeResourceRecordSetsCommandInput,
  ListResourceRecordSetsCommand,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type DnsUpsertMessage, QueuedDns } from '../../../adapters/aws/dns-queue.ts';
import { FIFO_SEND_RETRY } from '../../../adapters/aws/fifo-send.ts';
import { Route53Dns } from '../../../adapters/aws/route53-dns.ts';
import { type ClusterConfig, ClusterRegistry } from '../../../core/model/cluster.ts';
import { AwsServiceError, ConfigurationError } from '../../../core/model/errors.ts';
import type { Logger } from '../../../core/ports.ts';
import { makeDnsWriterHandler, writeTimings } from '../../../functions/dns-writer/handler.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { N1, N2, START, testCluster } from '../../support/fixtures.ts';
import { awsError, fixedRandom, rejectionOf, throttling } from './sdk-errors.ts';

/** The master records' queue (QueuedDns) and its one writer per zone (the dns-writer handler on Route53Dns). */

const sqsMock = mockClient(SQSClient);
const route53Mock = mockClient(Route53Client);
const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ha-redis-dns.fifo';
const ZONE = 'Z0123456789ABCDEFGHIJ';
const OTHER_ZONE = 'Z9876543210ABCDEFGHIJ';

const cluster = (name: string, zone: string | null = ZONE): ClusterConfig =>
  testCluster({
    name,
    dns: { recordName: `master.${name}.redis.internal`, ttl: 5, ...(zone ? { hostedZoneId: zone } : {}) },
  });
const orders = cluster('orders');
const payments = cluster('payments');
const carts = cluster('carts', OTHER_ZONE);
const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

afterAll(() => {
  sqsMock.restore();
  route53Mock.restore();
});
beforeEach(() => {
  sqsMock.reset();
  route53Mock.reset();
});

describe('QueuedDns', () => {
  const clock = new FakeClock(START);
  const reader = { currentMaster: async () => ({ master: N1, epoch: 3 }) };
  const dns = new QueuedDns({
    client: new SQSClient({ region: 'eu-west-1' }),
    queueUrl: QUEUE,
    reader,
    clock,
  });

  it("sends one message to the zone's group, deduplicated by cluster, epoch and master, and answers queued", async () => {
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm1' });

    expect(await dns.upsertMaster(orders, N2, 7)).toBe('queued');

    const expected: DnsUpsertMessage = {
      contract: 'dns-upsert',
      version: 1,
      cluster: 'orders',
      master: N2,
      epoch: 7,
      queuedAt: START,
    };
    expect(sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input)).toEqual([
      {
        QueueUrl: QUEUE,
        MessageBody: JSON.stringify(expected),
        MessageGroupId: ZONE,
        MessageDeduplicationId: createHash('sha256').update(`orders\n7\n${N2.host}:${N2.port}`).digest('hex'),
      },
    ]);
  });

  it('refuses, without sending, a record it could never write: no zone, or a master that is not IPv4', async () => {
    expect(await rejectionOf(dns.upsertMaster(cluster('orders', null), N2, 7))).toBeInstanceOf(
      ConfigurationError,
    );
    const named = await rejectionOf(dns.upsertMaster(orders, { host: 'redis-2.internal', port: 6379 }, 7));
    expect(named.message).toContain('is not an IPv4 address');
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('says what it could not queue when SQS refuses', async () => {
    sqsMock.on(SendMessageCommand).rejects(awsError('AccessDenied', 'not authorized to sqs:SendMessage'));
    const error = await rejectionOf(dns.upsertMaster(orders, N2, 7));
    expect(error).toBeInstanceOf(AwsServiceError);
    expect(error.message).toContain(
      'could not queue master.orders.redis.internal -> 10.0.1.22 (cluster orders, epoch 7)',
    );
    expect(error.message).toContain('not authorized to sqs:SendMessage');
  });

  it('sends a throttled record again, and says so when SQS keeps throttling', async () => {
    // Arrange: a zone's group takes 300 sends a second; an AZ's failovers send theirs at once
    sqsMock
      .on(SendMessageCommand)
      .rejectsOnce(throttling())
      .rejectsOnce(throttling())
      .resolves({ MessageId: 'm1' });

    // Act
    const queued = await dns.upsertMaster(orders, N2, 7);
    const sentOnce = sqsMock.commandCalls(SendMessageCommand).length;
    sqsMock.reset();
    sqsMock.on(SendMessageCommand).rejects(throttling());
    const error = await rejectionOf(dns.upsertMaster(orders, N2, 7));

    // Assert
    expect(queued).toBe('queued');
    expect(sentOnce).toBe(3);
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(FIFO_SEND_RETRY.maxAttempts);
    expect(error).toBeInstanceOf(AwsServiceError);
    expect(error.message).toContain('could not queue master.orders.redis.internal');
    expect(error.message).toContain('ThrottlingException');
  });

  it('reads the record as it stands from Route53', async () => {
    expect(await dns.currentMaster(orders)).toEqual({ master: N1, epoch: 3 });
  });
});

describe('the dns-writer handler', () => {
  const clock = new FakeClock(START + 400);
  const registry = new ClusterRegistry([orders, payments, carts]);
  /** Each cluster's last claimed epoch, as the state store holds it. */
  let claimed: Record<string, number> = {};
  const epochs = {
    appliedEpoch: async (name: string) =>
      claimed[name] === undefined
        ? undefined
        : { epoch: claimed[name], master: N2, status: 'done' as const, token: 't', leaseUntil: 0 },
  };
  const writer = makeDnsWriterHandler(async () => ({
    clusters: registry,
    dns: new Route53Dns({
      client: new Route53Client({ region: 'eu-west-1' }),
      clock,
      batchWindowMs: 0,
      random: fixedRandom(0),
      readBeforeWrite: false,
    }),
    epochs,
    clock,
    logger: silent,
  }));
  let id = 0;
  const record = (body: unknown, group = ZONE): SQSRecord =>
    ({
      messageId: `m${++id}`,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      attributes: { MessageGroupId: group },
    }) as unknown as SQSRecord;
  const upsert = (c: ClusterConfig, epoch: number, master = N2): DnsUpsertMessage => ({
    contract: 'dns-upsert',
    version: 1,
    cluster: c.name,
    master,
    epoch,
    queuedAt: START,
  });
  const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
  const changes = () =>
    route53Mock
      .commandCalls(ChangeResourceRecordSetsCommand)
      .map((c) => c.args[0].input as ChangeResourceRecordSetsCommandInput);

  it("writes a zone's records in one change per zone, reading none, and refuses an epoch older than the cluster's last claim", async () => {
    claimed = { orders: 4, payments: 9 };
    route53Mock
      .on(ChangeResourceRecordSetsCommand)
      .resolves({ ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date() } });

    const { response, writes } = await writer(
      event(record(upsert(orders, 4)), record(upsert(payments, 8)), record(upsert(carts, 2), OTHER_ZONE)),
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(writes.map((w) => ('done' in w ? `${w.done.cluster}:${w.done.result}` : w))).toEqual([
      'orders:updated',
      'payments:stale',
      'carts:updated',
    ]);
    const byZone = Object.fromEntries(
      changes().map((c) => [
        c.HostedZoneId,
        c.ChangeBatch?.Changes?.map((ch) => `${ch.ResourceRecordSet?.Type} ${ch.ResourceRecordSet?.Name}`),
      ]),
    );
    expect(byZone).toEqual({
      [ZONE]: ['A master.orders.redis.internal', 'TXT master.orders.redis.internal'],
      [OTHER_ZONE]: ['A master.carts.redis.internal', 'TXT master.carts.redis.internal'],
    });
    // Queued at START, written at START + 400: the dashboard's queued → written.
    expect(writeTimings(writes).map((t) => t.ms)).toEqual([400, 400]);
    // The state store is the epoch guard: Route53's 10 requests a second go to the writes.
    expect(route53Mock.commandCalls(ListResourceRecordSetsCommand)).toEqual([]);
  });

  it("reports every message of a zone whose change failed, so SQS retries them in order; other zones' stand", async () => {
    claimed = {};
    route53Mock
      .on(ChangeResourceRecordSetsCommand, { HostedZoneId: ZONE })
      .rejects(throttling())
      .on(ChangeResourceRecordSetsCommand, { HostedZoneId: OTHER_ZONE })
      .resolves({ ChangeInfo: { Id: '/change/C2', Status: 'PENDING', SubmittedAt: new Date() } });
    const [a, b, c] = [
      record(upsert(orders, 4)),
      record(upsert(payments, 4)),
      record(upsert(carts, 2), OTHER_ZONE),
    ];

    const { response } = await writer(event(a, b, c));

    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: a.messageId },
      { itemIdentifier: b.messageId },
    ]);
  });

  it('drops, and does not retry, a message that can never be written: not JSON, not the contract', async () => {
    claimed = {};
    const bad = [record('{not json'), record({ contract: 'dns-upsert', version: 2 })];

    const { response, writes } = await writer(event(...bad));

    expect(response.batchItemFailures).toEqual([]);
    expect(writes.map((w) => ('dropped' in w ? w.dropped : 'written'))).toEqual([
      'the body is not JSON',
      expect.stringContaining("not the queue's contract"),
    ]);
    expect(changes()).toEqual([]);
  });

  it('retries a record of a cluster its config does not know yet, and the rest of that zone after it', async () => {
    claimed = {};
    route53Mock
      .on(ChangeResourceRecordSetsCommand)
      .resolves({ ChangeInfo: { Id: '/change/C4', Status: 'PENDING', SubmittedAt: new Date() } });
    const [gone, later] = [record(upsert(cluster('gone'), 4)), record(upsert(orders, 4))];

    const { response, writes } = await writer(event(gone, later));

    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: gone.messageId },
      { itemIdentifier: later.messageId },
    ]);
    expect(writes.map((w) => ('retry' in w ? w.retry : w))).toEqual([
      expect.stringContaining("unknown cluster 'gone'"),
      'an earlier message of its group failed',
    ]);
  });

  it("joins a zone's records into one change even when the claims answer at different times", async () => {
    const names = ['a1', 'a2', 'a3', 'a4', 'a5'];
    const many = new ClusterRegistry(names.map((n) => cluster(n)));
    route53Mock
      .on(ChangeResourceRecordSetsCommand)
      .resolves({ ChangeInfo: { Id: '/change/C3', Status: 'PENDING', SubmittedAt: new Date() } });
    // Each claim read takes a different (real) time, as DynamoDB's do.
    const slowEpochs = {
      appliedEpoch: (name: string) =>
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3 * names.indexOf(name))),
    };
    const batchWriter = makeDnsWriterHandler(async () => ({
      clusters: many,
      dns: new Route53Dns({
        client: new Route53Client({ region: 'eu-west-1' }),
        clock,
        batchWindowMs: 0,
        readBeforeWrite: false,
      }),
      epochs: slowEpochs,
      clock,
      logger: silent,
    }));

    const { response } = await batchWriter(event(...names.map((n) => record(upsert(cluster(n), 4)))));

    expect(response.batchItemFailures).toEqual([]);
    expect(changes().map((c) => c.ChangeBatch?.Changes?.length)).toEqual([2 * names.length]);
  });

  it('refuses a record whose epoch was claimed again for another master', async () => {
    // The claim of epoch 4 names N2 (claimed again after a failure); a message of epoch 4 for N1 is stale.
    claimed = { orders: 4 };

    const { writes } = await writer(event(record(upsert(orders, 4, N1))));

    expect(writes.map((w) => ('done' in w ? w.done.result : w))).toEqual(['stale']);
    expect(changes()).toEqual([]);
  });
});

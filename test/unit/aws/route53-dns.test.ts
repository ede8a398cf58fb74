import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  masterRecordText,
  parseMasterRecordText,
  ROUTE53_WRITER_RETRY,
  Route53Dns,
  type Route53DnsOptions,
  ZONE_BUSY_PACE,
} from '../../../adapters/aws/route53-dns.ts';
import type { ClusterConfig, Endpoint } from '../../../core/model/cluster.ts';
import { AwsServiceError, ConfigurationError } from '../../../core/model/errors.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { N1, N2, N3, START, testCluster } from '../../support/fixtures.ts';
import { awsError, fixedRandom, rejectionOf, throttling } from './sdk-errors.ts';

const route53Mock = mockClient(Route53Client);
const ZONE = 'Z0123456789ABCDEFGHIJ';
const OTHER_ZONE = 'Z9876543210ABCDEFGHIJ';
const RECORD = 'master.orders.redis.internal';
const CHANGE_INFO = {
  Id: '/change/C2682N5HXP0BZ4',
  Status: 'PENDING' as const,
  SubmittedAt: new Date(START),
};

/** Cluster orders with its record in `zone`; null: no hosted zone configured. */
const orders = (zone: string | null = ZONE): ClusterConfig =>
  testCluster({ dns: { recordName: RECORD, ttl: 5, ...(zone ? { hostedZoneId: zone } : {}) } });

const payments = (zone = ZONE): ClusterConfig =>
  testCluster({
    name: 'payments',
    dns: { recordName: 'master.payments.redis.internal', ttl: 10, hostedZoneId: zone },
  });

/** The TXT record set Route53 returns for a record ha-redis wrote: lower-cased, with a trailing dot. */
const txtSet = (name: string, epoch: number, master: Endpoint): ResourceRecordSet => ({
  Name: `${name.toLowerCase()}.`,
  Type: 'TXT',
  TTL: 5,
  ResourceRecords: [{ Value: masterRecordText(master, epoch) }],
});

/** The two UPSERTs of one master record. */
const upserts = (name: string, ttl: number, master: Endpoint, epoch: number) => [
  {
    Action: 'UPSERT',
    ResourceRecordSet: { Name: name, TTL: ttl, Type: 'A', ResourceRecords: [{ Value: master.host }] },
  },
  {
    Action: 'UPSERT',
    ResourceRecordSet: {
      Name: name,
      TTL: ttl,
      Type: 'TXT',
      ResourceRecords: [{ Value: `"ha-redis epoch=${epoch} master=${master.host}:${master.port}"` }],
    },
  },
];

function dns(options: Partial<Omit<Route53DnsOptions, 'client' | 'clock'>> = {}) {
  const clock = new FakeClock();
  const adapter = new Route53Dns({
    client: new Route53Client({ region: 'us-east-1' }),
    clock,
    random: fixedRandom(0.5),
    ...options,
  });
  return { adapter, clock };
}

const changeInputs = () =>
  route53Mock.commandCalls(ChangeResourceRecordSetsCommand).map((c) => c.args[0].input);

beforeEach(() => {
  route53Mock.reset();
  route53Mock
    .on(ListResourceRecordSetsCommand)
    .resolves({ ResourceRecordSets: [], IsTruncated: false, MaxItems: 1 });
  route53Mock.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: CHANGE_INFO });
});
afterAll(() => {
  route53Mock.restore();
});

describe('the TXT value', () => {
  it('round-trips epoch and host:port, and ignores text ha-redis did not write', () => {
    // Act
    const text = masterRecordText(N2, 12);

    // Assert
    expect(text).toBe('"ha-redis epoch=12 master=10.0.1.22:6379"');
    expect(parseMasterRecordText(text)).toEqual({ epoch: 12, master: N2 });
    expect(parseMasterRecordText('"v=spf1 -all"')).toBeUndefined();
  });
});

describe('Route53Dns.upsertMaster', () => {
  it('reads the TXT record, then upserts the A and TXT records in one change', async () => {
    // Arrange
    route53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [txtSet(RECORD, 6, N1)],
    });
    const { adapter, clock } = dns();

    // Act
    const result = await adapter.upsertMaster(orders(), N2, 7);

    // Assert
    expect(result).toBe('updated');
    expect(route53Mock.commandCalls(ListResourceRecordSetsCommand).map((c) => c.args[0].input)).toEqual([
      { HostedZoneId: ZONE, StartRecordName: RECORD, StartRecordType: 'TXT', MaxItems: 1 },
    ]);
    expect(changeInputs()).toEqual([
      {
        HostedZoneId: ZONE,
        ChangeBatch: { Comment: 'ha-redis: orders epoch 7', Changes: upserts(RECORD, 5, N2, 7) },
      },
    ]);
    expect(route53Mock.commandCalls(GetChangeCommand)).toHaveLength(0);
    expect(clock.sleeps).toEqual([50]);
  });

  it.each([
    {
      case: 'writes a record with no TXT yet (the listing starts at the next record)',
      listed: [
        { Name: 'replica.orders.redis.internal.', Type: 'TXT', ResourceRecords: [] } as ResourceRecordSet,
      ],
      recordName: RECORD,
      epoch: 7,
      expected: 'updated',
    },
    {
      case: 'matches the record name regardless of case and trailing dot',
      listed: [txtSet(RECORD, 7, N2)],
      recordName: 'Master.Orders.Redis.Internal.',
      epoch: 7,
      expected: 'unchanged',
    },
    {
      case: 'refuses (stale) a record that holds a newer epoch',
      listed: [txtSet(RECORD, 9, N3)],
      recordName: RECORD,
      epoch: 8,
      expected: 'stale',
    },
  ])('$case', async ({ listed, recordName, epoch, expected }) => {
    // Arrange
    route53Mock.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: listed });
    const cluster = testCluster({ dns: { recordName, ttl: 5, hostedZoneId: ZONE } });
    const { adapter } = dns();

    // Act
    const result = await adapter.upsertMaster(cluster, N2, epoch);

    // Assert
    expect(result).toBe(expected);
    expect(changeInputs()).toHaveLength(expected === 'updated' ? 1 : 0);
  });

  it('is unchanged for the same epoch and master, and rewrites the same epoch with another master', async () => {
    // Arrange
    route53Mock.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [txtSet(RECORD, 7, N2)] });
    const { adapter } = dns();

    // Act
    const same = await adapter.upsertMaster(orders(), N2, 7);
    const otherPort = await adapter.upsertMaster(orders(), { host: N2.host, port: 6380 }, 7);

    // Assert
    expect(same).toBe('unchanged');
    expect(otherPort).toBe('updated');
    expect(changeInputs()).toHaveLength(1);
  });

  it('refuses to overwrite a TXT record that ha-redis did not write', async () => {
    // Arrange
    route53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [
        { Name: `${RECORD}.`, Type: 'TXT', ResourceRecords: [{ Value: '"owner=dba-team"' }] },
      ],
    });
    const { adapter } = dns();

    // Act
    const upsert = adapter.upsertMaster(orders(), N2, 7);

    // Assert
    await expect(upsert).rejects.toThrow(ConfigurationError);
    await expect(upsert).rejects.toThrow(
      `TXT ${RECORD} in hosted zone ${ZONE} (cluster orders) was not written by ha-redis ("owner=dba-team"); delete it or choose another dns.recordName`,
    );
    expect(changeInputs()).toHaveLength(0);
  });

  it.each([
    [
      'a cluster without a hosted zone',
      orders(null),
      N2,
      'cluster orders has no dns.hostedZoneId, so its Route53 record cannot be written; set it',
    ],
    [
      'a master addressed by name',
      orders(),
      { host: 'redis-2.internal', port: 6379 },
      'cluster orders: master host redis-2.internal is not an IPv4 address, which an A record needs; address nodes by IP',
    ],
  ])('refuses %s as configuration, and calls nothing', async (_case, cluster, master, message) => {
    // Arrange
    const { adapter } = dns();

    // Act
    const error = await rejectionOf(adapter.upsertMaster(cluster, master, 7));

    // Assert
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(message);
    expect(route53Mock.calls()).toHaveLength(0);
  });

  it('sends concurrent upserts of one zone as one change, and answers each caller', async () => {
    // Arrange
    const { adapter, clock } = dns();

    // Act
    const results = await Promise.all([
      adapter.upsertMaster(orders(), N2, 7),
      adapter.upsertMaster(payments(), N3, 3),
    ]);

    // Assert
    expect(results).toEqual(['updated', 'updated']);
    expect(route53Mock.commandCalls(ListResourceRecordSetsCommand)).toHaveLength(2);
    expect(changeInputs()).toEqual([
      {
        HostedZoneId: ZONE,
        ChangeBatch: {
          Comment: 'ha-redis: orders epoch 7, payments epoch 3',
          Changes: [...upserts(RECORD, 5, N2, 7), ...upserts('master.payments.redis.internal', 10, N3, 3)],
        },
      },
    ]);
    expect(clock.sleeps).toEqual([50]);
  });

  it('writes one record once per batch: the later epoch wins, each caller gets its answer in arrival order', async () => {
    // Arrange
    route53Mock.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [txtSet(RECORD, 6, N1)] });
    const { adapter } = dns();

    // Act
    const results = await Promise.all([
      adapter.upsertMaster(orders(), N2, 7),
      adapter.upsertMaster(orders(), N3, 8),
      adapter.upsertMaster(orders(), N2, 7),
      adapter.upsertMaster(orders(), N3, 8),
    ]);

    // Assert
    expect(results).toEqual(['updated', 'updated', 'stale', 'unchanged']);
    expect(route53Mock.commandCalls(ListResourceRecordSetsCommand)).toHaveLength(1);
    expect(changeInputs()).toEqual([
      {
        HostedZoneId: ZONE,
        ChangeBatch: { Comment: 'ha-redis: orders epoch 8', Changes: upserts(RECORD, 5, N3, 8) },
      },
    ]);
  });

  it('sends one change per zone, and a new batch for an upsert after the window', async () => {
    // Arrange
    const { adapter } = dns();

    // Act
    await Promise.all([
      adapter.upsertMaster(orders(), N2, 7),
      adapter.upsertMaster(payments(OTHER_ZONE), N3, 3),
    ]);
    await adapter.upsertMaster(orders(), N3, 8);

    // Assert
    expect(changeInputs().map((c) => [c.HostedZoneId, c.ChangeBatch?.Comment])).toEqual([
      [ZONE, 'ha-redis: orders epoch 7'],
      [OTHER_ZONE, 'ha-redis: payments epoch 3'],
      [ZONE, 'ha-redis: orders epoch 8'],
    ]);
  });

  it('retries Throttling, ThrottlingException and PriorRequestNotComplete with full jitter', async () => {
    // Arrange
    route53Mock
      .on(ChangeResourceRecordSetsCommand)
      .rejectsOnce(awsError('Throttling', 'Rate exceeded'))
      .rejectsOnce(throttling())
      .rejectsOnce(
        awsError(
          'PriorRequestNotComplete',
          'The request was rejected because Route 53 was still processing a prior request',
        ),
      )
      .resolves({ ChangeInfo: CHANGE_INFO });
    const { adapter, clock } = dns();

    // Act
    const result = await adapter.upsertMaster(orders(), N2, 7);

    // Assert: the same change each time.
    expect(result).toBe('updated');
    expect(changeInputs()).toEqual(
      Array(4).fill({
        HostedZoneId: ZONE,
        ChangeBatch: { Comment: 'ha-redis: orders epoch 7', Changes: upserts(RECORD, 5, N2, 7) },
      }),
    );
    // The window, then half of 200 and 400 ms after throttling (random 0.5), and after PriorRequestNotComplete
    // (the zone's own state, asked again soon) half of the zone-busy pace's 400-ms cap, not of 800.
    expect(clock.sleeps).toEqual([50, 100, 200, 200]);
  });

  it("the zone's writer asks a busy zone again every few hundred ms, and gives up after its patience", async () => {
    // Arrange: the zone stays busy
    route53Mock
      .on(ChangeResourceRecordSetsCommand)
      .rejects(awsError('PriorRequestNotComplete', 'still processing a prior request'));
    const { adapter, clock } = dns({ retry: ROUTE53_WRITER_RETRY, batchWindowMs: 0 });

    // Act
    const error = await rejectionOf(adapter.upsertMaster(orders(), N2, 7));

    // Assert: half of 100, 200, then of the 400-ms cap, until 10 s have passed
    const [window, ...pauses] = clock.sleeps;
    expect(window).toBe(0);
    expect(pauses.slice(0, 4)).toEqual([50, 100, 200, 200]);
    expect(Math.max(...pauses)).toBe(ZONE_BUSY_PACE.capMs / 2);
    expect(pauses.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(ROUTE53_WRITER_RETRY.patienceMs ?? 0);
    expect(changeInputs()).toHaveLength(pauses.length + 1);
    expect(error.message).toContain(
      'Route53 still refused after 10 s (PriorRequestNotComplete); retry later',
    );
  });

  it('gives up after 5 throttled attempts and rejects every caller whose answer depends on the write', async () => {
    // Arrange
    route53Mock.on(ChangeResourceRecordSetsCommand).rejects(awsError('Throttling', 'Rate exceeded'));
    route53Mock.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [txtSet(RECORD, 6, N1)] });
    const { adapter, clock } = dns();

    // Act
    const settled = await Promise.allSettled([
      adapter.upsertMaster(orders(), N2, 7),
      adapter.upsertMaster(orders(), N2, 7),
      adapter.upsertMaster(orders(), N2, 5),
    ]);

    // Assert
    const message = `could not write ${RECORD} in hosted zone ${ZONE} (orders epoch 7): Route53 still refused after 5 attempts (Throttling); retry later`;
    const failed = {
      status: 'rejected',
      reason: expect.objectContaining({ name: 'AwsServiceError', message }),
    };
    // The third is stale against the stored record, whatever becomes of the write.
    expect(settled).toEqual([failed, failed, { status: 'fulfilled', value: 'stale' }]);
    expect(changeInputs()).toHaveLength(5);
    expect(clock.sleeps).toEqual([50, 100, 200, 400, 800]);
  });

  it('does not retry a change Route53 rejects', async () => {
    // Arrange
    route53Mock
      .on(ChangeResourceRecordSetsCommand)
      .rejects(
        awsError(
          'InvalidChangeBatch',
          'RRSet with DNS name master.orders.redis.internal. is not permitted in zone example.com.',
        ),
      );
    const { adapter } = dns();

    // Act
    const upsert = adapter.upsertMaster(orders(), N2, 7);

    // Assert
    await expect(upsert).rejects.toThrow(AwsServiceError);
    await expect(upsert).rejects.toThrow(
      `could not write ${RECORD} in hosted zone ${ZONE} (orders epoch 7): InvalidChangeBatch: RRSet with DNS name master.orders.redis.internal. is not permitted in zone example.com.; check that the record name lies in the zone and no CNAME stands at it`,
    );
    expect(changeInputs()).toHaveLength(1);
  });

  it('reports a hosted zone that does not exist as configuration', async () => {
    // Arrange
    route53Mock
      .on(ListResourceRecordSetsCommand)
      .rejects(awsError('NoSuchHostedZone', 'No hosted zone found'));
    const { adapter } = dns();

    // Act
    const upsert = adapter.upsertMaster(orders(), N2, 7);

    // Assert
    await expect(upsert).rejects.toThrow(ConfigurationError);
    await expect(upsert).rejects.toThrow(
      `could not read TXT ${RECORD} in hosted zone ${ZONE} (cluster orders): the hosted zone does not exist, or this role cannot see it; fix dns.hostedZoneId`,
    );
    expect(route53Mock.commandCalls(ListResourceRecordSetsCommand)).toHaveLength(1);
  });

  it('reports a missing permission as configuration', async () => {
    // Arrange
    route53Mock.on(ListResourceRecordSetsCommand).rejects(awsError('AccessDenied', 'not authorized', 403));
    const { adapter } = dns();

    // Act
    const upsert = adapter.upsertMaster(orders(), N2, 7);

    // Assert
    await expect(upsert).rejects.toThrow(ConfigurationError);
    await expect(upsert).rejects.toThrow(
      'AccessDenied: not authorized; grant route53:ListResourceRecordSets, route53:ChangeResourceRecordSets and route53:GetChange on the zone',
    );
  });

  it('still writes the other records of a batch when reading one fails', async () => {
    // Arrange
    route53Mock
      .on(ListResourceRecordSetsCommand, { StartRecordName: RECORD })
      .rejects(awsError('InternalError', 'try again', 500));
    const { adapter } = dns();

    // Act
    const settled = await Promise.allSettled([
      adapter.upsertMaster(orders(), N2, 7),
      adapter.upsertMaster(payments(), N3, 3),
    ]);

    // Assert
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled']);
    expect(changeInputs().map((c) => c.ChangeBatch?.Comment)).toEqual(['ha-redis: payments epoch 3']);
  });

  it('waits for INSYNC when asked, through a throttled GetChange', async () => {
    // Arrange
    route53Mock
      .on(GetChangeCommand)
      .resolvesOnce({ ChangeInfo: CHANGE_INFO })
      .rejectsOnce(awsError('Throttling', 'Rate exceeded'))
      .resolves({ ChangeInfo: { ...CHANGE_INFO, Status: 'INSYNC' } });
    const { adapter, clock } = dns({ waitForInsync: true });

    // Act
    const result = await adapter.upsertMaster(orders(), N2, 7);

    // Assert
    expect(result).toBe('updated');
    expect(route53Mock.commandCalls(GetChangeCommand).map((c) => c.args[0].input)).toEqual(
      Array(3).fill({ Id: '/change/C2682N5HXP0BZ4' }),
    );
    // The window, then 1 s, 2 s, and 4 s plus half of it after the throttled poll.
    expect(clock.sleeps).toEqual([50, 1000, 2000, 6000]);
  });

  it('fails when the change is not INSYNC by the deadline, naming the change', async () => {
    // Arrange
    route53Mock.on(GetChangeCommand).resolves({ ChangeInfo: CHANGE_INFO });
    const { adapter, clock } = dns({ waitForInsync: true, insyncDeadlineMs: 10_000 });

    // Act
    const upsert = adapter.upsertMaster(orders(), N2, 7);

    // Assert
    await expect(upsert).rejects.toThrow(
      `change /change/C2682N5HXP0BZ4 (write ${RECORD} in hosted zone ${ZONE} (orders epoch 7)) is still PENDING after 10 s; Route53 accepted it and will apply it: check GetChange /change/C2682N5HXP0BZ4`,
    );
    expect(clock.now()).toBe(START + 50 + 10_000);
  });
});

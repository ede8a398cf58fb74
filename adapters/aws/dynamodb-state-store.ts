import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Endpoint } from '../../core/model/cluster.ts';
import { HistoryEntryExistsError, StateStoreError } from '../../core/model/errors.ts';
import { LEADER_VOTES_READ_LIMIT } from '../../core/model/limits.ts';
import type {
  AppliedEpoch,
  ClaimResult,
  ClusterLease,
  EpochClaim,
  HistoryEntry,
  LeaderVote,
  MaintenanceMode,
  PendingFence,
} from '../../core/model/records.ts';
import type {
  ClusterLeases,
  EpochClaims,
  HistoryLog,
  LeaderVotes,
  MaintenanceModes,
  PendingFences,
} from '../../core/ports.ts';
import { describeAwsError, isThrottling } from './retry.ts';

const pk = (cluster: string) => `cluster#${cluster}`;

/**
 * A call that got no answer (connection refused, a timeout), a server error or throttling past the retries, as a
 * StateStoreError; an answer (a refused condition, a missing table) stays what it is.
 */
export function asStateStoreError(error: unknown, table: string): unknown {
  if (!(error instanceof Error) || error instanceof StateStoreError) return error;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined && status < 500 && !isThrottling(error)) return error;
  return new StateStoreError(`state store (table ${table}) did not answer: ${describeAwsError(error)}`, {
    cause: error,
  });
}
/** Votes matter only during a failover; the table's TTL attribute `expiresAt` removes them after a day. */
const DAY_S = 86_400;
const VOTE_TTL_S = DAY_S;
const EPOCH_SK = 'epoch';
const fenceSk = (node: Endpoint) => `fence#${node.host}:${node.port}`;
/** History sorts by start time; the zero-padded millis keep lexical order = time order. */
const historySk = (e: HistoryEntry) => `history#${String(e.startedAt).padStart(15, '0')}#${e.id}`;

/**
 * The state store on DynamoDB (dynalite locally): one item per cluster epoch claim, one per pending fence,
 * one per history entry, one per leader vote, one for the lease and one for the maintenance mode, all under
 * the partition `cluster#<name>`. It implements every state port; their contracts are in core/ports.ts.
 */
export class DynamoStateStore
  implements EpochClaims, LeaderVotes, ClusterLeases, PendingFences, HistoryLog, MaintenanceModes
{
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly historyRetentionDays: number | undefined;
  /**
   * `historyRetentionDays`: each history entry carries `expiresAt` (the table's TTL attribute) that many days after
   * it started, for DynamoDB to delete it; absent, entries are kept (the local runtime).
   */
  constructor(client: DynamoDBClient, table: string, options: { historyRetentionDays?: number } = {}) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = table;
    this.historyRetentionDays = options.historyRetentionDays;
    // Around the SDK's own retries: a store that does not answer reaches the core as a StateStoreError. The
    // document client shares the client's middleware stack: a second store on the same client replaces it
    // (override) rather than failing with a duplicate name.
    this.doc.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (error) {
          throw asStateStoreError(error, table);
        }
      },
      { step: 'initialize', name: 'haRedisStateStoreErrors', override: true },
    );
  }

  async appliedEpoch(cluster: string): Promise<AppliedEpoch | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: pk(cluster), sk: EPOCH_SK }, ConsistentRead: true }),
    );
    return Item ? toApplied(Item) : undefined;
  }

  /** Conditional write: a newer epoch always wins; the same epoch only when its claim failed or its lease ran out. */
  async claimEpoch(cluster: string, claim: EpochClaim): Promise<ClaimResult> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: pk(cluster),
            sk: EPOCH_SK,
            epoch: claim.epoch,
            master: claim.master,
            status: 'claimed',
            token: claim.token,
            leaseUntil: claim.now + claim.leaseMs,
          },
          ConditionExpression:
            'attribute_not_exists(pk) OR epoch < :e OR (epoch = :e AND #s <> :done AND (#s = :failed OR leaseUntil < :now))',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':e': claim.epoch,
            ':done': 'done',
            ':failed': 'failed',
            ':now': claim.now,
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = error.Item ? toAppliedRaw(error.Item) : await this.appliedEpoch(cluster);
      if (!current) throw error;
      return { claimed: false, reason: current.epoch > claim.epoch ? 'stale' : 'duplicate', current };
    }
  }

  async finishEpoch(cluster: string, epoch: number, token: string, status: 'done' | 'failed'): Promise<void> {
    await this.doc
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(cluster), sk: EPOCH_SK },
          UpdateExpression: 'SET #s = :s',
          ConditionExpression: 'epoch = :e AND #t = :t',
          ExpressionAttributeNames: { '#s': 'status', '#t': 'token' },
          ExpressionAttributeValues: { ':s': status, ':e': epoch, ':t': token },
        }),
      )
      .catch((error: unknown) => {
        // A newer epoch took over meanwhile; it owns the record now.
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }

  async pendingFences(cluster: string): Promise<PendingFence[]> {
    const Items = await this.itemsWithPrefix(cluster, 'fence#', { newestFirst: false });
    return Items.map(
      (i) => ({ node: i.node, master: i.master, epoch: i.epoch, since: i.since }) as PendingFence,
    );
  }

  async addPendingFence(cluster: string, fence: PendingFence): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { pk: pk(cluster), sk: fenceSk(fence.node), ...fence } }),
    );
  }

  async removePendingFence(cluster: string, node: Endpoint): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.table, Key: { pk: pk(cluster), sk: fenceSk(node) } }),
    );
  }

  /** Conditional write: free, expired, or already ours. */
  async takeLease(
    cluster: string,
    lease: ClusterLease,
    now: number,
  ): Promise<{ taken: true } | { taken: false; holder: ClusterLease }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: pk(cluster), sk: 'lease', ...lease },
          ConditionExpression: 'attribute_not_exists(pk) OR #u < :now OR #o = :owner',
          ExpressionAttributeNames: { '#u': 'until', '#o': 'owner' },
          ExpressionAttributeValues: { ':now': now, ':owner': lease.owner },
        }),
      );
      return { taken: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const holder = await this.lease(cluster);
      if (!holder) return this.takeLease(cluster, lease, now);
      return { taken: false, holder };
    }
  }

  async releaseLease(cluster: string, owner: string): Promise<void> {
    await this.doc
      .send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: pk(cluster), sk: 'lease' },
          ConditionExpression: '#o = :owner',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error; // someone else's lease now
      });
  }

  async lease(cluster: string): Promise<ClusterLease | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: pk(cluster), sk: 'lease' }, ConsistentRead: true }),
    );
    return Item ? { owner: String(Item.owner), purpose: Item.purpose, until: Number(Item.until) } : undefined;
  }

  /** One item per (epoch, voter): a Sentinel votes once per epoch, so a redelivery overwrites the same vote. */
  async recordVote(cluster: string, vote: LeaderVote): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: pk(cluster),
          sk: `vote#${String(vote.epoch).padStart(12, '0')}#${vote.voter.host}:${vote.voter.port}`,
          ...vote,
          expiresAt: Math.floor(Date.now() / 1000) + VOTE_TTL_S,
        },
      }),
    );
  }

  async votes(cluster: string): Promise<LeaderVote[]> {
    const Items = await this.itemsWithPrefix(cluster, 'vote#', {
      newestFirst: true,
      limit: LEADER_VOTES_READ_LIMIT,
    });
    return Items.map((i) => ({
      epoch: Number(i.epoch),
      voter: i.voter as Endpoint,
      leaderRunId: String(i.leaderRunId),
    }));
  }

  async maintenanceMode(cluster: string): Promise<MaintenanceMode | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: pk(cluster), sk: 'maintenance' },
        ConsistentRead: true,
      }),
    );
    return Item
      ? {
          paused: Item.paused === true,
          by: String(Item.by),
          at: Number(Item.at),
          reason: String(Item.reason),
        }
      : undefined;
  }

  async setMaintenanceMode(cluster: string, mode: MaintenanceMode): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { pk: pk(cluster), sk: 'maintenance', ...mode } }),
    );
  }

  async appendHistory(entry: HistoryEntry): Promise<void> {
    await this.doc
      .send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: pk(entry.cluster),
            sk: historySk(entry),
            entry,
            ...(this.historyRetentionDays === undefined
              ? {}
              : { expiresAt: Math.floor(entry.startedAt / 1000) + this.historyRetentionDays * DAY_S }),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        throw new HistoryEntryExistsError(
          `history entry ${entry.id} of ${entry.cluster} (started ${entry.startedAt}) is recorded already`,
          { cause: error },
        );
      });
  }

  async listHistory(cluster: string, limit: number): Promise<HistoryEntry[]> {
    const Items = await this.itemsWithPrefix(cluster, 'history#', { newestFirst: true, limit });
    return Items.map((i) => i.entry as HistoryEntry);
  }

  /** The items of one cluster whose sort key starts with `prefix`, consistently read. */
  private async itemsWithPrefix(
    cluster: string,
    prefix: string,
    options: { newestFirst: boolean; limit?: number },
  ): Promise<Record<string, unknown>[]> {
    const { Items = [] } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': pk(cluster), ':p': prefix },
        ScanIndexForward: !options.newestFirst,
        ConsistentRead: true,
        ...(options.limit ? { Limit: options.limit } : {}),
      }),
    );
    return Items;
  }
}

function toApplied(item: Record<string, unknown>): AppliedEpoch {
  return {
    epoch: Number(item.epoch),
    master: item.master as Endpoint,
    status: item.status as AppliedEpoch['status'],
    token: String(item.token),
    leaseUntil: Number(item.leaseUntil),
  };
}

/** The item of a failed condition check comes back in DynamoDB's attribute-value shape. */
function toAppliedRaw(
  item: Record<string, { S?: string; N?: string; M?: Record<string, { S?: string; N?: string }> }>,
): AppliedEpoch {
  return {
    epoch: Number(item.epoch?.N),
    master: { host: String(item.master?.M?.host?.S), port: Number(item.master?.M?.port?.N) },
    status: item.status?.S as AppliedEpoch['status'],
    token: String(item.token?.S),
    leaseUntil: Number(item.leaseUntil?.N),
  };
}

/** Create the state table (pk, sk; on demand) when it does not exist: dynalite and tests. CDK owns it in AWS. */
export async function ensureStateTable(client: DynamoDBClient, table: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: table }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    }),
  );
}

/**
 * History retention on DynamoDB (dynalite): an entry carries the table's TTL attribute `expiresAt`, the retention
 * after it started, when the store is given one (the AWS composition gives `history.retentionDays`); none without.
 */
import type { AddressInfo } from 'node:net';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore, ensureStateTable } from '../../adapters/aws/dynamodb-state-store.ts';
import { localDynamoClient } from '../../compose/local.ts';
import { entry } from '../contracts/history-log.ts';

const server = dynalite({ createTableMs: 0 });
let client: ReturnType<typeof localDynamoClient> | undefined;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  client = localDynamoClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await ensureStateTable(client, 'state');
});

afterAll(async () => {
  client?.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** The stored item of the history entry `id`, as DynamoDB has it. */
async function itemOf(id: string): Promise<Record<string, unknown> | undefined> {
  if (!client) throw new Error('dynalite is not up');
  const { Items = [] } = await DynamoDBDocumentClient.from(client).send(
    new ScanCommand({ TableName: 'state' }),
  );
  return Items.find((i) => (i.entry as { id?: string } | undefined)?.id === id);
}

describe('history retention (DynamoDB TTL)', () => {
  it('gives each entry expiresAt, the retention in days after it started (epoch seconds)', async () => {
    // Arrange
    const store = new DynamoStateStore(client as NonNullable<typeof client>, 'state', {
      historyRetentionDays: 30,
    });
    const startedAt = 1_764_000_000_123;

    // Act
    await store.appendHistory(entry('kept-30-days', 'h1', startedAt));

    // Assert
    expect((await itemOf('h1'))?.expiresAt).toBe(Math.floor(startedAt / 1000) + 30 * 86_400);
    expect(await store.listHistory('kept-30-days', 10)).toHaveLength(1);
  });

  it('keeps every entry without a retention (the local runtime)', async () => {
    // Arrange
    const store = new DynamoStateStore(client as NonNullable<typeof client>, 'state');

    // Act
    await store.appendHistory(entry('kept-forever', 'h2', 1_764_000_000_000));

    // Assert
    const item = await itemOf('h2');
    expect(item).toBeDefined();
    expect(item?.expiresAt).toBeUndefined();
  });
});

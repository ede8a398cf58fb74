import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { afterAll, beforeAll } from 'vitest';
import { DynamoStateStore, ensureStateTable } from '../../adapters/aws/dynamodb-state-store.ts';
import { localDynamoClient } from '../../compose/local.ts';
import { runStatePortContracts } from '../contracts/state-ports.ts';

// The DynamoDB store on dynalite keeps the contracts of the state ports: the same tables the in-memory fake
// passes (test/unit/fakes.test.ts). Every case works on clusters of its own, so they share one table.
const server = dynalite({ createTableMs: 0 });
let client: ReturnType<typeof localDynamoClient> | undefined;
let store: DynamoStateStore | undefined;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  client = localDynamoClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await ensureStateTable(client, 'state');
  await ensureStateTable(client, 'state'); // idempotent: every start of a local orchestrator calls it
  store = new DynamoStateStore(client, 'state');
});

afterAll(async () => {
  client?.destroy();
  await new Promise((resolve) => server.close(resolve));
});

runStatePortContracts('DynamoStateStore', () => {
  if (!store) throw new Error('the DynamoDB store is not up: beforeAll failed');
  return store;
});

import { runStatePortContracts } from '../contracts/state-ports.ts';
import { InMemoryStateStore } from '../fakes/state-store.ts';

// The in-memory store stands in for DynamoStateStore in every core test: it keeps the same contracts
// (test/integration/state-ports.contract.test.ts runs the same tables against DynamoDB on dynalite).
runStatePortContracts('InMemoryStateStore', () => new InMemoryStateStore());

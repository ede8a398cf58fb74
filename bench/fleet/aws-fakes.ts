/**
 * AWS as the fleet simulation plays it: aws-sdk-client-mock fakes of Route53, SSM and SNS that enforce the limits
 * of limits.ts by throwing the errors AWS throws (`Throttling`, `PriorRequestNotComplete`, `ThrottlingException`),
 * and DynamoDB as dynalite (the real API) behind a client middleware that refuses writes over the partition's
 * rate with `ProvisionedThroughputExceededException`. The real adapters run on top, so that their own batching,
 * backoff and retries are what is measured. The mocks replace the clients' `send`, so the SDK's own retries do
 * not run for Route53 and SSM (the adapters' do); DynamoDB's client keeps them.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import {
  ChangeResourceRecordSetsCommand,
  type ChangeResourceRecordSetsCommandInput,
  GetChangeCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  PriorRequestNotComplete,
  Route53Client,
  Route53ServiceException,
} from '@aws-sdk/client-route-53';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
  SSMClient,
  SSMServiceException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { ensureStateTable } from '../../adapters/aws/dynamodb-state-store.ts';
import { masterRecordText } from '../../adapters/aws/route53-dns.ts';
import { localDynamoClient } from '../../compose/local.ts';
import { freePorts } from '../../local/processes.ts';
import { BucketMap, LIMITS, TokenBucket } from './limits.ts';
import { type FleetWorld, instanceOf, NEW_EPOCH } from './topology.ts';

/** What each fake counted: calls, and the refusals by their error name. */
export interface ServiceCounts {
  calls: number;
  refused: Record<string, number>;
}
const counts = (): ServiceCounts => ({ calls: 0, refused: {} });
const refuse = (c: ServiceCounts, name: string) => {
  c.refused[name] = (c.refused[name] ?? 0) + 1;
};

const meta = { httpStatusCode: 400 };
const r53Error = (name: string, message: string) =>
  new Route53ServiceException({ name, $fault: 'client', message, $metadata: meta });
const ssmThrottled = () =>
  new SSMServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    message: 'Rate exceeded',
    $metadata: meta,
  });

/** Route53 for one account: both request buckets, the zone's busy time, the batch size, INSYNC after a delay. */
function fakeRoute53(world: FleetWorld, dnsWrittenAt: Map<string, number>) {
  const mock = mockClient(Route53Client);
  const c = counts();
  const L = LIMITS.route53;
  const account = new TokenBucket(L.accountCapacity, L.accountRefillPerSec);
  const perOperation = new BucketMap(L.operationCapacity, L.operationRefillPerSec);
  const zoneBusyUntil = new Map<string, number>();
  const changes = new Map<string, number>();
  const txt = new Map<string, string>();
  for (const s of world.clusters)
    txt.set(s.config.dns.recordName, masterRecordText(s.oldMaster, NEW_EPOCH - 1));
  const admit = (operation: string) => {
    c.calls += 1;
    // A request takes a token from both buckets; either empty throttles it.
    if (!perOperation.take(operation) || !account.take()) {
      refuse(c, 'Throttling');
      throw r53Error('Throttling', 'Rate exceeded');
    }
  };
  mock.on(ListResourceRecordSetsCommand).callsFake((input: { StartRecordName?: string }) => {
    admit('ListResourceRecordSets');
    const name = (input.StartRecordName ?? '').replace(/\.$/, '');
    const value = txt.get(name);
    return {
      ResourceRecordSets: value
        ? [{ Name: `${name}.`, Type: 'TXT', ResourceRecords: [{ Value: value }] }]
        : [],
    };
  });
  mock.on(ChangeResourceRecordSetsCommand).callsFake((input: ChangeResourceRecordSetsCommandInput) => {
    admit('ChangeResourceRecordSets');
    const zone = input.HostedZoneId ?? '';
    const now = Date.now();
    if ((zoneBusyUntil.get(zone) ?? 0) > now) {
      refuse(c, 'PriorRequestNotComplete');
      throw new PriorRequestNotComplete({
        message: 'The request was rejected because Route 53 was still processing a prior request.',
        $metadata: meta,
      });
    }
    const list = input.ChangeBatch?.Changes ?? [];
    const records = list.reduce(
      (n, ch) => n + (ch.Action === 'UPSERT' ? 2 : 1) * (ch.ResourceRecordSet?.ResourceRecords?.length ?? 1),
      0,
    );
    if (records > L.maxRecordsPerBatch) {
      refuse(c, 'InvalidChangeBatch');
      throw new InvalidChangeBatch({
        message: `${records} records in one request; at most ${L.maxRecordsPerBatch}`,
        $metadata: meta,
      });
    }
    zoneBusyUntil.set(zone, now + L.zoneBusyMs);
    for (const ch of list) {
      const set = ch.ResourceRecordSet;
      if (set?.Type === 'TXT' && set.Name) txt.set(set.Name, set.ResourceRecords?.[0]?.Value ?? '');
      if (set?.Type === 'A' && set.Name && !dnsWrittenAt.has(set.Name)) dnsWrittenAt.set(set.Name, now);
    }
    const id = `/change/C${changes.size + 1}`;
    changes.set(id, now + L.insyncMs);
    return { ChangeInfo: { Id: id, Status: 'PENDING', SubmittedAt: new Date(now) } };
  });
  mock.on(GetChangeCommand).callsFake((input: { Id?: string }) => {
    admit('GetChange');
    const at = changes.get(input.Id ?? '') ?? 0;
    return {
      ChangeInfo: { Id: input.Id, Status: at <= Date.now() ? 'INSYNC' : 'PENDING', SubmittedAt: new Date() },
    };
  });
  return { mock, counts: c };
}

/** SSM Run Command: SendCommand and the result polls throttled; a lost host's command Pending until its timeout. */
function fakeSsm(world: FleetWorld, fenceIssuedAt: Map<string, number>) {
  const mock = mockClient(SSMClient);
  const c = counts();
  const L = LIMITS.ssm;
  const send = new TokenBucket(L.sendCapacity, L.sendRefillPerSec);
  const read = new TokenBucket(L.readCapacity, L.readRefillPerSec);
  const hostOfInstance = new Map<string, string>();
  for (const s of world.clusters)
    for (const h of [...s.config.nodes, ...s.config.proxies]) hostOfInstance.set(instanceOf(h.host), h.host);
  const sent = new Map<string, { host: string; at: number; timeoutMs: number }>();
  mock.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
    c.calls += 1;
    if (!send.take()) {
      refuse(c, 'ThrottlingException');
      throw ssmThrottled();
    }
    const host = hostOfInstance.get(input.InstanceIds?.[0] ?? '') ?? '';
    const id = `cmd-${sent.size + 1}`;
    sent.set(id, { host, at: Date.now(), timeoutMs: (input.TimeoutSeconds ?? 3600) * 1000 });
    if (input.DocumentName?.endsWith('fence-node')) {
      const cluster = world.byHost.get(host);
      if (cluster && !fenceIssuedAt.has(cluster.config.name))
        fenceIssuedAt.set(cluster.config.name, Date.now());
    }
    return { Command: { CommandId: id } };
  });
  mock.on(GetCommandInvocationCommand).callsFake((input: { CommandId?: string; InstanceId?: string }) => {
    c.calls += 1;
    if (!read.take()) {
      refuse(c, 'ThrottlingException');
      throw ssmThrottled();
    }
    const command = sent.get(input.CommandId ?? '');
    if (!command)
      throw new SSMServiceException({
        name: 'InvocationDoesNotExist',
        $fault: 'client',
        message: 'no such invocation',
        $metadata: meta,
      });
    const base = { CommandId: input.CommandId, InstanceId: input.InstanceId };
    const age = Date.now() - command.at;
    if (world.lost(command.host)) {
      // "Understanding command statuses": an agent that never answers leaves it Pending until the delivery timeout.
      return age < command.timeoutMs
        ? { ...base, Status: 'Pending', StatusDetails: 'Pending' }
        : { ...base, Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' };
    }
    if (age < L.scriptMs) return { ...base, Status: 'InProgress', StatusDetails: 'InProgress' };
    return {
      ...base,
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      StandardOutputContent: 'ok',
    };
  });
  mock.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [] });
  mock.on(CancelCommandCommand).resolves({});
  return { mock, counts: c };
}

/**
 * dynalite in a process of its own, as DynamoDB is a service of its own: in the simulation's process its CPU
 * (about 0.3 ms per request, and a burst of ~800 requests when an AZ's failovers start together) queued behind
 * the simulated Lambdas, and stretched a GetItem to 0.7-1.1 s at p90, where DynamoDB answers in milliseconds.
 */
async function dynaliteProcess(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const [port] = await freePorts(1);
  const child = spawn(process.execPath, [DYNALITE_SERVER, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('dynalite did not start within 10 s')), 10_000);
    child.once('exit', (code) => reject(new Error(`dynalite exited with code ${code} before it listened`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('listening')) return;
      clearTimeout(timer);
      resolve();
    });
  });
  // A run that exits without stopping it (an error, process.exit) does not leave it behind.
  const orphan = () => child.kill();
  process.once('exit', orphan);
  const stop = () =>
    new Promise<void>((resolve) => {
      process.off('exit', orphan);
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { endpoint: `http://127.0.0.1:${port}`, stop };
}

const DYNALITE_SERVER = fileURLToPath(new URL('../../local/dynalite-server.ts', import.meta.url));

/** DynamoDB: dynalite, with each write refused over its partition's (and the table's) write rate. */
export async function startDynamo() {
  const { endpoint, stop } = await dynaliteProcess();
  const setup = localDynamoClient(endpoint);
  await ensureStateTable(setup, 'state');
  setup.destroy();
  const c = counts();
  const L = LIMITS.dynamodb;
  const partitions = new BucketMap(L.partitionWcuPerSec, L.partitionWcuPerSec);
  const table = new TokenBucket(L.tableWcuPerSec, L.tableWcuPerSec);
  const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);
  /** A client of the table for one Lambda environment, its writes metered. */
  const client = (): DynamoDBClient => {
    const dynamo = localDynamoClient(endpoint);
    dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        c.calls += 1;
        if (WRITES.has(context.commandName ?? '')) {
          const input = args.input as {
            Item?: Record<string, { S?: string }>;
            Key?: Record<string, { S?: string }>;
          };
          const key = (input.Item ?? input.Key)?.pk?.S ?? '';
          const units = Math.max(1, Math.ceil(JSON.stringify(input).length / 1024));
          if (!table.take(units) || !partitions.take(key, units)) {
            refuse(c, 'ProvisionedThroughputExceededException');
            throw new ProvisionedThroughputExceededException({
              message: 'The level of configured provisioned throughput for the table was exceeded',
              $metadata: meta,
            });
          }
        }
        return next(args);
      },
      // Inside the SDK's retry loop (finalizeRequest), so that a refused write is retried as AWS's would be.
      { step: 'deserialize', priority: 'high', name: 'fleetSimWriteLimit' },
    );
    return dynamo;
  };
  /** A client that is neither metered nor counted: the fleet's state before the run (its steady state). */
  const setupClient = (): DynamoDBClient => localDynamoClient(endpoint);
  return { client, setupClient, counts: c, stop };
}

/** Every AWS fake of a run, and what they recorded. */
export function installAwsFakes(world: FleetWorld) {
  const dnsWrittenAt = new Map<string, number>();
  const fenceIssuedAt = new Map<string, number>();
  const route53 = fakeRoute53(world, dnsWrittenAt);
  const ssm = fakeSsm(world, fenceIssuedAt);
  const sns = mockClient(SNSClient);
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  return {
    dnsWrittenAt,
    fenceIssuedAt,
    counts: { route53: route53.counts, ssm: ssm.counts },
    restore: () => {
      route53.mock.restore();
      ssm.mock.restore();
      sns.restore();
    },
  };
}

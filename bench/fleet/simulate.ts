/**
 * The fleet simulation: N simulated clusters over 3 AZs; AZ k is lost; every cluster whose master was there fails
 * over as Sentinel does it; the Sentinels' events reach the REAL sentinel-event handler (and so the real core) as
 * SNS records, through a simulated Lambda, with the real AWS adapters on rate-limited fakes of AWS (aws-fakes.ts).
 * Wall-clock time, unscaled: every delay is the modelled one.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { SNSEvent } from 'aws-lambda';
import { QueuedDns } from '../../adapters/aws/dns-queue.ts';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import type { RetryPolicy } from '../../adapters/aws/retry.ts';
import { ROUTE53_WRITER_RETRY, Route53Dns } from '../../adapters/aws/route53-dns.ts';
import { QueuedRoutingNodeOps } from '../../adapters/aws/routing-queue.ts';
import { SnsNotifier } from '../../adapters/aws/sns-notifier.ts';
import { PATIENT_SEND_RETRY, SsmNodeOps } from '../../adapters/aws/ssm-node-ops.ts';
import { ClusterRegistry, type Endpoint, formatEndpoint } from '../../core/model/cluster.ts';
import type { Clock, CorePorts, Logger } from '../../core/ports.ts';
import { makeDnsWriterHandler } from '../../functions/dns-writer/handler.ts';
import { makeRoutingPersistHandler } from '../../functions/routing-persist/handler.ts';
import { makeSentinelEventHandler, type RecordOutcome } from '../../functions/sentinel-event/handler.ts';
import { newSerializer } from '../../functions/sentinel-event/serialize.ts';
import { sentinelEventReservation } from '../../infra/constructs/concurrency.ts';
import {
  DNS_WRITER_TIMEOUT_S,
  ROUTING_PERSIST_CONCURRENCY,
  ROUTING_PERSIST_TIMEOUT_S,
  VISIBILITY_TIMEOUTS,
} from '../../infra/constructs/queued-writes.ts';
import { installAwsFakes, startDynamo } from './aws-fakes.ts';
import { FifoQueueSim, installSqs } from './fifo-queues.ts';
import { clusterOfEvent, type FleetRun, noteOf, type OutcomeNote, summarizeRun } from './fleet-report.ts';
import { LambdaSim } from './lambda.ts';
import { LIMITS, uniform } from './limits.ts';
import {
  buildFleet,
  FleetWorld,
  NEW_EPOCH,
  OLD_EPOCH,
  runIdOf,
  type SimCluster,
  SimRedis,
  SimRouter,
  SimSentinels,
} from './topology.ts';

export interface FleetOptions {
  clusters: number;
  /** The AZ lost, 1 to 3. */
  failAz: number;
  /** Sentinel down-after-milliseconds. */
  downAfterMs: number;
  /** sentinel-event environments initialized before the loss (provisioned concurrency); 0 by default. */
  provisioned?: number;
  log?: (line: string) => void;
}

const clock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms).then(() => undefined) };
const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * Sentinel's schedule after the AZ is lost (DESIGN.md, measured here with a Sentinel per service): the replica
 * answers ROLE master 350-540 ms after down-after; the votes come ~150 ms before it, with the leader's
 * +failover-state-wait-promotion at the promotion; each other Sentinel adopts the new master (+switch-master)
 * 0.8-1.1 s later, the leader's +promoted-slave ~1 s later, +failover-end after it.
 */
function scheduleFailover(
  c: SimCluster,
  lostAt: number,
  downAfterMs: number,
  lostAz: number,
): SentinelEvent[] {
  c.failsOver = true;
  const promotedAt = lostAt + downAfterMs + uniform([350, 540]);
  c.promotedAt = promotedAt;
  c.electedAt = promotedAt - uniform([120, 180]);
  const live = c.config.sentinels.filter((s) => Number(s.host.split('.')[1]?.[0]) !== lostAz);
  const slave = `slave ${formatEndpoint(c.newMaster)} ${c.newMaster.host} ${c.newMaster.port} @ mymaster ${c.oldMaster.host} ${c.oldMaster.port}`;
  const events: SentinelEvent[] = [];
  for (const s of live) {
    events.push({
      at: c.electedAt,
      sentinel: s,
      channel: '+vote-for-leader',
      payload: `${runIdOf(c.leader)} ${NEW_EPOCH}`,
    });
    const switchAt = promotedAt + uniform([800, 1100]);
    c.switchAt.set(formatEndpoint(s), switchAt);
    const sw = `mymaster ${c.oldMaster.host} ${c.oldMaster.port} ${c.newMaster.host} ${c.newMaster.port}`;
    events.push({ at: switchAt, sentinel: s, channel: '+switch-master', payload: sw });
  }
  events.push({
    at: promotedAt,
    sentinel: c.leader,
    channel: '+failover-state-wait-promotion',
    payload: slave,
  });
  const promotedSlaveAt = promotedAt + uniform([900, 1100]);
  events.push({ at: promotedSlaveAt, sentinel: c.leader, channel: '+promoted-slave', payload: slave });
  events.push({
    at: promotedSlaveAt + uniform([50, 150]),
    sentinel: c.leader,
    channel: '+failover-end',
    payload: `master mymaster ${c.oldMaster.host} ${c.oldMaster.port}`,
  });
  return events.map((e) => ({ ...e, cluster: c.config.name }));
}

interface SentinelEvent {
  at: number;
  cluster?: string;
  sentinel: Endpoint;
  channel: string;
  payload: string;
}

/** One SNS record per message, as SNS delivers to Lambda. */
const snsEventOf = (e: SentinelEvent, seenAt: number): SNSEvent =>
  ({
    Records: [
      {
        EventSource: 'aws:sns',
        Sns: {
          Type: 'Notification',
          MessageId: randomUUID(),
          Message: JSON.stringify({
            contract: 'sentinel-event',
            version: 1,
            cluster: e.cluster,
            sentinel: { host: e.sentinel.host, port: e.sentinel.port },
            channel: e.channel,
            payload: e.payload,
            seenAt,
          }),
          Timestamp: new Date(seenAt).toISOString(),
        },
      },
    ],
  }) as unknown as SNSEvent;

const DNS_QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ha-redis-dns-writes.fifo';
const ROUTING_QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ha-redis-routing-persists.fifo';

/** SSM Run Command, as one environment builds it (routing-persist's with its patient send retry). */
const ssmNodeOps = (sendRetry?: RetryPolicy) =>
  new SsmNodeOps({
    client: new SSMClient({ region: 'eu-west-1' }),
    documentName: (d) => `ha-redis-prod-${d}`,
    clock,
    ...(sendRetry ? { sendRetry } : {}),
  });

/** The two queues of infra/constructs/queued-writes.ts, with their real consumers, as the stack sets them up. */
function queuedWrites(clusters: ClusterRegistry, dynamo: Awaited<ReturnType<typeof startDynamo>>) {
  const zones = new Set(clusters.names().map((n) => clusters.get(n).dns.hostedZoneId)).size;
  return {
    dns: new FifoQueueSim({
      newConsumer: () => {
        const dns = new Route53Dns({
          client: new Route53Client({ region: 'eu-west-1' }),
          clock,
          batchWindowMs: 0,
          retry: ROUTE53_WRITER_RETRY,
          readBeforeWrite: false,
        });
        const epochs = new DynamoStateStore(dynamo.client(), 'state');
        return makeDnsWriterHandler(async () => ({ clusters, dns, epochs, clock, logger: quiet }));
      },
      maxConcurrency: Math.max(2, zones),
      timeoutMs: DNS_WRITER_TIMEOUT_S * 1000,
      visibilityMs: DNS_WRITER_TIMEOUT_S * VISIBILITY_TIMEOUTS * 1000,
    }),
    routing: new FifoQueueSim({
      newConsumer: () => {
        const nodeOps = ssmNodeOps(PATIENT_SEND_RETRY);
        return makeRoutingPersistHandler(async () => ({ nodeOps, clock, logger: quiet }));
      },
      maxConcurrency: ROUTING_PERSIST_CONCURRENCY,
      timeoutMs: ROUTING_PERSIST_TIMEOUT_S * 1000,
      visibilityMs: ROUTING_PERSIST_TIMEOUT_S * VISIBILITY_TIMEOUTS * 1000,
    }),
  };
}

/**
 * A fleet in its steady state: each cluster's current master is its applied epoch, as the reconcile records it
 * (it claims the epoch a majority of Sentinels names when none is applied). Without it, each reaction would
 * start from "nothing applied", which no deployed cluster is in after its first minute.
 */
async function seedAppliedEpochs(world: FleetWorld, state: DynamoStateStore, failAz: number): Promise<void> {
  const now = Date.now();
  for (const c of world.clusters.filter((x) => x.masterAz === failAz)) {
    const token = `seed-${c.config.name}`;
    const claim = await state.claimEpoch(c.config.name, {
      epoch: OLD_EPOCH,
      master: c.oldMaster,
      token,
      now,
      leaseMs: c.config.timing.claimLeaseMs,
    });
    if (!claim.claimed) throw new Error(`could not seed ${c.config.name}'s applied epoch: ${claim.reason}`);
    await state.finishEpoch(c.config.name, OLD_EPOCH, token, 'done');
  }
}

/** Run the simulation once and return its report. */
export async function simulateFleet(options: FleetOptions): Promise<FleetRun> {
  const log = options.log ?? (() => undefined);
  const world = new FleetWorld(buildFleet(options.clusters));
  const aws = installAwsFakes(world);
  const dynamo = await startDynamo();
  const shared = {
    sentinels: new SimSentinels(world),
    redis: new SimRedis(world),
    router: new SimRouter(world),
  };
  const clusters = new ClusterRegistry(world.clusters.map((c) => c.config));
  const queues = queuedWrites(clusters, dynamo);
  const sqs = installSqs({ [DNS_QUEUE]: queues.dns, [ROUTING_QUEUE]: queues.routing });
  const notes: OutcomeNote[] = [];
  /** One execution environment: its own adapters and clients, as a Lambda process builds them at init. */
  const newEnvironment = () => {
    const failover: CorePorts = {
      ...shared,
      // As compose/aws.ts: the reaction queues the record for its zone's one writer (dns-queue.ts plays it).
      dns: new QueuedDns({
        client: new SQSClient({ region: 'eu-west-1' }),
        queueUrl: DNS_QUEUE,
        reader: new Route53Dns({ client: new Route53Client({ region: 'eu-west-1' }), clock }),
        clock,
      }),
      nodeOps: new QueuedRoutingNodeOps({
        client: new SQSClient({ region: 'eu-west-1' }),
        queueUrl: ROUTING_QUEUE,
        direct: ssmNodeOps(),
        clock,
      }),
      state: new DynamoStateStore(dynamo.client(), 'state'),
      notifier: new SnsNotifier(
        new SNSClient({ region: 'eu-west-1' }),
        'arn:aws:sns:eu-west-1:123456789012:ha-redis-notify',
      ),
      clock,
      logger: quiet,
      newId: randomUUID,
    };
    // Its own queue per cluster: the environments are processes of their own in AWS, one Node process here.
    return makeSentinelEventHandler(() => ({ clusters, failover }), newSerializer());
  };
  const lambda = new LambdaSim(
    newEnvironment,
    (event, outcomes: RecordOutcome[]) =>
      notes.push(...outcomes.map((o) => noteOf(clusterOfEvent(event), o))),
    options.provisioned ?? 0,
    // The stack reserves this much for sentinel-event (infra/constructs/concurrency.ts): a reservation is a cap.
    sentinelEventReservation(options.clusters, options.provisioned ?? 0),
  );
  try {
    await seedAppliedEpochs(world, new DynamoStateStore(dynamo.setupClient(), 'state'), options.failAz);
    const lostAt = Date.now() + 200;
    world.lostAz = options.failAz;
    const events = world.clusters
      .filter((c) => c.masterAz === options.failAz)
      .flatMap((c) => scheduleFailover(c, lostAt, options.downAfterMs, options.failAz));
    log(
      `fleet: ${options.clusters} clusters, AZ ${options.failAz} lost: ${events.length} Sentinel events for ${world.clusters.filter((c) => c.failsOver).length} failovers`,
    );
    await Promise.all(
      events.map(async (e) => {
        await sleep(Math.max(0, e.at - Date.now()));
        const seenAt = Date.now();
        await sleep(uniform(LIMITS.sns.deliveryMs));
        lambda.invoke(snsEventOf(e, seenAt));
      }),
    );
    await lambda.drained();
    await Promise.all([queues.dns.drained(), queues.routing.drained()]);
    const reader = new DynamoStateStore(dynamo.client(), 'state');
    const applied = new Map<string, string>();
    for (const c of world.clusters.filter((x) => x.failsOver)) {
      const a = await reader.appliedEpoch(c.config.name);
      applied.set(c.config.name, a ? `${a.status}@${a.epoch}` : 'none');
    }
    return summarizeRun({
      options,
      world,
      aws,
      dynamoCounts: dynamo.counts,
      queues: { dns: queues.dns.counts, routing: queues.routing.counts },
      lambda,
      notes,
      applied,
      lostAt,
    });
  } finally {
    aws.restore();
    sqs.restore();
    await dynamo.stop();
  }
}

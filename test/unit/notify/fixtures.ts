import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SNSEvent } from 'aws-lambda';
import { type FailoverTrigger, fencePendingNodes, reactToFailover } from '../../../core/failover/react.ts';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import type { Notification } from '../../../core/model/records.ts';
import { type SwitchoverState, SwitchoverStateSchema } from '../../../core/switchover/state.ts';
import { finishSwitchover, recoverSwitchover, SWITCHOVER_TIMING } from '../../../core/switchover/steps.ts';
import { FakeSentinelView } from '../../fakes/sentinels.ts';
import { N1, N2, N3, START } from '../../support/fixtures.ts';
import { loadSample } from '../../support/samples.ts';
import { type FakeWorld, failedOverWorld } from '../../support/world.ts';

// ---------------------------------------------------------------------------------------------
// Notifications as the core publishes them (so that the formatter is tested on the real shapes)
// ---------------------------------------------------------------------------------------------

const SWITCH_MASTER: FailoverTrigger = { type: '+switch-master', seenAt: START - 800, oldMaster: N1 };

function published(w: FakeWorld): Notification {
  const last = w.notifier.published.at(-1);
  if (!last) throw new Error('the core published no notification');
  return structuredClone(last);
}

/** n1 -> n2 at epoch 7, confirmed and acted on; n1 demoted at offset 1500, n2 promoted at 1200. */
export async function failoverOk(): Promise<Notification> {
  const w = failedOverWorld();
  w.clock.advance(40);
  await reactToFailover(w.cluster, SWITCH_MASTER, w.deps);
  return published(w);
}

/** Two Sentinels disagree and one is down: nothing changed. */
export async function failoverUnconfirmed(): Promise<Notification> {
  const w = failedOverWorld({
    sentinels: new FakeSentinelView([[{ master: N2, epoch: 7 }, { master: N3, epoch: 7 }, 'down']]),
  });
  await reactToFailover(w.cluster, SWITCH_MASTER, w.deps);
  return published(w);
}

/** Proxy p2 refuses every reroute: the rest done, the outcome partial. */
export async function failoverPartial(): Promise<Notification> {
  const w = failedOverWorld();
  w.router.failures.set('p2', Number.POSITIVE_INFINITY);
  await reactToFailover(w.cluster, SWITCH_MASTER, w.deps);
  return published(w);
}

/** n1 was down at failover; it answers again and is fenced as a replica of n2. */
export async function deferredFenceApplied(): Promise<Notification> {
  const w = failedOverWorld();
  w.redis.set(N1, { reachable: false });
  await reactToFailover(w.cluster, SWITCH_MASTER, w.deps);
  w.redis.set(N1, { reachable: true, role: 'master', offset: 1600 });
  await fencePendingNodes(w.cluster, w.deps, '-sdown');
  return published(w);
}

const EXECUTION = 'switchover-1';
const PLAN = {
  master: { id: 'n1', ...N1 },
  target: { id: 'n2', ...N2 },
  replicas: [
    { id: 'n2', ...N2, lagBytes: 0, priority: 100, online: true },
    { id: 'n3', ...N3, lagBytes: 10, priority: 100, online: true },
  ],
  epoch: 6,
  expectedWriteGapMs: SWITCHOVER_TIMING.expectedWriteGapMs,
  steps: ['plan'],
};

function switchoverState(overrides: Partial<SwitchoverState> = {}): SwitchoverState {
  return SwitchoverStateSchema.parse({
    input: { cluster: 'orders', reason: 'kernel patching', requestedBy: 'alice' },
    executionId: EXECUTION,
    startedAt: START,
    timeline: [
      { step: 'planned', at: START, durationMs: 30, status: 'ok', detail: 'n1 -> n2, lag 0 bytes' },
      { step: 'prepared', at: START + 30, durationMs: 15_000, status: 'ok' },
    ],
    ...overrides,
  });
}

/** n1 -> n2 at epoch 7, writes blocked 320 ms. */
export async function switchoverDone(): Promise<Notification> {
  const w = failedOverWorld();
  for (const proxy of w.cluster.proxies) w.router.routes.set(proxy.id, N2);
  w.redis.priorities.set(formatEndpoint(N3), 200);
  w.state.leaseHeld = { owner: EXECUTION, purpose: 'switchover', until: START + SWITCHOVER_TIMING.leaseMs };
  w.clock.advance(15_400);
  await finishSwitchover(
    w.cluster,
    switchoverState({
      plan: PLAN,
      leaseHeld: true,
      priorities: { n3: 100 },
      promoted: true,
      writeGapMs: 320,
    }),
    w.deps,
  );
  return published(w);
}

/** A switchover that died in its critical section (proxies blocked), recovered by what the Sentinels say. */
async function recovered(
  w: FakeWorld,
  error: SwitchoverState['error'],
  before: Partial<SwitchoverState> = {},
): Promise<Notification> {
  for (const proxy of w.cluster.proxies) w.router.blocked.add(proxy.id);
  w.clock.advance(15_600);
  await recoverSwitchover(
    w.cluster,
    switchoverState({ plan: PLAN, leaseHeld: true, error, ...before }),
    w.deps,
  );
  return published(w);
}

/** Catch-up timed out; the Sentinels still name n1: rolled back. */
export async function switchoverRolledBack(): Promise<Notification> {
  const w = failedOverWorld({ sentinels: FakeSentinelView.agreeing(N1, 6) });
  w.redis
    .set(N2, { role: 'slave', offset: 990, master: N1 })
    .set(N3, { role: 'slave', offset: 990, master: N1 });
  return recovered(w, { Error: 'CatchUpTimeoutError', Cause: 'target n2 is 10 bytes behind after 500 ms' });
}

/** Verification failed after Sentinel promoted n2: recovery completes the switch forward. */
export async function switchoverCompletedForward(): Promise<Notification> {
  const w = failedOverWorld({ sentinels: FakeSentinelView.agreeing(N2, 7) });
  // Verify failed: Switch and Fence had answered.
  return recovered(
    w,
    { Error: 'VerificationError', Cause: 'canary failed through p2/plain' },
    {
      writeGapMs: 320,
      timeline: [
        ...switchoverState().timeline,
        { step: 'fenced', at: START + 15_400, durationMs: 20, status: 'ok' },
      ],
    },
  );
}

/** The precheck refused: a replica is offline; nothing changed. */
export async function switchoverRefused(): Promise<Notification> {
  const w = failedOverWorld({ sentinels: FakeSentinelView.agreeing(N1, 6) });
  await recoverSwitchover(
    w.cluster,
    switchoverState({
      timeline: [],
      error: {
        Error: 'SwitchoverRefusedError',
        Cause: 'the master has 1 of 2 replicas online; offline: n3',
      },
    }),
    w.deps,
  );
  return published(w);
}

/** A failed switchover whose direction no step recorded (what an older or newer publisher may send). */
export function switchoverFailed(): Notification {
  return {
    cluster: 'orders',
    kind: 'switchover',
    outcome: 'failed',
    summary: 'switchover of orders FAILED (PromotionError); failed; writes are unblocked',
    entry: {
      id: EXECUTION,
      cluster: 'orders',
      kind: 'switchover',
      epoch: null,
      oldMaster: N1,
      newMaster: null,
      outcome: 'failed',
      trigger: 'alice: kernel patching',
      startedAt: START,
      durationMs: 5200,
      timeline: [
        { step: 'planned', at: START, durationMs: 30, status: 'ok' },
        {
          step: 'failover-requested',
          at: START + 40,
          durationMs: 12,
          status: 'failed',
          detail: 'every Sentinel refused',
        },
      ],
      bytesAtRisk: 0,
      error: 'PromotionError: every Sentinel refused SENTINEL FAILOVER: 10.0.1.11:26379: INPROG',
    },
  };
}

/** A CloudWatch alarm's SNS Message, as the stack's alarm actions publish it. */
export function cloudWatchAlarm(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    AlarmName: 'ha-redis-FailoverUnconfirmedAlarm',
    AlarmDescription:
      'Sentinel reported a failover that a majority did not confirm; routing was not changed. See the runbook',
    AWSAccountId: '123456789012',
    NewStateValue: 'ALARM',
    NewStateReason:
      'Threshold Crossed: 1 datapoint [1.0 (24/11/24 17:00:00)] was greater than or equal to the threshold (1.0).',
    StateChangeTime: '2024-11-24T17:01:00.123+0000',
    Region: 'EU (Ireland)',
    AlarmArn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:ha-redis-FailoverUnconfirmedAlarm',
    OldStateValue: 'OK',
    Trigger: { MetricName: 'FailoverUnconfirmed', Namespace: 'HaRedis', Statistic: 'SUM', Period: 60 },
    ...overrides,
  };
}

/** An SNS event of the notification topic: one record per message, each with its own MessageId. */
export function notifyEvent(...messages: unknown[]): SNSEvent {
  const sample = loadSample<SNSEvent>('sns/switch-master');
  const template = sample.Records[0];
  if (!template) throw new Error('the SNS sample has no record');
  return {
    Records: messages.map((message, i) => {
      const record = structuredClone(template);
      (record.Sns as { Message: unknown }).Message =
        typeof message === 'string' ? message : JSON.stringify(message);
      record.Sns.MessageId = `message-${i + 1}`;
      return record;
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Real loopback HTTP servers
// ---------------------------------------------------------------------------------------------

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** What the server answers to its n-th request (0-based); the last answer repeats. */
export interface Answer {
  status: number;
  /** Never answer (a timeout). */
  hang?: boolean;
  body?: string;
  headers?: Record<string, string>;
}

/** A node:http server on 127.0.0.1 that records each request and answers from a script. */
export class LoopbackServer {
  readonly requests: ReceivedRequest[] = [];
  private readonly answers: Answer[];
  private readonly server = createServer((req, res) => this.handle(req, res));

  private constructor(answers: Answer[]) {
    this.answers = answers;
  }

  static async start(...answers: Answer[]): Promise<LoopbackServer> {
    const server = new LoopbackServer(answers.length ? answers : [{ status: 200, body: 'ok' }]);
    await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve));
    return server;
  }

  /** `http://127.0.0.1:<port><path>`. */
  url(path = '/'): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const answer = this.answers[Math.min(this.requests.length - 1, this.answers.length - 1)] ?? {
        status: 200,
      };
      if (answer.hang) return;
      res.writeHead(answer.status, answer.headers ?? { 'content-type': 'text/plain' });
      res.end(answer.body ?? '');
    });
  }
}

/** A Web API answer as Slack sends it. */
export const slackOk = (extra: Record<string, unknown> = {}): Answer => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ ok: true, channel: 'C0123ABCD', ts: '1732467600.000100', ...extra }),
});

import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../core/model/cluster.ts';
import { SwitchoverRefusedError } from '../../../core/model/errors.ts';
import type { HistoryEntry } from '../../../core/model/records.ts';
import type { WorkflowExecution } from '../../../core/ports.ts';
import { buildStatusReport, type StatusObservations } from '../../../core/status/report.ts';
import type { SwitchoverState } from '../../../core/switchover/state.ts';
import type { DeferredTask } from '../../../functions/slack/contract.ts';
import { makeDeferredHandler } from '../../../functions/slack/deferred.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { N1, N2, N3, SENTINELS, START } from '../../support/fixtures.ts';
import {
  CLICK_URL,
  missingPhrases,
  OPERATOR,
  PLAN,
  RESPONSE_URL,
  slackWorld,
  timelineStep as step,
  wordsOf,
} from './fixtures.ts';

const EXECUTION =
  'arn:aws:states:eu-west-1:123456789012:execution:ha-redis-switchover:slack-orders-0123456789abcdef01234567';

const WATCH: DeferredTask = {
  deferred: {
    kind: 'watch',
    cluster: 'orders',
    executionId: EXECUTION,
    target: 'n2',
    startedBy: OPERATOR,
    responseUrl: CLICK_URL,
  },
};

/** The execution state as the steps leave it. */
function state(changes: Partial<SwitchoverState> = {}): SwitchoverState {
  return {
    input: {
      cluster: 'orders',
      target: 'n2',
      reason: 'switchover confirmed in Slack',
      requestedBy: `slack:${OPERATOR}`,
      dryRun: false,
      maxLagBytes: 1_048_576,
    },
    executionId: 'slack-orders-0123456789abcdef01234567',
    startedAt: START,
    plan: PLAN,
    timeline: [step('planned', 0)],
    ...changes,
  };
}

const running = (currentState: string, output: unknown = state()): WorkflowExecution => ({
  executionId: EXECUTION,
  status: 'RUNNING',
  currentState,
  output,
});

const SWITCHED = state({
  writeGapMs: 312,
  timeline: [
    step('planned', 0),
    step('lease-taken', 40),
    step('writes-blocked', 15_000),
    step('rerouted', 15_300),
  ],
});

describe('watch task', () => {
  it('posts when writes flow to the new master, then the outcome with the timeline and write gap', async () => {
    // Arrange
    const clock = new FakeClock();
    const w = slackWorld({ clock });
    const done = state({
      writeGapMs: 312,
      outcome: 'succeeded',
      timeline: [...SWITCHED.timeline, step('fenced', 15_400), step('verified', 15_600)],
    });
    w.workflows.script = [
      running('Plan'),
      running('Prepare'),
      running('Switch'),
      running('Fence', SWITCHED),
      running('Verify', SWITCHED),
      running('Finish', SWITCHED),
      { executionId: EXECUTION, status: 'SUCCEEDED', output: done },
    ];
    const run = makeDeferredHandler(() => w.deps);

    // Act
    await run(WATCH);

    // Assert
    expect(w.posts).toHaveLength(2);
    expect(w.posts.every((p) => p.url === CLICK_URL && p.message.replace_original === true)).toBe(true);
    expect(w.posts[0]?.message.text).toBe(
      'Switchover of orders: writes go to n2 now, write gap 312 ms; fencing and verifying.',
    );
    expect(w.posts[1]?.message.text).toBe('Switchover of orders done: n1 → n2. write gap 312 ms');
    const final = wordsOf(w.posts[1]?.message ?? { text: '' });
    expect(final).toContain('writes-blocked');
    expect(final).toContain('+ 15600 ms  verified');
    expect(w.workflows.described).toHaveLength(7);
    expect(clock.sleeps).toEqual(Array(7).fill(1000));
  });

  it('posts only the outcome when the execution ended before the switch was seen', async () => {
    // Arrange
    const w = slackWorld({ clock: new FakeClock() });
    w.workflows.script = [
      { executionId: EXECUTION, status: 'SUCCEEDED', output: state({ writeGapMs: 290 }) },
    ];

    // Act
    await makeDeferredHandler(() => w.deps)(WATCH);

    // Assert
    expect(w.posts.map((p) => p.message.text)).toEqual([
      'Switchover of orders done: n1 → n2. write gap 290 ms',
    ]);
  });

  it.each([
    [
      'SwitchoverRefused',
      state({
        timeline: [step('planned', 0, 'failed', 'the Sentinels do not agree on the master')],
        error: {
          Error: 'SwitchoverRefusedError',
          Cause:
            '{"errorType":"SwitchoverRefusedError","errorMessage":"the Sentinels do not agree on the master"}',
        },
      }),
      'Switchover of orders refused: nothing was changed, writes were never blocked. planned failed: the Sentinels do not agree on the master',
    ],
    [
      'SwitchoverRolledBack',
      state({
        timeline: [
          step('planned', 0),
          step('writes-blocked', 50),
          step(
            'caught-up',
            60,
            'failed',
            'target n2 is 12 bytes behind after 500 ms; writes unblocked, retry later',
          ),
        ],
        error: { Error: 'CatchUpTimeoutError', Cause: '{"errorMessage":"target n2 is 12 bytes behind"}' },
      }),
      'Switchover of orders failed and was rolled back: n1 is master, writes are unblocked. caught-up failed: target n2 is 12 bytes behind after 500 ms; writes unblocked, retry later',
    ],
    [
      'SwitchoverCompletedForward',
      state({
        writeGapMs: 420,
        timeline: [step('planned', 0), step('fenced', 90, 'failed', 'n1 still accepts writes')],
      }),
      'Switchover of orders hit a failure after the promotion; recovery completed it forward: n2 is master, writes are unblocked. fenced failed: n1 still accepts writes. write gap 420 ms',
    ],
    [
      'SwitchoverFailed',
      state({
        error: {
          Error: 'PromotionError',
          Cause: '{"errorMessage":"every Sentinel refused SENTINEL FAILOVER"}',
        },
      }),
      'Switchover of orders FAILED and recovery failed too: the cluster may be half switched and writes may be blocked. An operator must look now (`/redis status orders`, `ha-redis status`). PromotionError: every Sentinel refused SENTINEL FAILOVER',
    ],
  ])('ends a %s execution saying what failed and where writes stand', async (ending, failed, text) => {
    // Arrange
    const w = slackWorld({ clock: new FakeClock() });
    w.workflows.script = [
      running('Switch'),
      running('Recover'),
      {
        executionId: EXECUTION,
        status: 'FAILED',
        currentState: ending,
        output: failed,
        error: ending,
        cause: 'fixed cause',
      },
    ];

    // Act
    await makeDeferredHandler(() => w.deps)(WATCH);

    // Assert
    expect(w.posts.map((p) => p.message.text)).toEqual([text]);
  });

  it('says an operator must look when the execution timed out', async () => {
    // Arrange
    const w = slackWorld({ clock: new FakeClock() });
    w.workflows.script = [{ executionId: EXECUTION, status: 'TIMED_OUT' }];

    // Act
    await makeDeferredHandler(() => w.deps)(WATCH);

    // Assert
    expect(w.posts[0]?.message.text).toBe(
      'Switchover of orders ended TIMED_OUT: an operator must look (`/redis status orders`). no detail',
    );
  });

  it('stops following at the bound and says the switchover may still run', async () => {
    // Arrange
    const clock = new FakeClock();
    const w = slackWorld({ clock });
    w.workflows.script = [running('Prepare')];

    // Act
    await makeDeferredHandler(() => w.deps, { watchTimeoutMs: 5000, watchPollMs: 1000 })(WATCH);

    // Assert
    expect(w.workflows.described).toHaveLength(5);
    expect(w.posts.map((p) => p.message.text)).toEqual([
      'Stopped following the switchover of orders: still running after 0 minutes. It may still be running: check /redis status orders.',
    ]);
  });

  it('rides out failed describes, and gives up after too many in a row', async () => {
    // Arrange
    const w = slackWorld({ clock: new FakeClock() });
    w.workflows.script = [
      new Error('ThrottlingException'),
      running('Switch'),
      new Error('ThrottlingException'),
    ];

    // Act
    await makeDeferredHandler(() => w.deps, { watchMaxFailures: 3 })(WATCH);

    // Assert: the answer in between resets the count (1 failure, 1 answer, 3 failures in a row)
    expect(w.workflows.described).toHaveLength(5);
    expect(w.posts.map((p) => p.message.text)).toEqual([
      'Stopped following the switchover of orders: describing the execution failed 3 times (ThrottlingException). It may still be running: check /redis status orders.',
    ]);
  });

  it('keeps following when the progress post fails', async () => {
    // Arrange
    const w = slackWorld({ clock: new FakeClock() });
    w.workflows.script = [
      running('Fence', SWITCHED),
      { executionId: EXECUTION, status: 'SUCCEEDED', output: SWITCHED },
    ];
    let refusals = 1;
    const respond = w.deps.respond;
    w.deps.respond = async (url, message) => {
      if (refusals-- > 0) throw new Error('used_url');
      return respond(url, message);
    };

    // Act
    await makeDeferredHandler(() => w.deps)(WATCH);

    // Assert
    expect(w.posts.map((p) => p.message.text)).toEqual([
      'Switchover of orders done: n1 → n2. write gap 312 ms',
    ]);
  });
});

describe('status, history and plan tasks', () => {
  const sentinel = (s: Endpoint, master: Endpoint) => ({
    answer: {
      ok: true as const,
      view: {
        sentinel: s,
        master,
        configEpoch: 7,
        flags: ['master'],
        failoverState: 'none',
        numOtherSentinels: 2,
        quorum: 2,
      },
    },
  });
  const observations: StatusObservations = {
    cluster: 'orders',
    observedAt: START,
    sentinelsConfigured: 3,
    nodes: [
      { id: 'n1', address: N1, reachable: true, role: 'master', offset: 5000 },
      { id: 'n2', address: N2, reachable: true, role: 'slave', offset: 4990, master: N1, linkUp: true },
      { id: 'n3', address: N3, reachable: false, error: 'connect ECONNREFUSED' },
    ],
    sentinels: SENTINELS.map((s) => sentinel(s, N1)),
    proxies: [
      { id: 'p1', route: { address: N1, state: 'ready' } },
      { id: 'p2', route: { address: N2, state: 'ready' } },
    ],
  };

  it('posts a compact status: verdict and reasons, master, agreement, routes, replicas with lag', async () => {
    // Arrange
    const report = buildStatusReport(observations, { maxLagBytes: 1_048_576 });
    const w = slackWorld({ report });

    // Act
    await makeDeferredHandler(() => w.deps)({
      deferred: { kind: 'status', cluster: 'orders', responseUrl: RESPONSE_URL },
    });

    // Assert
    expect(w.posts).toHaveLength(1);
    const { url, message } = w.posts[0] ?? { url: '', message: { text: '' } };
    expect(url).toBe(RESPONSE_URL);
    expect(message.response_type).toBe('ephemeral');
    expect(message.text).toContain(
      'orders: UNHEALTHY (replica n3 is down: connect ECONNREFUSED; proxy p2 routes to n2',
    );
    expect(
      missingPhrases(message, [
        '*master* n1 (10.0.1.21:6379), epoch 7',
        '*Sentinels* 3 of 3 agree (2 needed)',
        'p2 → n2 (ready) NOT THE MASTER',
        'n2 slave of n1, lag 10 B',
        'no failover or switchover in history',
      ]),
    ).toEqual([]);
  });

  it('posts the history, newest first, with durations and write gaps', async () => {
    // Arrange
    const entry = (
      id: string,
      kind: HistoryEntry['kind'],
      at: number,
      writeGapMs?: number,
    ): HistoryEntry => ({
      id,
      cluster: 'orders',
      kind,
      epoch: 7,
      oldMaster: N1,
      newMaster: N2,
      outcome: 'succeeded',
      trigger: 'test',
      startedAt: at,
      durationMs: 812,
      timeline: [],
      bytesAtRisk: 0,
      ...(writeGapMs === undefined ? {} : { writeGapMs }),
    });
    const w = slackWorld({
      history: [entry('b', 'switchover', START, 310), entry('a', 'failover', START - 86_400_000)],
    });

    // Act
    await makeDeferredHandler(() => w.deps)({
      deferred: { kind: 'history', cluster: 'orders', limit: 2, responseUrl: RESPONSE_URL },
    });

    // Assert
    const words = wordsOf(w.posts[0]?.message ?? { text: '' });
    expect(w.calls).toContain('history');
    expect(words).toContain('*switchover* succeeded · n1 → n2 · 812 ms · write gap 310 ms');
    expect(words).toContain('*failover* succeeded · n1 → n2 · 812 ms');
    expect(words.indexOf('switchover*')).toBeLessThan(words.indexOf('failover*'));
  });

  it('posts the deferred plan with its buttons in the channel, or the refusal', async () => {
    // Arrange
    let fail = false;
    const w = slackWorld({
      plan: async () => {
        if (fail) throw new SwitchoverRefusedError('a failover is in progress; retry when it ends');
        return PLAN;
      },
    });
    const run = makeDeferredHandler(() => w.deps);
    const task: DeferredTask = {
      deferred: {
        kind: 'plan',
        input: {
          cluster: 'orders',
          reason: 'dry run',
          requestedBy: `slack:${OPERATOR}`,
          dryRun: true,
          maxLagBytes: 1,
        },
        requestId: '0123456789abcdef01234567',
        requestedBy: OPERATOR,
        responseUrl: RESPONSE_URL,
      },
    };

    // Act
    await run(task);
    fail = true;
    await run(task);

    // Assert
    expect(w.posts[0]?.message.response_type).toBe('in_channel');
    expect(wordsOf(w.posts[0]?.message ?? { text: '' })).toContain('switchover-confirm');
    expect(w.posts[1]?.message.text).toBe(
      'Switchover of orders refused: a failover is in progress; retry when it ends',
    );
  });

  it('posts what failed instead of throwing when the work fails', async () => {
    // Arrange
    const w = slackWorld();

    // Act
    await makeDeferredHandler(() => w.deps)({
      deferred: { kind: 'status', cluster: 'orders', responseUrl: RESPONSE_URL },
    });

    // Assert
    expect(w.posts.map((p) => p.message.text)).toEqual([
      'Could not finish the status request: no status report scripted',
    ]);
    expect(w.logger.lines.at(-1)).toMatchObject({ level: 'error', message: 'slack: deferred task failed' });
  });

  it('does nothing with a task that does not match the contract', async () => {
    // Arrange
    const w = slackWorld();

    // Act
    await makeDeferredHandler(() => w.deps)({ deferred: { kind: 'status' } } as unknown as DeferredTask);

    // Assert
    expect(w.posts).toEqual([]);
    expect(w.logger.lines.at(-1)).toMatchObject({
      level: 'error',
      message: 'slack: invalid deferred task; nothing done',
    });
  });
});

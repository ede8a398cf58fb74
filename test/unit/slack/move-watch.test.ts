import { describe, expect, it } from 'vitest';
import type { MoveState } from '../../../core/move/state.ts';
import type { WorkflowExecution } from '../../../core/ports.ts';
import type { DeferredTask } from '../../../functions/slack/contract.ts';
import { makeDeferredHandler } from '../../../functions/slack/deferred.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { START } from '../../support/fixtures.ts';
import {
  CLICK_URL,
  MOVE_PLAN,
  missingPhrases,
  OPERATOR,
  slackWorld,
  timelineStep as step,
} from './fixtures.ts';

/** The watch of a move started from Slack: the post once writes go to the new master, and the outcome. */

const NAME = 'slack-orders-0123456789abcdef01234567';

const WATCH: DeferredTask = {
  deferred: {
    kind: 'move-watch',
    cluster: 'orders',
    executionId: NAME,
    fromSet: 'blue',
    toSet: 'green',
    startedBy: OPERATOR,
    responseUrl: CLICK_URL,
  },
};

/** The execution state as the move's steps leave it. */
function state(changes: Partial<MoveState> = {}): MoveState {
  return {
    input: {
      cluster: 'orders',
      toSet: 'green',
      reason: 'move confirmed in Slack',
      requestedBy: `slack:${OPERATOR}`,
      dryRun: false,
    },
    executionId: NAME,
    startedAt: START,
    plan: MOVE_PLAN,
    done: [],
    timeline: [step('planned', 0)],
    ...changes,
  };
}

const running = (currentState: string, output: unknown = state()): WorkflowExecution => ({
  executionId: NAME,
  status: 'RUNNING',
  currentState,
  output,
});

const SWITCHED = state({
  done: ['nodes', 'sentinels', 'switchover'],
  writeGapMs: 312,
  timeline: [step('planned', 0), step('nodes-synced', 4000), step('switched', 9000)],
});

describe('move watch', () => {
  it('posts when writes go to the new master, then that the service moved, with the write gap', async () => {
    // Arrange
    const clock = new FakeClock();
    const w = slackWorld({ clock });
    w.workflows.script = [
      running('Plan'),
      running('Nodes'),
      running('Switchover'),
      running('Proxies', SWITCHED),
      running('Retire', SWITCHED),
      {
        executionId: NAME,
        status: 'SUCCEEDED',
        output: { ...SWITCHED, done: [...SWITCHED.done, 'proxies', 'retire'], outcome: 'succeeded' },
      },
    ];

    // Act
    await makeDeferredHandler(() => w.deps)(WATCH);

    // Assert
    expect(w.posts.map((p) => [p.url, p.message.replace_original, p.message.text])).toEqual([
      [
        CLICK_URL,
        true,
        'Move of orders: writes go to the new master on set green now, write gap 312 ms; adding the frontends and retiring the old nodes.',
      ],
      [
        CLICK_URL,
        true,
        "Move of orders done: it lives on set green now. the old hosts' HAProxy still routes it. write gap 312 ms",
      ],
    ]);
    expect(missingPhrases(w.posts[1]?.message, ['nodes-synced', `execution \`${NAME}\``])).toEqual([]);
  });

  it('posts a stopped move with the failed step and every line of what Recover found', async () => {
    // Arrange
    const w = slackWorld({ clock: new FakeClock() });
    const stopped = state({
      done: ['nodes'],
      timeline: [
        step('planned', 0),
        step('nodes-synced', 4000),
        step('sentinels-handed-over', 6000, 'failed', 'green-s1 did not join in 30 s'),
      ],
      recovery: [
        'the service is writable: n1 is master, 3 of 3 Sentinels name it',
        'n4, n5, n6 run as replicas on set green; run the move again to go on',
      ],
      error: { Error: 'MoveStepError', Cause: 'green-s1 did not join in 30 s' },
    });
    w.workflows.script = [{ executionId: NAME, status: 'FAILED', error: 'MoveStopped', output: stopped }];

    // Act
    await makeDeferredHandler(() => w.deps)(WATCH);

    // Assert
    const [outcome] = w.posts.map((p) => p.message);
    expect(outcome?.text).toBe(
      [
        'Move of orders to set green stopped after nodes: the service is writable and a Sentinel majority names its master; `/redis move orders green` again goes on from there',
        'sentinels-handed-over failed: green-s1 did not join in 30 s',
        'the service is writable: n1 is master, 3 of 3 Sentinels name it',
        'n4, n5, n6 run as replicas on set green; run the move again to go on',
      ].join('. '),
    );
    expect(
      missingPhrases(outcome, [
        ':warning:',
        '*recovery*\\n• the service is writable: n1 is master, 3 of 3 Sentinels name it\\n• n4, n5, n6',
      ]),
    ).toEqual([]);
  });

  it('posts a move refused when it started, saying nothing was changed and why', async () => {
    // Arrange
    const w = slackWorld({ clock: new FakeClock() });
    w.workflows.script = [
      {
        executionId: NAME,
        status: 'FAILED',
        error: 'MoveRefused',
        cause: 'port 6390 is in use on green/host-2; free it or pick another set',
      },
    ];

    // Act
    await makeDeferredHandler(() => w.deps)(WATCH);

    // Assert
    expect(w.posts.map((p) => p.message.text)).toEqual([
      'Move of orders to set green refused: nothing was changed. port 6390 is in use on green/host-2; free it or pick another set',
    ]);
  });

  it('stops following after the move watch timeout, saying it may still run', async () => {
    // Arrange
    const clock = new FakeClock();
    const w = slackWorld({ clock });
    w.workflows.script = [running('Nodes')];

    // Act
    await makeDeferredHandler(() => w.deps, { moveWatchTimeoutMs: 5000, watchPollMs: 1000 })(WATCH);

    // Assert
    expect(w.posts.map((p) => p.message.text)).toEqual([
      'Stopped following the move of orders: still running after 0 minutes. It may still be running: check /redis status orders.',
    ]);
    expect(w.workflows.described).toHaveLength(5);
  });
});

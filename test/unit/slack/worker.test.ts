import { describe, expect, it } from 'vitest';
import { InvalidInputError, SwitchoverRefusedError } from '../../../core/model/errors.ts';
import type { MaintenanceMode } from '../../../core/model/records.ts';
import type { DeferredTask, WorkerCall } from '../../../functions/slack/contract.ts';
import { makeSlackWorkerHandler } from '../../../functions/slack-worker/handler.ts';
import { START } from '../../support/fixtures.ts';
import { rejectionOf } from '../aws/sdk-errors.ts';
import { OPERATOR, PLAN, RESPONSE_URL, slackWorld } from './fixtures.ts';

/** The Slack worker: the deferred tasks and the synchronous calls the front hands it, as the invoke delivers them. */

const PLAN_CALL: WorkerCall = {
  call: {
    kind: 'plan',
    input: {
      cluster: 'orders',
      requestedBy: `slack:${OPERATOR}`,
      reason: 'dry run from Slack /redis by U0OPERATOR',
      dryRun: true,
      maxLagBytes: 1_048_576,
    },
  },
};

const PAUSE: MaintenanceMode = { paused: true, by: `slack:${OPERATOR}`, at: START, reason: 'incident 4711' };

/** The event as Lambda delivers it: the JSON the front sent. */
const delivered = (event: unknown) => JSON.parse(JSON.stringify(event));

describe('Slack worker', () => {
  it('runs a { deferred } task and posts its result, answering nothing', async () => {
    // Arrange
    const w = slackWorld({ history: [] });
    const handle = makeSlackWorkerHandler(() => w.deps);
    const task: DeferredTask = {
      deferred: { kind: 'history', cluster: 'orders', limit: 3, responseUrl: RESPONSE_URL },
    };

    // Act
    const answer = await handle(delivered(task));

    // Assert
    expect(answer).toBeUndefined();
    expect(w.calls).toEqual(['history', 'respond']);
    expect(w.posts.map((p) => p.message.text)).toEqual(['No history for orders yet.']);
  });

  it('answers a plan call with the dry-run plan of the input it was given', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackWorkerHandler(() => w.deps);

    // Act
    const answer = await handle(delivered(PLAN_CALL));

    // Assert
    expect(answer).toEqual({ ok: true, plan: PLAN });
    expect(w.planned).toEqual([PLAN_CALL.call.kind === 'plan' ? PLAN_CALL.call.input : undefined]);
    expect(w.calls).toEqual(['plan']);
  });

  it('answers a refused plan with its reason instead of failing the invoke', async () => {
    // Arrange
    const w = slackWorld({
      plan: async () => {
        throw new SwitchoverRefusedError(
          'target redis-3 is 48213 bytes behind (limit 0); retry when it has caught up',
        );
      },
    });
    const handle = makeSlackWorkerHandler(() => w.deps);

    // Act
    const answer = await handle(delivered(PLAN_CALL));

    // Assert
    expect(answer).toEqual({
      ok: false,
      error: 'target redis-3 is 48213 bytes behind (limit 0); retry when it has caught up',
    });
  });

  it('sets the maintenance mode a call carries, and answers a failed write with its reason', async () => {
    // Arrange
    const w = slackWorld();
    const failing = slackWorld({ maintenanceError: new Error('ProvisionedThroughputExceededException') });
    const call: WorkerCall = { call: { kind: 'set-maintenance-mode', cluster: 'orders', mode: PAUSE } };

    // Act
    const answer = await makeSlackWorkerHandler(() => w.deps)(delivered(call));
    const failed = await makeSlackWorkerHandler(() => failing.deps)(delivered(call));

    // Assert
    expect(answer).toEqual({ ok: true });
    expect(w.modes.get('orders')).toEqual(PAUSE);
    expect(failed).toEqual({ ok: false, error: 'ProvisionedThroughputExceededException' });
  });

  it('answers a call that does not match the contract without acting', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackWorkerHandler(() => w.deps);

    // Act
    const answer = await handle({ call: { kind: 'start-switchover', cluster: 'orders' } });

    // Assert
    expect(answer).toMatchObject({ ok: false, error: expect.stringContaining('not a worker call') });
    expect(w.calls).toEqual([]);
  });

  it('throws on an event that is neither a task nor a call, such as a Function URL request', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackWorkerHandler(() => w.deps);

    // Act
    const error = await rejectionOf(handle({ version: '2.0', body: 'command=/redis', requestContext: {} }));

    // Assert
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(w.calls).toEqual([]);
  });
});

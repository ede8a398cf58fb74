import { describe, expect, it } from 'vitest';
import { MOVE_LOCAL_ONLY } from '../../../adapters/aws/step-functions-starter.ts';
import { ConfigurationError, MoveRefusedError } from '../../../core/model/errors.ts';
import { requestIdOf } from '../../../functions/slack/commands.ts';
import { MoveButtonSchema } from '../../../functions/slack/contract.ts';
import { makeDeferredHandler } from '../../../functions/slack/deferred.ts';
import { makeSlackHandler } from '../../../functions/slack/handler.ts';
import { FakeClock } from '../../fakes/clock.ts';
import {
  buttonsOf,
  CLICK_URL,
  clickBody,
  commandBody,
  missingPhrases,
  OPERATOR,
  OPS_CHANNEL,
  plannedWithButtons,
  RESPONSE_URL,
  replyOf,
  SECOND_OPERATOR,
  STRANGER,
  signed,
  slackWorld,
  wordsOf,
} from './fixtures.ts';

/** Run `/redis move orders green` and return the plan reply and its Confirm / Cancel values. */
const planned = (w: ReturnType<typeof slackWorld>) => plannedWithButtons(w, 'move orders green');

const REQUEST_ID = requestIdOf({
  team_id: 'T0TEAM',
  channel_id: OPS_CHANNEL,
  user_id: OPERATOR,
  trigger_id: '1234.5678.abcdef',
});
const NOT_ALLOWED = `Refused: <@${STRANGER}> is not allowed to act on orders; ask to be added to its slack.allowedUsers`;

describe('/redis move command', () => {
  it('lists move in the help', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('help'))));

    // Assert
    expect(message.text).toContain('`/redis move &lt;service&gt; &lt;set&gt;`: plan moving a service');
  });

  it('answers a move without its set with what is missing and the usage, touching nothing', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('move orders'))));

    // Assert
    expect(message.response_type).toBe('ephemeral');
    expect(message.text.startsWith('`move orders` needs the set of hosts to move it to')).toBe(true);
    expect(message.text).toContain('`/redis move &lt;service&gt; &lt;set&gt;`');
    expect(w.calls).toEqual(['signingSecret']);
  });

  it('replies with the dry-run plan in the channel, and Confirm (with a confirm dialog) and Cancel', async () => {
    // Arrange
    const w = slackWorld();

    // Act
    const { reply, confirm, cancel } = await planned(w);

    // Assert
    expect(w.movesPlanned).toEqual([
      {
        cluster: 'orders',
        toSet: 'green',
        requestedBy: `slack:${OPERATOR}`,
        reason: `dry run from Slack /redis by ${OPERATOR}`,
        dryRun: true,
      },
    ]);
    expect(reply.response_type).toBe('in_channel');
    expect(reply.text).toBe(
      'Move plan for orders: set blue -> set green, then the switchover onto n4 (expected write gap 350 ms). Confirm or Cancel.',
    );
    expect(
      missingPhrases(reply, [
        'new nodes:      n4 10.0.2.21:6390 (green/host-1), n5 10.0.2.22:6390 (green/host-2)',
        'new Sentinels:  green-s1 10.0.2.21:26379 (green/host-1, shared)',
        'new frontends:  p4 10.0.2.21:6391/6392 (green/host-1)',
        'retired after:  n1 (blue/host-1), n2 (blue/host-2), n3 (blue/host-3)',
        'expected write gap *~350 ms*',
        '1. plan',
        '6. retire',
      ]),
    ).toEqual([]);
    expect(confirm.action_id).toBe('move-confirm');
    expect(confirm.confirm).toMatchObject({
      title: { type: 'plain_text', text: 'Move orders to set green?' },
      confirm: { type: 'plain_text', text: 'Move' },
      deny: { type: 'plain_text', text: 'Back' },
    });
    expect(cancel.action_id).toBe('move-cancel');
    expect(MoveButtonSchema.parse(JSON.parse(confirm.value ?? ''))).toEqual({
      v: 1,
      cluster: 'orders',
      fromSet: 'blue',
      toSet: 'green',
      requestId: REQUEST_ID,
      requestedBy: OPERATOR,
    });
    expect(w.workflows.starts).toEqual([]);
  });

  it('shows the refusal of the plan with its reason, and no buttons', async () => {
    // Arrange
    const w = slackWorld({
      planMove: async () => {
        throw new MoveRefusedError('port 6390 is in use on green/host-2; free it or pick another set');
      },
    });
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('move orders green'))));

    // Assert
    expect(message.response_type).toBe('ephemeral');
    expect(message.text).toBe(
      'Move of orders to set green refused: port 6390 is in use on green/host-2; free it or pick another set',
    );
    expect(wordsOf(message)).not.toContain('move-confirm');
  });

  it('refuses a user who may not act on the service, planning nothing', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('move orders green', { user: STRANGER }))));

    // Assert
    expect(message.text).toBe(NOT_ALLOWED);
    expect(w.movesPlanned).toEqual([]);
  });

  it('defers a plan slower than the budget and says it is planning', async () => {
    // Arrange
    const clock = new FakeClock();
    const w = slackWorld({ clock, planMove: () => new Promise(() => undefined) });
    const handle = makeSlackHandler(() => w.deps, { planBudgetMs: 1500 });

    // Act
    const message = replyOf(await handle(signed(commandBody('move orders green'))));

    // Assert
    expect(message.text).toBe(
      'Planning the move of orders to set green (the hosts answer slowly); the plan follows here…',
    );
    expect(w.deferred).toEqual([
      {
        deferred: {
          kind: 'move-plan',
          input: expect.objectContaining({ cluster: 'orders', toSet: 'green', dryRun: true }),
          requestId: REQUEST_ID,
          requestedBy: OPERATOR,
          responseUrl: RESPONSE_URL,
        },
      },
    ]);
  });
});

describe('move: Confirm and Cancel', () => {
  it('starts exactly one move workflow when Confirm arrives twice, and defers its watch', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, confirm } = await planned(w);
    const value = confirm.value ?? '';

    // Act
    await handle(signed(clickBody('move-confirm', value)));
    await handle(signed(clickBody('move-confirm', value, { user: SECOND_OPERATOR })));

    // Assert
    const name = `slack-orders-${REQUEST_ID}`;
    expect(w.workflows.names).toEqual(new Set([name]));
    expect(w.workflows.starts[0]).toEqual({
      workflow: 'move',
      name,
      input: {
        cluster: 'orders',
        toSet: 'green',
        requestedBy: `slack:${OPERATOR}`,
        reason: `move confirmed in Slack by ${OPERATOR} (requested by ${OPERATOR})`,
        dryRun: false,
      },
    });
    expect(w.posts.map((p) => [p.url, p.message.replace_original, p.message.text])).toEqual([
      [
        CLICK_URL,
        true,
        `Move of orders from set blue to set green started by <@${OPERATOR}>, execution ${name}`,
      ],
      [
        CLICK_URL,
        false,
        `The move of orders for this request is already running (execution ${name}); nothing new was started.`,
      ],
    ]);
    expect(w.deferred).toEqual([
      {
        deferred: {
          kind: 'move-watch',
          cluster: 'orders',
          executionId: `arn:aws:states:eu-west-1:123456789012:execution:ha-redis-switchover:${name}`,
          fromSet: 'blue',
          toSet: 'green',
          startedBy: OPERATOR,
          responseUrl: CLICK_URL,
        },
      },
    ]);
  });

  it('refuses a Confirm by a user who may not act on the service, and starts nothing', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, confirm } = await planned(w);

    // Act
    await handle(signed(clickBody('move-confirm', confirm.value ?? '', { user: STRANGER })));

    // Assert
    expect(w.workflows.starts).toEqual([]);
    expect(w.posts.map((p) => [p.message.replace_original, p.message.text])).toEqual([[false, NOT_ALLOWED]]);
  });

  it('cancels: replaces the message and starts nothing', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, cancel } = await planned(w);

    // Act
    await handle(signed(clickBody('move-cancel', cancel.value ?? '')));

    // Assert
    expect(w.workflows.starts).toEqual([]);
    expect(w.posts.map((p) => [p.message.replace_original, p.message.text])).toEqual([
      [true, `Move of orders to set green cancelled by <@${OPERATOR}>; nothing was changed.`],
    ]);
  });

  it('says why the move could not start where the runtime does not run moves', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, confirm } = await planned(w);
    w.workflows.startError = new ConfigurationError(MOVE_LOCAL_ONLY);

    // Act
    await handle(signed(clickBody('move-confirm', confirm.value ?? '')));

    // Assert
    expect(w.posts.map((p) => p.message.text)).toEqual([
      `Could not start the move (clicking Confirm again is safe): ${MOVE_LOCAL_ONLY}`,
    ]);
    expect(w.deferred).toEqual([]);
  });

  it('answers 400 to a move button whose value is not a move request', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const response = await handle(
      signed(clickBody('move-confirm', JSON.stringify({ v: 1, cluster: 'orders' }))),
    );

    // Assert
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('the button value is not a move request');
    expect(w.calls).toEqual(['signingSecret']);
  });
});

describe('move: the deferred plan', () => {
  it('posts a slow plan with its buttons, or its refusal', async () => {
    // Arrange
    const w = slackWorld({ clock: new FakeClock() });
    const run = makeDeferredHandler(() => w.deps);
    const input = {
      cluster: 'orders',
      toSet: 'green',
      requestedBy: 'slack:U',
      reason: 'dry run',
      dryRun: true,
    };
    const task = { kind: 'move-plan' as const, input, requestId: REQUEST_ID, requestedBy: OPERATOR };

    // Act
    await run({ deferred: { ...task, responseUrl: RESPONSE_URL } });
    w.deps.planMove = async () => {
      throw new MoveRefusedError('set green is not a host set here');
    };
    await run({ deferred: { ...task, responseUrl: RESPONSE_URL } });

    // Assert
    const [plan, refused] = w.posts.map((p) => p.message);
    expect(plan && buttonsOf(plan).map((b) => b.action_id)).toEqual(['move-confirm', 'move-cancel']);
    expect(refused?.text).toBe('Move of orders to set green refused: set green is not a host set here');
  });
});

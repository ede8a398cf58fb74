import { describe, expect, it } from 'vitest';
import { SwitchoverRefusedError } from '../../../core/model/errors.ts';
import { requestIdOf } from '../../../functions/slack/commands.ts';
import { SwitchoverButtonSchema } from '../../../functions/slack/contract.ts';
import { makeSlackHandler } from '../../../functions/slack/handler.ts';
import { FakeClock } from '../../fakes/clock.ts';
import {
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

/** Run `/redis switchover orders [to n2]` and return the plan reply and its Confirm / Cancel values. */
const planned = (w: ReturnType<typeof slackWorld>, text = 'switchover orders to n2') =>
  plannedWithButtons(w, text);

describe('slash command', () => {
  it('answers help with the usage and the clusters', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody(''))));

    // Assert
    expect(message.response_type).toBe('ephemeral');
    expect(message.text).toContain('`/redis status &lt;cluster&gt;`');
    expect(message.text).toContain('clusters: orders, billing');
    expect(w.calls).toEqual(['signingSecret']);
  });

  it('uses the command name Slack sends in the usage', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('help', { command: '/redis-staging' }))));

    // Assert
    expect(message.text).toContain('`/redis-staging history &lt;cluster&gt; [N]`');
  });

  it.each([
    ['reboot orders', "unknown subcommand 'reboot'"],
    ['status nowhere', "unknown cluster 'nowhere'; known clusters: orders, billing"],
    ['history orders lots', "history count 'lots' must be a number from 1 to 25"],
    ['switchover orders n2', "after the cluster, `switchover` takes `to &lt;node&gt;`, not 'n2'"],
    ['status a<b&c', "unknown cluster 'a&lt;b&amp;c'; known clusters: orders, billing"],
  ])("answers '%s' with what was wrong and the usage, touching nothing", async (text, problem) => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const response = await handle(signed(commandBody(text)));

    // Assert
    const message = replyOf(response);
    expect(message.response_type).toBe('ephemeral');
    expect(message.text.startsWith(problem)).toBe(true);
    expect(message.text).toContain('`/redis switchover &lt;cluster&gt; [to &lt;node&gt;]`');
    expect(w.calls).toEqual(['signingSecret']);
  });

  it('answers status at once with "checking" and defers the work', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('status orders'))));

    // Assert
    expect(message).toMatchObject({ response_type: 'ephemeral', text: 'Checking orders…' });
    expect(w.deferred).toEqual([
      { deferred: { kind: 'status', cluster: 'orders', responseUrl: RESPONSE_URL } },
    ]);
    expect(w.calls).not.toContain('status');
  });

  it('answers history at once and defers it with the count', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('history orders 5'))));

    // Assert
    expect(message.text).toBe('Reading the history of orders…');
    expect(w.deferred).toEqual([
      { deferred: { kind: 'history', cluster: 'orders', limit: 5, responseUrl: RESPONSE_URL } },
    ]);
  });

  it('says so when the work cannot be deferred', async () => {
    // Arrange
    const w = slackWorld();
    w.deps.defer = async () => {
      throw new Error('TooManyRequestsException');
    };
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('status orders'))));

    // Assert
    expect(message.text).toBe('Could not start the work in the background: TooManyRequestsException');
  });
});

describe('switchover command', () => {
  it('replies with the dry-run plan in the channel, and Confirm (with a confirm dialog) and Cancel', async () => {
    // Arrange
    const w = slackWorld();

    // Act
    const { reply, confirm, cancel } = await planned(w);

    // Assert
    expect(w.planned).toEqual([
      {
        cluster: 'orders',
        target: 'n2',
        requestedBy: `slack:${OPERATOR}`,
        reason: `dry run from Slack /redis by ${OPERATOR}`,
        dryRun: true,
        maxLagBytes: 1_048_576,
      },
    ]);
    expect(reply.response_type).toBe('in_channel');
    expect(reply.text).toBe(
      'Switchover plan for orders: n1 → n2 (epoch 7), expected write gap 350 ms. Confirm or Cancel.',
    );
    expect(missingPhrases(reply, ['n3 10.0.1.23:6379  lag 120 B', '1. plan'])).toEqual([]);
    expect(confirm.confirm).toMatchObject({
      title: { type: 'plain_text', text: 'Switch orders over?' },
      confirm: { type: 'plain_text', text: 'Switch over' },
      deny: { type: 'plain_text', text: 'Back' },
    });
    expect(cancel.confirm).toBeUndefined();
    expect(SwitchoverButtonSchema.parse(JSON.parse(confirm.value ?? ''))).toEqual({
      v: 1,
      cluster: 'orders',
      target: 'n2',
      requestId: requestIdOf({
        team_id: 'T0TEAM',
        channel_id: OPS_CHANNEL,
        user_id: OPERATOR,
        trigger_id: '1234.5678.abcdef',
      }),
      requestedBy: OPERATOR,
    });
    expect(w.workflows.starts).toEqual([]);
  });

  it('carries the target the plan chose when none was asked for', async () => {
    // Arrange
    const w = slackWorld();

    // Act
    const { confirm } = await planned(w, 'switchover orders');

    // Assert
    expect(w.planned[0]?.target).toBeUndefined();
    expect(JSON.parse(confirm.value ?? '')).toMatchObject({ target: 'n2' });
  });

  it('shows the plan error as the refusal reason', async () => {
    // Arrange
    const w = slackWorld({
      plan: async () => {
        throw new SwitchoverRefusedError(
          'target n3 is 48213 bytes behind (limit 0); retry when it has caught up',
        );
      },
    });
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('switchover orders to n3'))));

    // Assert
    expect(message.response_type).toBe('ephemeral');
    expect(message.text).toBe(
      'Switchover of orders refused: target n3 is 48213 bytes behind (limit 0); retry when it has caught up',
    );
    expect(wordsOf(message)).not.toContain('switchover-confirm');
  });

  it('defers a plan slower than the budget and says it is planning', async () => {
    // Arrange
    const clock = new FakeClock();
    const w = slackWorld({ clock, plan: () => new Promise(() => undefined) });
    const handle = makeSlackHandler(() => w.deps, { planBudgetMs: 1500 });

    // Act
    const message = replyOf(await handle(signed(commandBody('switchover orders to n2'))));

    // Assert
    expect(clock.sleeps).toEqual([1500]);
    expect(message).toMatchObject({
      response_type: 'ephemeral',
      text: 'Planning the switchover of orders (the cluster answers slowly); the plan follows here…',
    });
    expect(w.deferred).toEqual([
      {
        deferred: {
          kind: 'plan',
          input: expect.objectContaining({ cluster: 'orders', target: 'n2', dryRun: true }),
          requestId: expect.stringMatching(/^[0-9a-f]{24}$/),
          requestedBy: OPERATOR,
          responseUrl: RESPONSE_URL,
        },
      },
    ]);
  });
});

describe('interactivity: Confirm and Cancel', () => {
  it('starts exactly one switchover when Confirm arrives twice', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, confirm } = await planned(w);
    const value = confirm.value ?? '';

    // Act
    const first = await handle(signed(clickBody('switchover-confirm', value)));
    const second = await handle(signed(clickBody('switchover-confirm', value)));

    // Assert
    expect(first).toEqual({ statusCode: 200, headers: expect.any(Object), body: '' });
    expect(second.statusCode).toBe(200);
    expect(w.workflows.names.size).toBe(1);
    expect(w.workflows.starts).toHaveLength(2);
    const [start] = w.workflows.starts;
    const { requestId } = JSON.parse(value) as { requestId: string };
    expect(start).toEqual({
      workflow: 'switchover',
      name: `slack-orders-${requestId}`,
      input: {
        cluster: 'orders',
        target: 'n2',
        requestedBy: `slack:${OPERATOR}`,
        reason: `switchover confirmed in Slack by ${OPERATOR} (requested by ${OPERATOR})`,
        dryRun: false,
        maxLagBytes: 1_048_576,
      },
    });
    expect(w.workflows.starts[1]?.name).toBe(start?.name);
    expect(w.posts.map((p) => [p.url, p.message.replace_original, p.message.text])).toEqual([
      [
        CLICK_URL,
        true,
        `Switchover of orders to n2 started by <@${OPERATOR}>, execution slack-orders-${requestId}`,
      ],
      [
        CLICK_URL,
        false,
        `The switchover of orders for this request is already running (execution slack-orders-${requestId}); nothing new was started.`,
      ],
    ]);
    expect(w.deferred.filter((t) => t.deferred.kind === 'watch')).toEqual([
      {
        deferred: {
          kind: 'watch',
          cluster: 'orders',
          executionId: `arn:aws:states:eu-west-1:123456789012:execution:ha-redis-switchover:slack-orders-${requestId}`,
          target: 'n2',
          startedBy: OPERATOR,
          responseUrl: CLICK_URL,
        },
      },
    ]);
  });

  it('lets another allowed user confirm, recording who confirmed and who asked', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, confirm } = await planned(w);

    // Act
    await handle(signed(clickBody('switchover-confirm', confirm.value ?? '', { user: SECOND_OPERATOR })));

    // Assert
    expect(w.workflows.starts[0]?.input).toMatchObject({
      requestedBy: `slack:${SECOND_OPERATOR}`,
      reason: `switchover confirmed in Slack by ${SECOND_OPERATOR} (requested by ${OPERATOR})`,
    });
  });

  it('cancels: replaces the message and starts nothing', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, cancel } = await planned(w);

    // Act
    const response = await handle(signed(clickBody('switchover-cancel', cancel.value ?? '')));

    // Assert
    expect(response.statusCode).toBe(200);
    expect(w.workflows.starts).toEqual([]);
    expect(w.deferred).toEqual([]);
    expect(w.posts).toEqual([
      {
        url: CLICK_URL,
        message: expect.objectContaining({
          replace_original: true,
          text: `Switchover of orders cancelled by <@${OPERATOR}>; nothing was changed.`,
        }),
      },
    ]);
  });

  it('refuses a click by a user who may not act on the cluster, ephemeral, and starts nothing', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, confirm } = await planned(w);

    // Act
    const response = await handle(
      signed(clickBody('switchover-confirm', confirm.value ?? '', { user: STRANGER })),
    );

    // Assert
    expect(response.statusCode).toBe(200);
    expect(w.workflows.starts).toEqual([]);
    expect(w.posts).toEqual([
      {
        url: CLICK_URL,
        message: expect.objectContaining({
          response_type: 'ephemeral',
          replace_original: false,
          text: `Refused: <@${STRANGER}> is not allowed to act on orders; ask to be added to its slack.allowedUsers`,
        }),
      },
    ]);
    expect(
      w.logger.lines.some((l) => l.message === 'slack request refused' && l.attributes?.userId === STRANGER),
    ).toBe(true);
  });

  it('refuses a Cancel by a user who may not act on the cluster', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, cancel } = await planned(w);

    // Act
    await handle(signed(clickBody('switchover-cancel', cancel.value ?? '', { user: STRANGER })));

    // Assert
    expect(w.posts.map((p) => p.message.text)).toEqual([
      `Refused: <@${STRANGER}> is not allowed to act on orders; ask to be added to its slack.allowedUsers`,
    ]);
  });

  it('says the start failed and that Confirm may be clicked again, keeping the buttons', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, confirm } = await planned(w);
    w.workflows.startError = new Error('ExecutionLimitExceeded');

    // Act
    const response = await handle(signed(clickBody('switchover-confirm', confirm.value ?? '')));

    // Assert
    expect(response.statusCode).toBe(200);
    expect(w.posts.map((p) => [p.message.replace_original, p.message.text])).toEqual([
      [false, 'Could not start the switchover (clicking Confirm again is safe): ExecutionLimitExceeded'],
    ]);
    expect(w.deferred).toEqual([]);
  });

  it('says the switchover runs unwatched when the watch cannot be deferred', async () => {
    // Arrange
    const w = slackWorld();
    const { handle, confirm } = await planned(w);
    w.deps.defer = async () => {
      throw new Error('AccessDeniedException');
    };

    // Act
    await handle(signed(clickBody('switchover-confirm', confirm.value ?? '')));

    // Assert
    expect(w.workflows.names.size).toBe(1);
    expect(w.posts.map((p) => p.message.text)).toEqual([
      expect.stringMatching(/^Switchover of orders to n2 started by/),
      'Could not follow the switchover here; it runs anyway, check `/redis status orders`: AccessDeniedException',
    ]);
  });

  it('acknowledges actions that are not its buttons without doing anything', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const response = await handle(signed(clickBody('some-other-button', 'x')));

    // Assert
    expect(response).toMatchObject({ statusCode: 200, body: '' });
    expect(w.calls).toEqual(['signingSecret']);
  });

  it.each([
    ['not JSON', 'n2'],
    ['not a switchover request', JSON.stringify({ v: 1, cluster: 'orders' })],
  ])('answers 400 to a button value that is %s, starting nothing', async (_case, value) => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const response = await handle(signed(clickBody('switchover-confirm', value)));

    // Assert
    expect(response.statusCode).toBe(400);
    expect(w.calls).toEqual(['signingSecret']);
  });

  it('answers 400 to a signed body that is neither a command nor a payload', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const response = await handle(signed('hello=world'));

    // Assert
    expect(response.statusCode).toBe(400);
  });
});

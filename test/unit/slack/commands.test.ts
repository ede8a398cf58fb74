import { describe, expect, it } from 'vitest';
import { ClusterRegistry } from '../../../core/model/cluster.ts';
import { executionNameOf, parseCommandText, requestIdOf } from '../../../functions/slack/commands.ts';
import { makeSlackHandler } from '../../../functions/slack/handler.ts';
import { testCluster } from '../../support/fixtures.ts';
import {
  commandBody,
  GROUP_MEMBER,
  OPERATOR,
  OPS_CHANNEL,
  OPS_GROUP,
  OTHER_CHANNEL,
  replyOf,
  SLACK_BLOCK,
  STRANGER,
  signed,
  slackWorld,
  wordsOf,
} from './fixtures.ts';

const clusters = new ClusterRegistry([testCluster(), testCluster({ name: 'billing' })]);

describe('parseCommandText', () => {
  it.each([
    ['', { kind: 'help' }],
    ['help', { kind: 'help' }],
    ['status orders', { kind: 'status', cluster: 'orders' }],
    ['  status   orders  ', { kind: 'status', cluster: 'orders' }],
    ['history orders', { kind: 'history', cluster: 'orders', limit: 10 }],
    ['history billing 3', { kind: 'history', cluster: 'billing', limit: 3 }],
    ['switchover orders', { kind: 'switchover', cluster: 'orders' }],
    ['switchover orders to n2', { kind: 'switchover', cluster: 'orders', target: 'n2' }],
    [
      'switchover orders to 10.0.1.22:6379',
      { kind: 'switchover', cluster: 'orders', target: '10.0.1.22:6379' },
    ],
    [
      'switchover orders to <http://n2.internal|n2.internal>',
      { kind: 'switchover', cluster: 'orders', target: 'n2.internal' },
    ],
    ['move orders green', { kind: 'move', cluster: 'orders', toSet: 'green' }],
    ['  move  billing   set-2 ', { kind: 'move', cluster: 'billing', toSet: 'set-2' }],
  ])("parses '%s'", (text, command) => {
    // Act
    const parsed = parseCommandText(text, clusters);

    // Assert
    expect(parsed).toEqual({ ok: true, command });
  });

  it.each([
    ['failover orders', "unknown subcommand 'failover'"],
    ['status', '`status` needs a cluster name'],
    ['status payments', "unknown cluster 'payments'; known clusters: orders, billing"],
    ['status orders now', "`status` takes only a cluster name, not 'now'"],
    ['history orders 0', "history count '0' must be a number from 1 to 25"],
    ['history orders 26', "history count '26' must be a number from 1 to 25"],
    ['history orders ten', "history count 'ten' must be a number from 1 to 25"],
    ['history orders 3 4', "`history` takes a cluster and a count, not '3 4'"],
    ['switchover orders n2', "after the cluster, `switchover` takes `to <node>`, not 'n2'"],
    ['switchover orders to', "after the cluster, `switchover` takes `to <node>`, not 'to'"],
    ['switchover orders to n2 now', "after the cluster, `switchover` takes `to <node>`, not 'to n2 now'"],
    ['switchover orders to n2;rm', "after the cluster, `switchover` takes `to <node>`, not 'to n2;rm'"],
    ['move', '`move` needs a service and the set it moves to: `move <service> <set>`'],
    ['move orders', '`move orders` needs the set of hosts to move it to: `move orders <set>`'],
    ['move payments green', "unknown cluster 'payments'; known clusters: orders, billing"],
    ['move orders green now', "`move` takes a service and a set only, not 'now' after them"],
    ['move orders green blue red', "`move` takes a service and a set only, not 'blue red' after them"],
    [
      'move orders Green!',
      "'Green!' is not a host set name: 1 to 31 lower-case letters, digits and dashes, not starting with a dash",
    ],
  ])("says what is wrong with '%s'", (text, problem) => {
    // Act
    const parsed = parseCommandText(text, clusters);

    // Assert
    expect(parsed).toEqual({ ok: false, problem });
  });
});

describe('request id and execution name', () => {
  const command = { team_id: 'T0TEAM', channel_id: OPS_CHANNEL, user_id: OPERATOR, trigger_id: '1.2.3' };

  it('derives the same id from the same command, and another from another trigger', () => {
    // Act
    const once = requestIdOf(command);
    const again = requestIdOf({ ...command });
    const other = requestIdOf({ ...command, trigger_id: '1.2.4' });

    // Assert
    expect(once).toMatch(/^[0-9a-f]{24}$/);
    expect(again).toBe(once);
    expect(other).not.toBe(once);
  });

  it('names the execution after the cluster and the request, within Step Functions limits', () => {
    // Act
    const name = executionNameOf('orders', 'a'.repeat(24));
    const long = executionNameOf('x'.repeat(63), 'b'.repeat(24));

    // Assert
    expect(name).toBe(`slack-orders-${'a'.repeat(24)}`);
    expect(long).toHaveLength(79);
    expect(long).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });
});

describe('authorization', () => {
  it('lets an allowed user act', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('status orders'))));

    // Assert
    expect(message.text).toBe('Checking orders…');
    expect(w.deferred).toHaveLength(1);
  });

  it('refuses a user who is not allowed, says why, and logs ids and the reason', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('switchover orders', { user: STRANGER }))));

    // Assert
    expect(message.response_type).toBe('ephemeral');
    expect(message.text).toBe(
      `Refused: <@${STRANGER}> is not allowed to act on orders; ask to be added to its slack.allowedUsers`,
    );
    expect(w.calls).not.toContain('plan');
    expect(w.calls).not.toContain('defer');
    expect(w.logger.lines.at(-1)).toEqual({
      level: 'warn',
      message: 'slack request refused',
      attributes: {
        userId: STRANGER,
        channelId: OPS_CHANNEL,
        cluster: 'orders',
        reason: `<@${STRANGER}> is not allowed to act on orders; ask to be added to its slack.allowedUsers`,
      },
    });
  });

  it('lets a member of an allowed user group act, and refuses one of no allowed group', async () => {
    // Arrange
    const w = slackWorld({
      slack: { orders: { ...SLACK_BLOCK, allowedGroups: [OPS_GROUP] } },
      groups: { [OPS_GROUP]: [GROUP_MEMBER], S0OTHERGRP: [STRANGER] },
    });
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const member = replyOf(await handle(signed(commandBody('history orders', { user: GROUP_MEMBER }))));
    const stranger = replyOf(await handle(signed(commandBody('history orders', { user: STRANGER }))));

    // Assert
    expect(member.text).toBe('Reading the history of orders…');
    expect(stranger.text).toBe(
      `Refused: <@${STRANGER}> is not allowed to act on orders; ask to be added to its slack.allowedUsers or to one of its slack.allowedGroups`,
    );
    expect(w.deferred).toHaveLength(1);
  });

  it('does not look up groups of a user allowed by id', async () => {
    // Arrange
    const w = slackWorld({ slack: { orders: { ...SLACK_BLOCK, allowedGroups: [OPS_GROUP] } } });
    const handle = makeSlackHandler(() => w.deps);

    // Act
    await handle(signed(commandBody('status orders')));

    // Assert
    expect(w.calls).not.toContain('userGroups');
  });

  it('refuses, saying so, when the group lookup fails', async () => {
    // Arrange
    const w = slackWorld({ slack: { orders: { ...SLACK_BLOCK, allowedGroups: [OPS_GROUP] } } });
    w.deps.userGroups = async () => {
      throw new Error('missing_scope');
    };
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('status orders', { user: GROUP_MEMBER }))));

    // Assert
    expect(message.text).toContain('Refused: your user groups could not be checked (missing_scope)');
    expect(w.deferred).toEqual([]);
  });

  it('refuses group members when no group lookup is configured', async () => {
    // Arrange
    const w = slackWorld({ slack: { orders: { ...SLACK_BLOCK, allowedGroups: [OPS_GROUP] } } });
    delete w.deps.userGroups;
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('status orders', { user: GROUP_MEMBER }))));

    // Assert
    expect(message.text).toContain('no user group lookup is configured');
  });

  it('accepts commands only from the allowed channels when the cluster lists some', async () => {
    // Arrange
    const w = slackWorld({ slack: { orders: { ...SLACK_BLOCK, allowedChannels: [OPS_CHANNEL] } } });
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const inOps = replyOf(await handle(signed(commandBody('status orders'))));
    const elsewhere = replyOf(await handle(signed(commandBody('status orders', { channel: OTHER_CHANNEL }))));

    // Assert
    expect(inOps.text).toBe('Checking orders…');
    expect(elsewhere.text).toBe(`Refused: commands for orders are accepted only in <#${OPS_CHANNEL}>`);
  });

  it('refuses everyone on a cluster without a slack block', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('switchover billing'))));

    // Assert
    expect(message.text).toBe(
      'Refused: cluster billing is not enabled for Slack (it has no slack block in the configuration)',
    );
    expect(w.calls).not.toContain('plan');
    expect(wordsOf(message)).not.toContain('Confirm');
  });
});

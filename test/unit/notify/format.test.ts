import type { ContextBlock, HeaderBlock, KnownBlock, SectionBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import {
  type FormattedNotification,
  formatMessage,
  formatNotification,
  switchoverEnding,
} from '../../../adapters/notify/format.ts';
import type { Notification } from '../../../core/model/records.ts';
import { parseNotifyMessage } from '../../../events/notifications.ts';
import { START } from '../../support/fixtures.ts';
import {
  cloudWatchAlarm,
  deferredFenceApplied,
  failoverOk,
  failoverPartial,
  failoverUnconfirmed,
  switchoverCompletedForward,
  switchoverDone,
  switchoverFailed,
  switchoverRefused,
  switchoverRolledBack,
} from './fixtures.ts';

// ---------------------------------------------------------------------------------------------
// Reading a formatted message back
// ---------------------------------------------------------------------------------------------

const header = (f: FormattedNotification): string =>
  (f.slack.blocks.find((b): b is HeaderBlock => b.type === 'header')?.text.text ?? '') as string;

const sections = (f: FormattedNotification): SectionBlock[] =>
  f.slack.blocks.filter((b): b is SectionBlock => b.type === 'section');

/** Label -> value of the fields section (`*Label*\nvalue`). */
function slackFields(f: FormattedNotification): Record<string, string> {
  const fields = sections(f).find((s) => s.fields)?.fields ?? [];
  return Object.fromEntries(
    fields.map((field) => {
      const [label = '', ...value] = field.text.split('\n');
      return [label.replace(/^\*|\*$/g, ''), value.join('\n')];
    }),
  );
}

const timelineBlock = (f: FormattedNotification): string | undefined =>
  sections(f).find((s) => s.text?.text.startsWith('*Timeline*'))?.text?.text;

/** Every mrkdwn text of the blocks. */
const mrkdwnTexts = (blocks: KnownBlock[]): string[] =>
  blocks.flatMap((b) => {
    if (b.type === 'section') return [b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text)];
    if (b.type === 'context') return (b as ContextBlock).elements.map((e) => ('text' in e ? e.text : ''));
    return [];
  });

const lines = (f: FormattedNotification): string[] => f.text.split('\n');

// ---------------------------------------------------------------------------------------------
// Automatic failover
// ---------------------------------------------------------------------------------------------

describe('formatNotification: automatic failover', () => {
  it('heads a confirmed and acted-on failover FAILOVER OK, with masters, epoch, bytes at risk and duration', async () => {
    // Arrange
    const n = await failoverOk();

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe('FAILOVER OK: orders');
    expect(header(f)).toBe('FAILOVER OK: orders');
    expect(slackFields(f)).toEqual({
      Cluster: 'orders',
      'Old master': '10.0.1.21:6379',
      'New master': '10.0.1.22:6379',
      Epoch: '7',
      Duration: '840 ms',
      'Bytes at risk': '300',
      Trigger: '+switch-master',
      Started: '2024-11-24T16:59:59.200Z',
    });
    expect(lines(f).slice(0, 3)).toEqual([
      'FAILOVER OK: orders',
      'failover of orders: n1 -> n2 at epoch 7, succeeded',
      'cluster: orders | old master: 10.0.1.21:6379 | new master: 10.0.1.22:6379 | epoch: 7 | duration: 840 ms | bytes at risk: 300 | trigger: +switch-master | started: 2024-11-24T16:59:59.200Z',
    ]);
  });

  it('shows the timeline as a code block, one aligned line per step with its offset and duration', async () => {
    // Arrange
    const n = await failoverOk();

    // Act
    const f = formatNotification(n);

    // Assert
    const block = timelineBlock(f) ?? '';
    expect(block.startsWith('*Timeline*\n```\n')).toBe(true);
    expect(block.endsWith('\n```')).toBe(true);
    const steps = block.split('\n').slice(2, -1);
    expect(steps.map((l) => l.split(/\s+/)[0])).toEqual(n.entry?.timeline.map((s) => s.step));
    expect(steps).toHaveLength(8);
    expect(steps[0]).toBe('detected             +0ms  0ms  +switch-master');
    expect(steps[3]).toBe('rerouted           +840ms  0ms  2 proxies -&gt; n2');
    expect(lines(f)).toContain('timeline:');
    expect(lines(f)).toContain('  rerouted           +840ms  0ms  2 proxies -> n2');
  });

  it('carries the same facts in the JSON document', async () => {
    // Arrange
    const n = await failoverOk();

    // Act
    const { json } = formatNotification(n);

    // Assert
    expect(json).toMatchObject({
      source: 'ha-redis',
      version: 1,
      id: n.entry?.id,
      type: 'notification',
      marker: 'FAILOVER OK',
      title: 'FAILOVER OK: orders',
      severity: 'ok',
      cluster: 'orders',
      kind: 'failover',
      outcome: 'succeeded',
      summary: 'failover of orders: n1 -> n2 at epoch 7, succeeded',
      oldMaster: '10.0.1.21:6379',
      newMaster: '10.0.1.22:6379',
      epoch: 7,
      startedAt: '2024-11-24T16:59:59.200Z',
      durationMs: 840,
      writeGapMs: null,
      bytesAtRisk: 300,
      trigger: '+switch-master',
      error: null,
    });
    expect(json.timeline[0]).toEqual({
      step: 'detected',
      offsetMs: 0,
      durationMs: 0,
      status: 'ok',
      detail: '+switch-master',
    });
    expect(json.timeline.at(-1)).toMatchObject({ step: 'verified', offsetMs: 840, status: 'ok' });
    expect(json.text).toBe(formatNotification(n).text);
  });

  it('says NOT CONFIRMED, with no new master and no epoch, for an unconfirmed failover', async () => {
    // Arrange
    const n = await failoverUnconfirmed();

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe('FAILOVER NOT CONFIRMED: orders');
    expect(f.json.severity).toBe('warning');
    expect(slackFields(f)).toMatchObject({
      'Old master': '10.0.1.21:6379',
      'New master': 'none',
      Epoch: 'none',
    });
    expect(lines(f)[1]).toMatch(/^failover of orders NOT confirmed, nothing changed: no majority/);
    // The summary already carries the reason: it is not repeated as an error line.
    expect(f.text).not.toMatch(/^error:/m);
    expect(f.json.error).toMatch(/^no majority/);
  });

  it('marks a partial failover and writes its failed steps in capitals', async () => {
    // Arrange
    const n = await failoverPartial();

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe('FAILOVER PARTIAL: orders');
    expect(f.json.severity).toBe('warning');
    expect(lines(f)).toContain(
      '  rerouted           +800ms  40ms  FAILED  1 of 2 proxies not rerouted: p2: proxy p2: connection refused',
    );
    // Verified through p1 only: the proxy the reroute missed is not canaried (its failure is already above).
    expect(timelineBlock(f)).toContain(
      'verified           +840ms   0ms  2 canaries landed on n2; not through p2 (not rerouted)',
    );
    expect(f.json.timeline.filter((s) => s.status === 'failed').map((s) => s.step)).toEqual(['rerouted']);
  });

  it('heads a returning node fenced later DEFERRED FENCE APPLIED', async () => {
    // Arrange
    const n = await deferredFenceApplied();

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe('DEFERRED FENCE APPLIED: orders');
    expect(lines(f)[1]).toBe('orders: returning node n1 fenced as a replica');
    expect(slackFields(f)).toMatchObject({
      'Old master': '10.0.1.21:6379',
      'New master': '10.0.1.22:6379',
      Epoch: '7',
      Trigger: '-sdown',
    });
    expect(f.json.timeline.map((s) => s.step)).toEqual(['detected', 'fenced']);
  });

  it('heads a fence that failed DEFERRED FENCE FAILED', async () => {
    // Arrange
    const n = await deferredFenceApplied();
    const failed: Notification = { ...n, outcome: 'failed' };

    // Act
    const f = formatNotification(failed);

    // Assert
    expect(f.title).toBe('DEFERRED FENCE FAILED: orders');
    expect(f.json.severity).toBe('error');
  });
});

// ---------------------------------------------------------------------------------------------
// Switchover
// ---------------------------------------------------------------------------------------------

describe('formatNotification: switchover', () => {
  it('heads a switchover that succeeded SWITCHOVER DONE, with its write gap', async () => {
    // Arrange
    const n = await switchoverDone();

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe('SWITCHOVER DONE: orders');
    expect(slackFields(f)).toMatchObject({
      'Old master': '10.0.1.21:6379',
      'New master': '10.0.1.22:6379',
      Epoch: '7',
      'Write gap': '320 ms',
      Trigger: 'alice: kernel patching',
    });
    expect(slackFields(f)).not.toHaveProperty('Bytes at risk');
    expect(f.json).toMatchObject({ writeGapMs: 320, severity: 'ok', id: 'switchover-1' });
    expect(lines(f)[2]).toContain('| write gap: 320 ms |');
  });

  it.each([
    {
      make: switchoverRolledBack,
      ending: 'rolled-back',
      title: 'SWITCHOVER ROLLED BACK: orders',
      oldMaster: '10.0.1.21:6379',
      newMaster: 'unchanged',
      error: 'CatchUpTimeoutError in switch: target n2 is 10 bytes behind after 500 ms',
    },
    {
      make: switchoverCompletedForward,
      ending: 'completed-forward',
      title: 'SWITCHOVER COMPLETED FORWARD: orders',
      oldMaster: '10.0.1.21:6379',
      newMaster: 'the node Sentinel promoted',
      error: 'VerificationError in verify: canary failed through p2/plain',
    },
    {
      make: switchoverRefused,
      ending: 'refused',
      title: 'SWITCHOVER REFUSED: orders',
      oldMaster: 'unknown',
      newMaster: 'unchanged',
      error: 'SwitchoverRefusedError in plan: the master has 1 of 2 replicas online; offline: n3',
    },
  ])('heads a switchover that ended $ending "$title", with the error', async (c) => {
    // Arrange
    const n = await c.make();

    // Act
    const f = formatNotification(n);

    // Assert
    expect(switchoverEnding(n)).toBe(c.ending);
    expect(f.title).toBe(c.title);
    expect(f.json.severity).toBe('warning');
    expect(slackFields(f)).toMatchObject({
      'Old master': c.oldMaster,
      'New master': c.newMaster,
      Epoch: 'none',
    });
    expect(lines(f)).toContain(`error: ${c.error}`);
    expect(sections(f).map((s) => s.text?.text)).toContain(`*Error*\n${c.error}`);
  });

  it('heads a failed switchover with no recovery direction SWITCHOVER FAILED', () => {
    // Arrange
    const n = switchoverFailed();

    // Act
    const f = formatNotification(n);

    // Assert
    expect(switchoverEnding(n)).toBe('failed');
    expect(f.title).toBe('SWITCHOVER FAILED: orders');
    expect(f.json.severity).toBe('error');
    expect(f.text).toBe(
      [
        'SWITCHOVER FAILED: orders',
        'switchover of orders FAILED (PromotionError); failed; writes are unblocked',
        'cluster: orders | old master: 10.0.1.21:6379 | new master: unknown | epoch: none | duration: 5200 ms | trigger: alice: kernel patching | started: 2024-11-24T17:00:00.000Z',
        'error: PromotionError: every Sentinel refused SENTINEL FAILOVER: 10.0.1.11:26379: INPROG',
        'timeline:',
        '  planned              +0ms  30ms',
        '  failover-requested  +40ms  12ms  FAILED  every Sentinel refused',
      ].join('\n'),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Other kinds, limits, safety
// ---------------------------------------------------------------------------------------------

describe('formatNotification: other kinds', () => {
  it('names a maintenance outcome MAINTENANCE with its outcome', async () => {
    // Arrange
    const base = await switchoverDone();
    const n = {
      ...base,
      kind: 'maintenance',
      outcome: 'partial',
      summary: 'maintenance of orders: restart, 2 of 3 nodes',
    };

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe('MAINTENANCE PARTIAL: orders');
    expect(f.json).toMatchObject({ kind: 'maintenance', outcome: 'partial', severity: 'warning' });
  });

  it('names a kind and an outcome it does not know from their own words', () => {
    // Arrange
    const n = { cluster: 'orders', kind: 'node-replacement', outcome: 'half_done', summary: 'n3 replaced' };

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe('NODE REPLACEMENT HALF DONE: orders');
    expect(f.json.severity).toBe('warning');
    expect(slackFields(f)).toEqual({ Cluster: 'orders', Kind: 'node-replacement', Outcome: 'half_done' });
    expect(f.text).toBe(
      'NODE REPLACEMENT HALF DONE: orders\nn3 replaced\ncluster: orders | kind: node-replacement | outcome: half_done',
    );
    expect(timelineBlock(f)).toBeUndefined();
  });

  it('gives an outcome without a history entry a stable id from its content', () => {
    // Arrange
    const n = { cluster: 'orders', kind: 'maintenance', outcome: 'succeeded', summary: 'restart of n3 done' };

    // Act
    const a = formatNotification(n);
    const b = formatNotification(structuredClone(n));
    const c = formatNotification({ ...n, summary: 'restart of n2 done' });

    // Assert
    expect(a.id).toMatch(/^[0-9a-f]{32}$/);
    expect(b.id).toBe(a.id);
    expect(c.id).not.toBe(a.id);
  });

  it('escapes Slack control characters, so that no text becomes a link or a mention', () => {
    // Arrange
    const n = {
      cluster: 'orders',
      kind: 'failover',
      outcome: 'failed',
      summary: 'see <https://evil.example|here> & <!channel>',
    };

    // Act
    const f = formatNotification(n);

    // Assert
    for (const text of [...mrkdwnTexts(f.slack.blocks), f.slack.text]) expect(text).not.toMatch(/[<>]/);
    expect(sections(f)[0]?.text?.text).toBe('see &lt;https://evil.example|here&gt; &amp; &lt;!channel&gt;');
    expect(lines(f)[1]).toBe('see <https://evil.example|here> & <!channel>');
  });

  it('keeps every block within Slack limits, however long the timeline', () => {
    // Arrange
    const steps = Array.from({ length: 300 }, (_, i) => ({
      step: `step-${i}`,
      at: START + i,
      durationMs: 1,
      status: 'ok',
      detail: 'x'.repeat(500),
    }));
    const n = {
      cluster: 'orders',
      kind: 'failover',
      outcome: 'partial',
      summary: 's'.repeat(5000),
      entry: { ...switchoverFailed().entry, kind: 'failover', timeline: steps, error: 'e'.repeat(5000) },
    } as unknown as Notification;

    // Act
    const f = formatNotification(n);

    // Assert
    expect(header(f).length).toBeLessThanOrEqual(150);
    for (const s of sections(f)) {
      expect(s.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
      for (const field of s.fields ?? []) expect(field.text.length).toBeLessThanOrEqual(2000);
      expect((s.fields ?? []).length).toBeLessThanOrEqual(10);
    }
    expect(timelineBlock(f)).toMatch(/\.\.\. \d+ more steps\n```$/);
    expect(f.slack.text.length).toBeLessThanOrEqual(3000);
    expect(f.slack.blocks.length).toBeLessThanOrEqual(50);
  });

  it('gives every outcome a plain fallback text with no link and no markup', async () => {
    // Arrange
    const all = await Promise.all([
      failoverOk(),
      failoverUnconfirmed(),
      failoverPartial(),
      deferredFenceApplied(),
      switchoverDone(),
      switchoverRolledBack(),
      switchoverCompletedForward(),
      switchoverRefused(),
    ]);

    // Act
    const texts = all.map((n) => formatNotification(n).slack.text);

    // Assert
    for (const text of texts) {
      expect(text).not.toMatch(/https?:|<|>|```|\*/);
      expect(text.split('\n')[0]).toMatch(/^(FAILOVER|DEFERRED FENCE|SWITCHOVER) [A-Z ]+: orders$/);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// CloudWatch alarms
// ---------------------------------------------------------------------------------------------

describe('CloudWatch alarms', () => {
  it('detects CloudWatch alarm JSON among the topic messages', () => {
    // Act
    const parsed = parseNotifyMessage(JSON.stringify(cloudWatchAlarm()));

    // Assert
    expect(parsed).toMatchObject({
      ok: true,
      message: {
        type: 'alarm',
        alarm: { AlarmName: 'ha-redis-FailoverUnconfirmedAlarm', NewStateValue: 'ALARM' },
      },
    });
  });

  it('heads an alarm ALARM with its name, and shows its state change and reason', () => {
    // Arrange
    const parsed = parseNotifyMessage(JSON.stringify(cloudWatchAlarm()));
    if (!parsed.ok) throw new Error(parsed.reason);

    // Act
    const f = formatMessage(parsed.message);

    // Assert
    expect(f.title).toBe('ALARM: ha-redis-FailoverUnconfirmedAlarm');
    expect(slackFields(f)).toEqual({
      Alarm: 'ha-redis-FailoverUnconfirmedAlarm',
      State: 'OK -&gt; ALARM',
      Changed: '2024-11-24T17:01:00.123+0000',
      Region: 'EU (Ireland)',
    });
    expect(f.text).toBe(
      [
        'ALARM: ha-redis-FailoverUnconfirmedAlarm',
        'Sentinel reported a failover that a majority did not confirm; routing was not changed. See the runbook',
        'alarm: ha-redis-FailoverUnconfirmedAlarm | state: OK -> ALARM | changed: 2024-11-24T17:01:00.123+0000 | region: EU (Ireland)',
        'reason: Threshold Crossed: 1 datapoint [1.0 (24/11/24 17:00:00)] was greater than or equal to the threshold (1.0).',
      ].join('\n'),
    );
    expect(f.json).toMatchObject({
      type: 'alarm',
      marker: 'ALARM',
      severity: 'error',
      cluster: null,
      kind: 'alarm',
      outcome: 'ALARM',
      alarm: {
        name: 'ha-redis-FailoverUnconfirmedAlarm',
        state: 'ALARM',
        previousState: 'OK',
        reason: expect.stringMatching(/^Threshold Crossed/),
        changedAt: '2024-11-24T17:01:00.123+0000',
        region: 'EU (Ireland)',
      },
    });
  });

  it('heads an alarm back to OK ALARM OK, and describes one without a description by its state', () => {
    // Arrange
    const parsed = parseNotifyMessage(
      JSON.stringify(
        cloudWatchAlarm({ NewStateValue: 'OK', OldStateValue: 'ALARM', AlarmDescription: null }),
      ),
    );
    if (!parsed.ok) throw new Error(parsed.reason);

    // Act
    const f = formatMessage(parsed.message);

    // Assert
    expect(f.title).toBe('ALARM OK: ha-redis-FailoverUnconfirmedAlarm');
    expect(lines(f)[1]).toBe('ha-redis-FailoverUnconfirmedAlarm is OK');
    expect(f.json).toMatchObject({ severity: 'ok', alarm: { description: null, previousState: 'ALARM' } });
  });

  it('gives one state change one id, and the next change another', () => {
    // Arrange
    const parse = (overrides: Record<string, unknown>) => {
      const parsed = parseNotifyMessage(JSON.stringify(cloudWatchAlarm(overrides)));
      if (!parsed.ok) throw new Error(parsed.reason);
      return formatMessage(parsed.message).id;
    };

    // Act
    const first = parse({});
    const again = parse({});
    const next = parse({ StateChangeTime: '2024-11-24T17:09:00.000+0000' });

    // Assert
    expect(again).toBe(first);
    expect(next).not.toBe(first);
  });
});

// ---------------------------------------------------------------------------------------------
// Parsing what arrives on the topic
// ---------------------------------------------------------------------------------------------

describe('parseNotifyMessage', () => {
  it('reads back a Notification exactly as the SNS notifier publishes it', async () => {
    // Arrange
    const n = await failoverOk();

    // Act
    const parsed = parseNotifyMessage(JSON.stringify(n));

    // Assert
    expect(parsed).toEqual({ ok: true, message: { type: 'notification', notification: n } });
  });

  it('accepts a kind, an outcome and fields it does not know', () => {
    // Act
    const parsed = parseNotifyMessage(
      JSON.stringify({
        cluster: 'orders',
        kind: 'resharding',
        outcome: 'queued',
        summary: 's',
        extra: { a: 1 },
      }),
    );

    // Assert
    expect(parsed).toEqual({
      ok: true,
      message: {
        type: 'notification',
        notification: { cluster: 'orders', kind: 'resharding', outcome: 'queued', summary: 's' },
      },
    });
  });

  it('rejects a message that is not JSON, saying so', () => {
    // Act
    const parsed = parseNotifyMessage('failover done');

    // Assert
    expect(parsed).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^the SNS Message is not JSON/),
    });
  });

  it('rejects JSON that is neither a notification nor an alarm, naming the field', () => {
    // Act
    const parsed = parseNotifyMessage(JSON.stringify({ cluster: 'orders', kind: 'failover' }));

    // Assert
    expect(parsed).toMatchObject({ ok: false, reason: expect.stringContaining('outcome') });
  });

  it('rejects an alarm without its state', () => {
    // Act
    const parsed = parseNotifyMessage(JSON.stringify({ AlarmName: 'x', NewStateReason: 'r' }));

    // Assert
    expect(parsed).toMatchObject({ ok: false, reason: expect.stringContaining('NewStateValue') });
  });

  it('rejects a record without a Message string', () => {
    // Act
    const parsed = parseNotifyMessage(undefined);

    // Assert
    expect(parsed).toEqual({ ok: false, reason: 'the SNS record has no Message string' });
  });
});

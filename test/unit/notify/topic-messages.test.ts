/** What arrives on the notify topic: CloudWatch alarms formatted, and parseNotifyMessage on every kind of message. */
import { describe, expect, it } from 'vitest';
import { formatMessage } from '../../../adapters/notify/format.ts';
import { parseNotifyMessage } from '../../../events/notifications.ts';
import { cloudWatchAlarm, failoverOk } from './fixtures.ts';
import { lines, slackFields } from './read-formatted.ts';

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

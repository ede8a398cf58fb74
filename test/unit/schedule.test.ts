import { describe, expect, it } from 'vitest';
import {
  decideScheduledRun,
  type ScheduledRunInput,
  scheduledExecutionName,
} from '../../core/maintenance/schedule.ts';

const SCHEDULED = Date.parse('2025-03-02T03:00:00.000Z');
const WINDOW = {
  start: '2025-03-01T00:00:00+01:00',
  end: '2025-03-02T04:00:00+01:00',
  reason: 'quarter-end close',
};

const input = (overrides: Partial<ScheduledRunInput> = {}): ScheduledRunInput => ({
  cluster: 'orders',
  schedule: 'weekly',
  maintenance: { freezeWindows: [] },
  mode: undefined,
  scheduledAt: SCHEDULED,
  now: SCHEDULED + 150,
  ...overrides,
});

describe('decideScheduledRun', () => {
  it('runs outside every freeze window, under a name carrying cluster, schedule and scheduled minute', () => {
    expect(decideScheduledRun(input())).toEqual({
      run: true,
      executionName: 'sched-orders-weekly-20250302T0300Z',
    });
  });

  it('skips a run inside a freeze window and names the window and its reason', () => {
    // Arrange: the window ends at 04:00+01:00, which is 03:00Z; 02:59Z is inside.
    const decision = decideScheduledRun(
      input({ maintenance: { freezeWindows: [WINDOW] }, scheduledAt: SCHEDULED - 60_000, now: SCHEDULED }),
    );

    // Assert
    expect(decision.run).toBe(false);
    expect(decision).toMatchObject({
      reason: expect.stringContaining(
        'inside the freeze window 2025-03-01T00:00:00+01:00 - 2025-03-02T04:00:00+01:00 (quarter-end close)',
      ),
    });
  });

  it('treats the start of a window as inside and its end as outside', () => {
    const windows = { freezeWindows: [WINDOW] };
    const start = Date.parse(WINDOW.start);
    const end = Date.parse(WINDOW.end);
    expect(decideScheduledRun(input({ maintenance: windows, scheduledAt: start, now: start })).run).toBe(
      false,
    );
    expect(decideScheduledRun(input({ maintenance: windows, scheduledAt: end - 1, now: end - 1 })).run).toBe(
      false,
    );
    expect(decideScheduledRun(input({ maintenance: windows, scheduledAt: end, now: end })).run).toBe(true);
    expect(
      decideScheduledRun(input({ maintenance: windows, scheduledAt: start - 60_000, now: start - 1 })).run,
    ).toBe(true);
  });

  it('compares absolute instants: the same window written in another offset decides the same', () => {
    const utc = { start: '2025-02-28T23:00:00Z', end: '2025-03-02T03:00:00Z', reason: 'same window' };
    const tokyo = {
      start: '2025-03-01T08:00:00+09:00',
      end: '2025-03-02T12:00:00+09:00',
      reason: 'same window',
    };
    for (const at of [SCHEDULED - 1, SCHEDULED, Date.parse(utc.start), Date.parse(utc.start) - 1]) {
      const a = decideScheduledRun(
        input({ maintenance: { freezeWindows: [utc] }, scheduledAt: at, now: at }),
      );
      const b = decideScheduledRun(
        input({ maintenance: { freezeWindows: [tokyo] }, scheduledAt: at, now: at }),
      );
      expect(a.run).toBe(b.run);
    }
  });

  it('skips a late delivery that arrives inside a window that began after the scheduled time', () => {
    const window = { start: '2025-03-02T03:05:00Z', end: '2025-03-02T05:00:00Z', reason: 'release' };
    const decision = decideScheduledRun(
      input({ maintenance: { freezeWindows: [window] }, now: Date.parse('2025-03-02T03:10:00Z') }),
    );
    expect(decision).toMatchObject({
      run: false,
      reason: expect.stringContaining(
        'it was delivered late, at 2025-03-02T03:10:00.000Z, inside the freeze window',
      ),
    });
  });

  it('skips while paused, saying by whom, since when and why', () => {
    const decision = decideScheduledRun(
      input({
        mode: {
          paused: true,
          by: 'cli:alice',
          at: Date.parse('2025-03-01T10:00:00Z'),
          reason: 'incident 42',
        },
      }),
    );
    expect(decision).toEqual({
      run: false,
      executionName: 'sched-orders-weekly-20250302T0300Z',
      reason:
        "scheduled maintenance 'weekly' of orders at 2025-03-02T03:00:00.000Z skipped: maintenance is paused since 2025-03-01T10:00:00.000Z by cli:alice (incident 42); resume with 'ha-redis maintenance resume --cluster orders'",
    });
  });

  it('runs when the mode was resumed', () => {
    const mode = { paused: false, by: 'slack:U0123ABCD', at: SCHEDULED - 1000, reason: '' };
    expect(decideScheduledRun(input({ mode })).run).toBe(true);
  });

  it('gives a retried schedule (same scheduled time, later now) the same execution name', () => {
    const first = decideScheduledRun(input({ now: SCHEDULED + 100 }));
    const retry = decideScheduledRun(input({ now: SCHEDULED + 120_000 }));
    const next = decideScheduledRun(input({ scheduledAt: SCHEDULED + 7 * 86_400_000 }));
    expect(retry.executionName).toBe(first.executionName);
    expect(next.executionName).not.toBe(first.executionName);
  });
});

describe('scheduledExecutionName', () => {
  it('fits Step Functions names: at most 80 characters of [A-Za-z0-9_-], the time kept whole', () => {
    const name = scheduledExecutionName('c'.repeat(63), 's'.repeat(41), SCHEDULED);
    expect(name.length).toBeLessThanOrEqual(80);
    expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(name.endsWith('-20250302T0300Z')).toBe(true);
  });

  it('tells schedules of long-named clusters apart', () => {
    const cluster = 'c'.repeat(63);
    expect(scheduledExecutionName(cluster, 'weekly', SCHEDULED)).not.toBe(
      scheduledExecutionName(cluster, 'monthly', SCHEDULED),
    );
  });
});

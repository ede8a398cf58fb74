/** Formatting the outcomes of automatic failovers and switchovers: header, fields, timeline, JSON and text. */
import { describe, expect, it } from 'vitest';
import { formatNotification, switchoverEnding } from '../../../adapters/notify/format.ts';
import type { Notification } from '../../../core/model/records.ts';
import {
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
import { header, lines, sections, slackFields, timelineBlock } from './read-formatted.ts';

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
    expect(steps[3]).toBe('rerouted           +840ms  0ms  2 proxies -&gt; n2 (p1 +0ms, p2 +0ms)');
    expect(lines(f)).toContain('timeline:');
    expect(lines(f)).toContain('  rerouted           +840ms  0ms  2 proxies -> n2 (p1 +0ms, p2 +0ms)');
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
      '  rerouted           +800ms  40ms  FAILED  1 of 2 proxies not rerouted: p2: proxy p2: connection refused; 1 proxies -> n2 (p1 +20ms)',
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

describe('formatNotification: the state store', () => {
  it.each([
    ['failed', 'STATE STORE DOWN: orders', 'error'],
    ['succeeded', 'STATE STORE BACK: orders', 'ok'],
  ] as const)('heads an outage %s as %s (%s)', (outcome, title, severity) => {
    // Arrange
    const n: Notification = { cluster: 'orders', kind: 'state-store', outcome, summary: 'what happened' };

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe(title);
    expect(f.json.severity).toBe(severity);
    expect(f.text).toContain('what happened');
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

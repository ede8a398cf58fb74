import { describe, expect, it } from 'vitest';
import { historyTimelineSpec, writeGapSpan } from '../../adapters/charts/gantt.ts';
import { renderSvg } from '../../adapters/charts/render-svg.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import type { TimelineStep } from '../../core/model/timeline.ts';

const T0 = 1_764_000_000_000;

const steps = (...list: [string, number, number, TimelineStep['status']?][]): TimelineStep[] =>
  list.map(([step, at, durationMs, status = 'ok']) => ({ step, at: T0 + at, durationMs, status }));

const switchover = (): HistoryEntry => ({
  id: 'sw-0001',
  cluster: 'orders',
  kind: 'switchover',
  epoch: 4,
  oldMaster: { host: '10.0.0.1', port: 6379 },
  newMaster: { host: '10.0.0.2', port: 6379 },
  outcome: 'succeeded',
  trigger: 'cli:alice',
  startedAt: T0,
  durationMs: 320,
  bytesAtRisk: 0,
  writeGapMs: 195,
  timeline: steps(
    ['lease-taken', 0, 12],
    ['writes-blocked', 40, 3],
    ['promoted', 49, 180],
    ['rerouted', 229, 6],
    ['recorded', 300, 8],
  ),
});

const failover = (): HistoryEntry => ({
  ...switchover(),
  id: 'fo-0002',
  kind: 'failover',
  trigger: '+switch-master',
  writeGapMs: undefined,
  outcome: 'partial',
  timeline: steps(
    ['detected', 0, 0],
    ['confirmed', 2, 810],
    ['rerouted', 812, 41],
    ['fenced', 853, 5, 'failed'],
  ),
});

describe('the timeline picture of a history entry', () => {
  it('draws every step of a switchover with its duration in ms, and marks the write gap', async () => {
    // Arrange
    const entry = switchover();

    // Act
    const svg = await renderSvg(historyTimelineSpec(entry));

    // Assert
    for (const s of entry.timeline) expect(svg).toContain(s.step);
    expect(svg).toContain('180 ms');
    expect(svg).toContain('write gap 195 ms');
    expect(svg).toContain('ms after the first step');
    expect(svg).toContain('switchover of orders, epoch 4: 10.0.0.1:6379 -&gt; 10.0.0.2:6379, succeeded');
  });

  it('places the write gap from the writes-blocked step, in ms after the first step', () => {
    expect(writeGapSpan(switchover(), T0)).toEqual({
      startMs: 40,
      durationMs: 195,
      label: 'write gap 195 ms',
    });
  });

  it('draws a failover without a write gap, a point in time as its time, and a failed step in the legend', async () => {
    // Act
    const svg = await renderSvg(historyTimelineSpec(failover(), (e) => (e?.port === 6379 ? 'redis-x' : '-')));

    // Assert
    for (const step of ['detected', 'confirmed', 'rerouted', 'fenced']) expect(svg).toContain(step);
    expect(svg).toContain('at 0 ms');
    expect(svg).toContain('5 ms, failed');
    expect(svg).toContain('failed');
    expect(svg).not.toContain('write gap');
    expect(svg).toContain('redis-x -&gt; redis-x');
  });

  it('keeps repeated step names apart, one row each', async () => {
    // Arrange
    const entry = { ...failover(), timeline: steps(['rerouted', 0, 10], ['rerouted', 20, 10]) };

    // Act
    const svg = await renderSvg(historyTimelineSpec(entry));

    // Assert
    expect(svg).toContain('rerouted (2)');
  });
});

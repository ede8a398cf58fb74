import { describe, expect, it } from 'vitest';
import { formatTimeline, Timeline, type TimelineStep } from '../../core/model/timeline.ts';
import { FakeClock } from '../fakes/clock.ts';
import { RecordingLogger } from '../fakes/reporting.ts';
import { START } from '../support/fixtures.ts';

function setup() {
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  return { clock, logger, timeline: new Timeline(clock, logger, { cluster: 'orders' }) };
}

describe('Timeline', () => {
  it('records how long a step took on the clock, with its detail', async () => {
    // Arrange
    const { clock, timeline } = setup();

    // Act
    const result = await timeline.run(
      'rerouted',
      async () => {
        await clock.sleep(250);
        return 2;
      },
      (n) => `${n} proxies`,
    );

    // Assert
    expect(result).toBe(2);
    expect(timeline.steps).toEqual([
      { step: 'rerouted', at: START, durationMs: 250, status: 'ok', detail: '2 proxies' },
    ]);
  });

  it('leaves out an empty detail', async () => {
    // Arrange
    const { timeline } = setup();

    // Act
    await timeline.run(
      'verified',
      async () => '',
      (d) => d,
    );

    // Assert
    expect(timeline.steps[0]).not.toHaveProperty('detail');
  });

  it('records a failed step with its error message and rethrows the error', async () => {
    // Arrange
    const { clock, timeline, logger } = setup();
    const error = new Error('proxy p2 refused');

    // Act
    const run = timeline.run('rerouted', async () => {
      clock.advance(40);
      throw error;
    });

    // Assert
    await expect(run).rejects.toBe(error);
    expect(timeline.steps).toEqual([
      { step: 'rerouted', at: START, durationMs: 40, status: 'failed', detail: 'proxy p2 refused' },
    ]);
    expect(logger.lines).toEqual([{ level: 'warn', message: 'step rerouted failed' }]);
  });

  it('logs each finished step at info', async () => {
    // Arrange
    const { timeline, logger } = setup();

    // Act
    await timeline.run('confirmed', async () => undefined);
    timeline.skip('fenced', 'the node is the applied master again');

    // Assert
    expect(logger.lines).toEqual([
      { level: 'info', message: 'step confirmed ok' },
      { level: 'info', message: 'step fenced skipped' },
    ]);
  });

  it('marks a point in time and measures elapsed time from the first step', () => {
    // Arrange
    const { clock, timeline } = setup();

    // Act
    timeline.mark('detected', START - 300, '+switch-master');
    clock.advance(200);

    // Assert
    expect(timeline.steps).toEqual([
      { step: 'detected', at: START - 300, durationMs: 0, status: 'ok', detail: '+switch-master' },
    ]);
    expect(timeline.elapsed()).toBe(500);
  });

  it('has elapsed 0 before any step', () => {
    // Act
    const { timeline } = setup();

    // Assert
    expect(timeline.elapsed()).toBe(0);
  });
});

describe('formatTimeline', () => {
  it('renders each step with its offset from the first, its duration and a status other than ok', () => {
    // Arrange
    const steps: TimelineStep[] = [
      { step: 'detected', at: 1000, durationMs: 0, status: 'ok' },
      { step: 'confirmed', at: 1812, durationMs: 12, status: 'ok' },
      { step: 'rerouted', at: 1830, durationMs: 40, status: 'failed', detail: 'p2 refused' },
      { step: 'fenced', at: 1900, durationMs: 0, status: 'skipped' },
    ];

    // Act
    const text = formatTimeline(steps);

    // Assert
    expect(text).toBe(
      'detected +0ms (0ms), confirmed +812ms (12ms), rerouted +830ms (40ms) failed, fenced +900ms (0ms) skipped',
    );
  });

  it('says so when there are no steps', () => {
    // Act
    const text = formatTimeline([]);

    // Assert
    expect(text).toBe('(no steps)');
  });
});

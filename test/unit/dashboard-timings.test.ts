/**
 * The timings the Lambdas emit for the dashboard: a failover's promotion -> rerouted and each step's duration
 * (sentinel-event), a switchover's write gap (the step that finishes it). Nothing for anything else.
 */

import { describe, expect, it } from 'vitest';
import { reactToNodeExit } from '../../core/failover/fast-path.ts';
import { handleSentinelEvent } from '../../core/failover/handle-event.ts';
import { TIMING_METRICS } from '../../core/model/metrics.ts';
import { outcomeTimings } from '../../functions/sentinel-event/handler.ts';
import { writeGapTiming } from '../../functions/switchover-step/handler.ts';
import { START } from '../support/fixtures.ts';
import { loadEvent } from '../support/samples.ts';
import { failedOverWorld } from '../support/world.ts';
import { masterExitWorld, nodeExit } from './fast-path/fixtures.ts';
import { switchoverState } from './switchover/fixtures.ts';

describe('outcomeTimings', () => {
  it('times a failover: promotion seen -> rerouted, and each step that ran, by its name', async () => {
    // Arrange
    const w = failedOverWorld();
    const outcome = await handleSentinelEvent(w.cluster, loadEvent('switch-master'), START, w.deps);
    if (outcome.action !== 'failed-over') throw new Error(`expected a failover, got ${outcome.action}`);
    const { timeline } = outcome.entry;

    // Act
    const timings = outcomeTimings(outcome);

    // Assert
    const detected = timeline.find((s) => s.step === 'detected');
    const rerouted = timeline.find((s) => s.step === 'rerouted');
    if (!detected || !rerouted) throw new Error('expected detected and rerouted steps');
    expect(timings[0]).toEqual({
      name: TIMING_METRICS.reroutedAfterPromotion,
      ms: rerouted.at + rerouted.durationMs - detected.at,
    });
    const steps = timings.slice(1);
    expect(steps.map((t) => t.dimension?.value)).toEqual(
      timeline.filter((s) => s.status === 'ok').map((s) => s.step),
    );
    expect(steps.every((t) => t.name === TIMING_METRICS.stepDuration)).toBe(true);
    expect(steps.find((t) => t.dimension?.value === 'rerouted')?.ms).toBe(rerouted.durationMs);
  });

  it('times nothing for an unconfirmed failover, a rejected event, or a fast path that found no promotion', async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { promotionDeadlineMs: 50 } });
    const failed = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Act + Assert
    expect(failed.action).toBe('fast-failover-failed');
    expect(outcomeTimings(failed)).toEqual([]);
    expect(outcomeTimings({ action: 'unconfirmed' })).toEqual([]);
    expect(outcomeTimings({ action: 'rejected', error: 'unknown cluster' })).toEqual([]);
  });
});

describe('writeGapTiming', () => {
  it("emits the switchover's write gap from the finish step only, once it is recorded", () => {
    const done = switchoverState({ writeGapMs: 231 });
    expect(writeGapTiming({ action: 'finish', state: done }, done)).toEqual({
      name: TIMING_METRICS.switchoverWriteGap,
      ms: 231,
    });
    expect(writeGapTiming({ action: 'verify', state: done }, done)).toBeUndefined();
    const never = switchoverState();
    expect(writeGapTiming({ action: 'finish', state: never }, never)).toBeUndefined();
    expect(writeGapTiming(null, done)).toBeUndefined();
  });
});

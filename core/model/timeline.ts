import { errorMessage } from './errors.ts';

/** The time a timeline reads: the Clock port, narrowed to what it uses (the model imports no port). */
export interface TimelineClock {
  now(): number;
}

/** Where a timeline logs each step: the Logger port, narrowed to what it uses. */
export interface TimelineLogger {
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
}

/** One step of a reaction: when it started (epoch ms), how long it took, and how it ended. */
export interface TimelineStep {
  step: string;
  at: number;
  durationMs: number;
  status: 'ok' | 'failed' | 'skipped';
  detail?: string;
}

/** Records timed steps, logs each one as a structured line, and keeps them for history. */
export class Timeline {
  readonly steps: TimelineStep[] = [];
  private readonly clock: TimelineClock;
  private readonly logger: TimelineLogger;
  private readonly context: Record<string, unknown>;

  constructor(clock: TimelineClock, logger: TimelineLogger, context: Record<string, unknown>) {
    this.clock = clock;
    this.logger = logger;
    this.context = context;
  }

  /** A timeline that goes on from steps a workflow carried over from its earlier Tasks. */
  static resume(
    steps: readonly TimelineStep[],
    deps: { clock: TimelineClock; logger: TimelineLogger },
    context: Record<string, unknown>,
  ): Timeline {
    const timeline = new Timeline(deps.clock, deps.logger, context);
    timeline.steps.push(...steps);
    return timeline;
  }

  /** Record a point in time that has no duration of its own (e.g. when the event was seen). */
  mark(step: string, at: number, detail?: string): void {
    this.push({ step, at, durationMs: 0, status: 'ok', ...(detail ? { detail } : {}) });
  }

  skip(step: string, detail: string): void {
    this.push({ step, at: this.clock.now(), durationMs: 0, status: 'skipped', detail });
  }

  /** Run `fn` as a named step; a failure is recorded and rethrown. */
  async run<T>(step: string, fn: () => Promise<T>, describe?: (result: T) => string): Promise<T> {
    const at = this.clock.now();
    try {
      const result = await fn();
      const detail = describe?.(result);
      this.push({ step, at, durationMs: this.clock.now() - at, status: 'ok', ...(detail ? { detail } : {}) });
      return result;
    } catch (error) {
      this.push({
        step,
        at,
        durationMs: this.clock.now() - at,
        status: 'failed',
        detail: errorMessage(error),
      });
      throw error;
    }
  }

  /** Milliseconds from the first step to now. */
  elapsed(): number {
    const first = this.steps[0];
    return first ? this.clock.now() - first.at : 0;
  }

  private push(entry: TimelineStep): void {
    this.steps.push(entry);
    const log = entry.status === 'failed' ? this.logger.warn : this.logger.info;
    log.call(this.logger, `step ${entry.step} ${entry.status}`, { ...this.context, ...entry });
  }
}

/** A one-line rendering of a timeline: `detected +0ms, confirmed +812ms (12ms), ...`. */
export function formatTimeline(steps: readonly TimelineStep[]): string {
  const first = steps[0];
  if (!first) return '(no steps)';
  return steps
    .map((s) => {
      const offset = s.at - first.at;
      const status = s.status === 'ok' ? '' : ` ${s.status}`;
      return `${s.step} +${offset}ms (${s.durationMs}ms)${status}`;
    })
    .join(', ');
}

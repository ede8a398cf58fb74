import { setTimeout as sleep } from 'node:timers/promises';
import { withRetries } from '../../core/model/retry.ts';
import type { Clock } from '../../core/ports.ts';

/** Error names AWS services answer "slow down" with; an HTTP 429 means the same. */
const THROTTLING_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
]);

/** The wall clock, for adapters whose clock is optional. */
export const wallClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms).then(() => undefined) };

/** The error's name (`ThrottlingException`, `InvalidChangeBatch`, ...), or '' for a thrown non-error. */
export const awsErrorName = (error: unknown): string => (error instanceof Error ? error.name : '');

/** True when AWS throttled the call: a throttling error name, or HTTP status 429. */
export function isThrottling(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return THROTTLING_NAMES.has(error.name) || status === 429;
}

/** `Name: message` of an AWS error, for our messages. AWS never echoes parameter or secret values in it. */
export function describeAwsError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message && error.message !== error.name ? `${error.name}: ${error.message}` : error.name;
}

/**
 * Bounded attempts with exponential backoff and full jitter (AWS's advice for throttling), so that callers
 * slowed down together spread out. The core's `withRetries` runs the attempts.
 */
export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  capMs: number;
  /** No retry starts once this long has passed since the first attempt (unbounded when left out). */
  patienceMs?: number;
}

/** How far apart retries are: the part of a RetryPolicy that paces them. */
export type RetryPace = Pick<RetryPolicy, 'baseMs' | 'capMs'>;

/** Full jitter (AWS Architecture Blog): uniform in [0, min(cap, base * 2^retry)). */
export const fullJitterMs = (retry: number, policy: RetryPace, random: () => number): number =>
  Math.floor(random() * Math.min(policy.capMs, policy.baseMs * 2 ** retry));

/** Pauses between polls: the first, doubling up to the longest. */
export interface PollPacing {
  firstMs: number;
  maxMs: number;
}

/** Retries and polls of AWS calls, paced by one clock and one random source (exact in tests). */
export class Backoff {
  private readonly clock: Clock;
  private readonly random: () => number;
  constructor(clock: Clock, random: () => number = Math.random) {
    this.clock = clock;
    this.random = random;
  }

  /** The clock time `ms` from now, as a deadline for `poll`. */
  deadlineIn(ms: number): number {
    return this.clock.now() + ms;
  }

  /**
   * Calls `call` until it succeeds, fails with an error `retryable` refuses, or `policy.maxAttempts` ran
   * out, or its patience; sleeps with full jitter between attempts, paced by `paceOf` the error when given (a
   * refusal that clears by itself soon is asked again sooner than a throttled account). Rethrows the last
   * error: the caller tells "gave up" from "refused" by asking `retryable` again.
   */
  async retry<T>(
    call: () => Promise<T>,
    policy: RetryPolicy,
    retryable: (error: unknown) => boolean = isThrottling,
    paceOf: (error: unknown) => RetryPace = () => policy,
  ): Promise<T> {
    const started = this.clock.now();
    const { patienceMs } = policy;
    return withRetries(
      call,
      {
        attempts: policy.maxAttempts,
        pauseMs: (retry, error) => fullJitterMs(retry, paceOf(error), this.random),
        retryable: (error) =>
          retryable(error) && (patienceMs === undefined || this.clock.now() - started < patienceMs),
      },
      this.clock,
    );
  }

  /**
   * Asks `check` after each pause until it returns a value, or `deadline` (clock time) passes: then
   * undefined. The last question is asked at the deadline. A throttled question counts as "not yet" and
   * lengthens the next pause by a random part of it, so that pollers in step spread out.
   */
  async poll<T>(
    check: () => Promise<T | undefined>,
    pacing: PollPacing,
    deadline: number,
  ): Promise<T | undefined> {
    let base = pacing.firstMs;
    let pause = base;
    for (;;) {
      const left = deadline - this.clock.now();
      if (left <= 0) return undefined;
      await this.clock.sleep(Math.min(pause, left));
      let throttled = false;
      try {
        const value = await check();
        if (value !== undefined) return value;
      } catch (error) {
        if (!isThrottling(error)) throw error;
        throttled = true;
      }
      base = Math.min(base * 2, pacing.maxMs);
      pause = throttled ? base + Math.floor(this.random() * base) : base;
    }
  }
}

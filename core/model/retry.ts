/**
 * Bounded retries of one call: the one retry loop of the code base. A policy says how many attempts, how
 * long to pause before each retry, and which errors are worth another attempt.
 */

/** How a call is retried. */
export interface Retries {
  /** Attempts in all, the first included. */
  attempts: number;
  /** The pause before retry number `retry` (0 for the first retry), in milliseconds, after `error`. */
  pauseMs: (retry: number, error: unknown) => number;
  /** Whether an error is worth another attempt; every error is, when this is left out. */
  retryable?: (error: unknown) => boolean;
}

/**
 * Calls `call` until it succeeds, fails with an error `retryable` refuses, or the attempts ran out; sleeps
 * `pauseMs` between attempts. Rethrows the last error.
 */
export async function withRetries<T>(
  call: () => Promise<T>,
  retries: Retries,
  clock: { sleep(ms: number): Promise<void> },
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= retries.attempts || (retries.retryable && !retries.retryable(error))) throw error;
      await clock.sleep(retries.pauseMs(attempt - 1, error));
    }
  }
}

/** A fixed pause between attempts, for retries of a moment's refusal (not a load that backs off). */
export const fixedPause =
  (ms: number) =>
  (_retry: number): number =>
    ms;

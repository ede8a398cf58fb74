import type { ReactionPacer } from '../../core/ports.ts';

/**
 * How long follow-up steps wait for other reactions' critical steps at most: a reroute and a re-point take tens of
 * ms; a reaction that waits longer (a confirmation by the Sentinels' views, a proxy that does not answer) must not
 * hold the others' DNS and persists for its whole wait.
 */
export const CRITICAL_FIRST_BOUND_MS = 1000;

/** The in-process ReactionPacer: counts the reactions in their critical steps, and wakes the waiters at zero. */
export class CriticalFirst implements ReactionPacer {
  private inside = 0;
  private waiters: (() => void)[] = [];
  private readonly boundMs: number;

  constructor(boundMs = CRITICAL_FIRST_BOUND_MS) {
    this.boundMs = boundMs;
  }

  /** How many reactions are in their critical steps now. */
  get critical(): number {
    return this.inside;
  }

  enterCritical(): () => void {
    this.inside += 1;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.inside -= 1;
      if (this.inside === 0) this.wake();
    };
  }

  settled(): Promise<void> {
    if (this.inside === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      // At the bound: on its way, and out of the waiters (a count that stays above zero keeps no waiter).
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve();
      }, this.boundMs);
      // A process that has nothing else to do does not wait for this timer.
      timer.unref();
      this.waiters.push(wake);
    });
  }

  /** How many follow-ups wait now. */
  get waiting(): number {
    return this.waiters.length;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

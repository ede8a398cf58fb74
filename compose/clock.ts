import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../core/ports.ts';

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms).then(() => undefined) };

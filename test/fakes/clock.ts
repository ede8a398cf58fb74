/** A fake Clock: time moves only when a test (or a sleep) moves it. */
import type { Clock } from '../../core/ports.ts';
import { START } from '../support/fixtures.ts';

/** A clock whose sleep advances time at once. */
export class FakeClock implements Clock {
  time: number;
  readonly sleeps: number[] = [];
  constructor(start = START) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.time += ms;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

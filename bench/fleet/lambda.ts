/**
 * The sentinel-event Lambda as AWS runs it for SNS: one asynchronous invocation per SNS message, one invocation at
 * a time per execution environment, a new environment (cold start) when none is free, within the function's
 * reserved concurrency (within the account's) and its scaling rate; a throttled event goes back to the queue and
 * is tried again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SNSEvent } from 'aws-lambda';
import type { RecordOutcome } from '../../functions/sentinel-event/handler.ts';
import { LIMITS, TokenBucket, uniform } from './limits.ts';

type Handler = (event: SNSEvent, context: { getRemainingTimeInMillis(): number }) => Promise<RecordOutcome[]>;

export interface LambdaCounts {
  invocations: number;
  coldStarts: number;
  /** Invocations refused for concurrency or scaling, each tried again later by Lambda's queue. */
  throttled: number;
  /** Invocations whose handler threw (Lambda would retry them after ~1 min, past this simulation). */
  errors: number;
  maxConcurrency: number;
}

export class LambdaSim {
  readonly counts: LambdaCounts = {
    invocations: 0,
    coldStarts: 0,
    throttled: 0,
    errors: 0,
    maxConcurrency: 0,
  };
  readonly errorMessages: string[] = [];
  private readonly idle: Handler[] = [];
  private environments = 0;
  private running = 0;
  private outstanding = 0;
  private readonly scaling = new TokenBucket(LIMITS.lambda.scaleUpPer10s, LIMITS.lambda.scaleUpPer10s / 10);
  private readonly settled: (() => void)[] = [];

  /** `newEnvironment` builds one environment's handler (its own adapters, as a Lambda process has). */
  private readonly newEnvironment: () => Handler;
  private readonly onOutcomes: (event: SNSEvent, outcomes: RecordOutcome[]) => void;
  /** Environments at most: the function's reserved concurrency, within the account's. */
  readonly concurrency: number;

  /**
   * `provisioned`: environments initialized before any event (provisioned concurrency): no cold start for them.
   * `reserved`: the function's reserved concurrency.
   */
  constructor(
    newEnvironment: () => Handler,
    onOutcomes: (event: SNSEvent, outcomes: RecordOutcome[]) => void,
    provisioned = 0,
    reserved: number = LIMITS.lambda.concurrency,
  ) {
    this.concurrency = Math.min(reserved, LIMITS.lambda.concurrency);
    this.newEnvironment = newEnvironment;
    this.onOutcomes = onOutcomes;
    for (let i = 0; i < provisioned; i += 1) this.idle.push(newEnvironment());
    this.environments = provisioned;
  }

  /** Deliver one SNS event; resolves at once (asynchronous invocation). */
  invoke(event: SNSEvent): void {
    this.outstanding += 1;
    void this.attempt(event, 0);
  }

  /** Resolves when every invocation, retries included, has ended. */
  async drained(): Promise<void> {
    if (this.outstanding === 0) return;
    await new Promise<void>((resolve) => this.settled.push(resolve));
  }

  private async attempt(event: SNSEvent, retry: number): Promise<void> {
    let handler = this.idle.pop();
    if (!handler) {
      const atCap = this.environments >= this.concurrency;
      if (atCap || !this.scaling.take()) {
        this.counts.throttled += 1;
        const pause = Math.min(LIMITS.lambda.throttleRetryFirstMs * 2 ** retry, 300_000);
        await sleep(pause);
        return this.attempt(event, retry + 1);
      }
      this.environments += 1;
      this.counts.coldStarts += 1;
      await sleep(uniform(LIMITS.lambda.coldStartMs));
      handler = this.newEnvironment();
    }
    this.counts.invocations += 1;
    this.running += 1;
    this.counts.maxConcurrency = Math.max(this.counts.maxConcurrency, this.running);
    const endsAt = Date.now() + LIMITS.lambda.timeoutMs;
    try {
      this.onOutcomes(event, await handler(event, { getRemainingTimeInMillis: () => endsAt - Date.now() }));
    } catch (error) {
      this.counts.errors += 1;
      this.errorMessages.push(error instanceof Error ? error.message : String(error));
    } finally {
      this.running -= 1;
      this.idle.push(handler);
      this.outstanding -= 1;
      if (this.outstanding === 0) for (const resolve of this.settled.splice(0)) resolve();
    }
  }
}

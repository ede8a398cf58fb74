/**
 * The AWS limits the fleet simulation enforces, each with its number and where it comes from, and the token
 * bucket they are modelled with. Where AWS publishes no number, the comment says so and why this one was chosen.
 */

/** A token bucket: `capacity` tokens at most, refilled at `refillPerSec`; a call takes tokens or is refused. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;
  private readonly refillPerSec: number;
  private readonly now: () => number;
  constructor(capacity: number, refillPerSec: number, now: () => number = Date.now) {
    this.capacity = capacity;
    this.refillPerSec = refillPerSec;
    this.now = now;
    this.tokens = capacity;
    this.last = now();
  }

  /** Take `n` tokens if there are that many; false (nothing taken) otherwise. */
  take(n = 1): boolean {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.refillPerSec);
    this.last = t;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

/** Token buckets keyed by a name (a partition key, an API operation), created on first use. */
export class BucketMap {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly capacity: number;
  private readonly refillPerSec: number;
  constructor(capacity: number, refillPerSec: number) {
    this.capacity = capacity;
    this.refillPerSec = refillPerSec;
  }
  take(key: string, n = 1): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.capacity, this.refillPerSec);
      this.buckets.set(key, bucket);
    }
    return bucket.take(n);
  }
}

export const LIMITS = {
  route53: {
    /**
     * Route53 Developer Guide, "Throttling for Amazon Route 53 API requests" (2026): one bucket per account for
     * every API call, capacity 50, refill 10/s (it was a flat 5 requests/s before); and one bucket per API
     * operation, 50 and 10/s for ChangeResourceRecordSets, ListResourceRecordSets and GetChange. A call takes a
     * token from both. A throttled call gets HTTP 400, code `Throttling`, message `Rate exceeded`.
     */
    accountCapacity: 50,
    accountRefillPerSec: 10,
    operationCapacity: 50,
    operationRefillPerSec: 10,
    /**
     * API reference, ChangeResourceRecordSets: at most 1000 ResourceRecord elements per request, an UPSERT
     * counting twice; beyond it, `InvalidChangeBatch`.
     */
    maxRecordsPerBatch: 1000,
    /**
     * `PriorRequestNotComplete` (API reference): "If Route 53 can't process a request before the next request
     * arrives, it will reject subsequent requests for the same hosted zone". AWS publishes no duration. Modelled:
     * the zone refuses a change for this long after it accepted one. An ASSUMPTION, the number this simulation
     * depends on most: see the README ("Running many clusters").
     */
    zoneBusyMs: 1000,
    /** A change turns INSYNC after this (the docs: "generally within 60 seconds"); GetChange reports it. */
    insyncMs: 30_000,
  },
  ssm: {
    /**
     * AWS publishes no request rate for SendCommand (the Systems Manager quotas page lists none; a throttled call
     * gets `ThrottlingException`). ASSUMPTION: the shape of Route53's documented default, a bucket of 50 refilled
     * at 10/s per account; change it to the account's quota (Service Quotas) when known.
     */
    sendCapacity: 50,
    sendRefillPerSec: 10,
    /** The result polls (GetCommandInvocation, ListCommandInvocations): likewise unpublished; ASSUMPTION 100, 20/s. */
    readCapacity: 100,
    readRefillPerSec: 20,
    /** A live host's agent picks a command up and runs the document's script in about this long. */
    scriptMs: 800,
  },
  dynamodb: {
    /**
     * DynamoDB Developer Guide, "Partitions and data distribution" / on-demand: at most 1000 write units/s per
     * partition (a write of an item up to 1 KB is one unit). Every item of a cluster shares its partition key
     * `cluster#<name>`, so the per-key bucket is the per-partition limit at its strictest. Throttled writes get
     * `ProvisionedThroughputExceededException`, which the SDK retries (standard mode, 3 attempts).
     */
    partitionWcuPerSec: 1000,
    /** On-demand, a new table serves up to 4000 write units/s at once (Developer Guide, "initial throughput"). */
    tableWcuPerSec: 4000,
  },
  lambda: {
    /** Lambda quotas: 1000 concurrent executions per account and Region by default. */
    concurrency: 1000,
    /** Lambda scaling: each function adds at most 1000 execution environments every 10 s. */
    scaleUpPer10s: 1000,
    /**
     * A new environment's init: the project's own measurement (README, "Lambda init") is a few hundred ms for this
     * bundle; modelled as uniform in [250, 1000] ms to cover a cold VPC-attached function.
     */
    coldStartMs: [250, 1000] as const,
    /**
     * Asynchronous invocation: a throttled event returns to the queue and is tried again, "the retry interval
     * increases exponentially from 1 second after the first attempt to a maximum of 5 minutes".
     */
    throttleRetryFirstMs: 1000,
    /** The sentinel-event function's timeout (infra/constructs/event-ingest.ts). */
    timeoutMs: 60_000,
  },
  sqsFifo: {
    /**
     * SQS Developer Guide, "Amazon SQS FIFO queue quotas": 300 transactions per second per API action
     * (SendMessage), beyond it `ThrottlingException`; with high throughput (the stack's queues) per message group.
     */
    sendPerSec: 300,
    /**
     * Lambda's SQS event source long-polls the queue; AWS publishes no pick-up latency. ASSUMPTION: 20-200 ms
     * from a message's arrival (or the group's previous batch's end) to its batch's invocation.
     */
    pickUpMs: [20, 200] as const,
  },
  sns: {
    /** SNS to Lambda delivery: no published latency; tens of ms is what SNS's own figures show. ASSUMPTION. */
    deliveryMs: [20, 80] as const,
  },
} as const;

/** Uniform in [lo, hi]. */
export const uniform = ([lo, hi]: readonly [number, number]): number => lo + Math.random() * (hi - lo);

/**
 * Which targets this container already delivered which SNS message to, so that the Lambda's retry of a
 * partly failed invocation (same event, same MessageId) skips them. In memory and bounded: a retry that
 * lands in another container repeats them (see deliverAll).
 */
export class DeliveryLedger {
  private readonly done = new Set<string>();
  private readonly capacity: number;

  constructor(capacity = 1000) {
    this.capacity = capacity;
  }

  has(messageId: string, target: string): boolean {
    return this.done.has(key(messageId, target));
  }

  add(messageId: string, target: string): void {
    this.done.add(key(messageId, target));
    // A Set iterates in insertion order: drop the oldest.
    for (const oldest of this.done) {
      if (this.done.size <= this.capacity) break;
      this.done.delete(oldest);
    }
  }
}

const key = (messageId: string, target: string): string => `${messageId}\n${target}`;

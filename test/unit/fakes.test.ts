import { describe, expect, it } from 'vitest';
import { InMemoryStateStore, N1, N2, N3, START } from './helpers.ts';

// The in-memory store stands in for DynamoStateStore in every core test: its claim rules must be the same.
const claim = (epoch: number, token: string, now = START, master = N2) => ({
  epoch,
  master,
  token,
  now,
  leaseMs: 1000,
});

describe('InMemoryStateStore.claimEpoch (same rules as the DynamoDB store)', () => {
  it('lets the first claim of a cluster win', async () => {
    // Arrange
    const store = new InMemoryStateStore();

    // Act
    const result = await store.claimEpoch('orders', claim(7, 'a'));

    // Assert
    expect(result).toEqual({ claimed: true });
    expect(await store.appliedEpoch('orders')).toEqual({
      epoch: 7,
      master: N2,
      status: 'claimed',
      token: 'a',
      leaseUntil: START + 1000,
    });
  });

  it('lets a newer epoch win over a claim in progress', async () => {
    // Arrange
    const store = new InMemoryStateStore();
    await store.claimEpoch('orders', claim(7, 'a'));

    // Act
    const result = await store.claimEpoch('orders', claim(8, 'b', START, N3));

    // Assert
    expect(result).toEqual({ claimed: true });
    expect(await store.appliedEpoch('orders')).toMatchObject({ epoch: 8, master: N3, token: 'b' });
  });

  it("refuses the same epoch while its claim holds a lease, as 'duplicate'", async () => {
    // Arrange
    const store = new InMemoryStateStore();
    await store.claimEpoch('orders', claim(7, 'a'));

    // Act
    const result = await store.claimEpoch('orders', claim(7, 'b', START + 999));

    // Assert
    expect(result).toMatchObject({ claimed: false, reason: 'duplicate', current: { token: 'a' } });
  });

  it('gives the same epoch to a retry once its lease has run out', async () => {
    // Arrange
    const store = new InMemoryStateStore();
    await store.claimEpoch('orders', claim(7, 'a'));

    // Act
    const result = await store.claimEpoch('orders', claim(7, 'b', START + 1001));

    // Assert
    expect(result).toEqual({ claimed: true });
  });

  it('gives the same epoch to a retry once its claim finished as failed', async () => {
    // Arrange
    const store = new InMemoryStateStore();
    await store.claimEpoch('orders', claim(7, 'a'));
    await store.finishEpoch('orders', 7, 'a', 'failed');

    // Act
    const result = await store.claimEpoch('orders', claim(7, 'b'));

    // Assert
    expect(result).toEqual({ claimed: true });
  });

  it("never gives a done epoch again, even after its lease, as 'duplicate'", async () => {
    // Arrange
    const store = new InMemoryStateStore();
    await store.claimEpoch('orders', claim(7, 'a'));
    await store.finishEpoch('orders', 7, 'a', 'done');

    // Act
    const result = await store.claimEpoch('orders', claim(7, 'b', START + 10_000));

    // Assert
    expect(result).toMatchObject({ claimed: false, reason: 'duplicate', current: { status: 'done' } });
  });

  it("refuses an older epoch as 'stale', whatever the status", async () => {
    // Arrange
    const store = new InMemoryStateStore();
    await store.claimEpoch('orders', claim(8, 'a'));
    await store.finishEpoch('orders', 8, 'a', 'failed');

    // Act
    const result = await store.claimEpoch('orders', claim(7, 'b', START + 10_000, N1));

    // Assert
    expect(result).toMatchObject({ claimed: false, reason: 'stale', current: { epoch: 8 } });
  });

  it('finishes only the claim whose epoch and token it is given', async () => {
    // Arrange
    const store = new InMemoryStateStore();
    await store.claimEpoch('orders', claim(7, 'a'));
    await store.claimEpoch('orders', claim(8, 'b'));

    // Act
    await store.finishEpoch('orders', 7, 'a', 'done');

    // Assert
    expect(await store.appliedEpoch('orders')).toMatchObject({ epoch: 8, status: 'claimed' });
  });

  it('keeps clusters apart', async () => {
    // Arrange
    const store = new InMemoryStateStore();
    await store.claimEpoch('orders', claim(9, 'a'));

    // Act
    const result = await store.claimEpoch('billing', claim(1, 'b'));

    // Assert
    expect(result).toEqual({ claimed: true });
  });
});

describe('InMemoryStateStore pending fences', () => {
  it('keeps one pending fence per node and removes it by address', async () => {
    // Arrange
    const store = new InMemoryStateStore();
    await store.addPendingFence('orders', { node: N1, master: N2, epoch: 7, since: START });
    await store.addPendingFence('orders', { node: N1, master: N3, epoch: 8, since: START + 1 });

    // Act
    const before = await store.pendingFences('orders');
    await store.removePendingFence('orders', { host: N1.host, port: N1.port });

    // Assert
    expect(before).toEqual([{ node: N1, master: N3, epoch: 8, since: START + 1 }]);
    expect(await store.pendingFences('orders')).toEqual([]);
  });
});

import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore, ensureStateTable } from '../../adapters/aws/dynamodb-state-store.ts';
import { localDynamoClient } from '../../compose/local.ts';
import { HistoryEntryExistsError } from '../../core/model/errors.ts';
import type { HistoryEntry } from '../../core/ports.ts';

const m1 = { host: '10.0.0.1', port: 6379 };
const m2 = { host: '10.0.0.2', port: 6379 };

describe('DynamoStateStore on dynalite', () => {
  const server = dynalite({ createTableMs: 0 });
  let store: DynamoStateStore;
  let client: ReturnType<typeof localDynamoClient>;
  let n = 0;
  const cluster = () => {
    n += 1;
    return `c${n}`;
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    client = localDynamoClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await ensureStateTable(client, 'state');
    await ensureStateTable(client, 'state'); // idempotent
    store = new DynamoStateStore(client, 'state');
  });
  afterAll(async () => {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('claims an epoch once: a duplicate loses, a newer epoch wins, an older one is stale', async () => {
    const c = cluster();
    const claim = (epoch: number, token: string, master = m1) =>
      store.claimEpoch(c, { epoch, master, token, now: 1000, leaseMs: 60_000 });
    expect(await claim(1, 'a')).toEqual({ claimed: true });
    expect(await claim(1, 'b')).toMatchObject({
      claimed: false,
      reason: 'duplicate',
      current: { epoch: 1, token: 'a' },
    });
    expect(await claim(2, 'c', m2)).toEqual({ claimed: true });
    expect(await claim(1, 'd')).toMatchObject({
      claimed: false,
      reason: 'stale',
      current: { epoch: 2, master: m2 },
    });
    expect(await store.appliedEpoch(c)).toMatchObject({
      epoch: 2,
      master: m2,
      status: 'claimed',
      token: 'c',
    });
  });

  it('lets a retry take an epoch whose claim failed or whose lease ran out, but never a done one', async () => {
    const c = cluster();
    await store.claimEpoch(c, { epoch: 3, master: m1, token: 'a', now: 1000, leaseMs: 100 });
    expect(
      await store.claimEpoch(c, { epoch: 3, master: m1, token: 'b', now: 1050, leaseMs: 100 }),
    ).toMatchObject({ claimed: false });
    expect(await store.claimEpoch(c, { epoch: 3, master: m1, token: 'b', now: 1200, leaseMs: 100 })).toEqual({
      claimed: true,
    });
    await store.finishEpoch(c, 3, 'a', 'done'); // the stale owner's finish is ignored
    expect((await store.appliedEpoch(c))?.status).toBe('claimed');
    await store.finishEpoch(c, 3, 'b', 'failed');
    expect(await store.claimEpoch(c, { epoch: 3, master: m1, token: 'c', now: 1201, leaseMs: 100 })).toEqual({
      claimed: true,
    });
    await store.finishEpoch(c, 3, 'c', 'done');
    expect(
      await store.claimEpoch(c, { epoch: 3, master: m1, token: 'd', now: 99_999, leaseMs: 100 }),
    ).toMatchObject({
      claimed: false,
      reason: 'duplicate',
    });
  });

  it('keeps one vote per Sentinel and epoch, newest epochs first', async () => {
    const c = cluster();
    const s1 = { host: '127.0.0.1', port: 26379 };
    const s2 = { host: '127.0.0.1', port: 26380 };
    await store.recordVote(c, { epoch: 4, voter: s1, leaderRunId: 'aaa' });
    await store.recordVote(c, { epoch: 5, voter: s1, leaderRunId: 'bbb' });
    await store.recordVote(c, { epoch: 5, voter: s2, leaderRunId: 'bbb' });
    await store.recordVote(c, { epoch: 5, voter: s2, leaderRunId: 'bbb' }); // a redelivery
    expect(await store.votes(c)).toEqual([
      { epoch: 5, voter: s2, leaderRunId: 'bbb' },
      { epoch: 5, voter: s1, leaderRunId: 'bbb' },
      { epoch: 4, voter: s1, leaderRunId: 'aaa' },
    ]);
  });

  it('keeps pending fences per node and history newest first', async () => {
    const c = cluster();
    await store.addPendingFence(c, { node: m1, master: m2, epoch: 4, since: 1 });
    expect(await store.pendingFences(c)).toEqual([{ node: m1, master: m2, epoch: 4, since: 1 }]);
    await store.removePendingFence(c, m1);
    expect(await store.pendingFences(c)).toEqual([]);
    const entry = (id: string, startedAt: number): HistoryEntry => ({
      id,
      cluster: c,
      kind: 'failover',
      epoch: 1,
      oldMaster: m1,
      newMaster: m2,
      outcome: 'succeeded',
      trigger: '+switch-master',
      startedAt,
      durationMs: 5,
      timeline: [{ step: 'detected', at: startedAt, durationMs: 0, status: 'ok' }],
      bytesAtRisk: null,
    });
    await store.appendHistory(entry('x', 1000));
    await store.appendHistory(entry('y', 3000));
    await store.appendHistory(entry('z', 2000));
    expect((await store.listHistory(c, 10)).map((e) => e.id)).toEqual(['y', 'z', 'x']);
    expect((await store.listHistory(c, 2)).map((e) => e.id)).toEqual(['y', 'z']);
    await expect(store.appendHistory(entry('y', 3000))).rejects.toThrow(HistoryEntryExistsError);
  });
});

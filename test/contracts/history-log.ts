/** The contract of HistoryLog: append-only, newest first, bounded by the caller's limit. */
import { expect } from 'vitest';
import { HistoryEntryExistsError } from '../../core/model/errors.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import type { HistoryLog } from '../../core/ports.ts';
import { N1, N2 } from '../support/fixtures.ts';
import type { ContractCase } from './contract.ts';

/** A succeeded failover of `cluster`, started at `startedAt`. */
export const entry = (cluster: string, id: string, startedAt: number): HistoryEntry => ({
  id,
  cluster,
  kind: 'failover',
  epoch: 1,
  oldMaster: N1,
  newMaster: N2,
  outcome: 'succeeded',
  trigger: '+switch-master',
  startedAt,
  durationMs: 5,
  timeline: [{ step: 'detected', at: startedAt, durationMs: 0, status: 'ok' }],
  bytesAtRisk: null,
});

export const historyLogContract: ContractCase<HistoryLog>[] = [
  {
    name: 'has no history before the first entry',
    async run(history, { cluster }) {
      // Act
      const entries = await history.listHistory(cluster, 10);

      // Assert
      expect(entries).toEqual([]);
    },
  },
  {
    name: 'keeps an entry as appended',
    async run(history, { cluster }) {
      // Arrange
      const appended = { ...entry(cluster, 'x', 1000), writeGapMs: 320, error: 'n1 still accepts writes' };

      // Act
      await history.appendHistory(appended);

      // Assert
      expect(await history.listHistory(cluster, 10)).toEqual([appended]);
    },
  },
  {
    name: 'lists the newest first, as many as the limit',
    async run(history, { cluster }) {
      // Arrange
      await history.appendHistory(entry(cluster, 'x', 1000));
      await history.appendHistory(entry(cluster, 'y', 3000));
      await history.appendHistory(entry(cluster, 'z', 2000));

      // Act
      const all = await history.listHistory(cluster, 10);
      const two = await history.listHistory(cluster, 2);

      // Assert
      expect(all.map((e) => e.id)).toEqual(['y', 'z', 'x']);
      expect(two.map((e) => e.id)).toEqual(['y', 'z']);
    },
  },
  {
    name: 'lists entries of the same start time by id, descending',
    async run(history, { cluster }) {
      // Arrange
      await history.appendHistory(entry(cluster, 'b', 1000));
      await history.appendHistory(entry(cluster, 'c', 1000));
      await history.appendHistory(entry(cluster, 'a', 1000));

      // Act
      const entries = await history.listHistory(cluster, 10);

      // Assert
      expect(entries.map((e) => e.id)).toEqual(['c', 'b', 'a']);
    },
  },
  {
    name: 'refuses an entry whose id and start time are recorded already, and keeps the first',
    async run(history, { cluster }) {
      // Arrange
      await history.appendHistory(entry(cluster, 'y', 3000));

      // Act
      const again = history.appendHistory({ ...entry(cluster, 'y', 3000), outcome: 'failed' });

      // Assert
      await expect(again).rejects.toThrow(HistoryEntryExistsError);
      await expect(again).rejects.toThrow(`history entry y of ${cluster} (started 3000) is recorded already`);
      expect(await history.listHistory(cluster, 10)).toEqual([entry(cluster, 'y', 3000)]);
    },
  },
  {
    name: 'keeps entries of the same id with other start times',
    async run(history, { cluster }) {
      // Arrange
      await history.appendHistory(entry(cluster, 'y', 3000));

      // Act
      await history.appendHistory(entry(cluster, 'y', 4000));

      // Assert
      expect((await history.listHistory(cluster, 10)).map((e) => e.startedAt)).toEqual([4000, 3000]);
    },
  },
  {
    name: 'keeps clusters apart',
    async run(history, { cluster, other }) {
      // Arrange
      await history.appendHistory(entry(cluster, 'x', 1000));

      // Act
      await history.appendHistory(entry(other, 'x', 1000));

      // Assert
      expect(await history.listHistory(cluster, 10)).toEqual([entry(cluster, 'x', 1000)]);
      expect(await history.listHistory(other, 10)).toEqual([entry(other, 'x', 1000)]);
    },
  },
];

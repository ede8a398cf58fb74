/** The contract of PendingFences: one fence per node address, ordered by address. */
import { expect } from 'vitest';
import type { PendingFences } from '../../core/ports.ts';
import { N1, N2, N3, START } from '../support/fixtures.ts';
import type { ContractCase } from './contract.ts';

export const pendingFencesContract: ContractCase<PendingFences>[] = [
  {
    name: 'has no pending fence before the first',
    async run(fences, { cluster }) {
      // Act
      const pending = await fences.pendingFences(cluster);

      // Assert
      expect(pending).toEqual([]);
    },
  },
  {
    name: 'keeps one pending fence per node and removes it by address',
    async run(fences, { cluster }) {
      // Arrange
      await fences.addPendingFence(cluster, { node: N1, master: N2, epoch: 7, since: START });
      await fences.addPendingFence(cluster, { node: N1, master: N3, epoch: 8, since: START + 1 });

      // Act
      const before = await fences.pendingFences(cluster);
      await fences.removePendingFence(cluster, { host: N1.host, port: N1.port });

      // Assert
      expect(before).toEqual([{ node: N1, master: N3, epoch: 8, since: START + 1 }]);
      expect(await fences.pendingFences(cluster)).toEqual([]);
    },
  },
  {
    name: 'lists the fences ordered by node address',
    async run(fences, { cluster }) {
      // Arrange
      await fences.addPendingFence(cluster, { node: N3, master: N2, epoch: 7, since: START });
      await fences.addPendingFence(cluster, { node: N1, master: N2, epoch: 7, since: START });

      // Act
      const pending = await fences.pendingFences(cluster);

      // Assert
      expect(pending.map((f) => f.node)).toEqual([N1, N3]);
    },
  },
  {
    name: 'removes only the fence of the given node, and ignores a node without one',
    async run(fences, { cluster }) {
      // Arrange
      await fences.addPendingFence(cluster, { node: N1, master: N2, epoch: 7, since: START });

      // Act
      await fences.removePendingFence(cluster, N3);

      // Assert
      expect(await fences.pendingFences(cluster)).toEqual([{ node: N1, master: N2, epoch: 7, since: START }]);
    },
  },
  {
    name: 'keeps clusters apart',
    async run(fences, { cluster, other }) {
      // Arrange
      await fences.addPendingFence(cluster, { node: N1, master: N2, epoch: 7, since: START });

      // Act
      await fences.removePendingFence(other, N1);

      // Assert
      expect(await fences.pendingFences(cluster)).toHaveLength(1);
      expect(await fences.pendingFences(other)).toEqual([]);
    },
  },
];

/** The contract of LeaderVotes: one vote per (epoch, voter), the newest epochs first, a bounded read. */
import { expect } from 'vitest';
import { LEADER_VOTES_READ_LIMIT } from '../../core/model/limits.ts';
import type { LeaderVotes } from '../../core/ports.ts';
import type { ContractCase } from './contract.ts';

const S1 = { host: '10.0.1.11', port: 26379 };
const S2 = { host: '10.0.1.12', port: 26379 };
const S3 = { host: '10.0.1.13', port: 26379 };

export const leaderVotesContract: ContractCase<LeaderVotes>[] = [
  {
    name: 'has no votes before the first',
    async run(votes, { cluster }) {
      // Act
      const recorded = await votes.votes(cluster);

      // Assert
      expect(recorded).toEqual([]);
    },
  },
  {
    name: 'keeps one vote per Sentinel and epoch, the last one recorded',
    async run(votes, { cluster }) {
      // Arrange
      await votes.recordVote(cluster, { epoch: 5, voter: S1, leaderRunId: 'aaa' });
      await votes.recordVote(cluster, { epoch: 5, voter: S1, leaderRunId: 'aaa' }); // a redelivery

      // Act
      await votes.recordVote(cluster, { epoch: 5, voter: S1, leaderRunId: 'bbb' });

      // Assert
      expect(await votes.votes(cluster)).toEqual([{ epoch: 5, voter: S1, leaderRunId: 'bbb' }]);
    },
  },
  {
    name: 'lists the newest epochs first, and within an epoch by voter address, descending',
    async run(votes, { cluster }) {
      // Arrange
      await votes.recordVote(cluster, { epoch: 4, voter: S1, leaderRunId: 'aaa' });
      await votes.recordVote(cluster, { epoch: 5, voter: S1, leaderRunId: 'bbb' });
      await votes.recordVote(cluster, { epoch: 5, voter: S3, leaderRunId: 'bbb' });
      await votes.recordVote(cluster, { epoch: 5, voter: S2, leaderRunId: 'bbb' });
      await votes.recordVote(cluster, { epoch: 5, voter: S3, leaderRunId: 'bbb' }); // a redelivery

      // Act
      const recorded = await votes.votes(cluster);

      // Assert
      expect(recorded).toEqual([
        { epoch: 5, voter: S3, leaderRunId: 'bbb' },
        { epoch: 5, voter: S2, leaderRunId: 'bbb' },
        { epoch: 5, voter: S1, leaderRunId: 'bbb' },
        { epoch: 4, voter: S1, leaderRunId: 'aaa' },
      ]);
    },
  },
  {
    name: `returns at most the ${LEADER_VOTES_READ_LIMIT} newest votes`,
    async run(votes, { cluster }) {
      // Arrange
      const epochs = Array.from({ length: LEADER_VOTES_READ_LIMIT + 2 }, (_, i) => i + 1);
      for (const epoch of epochs) await votes.recordVote(cluster, { epoch, voter: S1, leaderRunId: 'aaa' });

      // Act
      const recorded = await votes.votes(cluster);

      // Assert
      expect(recorded.map((v) => v.epoch)).toEqual(epochs.toReversed().slice(0, LEADER_VOTES_READ_LIMIT));
    },
  },
  {
    name: 'keeps clusters apart',
    async run(votes, { cluster, other }) {
      // Arrange
      await votes.recordVote(cluster, { epoch: 5, voter: S1, leaderRunId: 'aaa' });

      // Act
      await votes.recordVote(other, { epoch: 5, voter: S1, leaderRunId: 'bbb' });

      // Assert
      expect(await votes.votes(cluster)).toEqual([{ epoch: 5, voter: S1, leaderRunId: 'aaa' }]);
      expect(await votes.votes(other)).toEqual([{ epoch: 5, voter: S1, leaderRunId: 'bbb' }]);
    },
  },
];

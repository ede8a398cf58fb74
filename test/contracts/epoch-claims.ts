/** The contract of EpochClaims: one winner per epoch, newer epochs win, a done epoch is never given again. */
import { expect } from 'vitest';
import type { Endpoint } from '../../core/model/cluster.ts';
import type { EpochClaim } from '../../core/model/records.ts';
import type { EpochClaims } from '../../core/ports.ts';
import { N1, N2, N3, START } from '../support/fixtures.ts';
import type { ContractCase } from './contract.ts';

/** A claim of `epoch` with a lease of 1000 ms from `now`. */
const claim = (epoch: number, token: string, now = START, master: Endpoint = N2): EpochClaim => ({
  epoch,
  master,
  token,
  now,
  leaseMs: 1000,
});

export const epochClaimsContract: ContractCase<EpochClaims>[] = [
  {
    name: 'has no applied epoch before the first claim',
    async run(claims, { cluster }) {
      // Act
      const applied = await claims.appliedEpoch(cluster);

      // Assert
      expect(applied).toBeUndefined();
    },
  },
  {
    name: 'lets the first claim of a cluster win',
    async run(claims, { cluster }) {
      // Act
      const result = await claims.claimEpoch(cluster, claim(7, 'a'));

      // Assert
      expect(result).toEqual({ claimed: true });
      expect(await claims.appliedEpoch(cluster)).toEqual({
        epoch: 7,
        master: N2,
        status: 'claimed',
        token: 'a',
        leaseUntil: START + 1000,
      });
    },
  },
  {
    name: 'gives one epoch to exactly one of two concurrent claims',
    async run(claims, { cluster }) {
      // Act
      const results = await Promise.all([
        claims.claimEpoch(cluster, claim(7, 'a')),
        claims.claimEpoch(cluster, claim(7, 'b')),
      ]);

      // Assert
      const winners = results.flatMap((r, i) => (r.claimed ? [['a', 'b'][i]] : []));
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => !r.claimed)).toEqual([
        {
          claimed: false,
          reason: 'duplicate',
          current: expect.objectContaining({ epoch: 7, token: winners[0] }),
        },
      ]);
      expect(await claims.appliedEpoch(cluster)).toMatchObject({
        epoch: 7,
        status: 'claimed',
        token: winners[0],
      });
    },
  },
  {
    name: 'lets a newer epoch win over a claim in progress',
    async run(claims, { cluster }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(7, 'a'));

      // Act
      const result = await claims.claimEpoch(cluster, claim(8, 'b', START, N3));

      // Assert
      expect(result).toEqual({ claimed: true });
      expect(await claims.appliedEpoch(cluster)).toMatchObject({ epoch: 8, master: N3, token: 'b' });
    },
  },
  {
    name: "refuses the same epoch while its claim holds a lease, as 'duplicate'",
    async run(claims, { cluster }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(7, 'a'));

      // Act
      const result = await claims.claimEpoch(cluster, claim(7, 'b', START + 999));

      // Assert
      expect(result).toMatchObject({ claimed: false, reason: 'duplicate', current: { token: 'a' } });
    },
  },
  {
    name: 'holds a claim whose lease ends exactly at now, and changes nothing when it refuses',
    async run(claims, { cluster }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(7, 'a'));

      // Act
      const result = await claims.claimEpoch(cluster, claim(7, 'b', START + 1000, N3));

      // Assert
      expect(result).toEqual({
        claimed: false,
        reason: 'duplicate',
        current: { epoch: 7, master: N2, status: 'claimed', token: 'a', leaseUntil: START + 1000 },
      });
      expect(await claims.appliedEpoch(cluster)).toMatchObject({ token: 'a', leaseUntil: START + 1000 });
    },
  },
  {
    name: 'refuses the same claim again (same token) while it holds',
    async run(claims, { cluster }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(7, 'a'));

      // Act
      const result = await claims.claimEpoch(cluster, claim(7, 'a', START + 1));

      // Assert
      expect(result).toMatchObject({ claimed: false, reason: 'duplicate', current: { token: 'a' } });
    },
  },
  {
    name: 'gives the same epoch to a retry once its lease has run out, judged at the given now',
    async run(claims, { cluster }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(7, 'a'));

      // Act
      const result = await claims.claimEpoch(cluster, claim(7, 'b', START + 1001));

      // Assert
      expect(result).toEqual({ claimed: true });
      expect(await claims.appliedEpoch(cluster)).toMatchObject({
        epoch: 7,
        status: 'claimed',
        token: 'b',
        leaseUntil: START + 2001,
      });
    },
  },
  {
    name: 'gives the same epoch to a retry once its claim finished as failed',
    async run(claims, { cluster }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(7, 'a'));
      await claims.finishEpoch(cluster, 7, 'a', 'failed');

      // Act
      const result = await claims.claimEpoch(cluster, claim(7, 'b'));

      // Assert
      expect(result).toEqual({ claimed: true });
    },
  },
  {
    name: "never gives a done epoch again, even after its lease, as 'duplicate'",
    async run(claims, { cluster }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(7, 'a'));
      await claims.finishEpoch(cluster, 7, 'a', 'done');

      // Act
      const result = await claims.claimEpoch(cluster, claim(7, 'b', START + 10_000));

      // Assert
      expect(result).toMatchObject({ claimed: false, reason: 'duplicate', current: { status: 'done' } });
    },
  },
  {
    name: "refuses an older epoch as 'stale', whatever the status",
    async run(claims, { cluster }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(8, 'a'));
      await claims.finishEpoch(cluster, 8, 'a', 'failed');

      // Act
      const result = await claims.claimEpoch(cluster, claim(7, 'b', START + 10_000, N1));

      // Assert
      expect(result).toMatchObject({ claimed: false, reason: 'stale', current: { epoch: 8 } });
    },
  },
  {
    name: 'reports a finished epoch as done or failed, keeping its lease',
    async run(claims, { cluster, other }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(7, 'a'));
      await claims.claimEpoch(other, claim(3, 'b'));

      // Act
      await claims.finishEpoch(cluster, 7, 'a', 'done');
      await claims.finishEpoch(other, 3, 'b', 'failed');

      // Assert
      expect(await claims.appliedEpoch(cluster)).toEqual({
        epoch: 7,
        master: N2,
        status: 'done',
        token: 'a',
        leaseUntil: START + 1000,
      });
      expect(await claims.appliedEpoch(other)).toMatchObject({ epoch: 3, status: 'failed', token: 'b' });
    },
  },
  {
    name: 'finishes only the claim whose epoch and token it is given',
    async run(claims, { cluster }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(7, 'a'));
      await claims.claimEpoch(cluster, claim(8, 'b'));

      // Act
      await claims.finishEpoch(cluster, 7, 'a', 'done');
      await claims.finishEpoch(cluster, 8, 'a', 'done');

      // Assert
      expect(await claims.appliedEpoch(cluster)).toMatchObject({ epoch: 8, status: 'claimed' });
    },
  },
  {
    name: 'ignores a finish when the cluster has no claim',
    async run(claims, { cluster }) {
      // Act
      await claims.finishEpoch(cluster, 7, 'a', 'done');

      // Assert
      expect(await claims.appliedEpoch(cluster)).toBeUndefined();
    },
  },
  {
    name: 'keeps clusters apart',
    async run(claims, { cluster, other }) {
      // Arrange
      await claims.claimEpoch(cluster, claim(9, 'a'));

      // Act
      const result = await claims.claimEpoch(other, claim(1, 'b'));

      // Assert
      expect(result).toEqual({ claimed: true });
      expect(await claims.appliedEpoch(cluster)).toMatchObject({ epoch: 9, token: 'a' });
    },
  },
];

/** The contract of ClusterLeases: one holder at a time, expiry judged at the caller's now, owner-only release. */
import { expect } from 'vitest';
import type { ClusterLease } from '../../core/model/records.ts';
import type { ClusterLeases } from '../../core/ports.ts';
import { START } from '../support/fixtures.ts';
import type { ContractCase } from './contract.ts';

/** A lease of `owner` until START + 30 s. */
const leaseOf = (owner: string, until = START + 30_000): ClusterLease => ({
  owner,
  purpose: 'switchover',
  until,
});

export const clusterLeasesContract: ContractCase<ClusterLeases>[] = [
  {
    name: 'has no lease before the first is taken',
    async run(leases, { cluster }) {
      // Act
      const held = await leases.lease(cluster);

      // Assert
      expect(held).toBeUndefined();
    },
  },
  {
    name: 'gives a free lease to whoever asks',
    async run(leases, { cluster }) {
      // Act
      const result = await leases.takeLease(cluster, leaseOf('switchover-1'), START);

      // Assert
      expect(result).toEqual({ taken: true });
      expect(await leases.lease(cluster)).toEqual(leaseOf('switchover-1'));
    },
  },
  {
    name: 'refuses another owner while the lease is unexpired at now, up to its last millisecond',
    async run(leases, { cluster }) {
      // Arrange
      await leases.takeLease(cluster, leaseOf('switchover-1'), START);

      // Act
      const before = await leases.takeLease(
        cluster,
        { ...leaseOf('maintenance-2'), purpose: 'maintenance' },
        START,
      );
      const atEnd = await leases.takeLease(cluster, leaseOf('maintenance-2'), START + 30_000);

      // Assert
      expect(before).toEqual({ taken: false, holder: leaseOf('switchover-1') });
      expect(atEnd).toEqual({ taken: false, holder: leaseOf('switchover-1') });
      expect(await leases.lease(cluster)).toEqual(leaseOf('switchover-1'));
    },
  },
  {
    name: 'gives an expired lease to another owner, judged at the given now',
    async run(leases, { cluster }) {
      // Arrange
      await leases.takeLease(cluster, leaseOf('switchover-1'), START);

      // Act
      const result = await leases.takeLease(
        cluster,
        leaseOf('maintenance-2', START + 90_000),
        START + 30_001,
      );

      // Assert
      expect(result).toEqual({ taken: true });
      expect(await leases.lease(cluster)).toEqual(leaseOf('maintenance-2', START + 90_000));
    },
  },
  {
    name: 'renews the lease for its owner, expired or not',
    async run(leases, { cluster }) {
      // Arrange
      await leases.takeLease(cluster, leaseOf('switchover-1'), START);

      // Act
      const renewed = await leases.takeLease(
        cluster,
        leaseOf('switchover-1', START + 60_000),
        START + 10_000,
      );
      const shortened = await leases.takeLease(
        cluster,
        leaseOf('switchover-1', START + 20_000),
        START + 70_000,
      );

      // Assert
      expect(renewed).toEqual({ taken: true });
      expect(shortened).toEqual({ taken: true });
      expect(await leases.lease(cluster)).toEqual(leaseOf('switchover-1', START + 20_000));
    },
  },
  {
    name: 'shows an expired lease as stored (the caller judges expiry)',
    async run(leases, { cluster }) {
      // Arrange
      await leases.takeLease(cluster, leaseOf('switchover-1', START - 1), START - 10);

      // Act
      const held = await leases.lease(cluster);

      // Assert
      expect(held).toEqual(leaseOf('switchover-1', START - 1));
    },
  },
  {
    name: "leaves the lease alone when another owner releases it, and removes it on its owner's release",
    async run(leases, { cluster }) {
      // Arrange
      await leases.takeLease(cluster, leaseOf('switchover-1'), START);

      // Act
      await leases.releaseLease(cluster, 'maintenance-2');
      const afterOther = await leases.lease(cluster);
      await leases.releaseLease(cluster, 'switchover-1');
      await leases.releaseLease(cluster, 'switchover-1'); // idempotent

      // Assert
      expect(afterOther).toEqual(leaseOf('switchover-1'));
      expect(await leases.lease(cluster)).toBeUndefined();
      expect(await leases.takeLease(cluster, leaseOf('maintenance-2'), START)).toEqual({ taken: true });
    },
  },
  {
    name: 'keeps clusters apart',
    async run(leases, { cluster, other }) {
      // Arrange
      await leases.takeLease(cluster, leaseOf('switchover-1'), START);

      // Act
      const result = await leases.takeLease(other, leaseOf('switchover-2'), START);
      await leases.releaseLease(other, 'switchover-1');

      // Assert
      expect(result).toEqual({ taken: true });
      expect(await leases.lease(cluster)).toEqual(leaseOf('switchover-1'));
      expect(await leases.lease(other)).toEqual(leaseOf('switchover-2'));
    },
  },
];

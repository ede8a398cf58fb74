/** Every state port's contract table, run against one implementation of them all (a StateStore). */
import type { StateStore } from '../../core/ports.ts';
import { clusterLeasesContract } from './cluster-leases.ts';
import { runContract } from './contract.ts';
import { epochClaimsContract } from './epoch-claims.ts';
import { historyLogContract } from './history-log.ts';
import { leaderVotesContract } from './leader-votes.ts';
import { maintenanceModesContract } from './maintenance-modes.ts';
import { pendingFencesContract } from './pending-fences.ts';

/** Register the contract tests of the six state ports on the store `subject()` returns (once per case). */
export function runStatePortContracts(name: string, subject: () => StateStore): void {
  runContract(`${name} keeps the EpochClaims contract`, epochClaimsContract, subject);
  runContract(`${name} keeps the LeaderVotes contract`, leaderVotesContract, subject);
  runContract(`${name} keeps the ClusterLeases contract`, clusterLeasesContract, subject);
  runContract(`${name} keeps the PendingFences contract`, pendingFencesContract, subject);
  runContract(`${name} keeps the HistoryLog contract`, historyLogContract, subject);
  runContract(`${name} keeps the MaintenanceModes contract`, maintenanceModesContract, subject);
}

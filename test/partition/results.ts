/**
 * What a partition run measured: the result types, each writer's side of it (acknowledged and lost writes
 * before, during and after the partition), and the compact table of the runs for the CI log.
 */
import type { Endpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import type { UpOptions } from '../../local/launcher.ts';
import type { WriterReport } from './writer.ts';

/** See `SideResult.ackedIsolated`. */
const ISOLATION_SLACK_MS = 100;

/** Which setup a run measures. */
export interface System {
  name: string;
  minReplicasToWrite: number;
  minReplicasMaxLag: number;
  routing: NonNullable<UpOptions['routing']>;
}

export interface SideResult {
  acked: number;
  lost: number;
  /** Lost writes by when they were acknowledged. */
  lostBeforeCut: number;
  lostDuringPartition: number;
  lostAfterHeal: number;
  ackedDuringPartition: number;
  /**
   * Writes acknowledged once the cut was certainly in place (from `ISOLATION_SLACK_MS` after `ip link set down`
   * returned, until the heal), and how many of them are lost. A write whose replication left just before the cut
   * can be acknowledged a moment after it.
   */
  ackedIsolated: number;
  lostIsolated: number;
  /** The last write acknowledged during the partition, in ms after the cut (null: none). */
  lastAckDuringPartitionMs: number | null;
  /** The first write after the heal that is on the final master, in ms after the heal (null: none). */
  firstKeptAckAfterHealMs: number | null;
  /** The longest stretch without an acknowledged write, from the cut on. */
  longestGapMs: number;
  /** When that stretch ended (writes acknowledged again), in ms after the cut. */
  writesBackAfterCutMs: number;
  /** The last write acknowledged after the heal and then lost, in ms after the heal (null: none). */
  lastLostAckAfterHealMs: number | null;
  errors: WriterReport['errors'];
}

export interface RunResult {
  system: System;
  /** Processes not running as the program, or not in their host's namespace (expected: none). */
  misplaced: string[];
  /** Just before the link went down, and when `ip link set down` returned. */
  cutAt: number;
  cutDoneAt: number;
  healAt: number;
  /** ms from the heal until one master with both replicas online and the old master a replica. */
  convergedAfterHealMs: number;
  finalMaster: Endpoint;
  oldMasterRole: string;
  minority: SideResult;
  majority: SideResult;
  history: HistoryEntry[];
}

/** One writer's side of a run, from its report, the lost keys, the cut and the heal. */
export function side(
  report: WriterReport,
  lostKeys: Set<string>,
  cut: { at: number; doneAt: number },
  healAt: number,
): SideResult {
  const cutAt = cut.at;
  const acks = report.acked.map((seq, i) => ({
    t: report.ackedAt[i] as number,
    lost: lostKeys.has(`${report.prefix}:${seq}`),
  }));
  const during = acks.filter((a) => a.t >= cutAt && a.t < healAt);
  const isolated = during.filter((a) => a.t >= cut.doneAt + ISOLATION_SLACK_MS);
  const afterCut = acks.filter((a) => a.t >= cutAt);
  const keptAfterHeal = acks.find((a) => a.t >= healAt && !a.lost);
  let longestGapMs = 0;
  let gapEnd = cutAt;
  let previous = acks.filter((a) => a.t < cutAt).pop()?.t ?? cutAt;
  for (const a of afterCut) {
    if (a.t - previous > longestGapMs) {
      longestGapMs = a.t - previous;
      gapEnd = a.t;
    }
    previous = a.t;
  }
  const lostAfterHeal = acks.filter((a) => a.lost && a.t >= healAt);
  const lastLostAfterHeal = lostAfterHeal[lostAfterHeal.length - 1];
  const last = during[during.length - 1];
  return {
    acked: acks.length,
    lost: acks.filter((a) => a.lost).length,
    lostBeforeCut: acks.filter((a) => a.lost && a.t < cutAt).length,
    lostDuringPartition: during.filter((a) => a.lost).length,
    lostAfterHeal: lostAfterHeal.length,
    ackedDuringPartition: during.length,
    ackedIsolated: isolated.length,
    lostIsolated: isolated.filter((a) => a.lost).length,
    lastAckDuringPartitionMs: last ? last.t - cutAt : null,
    firstKeptAckAfterHealMs: keptAfterHeal ? keptAfterHeal.t - healAt : null,
    longestGapMs,
    writesBackAfterCutMs: gapEnd - cutAt,
    lastLostAckAfterHealMs: lastLostAfterHeal ? lastLostAfterHeal.t - healAt : null,
    errors: report.errors,
  };
}

const seconds = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

/** A compact table of the runs, for the CI log. */
export function resultsTable(results: RunResult[]): string {
  const rows = [
    [
      'system',
      'old master acked: after cut',
      'after heal',
      'minority acked/lost',
      'majority gap',
      'majority acked/lost',
      'one master after heal',
      'minority writes kept after heal',
    ],
    ...results.map((r) => [
      r.system.name,
      seconds(r.minority.lastAckDuringPartitionMs),
      r.minority.lastLostAckAfterHealMs === null ? 'none' : seconds(r.minority.lastLostAckAfterHealMs),
      `${r.minority.acked}/${r.minority.lost}`,
      `${seconds(r.majority.longestGapMs)} (back +${seconds(r.majority.writesBackAfterCutMs)})`,
      `${r.majority.acked}/${r.majority.lost}`,
      `+${seconds(r.convergedAfterHealMs)}`,
      r.minority.firstKeptAckAfterHealMs === null ? 'no' : `+${seconds(r.minority.firstKeptAckAfterHealMs)}`,
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')).join('\n');
}

import { recordAndNotify } from '../history.ts';
import type { ClusterConfig } from '../model/cluster.ts';
import type { HistoryEntry } from '../model/records.ts';
import type { Timeline } from '../model/timeline.ts';
import type { CorePorts } from '../ports.ts';

/** The history entry of a reaction (or a deferred fence), and how the reaction records it. */

/** The history entry of a reaction that `trigger` started, with the steps of `timeline`. */
export function historyEntry(
  cluster: ClusterConfig,
  deps: CorePorts,
  timeline: Timeline,
  trigger: { type: string; seenAt: number },
  fields: Pick<
    HistoryEntry,
    'epoch' | 'oldMaster' | 'newMaster' | 'outcome' | 'bytesAtRisk' | 'error' | 'startedBy'
  > & {
    kind?: HistoryEntry['kind'];
  },
): HistoryEntry {
  const startedAt = timeline.steps[0]?.at ?? trigger.seenAt;
  const { kind = 'failover', ...rest } = fields;
  return {
    id: deps.newId(),
    cluster: cluster.name,
    kind,
    trigger: trigger.type,
    startedAt,
    durationMs: deps.clock.now() - startedAt,
    timeline: [...timeline.steps],
    ...rest,
  };
}

/** Record and notify as the reaction does: the record timed, the maintenance mode noted, the summary logged. */
export const recordReaction = (deps: CorePorts, entry: HistoryEntry, summary: string): Promise<void> =>
  recordAndNotify(deps, entry, summary, { asReaction: true });

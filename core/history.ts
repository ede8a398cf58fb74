import { errorMessage, HistoryEntryExistsError } from './model/errors.ts';
import type { HistoryEntry } from './model/records.ts';
import { formatTimeline, Timeline } from './model/timeline.ts';
import type { CorePorts } from './ports.ts';

/**
 * How every use case ends: the history entry first (the durable record), then the notification. A
 * notification failure is logged and never fails the caller.
 */

/** What differs between the callers of `recordAndNotify`; each defaults to off. */
export interface RecordOptions {
  /**
   * The failover reaction's extras: it has no execution history of its own, so the record is timed as a
   * `recorded` step, the summary says whether the cluster was in maintenance, and the summary is logged with
   * the entry's timeline. The workflows (switchover, maintenance) leave these off.
   */
  asReaction?: boolean;
  /**
   * A workflow's last step that runs again (its answer was lost) finds its own entry recorded: warn with
   * this and keep that record. Without it, an existing entry fails the call.
   */
  ifRecordedAlready?: { warning: string; attributes: Record<string, unknown> };
}

/** Record `entry` in the history, then publish `summary` with it. */
export async function recordAndNotify(
  deps: Pick<CorePorts, 'state' | 'notifier' | 'logger' | 'clock'>,
  entry: HistoryEntry,
  summary: string,
  options: RecordOptions = {},
): Promise<void> {
  const { asReaction = false, ifRecordedAlready } = options;
  try {
    if (asReaction) {
      const timeline = new Timeline(deps.clock, deps.logger, { cluster: entry.cluster });
      await timeline.run('recorded', () => deps.state.appendHistory(entry));
    } else {
      await deps.state.appendHistory(entry);
    }
  } catch (error) {
    if (!(ifRecordedAlready && error instanceof HistoryEntryExistsError)) throw error;
    deps.logger.warn(ifRecordedAlready.warning, ifRecordedAlready.attributes);
  }
  const note = asReaction ? await maintenanceNote(deps, entry.cluster) : '';
  try {
    await deps.notifier.publish({
      cluster: entry.cluster,
      kind: entry.kind,
      outcome: entry.outcome,
      summary: `${summary}${note}`,
      entry,
    });
  } catch (error) {
    deps.logger.error('notification failed', { cluster: entry.cluster, error: errorMessage(error) });
  }
  if (asReaction) {
    // kind/outcome/epoch: the dashboard's per-cluster table reads them (Logs Insights).
    deps.logger.info(summary, {
      cluster: entry.cluster,
      kind: entry.kind,
      outcome: entry.outcome,
      ...(entry.epoch !== undefined ? { epoch: entry.epoch } : {}),
      timeline: formatTimeline(entry.timeline),
    });
  }
}

/**
 * Whether the cluster was in maintenance (paused), for the notification: the reaction runs either way, and a
 * mode that cannot be read is said to be unknown rather than holding the notification up.
 */
async function maintenanceNote(deps: Pick<CorePorts, 'state'>, cluster: string): Promise<string> {
  try {
    const mode = await deps.state.maintenanceMode(cluster);
    if (!mode?.paused) return '';
    return `; the cluster was in maintenance (paused by ${mode.by}${mode.reason ? `: ${mode.reason}` : ''})`;
  } catch (error) {
    return `; maintenance mode unknown (${errorMessage(error)})`;
  }
}

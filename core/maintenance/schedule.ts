import type { MaintenanceMode } from '../model/records.ts';

/**
 * Whether a scheduled maintenance run goes ahead: not while the cluster is paused, not inside a freeze window.
 * Pure: the handler reads the config and the mode, and passes the scheduled time and now.
 */

/** A freeze window as configured: absolute instants (ISO 8601 with an offset), so time zones do not matter. */
export interface FreezeWindow {
  start: string;
  end: string;
  reason: string;
}

/** The parts of a cluster's `maintenance` block a decision reads. */
export interface ScheduleMaintenanceConfig {
  freezeWindows: readonly FreezeWindow[];
}

export interface ScheduledRunInput {
  cluster: string;
  /** The schedule's name in the config. */
  schedule: string;
  maintenance: ScheduleMaintenanceConfig;
  /** The cluster's maintenance mode; undefined = never set (running). */
  mode: MaintenanceMode | undefined;
  /** When EventBridge Scheduler meant the run to happen (epoch ms): a retry carries the same time. */
  scheduledAt: number;
  /** When the decision is taken (epoch ms). */
  now: number;
}

export type ScheduledRunDecision =
  | { run: true; executionName: string }
  | { run: false; reason: string; executionName: string };

/** Step Functions execution names: [A-Za-z0-9_-], at most 80 characters. */
const EXECUTION_NAME_MAX = 80;

/** `2025-03-02T03:00:00.000Z` -> `20250302T0300Z`: the minute a schedule fires (its cron has minutes at most). */
export function compactMinute(at: number): string {
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}

/**
 * `sched-<cluster>-<schedule>-<yyyymmddThhmmZ>`: the same schedule at the same scheduled time always gets the same
 * name, so a retried invocation starts no second execution. Cluster and schedule are shortened so that the
 * whole fits in 80 characters (the time is always kept whole).
 */
export function scheduledExecutionName(cluster: string, schedule: string, scheduledAt: number): string {
  const time = compactMinute(scheduledAt);
  const room = EXECUTION_NAME_MAX - 'sched-'.length - 2 - time.length;
  const clusterPart = safe(cluster).slice(0, Math.min(cluster.length, Math.ceil(room / 2)));
  const schedulePart = safe(schedule).slice(0, room - clusterPart.length);
  return `sched-${clusterPart}-${schedulePart}-${time}`;
}

const safe = (text: string) => text.replace(/[^A-Za-z0-9_-]/g, '_');

const at = (ms: number) => new Date(ms).toISOString();

/** The freeze window that contains `instant`: start inclusive, end exclusive. */
export function freezeWindowAt(windows: readonly FreezeWindow[], instant: number): FreezeWindow | undefined {
  return windows.find((w) => Date.parse(w.start) <= instant && instant < Date.parse(w.end));
}

/**
 * Decide a scheduled run: 1. paused -> skip, saying by whom and why 2. inside a freeze window (at the scheduled
 * time, or now for a late delivery) -> skip, naming the window 3. else run, under the stable execution name.
 */
export function decideScheduledRun(input: ScheduledRunInput): ScheduledRunDecision {
  const executionName = scheduledExecutionName(input.cluster, input.schedule, input.scheduledAt);
  const what = `scheduled maintenance '${input.schedule}' of ${input.cluster} at ${at(input.scheduledAt)}`;
  if (input.mode?.paused) {
    const { by, at: since, reason } = input.mode;
    return {
      run: false,
      executionName,
      reason: `${what} skipped: maintenance is paused since ${at(since)} by ${by}${reason ? ` (${reason})` : ''}; resume with 'ha-redis maintenance resume --cluster ${input.cluster}'`,
    };
  }
  for (const instant of [input.scheduledAt, input.now]) {
    const window = freezeWindowAt(input.maintenance.freezeWindows, instant);
    if (window) {
      const when = instant === input.scheduledAt ? 'it falls' : `it was delivered late, at ${at(instant)},`;
      return {
        run: false,
        executionName,
        reason: `${what} skipped: ${when} inside the freeze window ${window.start} - ${window.end} (${window.reason})`,
      };
    }
  }
  return { run: true, executionName };
}

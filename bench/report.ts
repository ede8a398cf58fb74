/** The benchmark report: its JSON shape (DESIGN.md), summary statistics and the markdown table. */
import { execFile } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import { promisify } from 'node:util';
import type { TimelineStep } from '../core/model/timeline.ts';
import { type FleetRun, renderFleet } from './fleet/fleet-report.ts';
import { percentile, type Summary } from './stats.ts';

// The statistics moved to stats.ts (the fleet report uses them too); their importers keep importing them from here.
export { percentile, type Summary, summarize } from './stats.ts';

/** A latency over the runs: median and worst, in milliseconds. */
export interface Spread {
  p50: number;
  max: number;
  /** Runs that produced a value (a run can lack one, e.g. no history entry). */
  n: number;
}

/** What one system measured in one run. */
export interface RunSample {
  run: number;
  gapMs: number;
  acked: number;
  lost: number;
  /** The first few lost keys (`<prefix>:<writer>:<seq>`), to see which writes went missing. */
  lostKeys?: string[];
  /** Write attempts that failed (errors, timeouts) while the writers retried. */
  failed: number;
  /** Acknowledged writes per second in the second before the fault or the procedure: the load reached. */
  opsPerSec?: number;
  /** zombie, restart: lost writes acknowledged after the old master came back (the ones it took). */
  lostAfterReturn?: number;
  /**
   * Master faults: lost writes acknowledged more than 100 ms after the fault, so not by the dying master just
   * before it went (asynchronous replication): writes the system sent to a master that was not the final one.
   */
  lostAfterFault?: number;
  /** kill-master: first acknowledged write after the outage, minus the first promotion event. */
  recoveryAfterPromotionMs?: number | null;
  rerouteAfterPromotionMs?: number | null;
  /** ha-redis only: first acknowledged write after the outage, minus the end of the reroute. */
  recoveryAfterRerouteMs?: number | null;
  rerouteAfterSwitchMasterMs?: number | null;
  fenceMs?: number | null;
  outcome?: string;
  /** switchover: the procedure, from its first action to its last (workflow start to end, FAILOVER to demotion...). */
  procedureMs?: number;
  /** switchover: when the longest write gap began, relative to the start of the procedure. */
  gapStartMs?: number;
  /** switchover: writes acknowledged between the start and the end of the procedure. */
  ackedDuringProcedure?: number;
  /** switchover, ha-redis: the workflow's own `writeGapMs` (writes blocked until rerouted). */
  workflowWriteGapMs?: number;
  /** switchover, classic-careful: how long `WAIT` took on the paused master. */
  waitMs?: number;
  /** switchover: `SENTINEL FAILOVER` until a Sentinel's GET-MASTER-ADDR-BY-NAME names the new master. */
  namedAfterFailoverMs?: number | null;
  /** switchover, naive: `SENTINEL FAILOVER` until the old master answers ROLE slave (null: not within the cap). */
  oldMasterDemotedAfterFailoverMs?: number | null;
  /** Master faults, ha-redis: its history entry's steps and the clients' outage, in ms after the fault (a chart). */
  failover?: { steps: TimelineStep[]; outage: { from: number; to: number } | null };
}

/** One row of the report: a scenario (with its settings) and one system measured in it. */
export interface ScenarioRow {
  name: string;
  system: string;
  /** Runs that completed (failed runs are in `errors`). */
  runs: number;
  gapMs: Summary;
  /** Acknowledged writes, summed over the runs. */
  acked: number;
  /** Acknowledged writes missing on the final master, summed over the runs. */
  lost: number;
  /** zombie, restart: of `lost`, those acknowledged after the old master came back. */
  lostAfterReturn?: number;
  downAfterMs: number;
  writers: number;
  /** The load when it is not the default (see bench/load-profile.ts). */
  load?: { valueBytes: number; pipeline: number; datasetBytes: number };
  opsPerSec?: Spread;
  /** First +failover-state-wait-promotion / +promoted-slave after the kill. */
  promotionAfterKillMs?: Spread;
  /** First +switch-master after the kill. */
  switchMasterAfterKillMs?: Spread;
  recoveryAfterPromotionMs?: Spread;
  /** ha-redis only: every HAProxy rerouted (history step `rerouted` end) minus the first promotion event. */
  rerouteAfterPromotionMs?: Spread;
  rerouteAfterSwitchMasterMs?: Spread;
  recoveryAfterRerouteMs?: Spread;
  /** ha-redis only: history step `fenced` end minus the first promotion event. */
  fenceMs?: Spread;
  /** kill, zombie, restart: runs in which Sentinel failed over more than once after the fault. */
  runsWithTwoFailovers?: number;
  /** switchover, ha-redis: the workflow's `writeGapMs` (blocked to rerouted). */
  workflowWriteGapMs?: Summary;
  /** switchover: see RunSample. */
  procedureMs?: Spread;
  /** switchover: writes acknowledged during the procedures, summed over the runs. */
  ackedDuringProcedure?: number;
  waitMs?: Spread;
  namedAfterFailoverMs?: Spread;
  oldMasterDemotedAfterFailoverMs?: Spread;
  /** fleet: the simulation's whole report (these rows have their own tables). */
  fleet?: FleetRun;
  /** host-failure: each service's numbers, and across the services (these rows have their own table). */
  perService?: PerService;
  samples: RunSample[];
  errors: string[];
}

/** host-failure: what one system measured for one service of the set in one run. */
export interface ServiceSample {
  /** The service's number in its set (1 ...). */
  service: number;
  run: number;
  /** The longest stretch with no acknowledged write, for the worse of the service's writers of this system. */
  gapMs: number;
  acked: number;
  /** Acknowledged writes missing on the service's new master: plain acks and WAIT 1 together. */
  lost: number;
  /** Of `lost`, those acknowledged with WAIT 1. */
  lostWait1: number;
  /** Of `lost`, those acknowledged more than 100 ms after the kill (not by the dying master). */
  lostAfterFault: number;
  /** The first few lost keys. */
  lostKeys?: string[];
  failed: number;
  /** The later of the writers' first acknowledged write after the outage, minus the service's first promotion event. */
  recoveryAfterPromotionMs: number | null;
  /** The service's first promotion event (any Sentinel) after the kill. */
  promotionAfterKillMs: number | null;
  /** The service's first +switch-master minus its first promotion event. */
  switchMasterAfterPromotionMs: number | null;
  /** When a majority of the service's Sentinels (2 of 3) had published +switch-master, minus the promotion. */
  majoritySwitchMasterAfterPromotionMs: number | null;
  /** ha-redis only: end of the `confirmed` step of the service's history entry, minus the first promotion event. */
  confirmedAfterPromotionMs?: number | null;
  /** ha-redis only: end of the `rerouted` step of the service's history entry, minus the first promotion event. */
  rerouteAfterPromotionMs?: number | null;
  /** ha-redis only: how the orchestrator confirmed the new master (`elected-leader`, `sentinel-majority`). */
  confirmedBy?: string;
  outcome?: string;
}

/** The measures of a ServiceSample that are summarized across services. */
export type ServiceMeasure =
  | 'gapMs'
  | 'recoveryAfterPromotionMs'
  | 'acked'
  | 'lost'
  | 'lostWait1'
  | 'promotionAfterKillMs'
  | 'switchMasterAfterPromotionMs'
  | 'majoritySwitchMasterAfterPromotionMs'
  | 'confirmedAfterPromotionMs'
  | 'rerouteAfterPromotionMs';

/** host-failure: the samples of every service and run, and p50 / p99 / max of each measure across them. */
export interface PerService {
  samples: ServiceSample[];
  /** A measure no sample has (e.g. the reroute of a baseline) is absent. */
  across: Partial<Record<ServiceMeasure, Summary>>;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  redis: string;
  haproxy: string;
}

export interface BenchReport {
  date: string;
  machine: MachineInfo;
  /** What was asked: each scenario with its runs per cell and down-after values. */
  options: {
    scenarios: {
      name: string;
      runs: number;
      downAfterMs: number[];
      load?: { writers: number; valueBytes: number; pipeline: number; datasetBytes: number };
      systems?: string[];
    }[];
  };
  scenarios: ScenarioRow[];
}

/** Median and max of the values that are present; undefined when none is. */
export function spread(values: readonly (number | null | undefined)[]): Spread | undefined {
  const present = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (!present.length) return undefined;
  return { p50: percentile(present, 50), max: percentile(present, 100), n: present.length };
}

const run = promisify(execFile);
async function firstLine(command: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args, { timeout: 5000 });
    return (`${stdout}\n${stderr}`.match(pattern)?.[1] ?? 'unknown').trim();
  } catch {
    return 'unknown';
  }
}

/** The machine the numbers come from: they mean little without it. */
export async function machineInfo(): Promise<MachineInfo> {
  const cores = cpus();
  const [redis, haproxy] = await Promise.all([
    firstLine('redis-server', ['--version'], /v=(\S+)/),
    firstLine('haproxy', ['-v'], /version (\S+)/),
  ]);
  return {
    cpu: cores[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    cores: cores.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${process.platform} ${release()}`,
    node: process.version,
    redis,
    haproxy,
  };
}

const ms = (v: number | undefined) => (v === undefined ? '–' : `${Math.round(v)}`);
const showSpread = (s: Spread | undefined) => (s ? `${ms(s.p50)} (${ms(s.max)})` : '–');

/** Per-service columns: the measure, and whether it is one number per service (not one per system). */
const PER_SERVICE_COLUMNS: { title: string; measure: ServiceMeasure; shared?: boolean }[] = [
  { title: 'Write gap (ms)', measure: 'gapMs' },
  { title: 'Writes resume after promotion (ms)', measure: 'recoveryAfterPromotionMs' },
  { title: 'Acked writes', measure: 'acked' },
  { title: 'Lost acked writes', measure: 'lost' },
  { title: 'of which WAIT 1', measure: 'lostWait1' },
  { title: 'Promotion after the kill (ms)', measure: 'promotionAfterKillMs', shared: true },
  { title: '+switch-master after promotion (ms)', measure: 'switchMasterAfterPromotionMs', shared: true },
  {
    title: '…from 2 Sentinels (ms)',
    measure: 'majoritySwitchMasterAfterPromotionMs',
    shared: true,
  },
  { title: 'ha-redis: confirmed after promotion (ms)', measure: 'confirmedAfterPromotionMs', shared: true },
  { title: 'ha-redis: rerouted after promotion (ms)', measure: 'rerouteAfterPromotionMs', shared: true },
];

/**
 * host-failure: one table per layout, a line per service and run, then p50 / p99 / max across them; a cell
 * holds each system's number in the order of the legend, or one number when it is the service's, not a system's.
 */
function perServiceLines(rows: readonly ScenarioRow[]): string[] {
  if (!rows.length) return [];
  const systems = [...new Set(rows.map((r) => r.system))];
  const lines = [
    '',
    `Host failure: per service, each cell ${systems.join(' / ')}; then p50 / p99 / max across the services and runs. Lost = acknowledged writes missing on the new master (plain acks and WAIT 1). ha-redis confirmed by: elected-leader (at the promotion) or sentinel-majority (the Sentinels' views).`,
    '',
    `| Scenario | Service |${PER_SERVICE_COLUMNS.map((c) => ` ${c.title} |`).join('')} ha-redis confirmed by |`,
    `|---|---|${PER_SERVICE_COLUMNS.map(() => '--:|').join('')}---|`,
  ];
  const names = [...new Set(rows.map((r) => r.name))];
  for (const name of names) {
    const group = rows.filter((r) => r.name === name);
    const first = group[0]?.perService?.samples ?? [];
    const many = new Set(first.map((s) => s.run)).size > 1;
    const cells = (pick: (r: ScenarioRow, c: (typeof PER_SERVICE_COLUMNS)[number]) => string | undefined) =>
      PER_SERVICE_COLUMNS.map((c) => {
        const values = group.map((r) => pick(r, c));
        const shown = c.shared ? values.filter((v) => v !== undefined).slice(0, 1) : values;
        return ` ${shown.map((v) => v ?? '–').join(' / ') || '–'} |`;
      }).join('');
    for (const key of first) {
      const sample = (r: ScenarioRow) =>
        r.perService?.samples.find((s) => s.run === key.run && s.service === key.service);
      const value = (r: ScenarioRow, c: (typeof PER_SERVICE_COLUMNS)[number]) => {
        const v = sample(r)?.[c.measure];
        return v === undefined || v === null ? undefined : ms(v);
      };
      const basis = group.map((r) => sample(r)?.confirmedBy).find((b) => b) ?? '–';
      lines.push(`| ${name} | #${key.service}${many ? ` (run ${key.run})` : ''} |${cells(value)} ${basis} |`);
    }
    for (const stat of ['p50', 'p99', 'max'] as const) {
      const value = (r: ScenarioRow, c: (typeof PER_SERVICE_COLUMNS)[number]) => {
        const summary = r.perService?.across[c.measure];
        return summary ? ms(summary[stat]) : undefined;
      };
      lines.push(`| ${name} | ${stat} |${cells(value)} |`);
    }
  }
  return lines;
}

/** Columns that only some scenarios measure; a column shows when a row has it. */
function extraColumns(rows: readonly ScenarioRow[]) {
  return [
    {
      title: 'Writes/s before the fault or switch, p50 (min)',
      show: rows.some((r) => r.opsPerSec),
      cell: (r: ScenarioRow) => {
        const rates = (r.samples ?? []).flatMap((x) => (x.opsPerSec === undefined ? [] : [x.opsPerSec]));
        return r.opsPerSec ? `${r.opsPerSec.p50} (${Math.min(...rates)})` : '–';
      },
    },
    {
      title: 'Lost after the old master came back',
      show: rows.some((r) => r.lostAfterReturn !== undefined),
      cell: (r: ScenarioRow) => (r.lostAfterReturn === undefined ? '–' : String(r.lostAfterReturn)),
    },
    {
      title: 'of which acked after the fault',
      show: rows.some((r) => r.samples?.some((x) => x.lostAfterFault !== undefined)),
      cell: (r: ScenarioRow) => {
        const after = (r.samples ?? []).flatMap((x) =>
          x.lostAfterFault === undefined ? [] : [x.lostAfterFault],
        );
        return after.length ? String(after.reduce((a, b) => a + b, 0)) : '–';
      },
    },
    {
      title: 'Writes resume after promotion (ms)',
      show: rows.some((r) => r.recoveryAfterPromotionMs || r.promotionAfterKillMs),
      cell: (r: ScenarioRow) => showSpread(r.recoveryAfterPromotionMs),
    },
    {
      title: 'Workflow write gap p50 / p99 / max (ms)',
      show: rows.some((r) => r.workflowWriteGapMs),
      cell: (r: ScenarioRow) =>
        r.workflowWriteGapMs
          ? `${ms(r.workflowWriteGapMs.p50)} / ${ms(r.workflowWriteGapMs.p99)} / ${ms(r.workflowWriteGapMs.max)}`
          : '–',
    },
  ].filter((c) => c.show);
}

/** Markdown, ready to paste into the README. */
export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const perService = report.scenarios.filter((r) => r.perService);
  const fleetRuns = report.scenarios.flatMap((r) => (r.fleet ? [r.fleet] : []));
  const rows = report.scenarios.filter((r) => !r.perService && !r.fleet);
  const extra = extraColumns(rows);
  const lines = [
    `Benchmark of ${report.date.slice(0, 10)} (${report.date}) on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}, Redis ${m.redis}, HAProxy ${m.haproxy}. All processes on this machine: on loopback, or for host sets one network namespace (or loopback address) per host.`,
  ];
  if (rows.length || !perService.length)
    lines.push(
      '',
      `| Scenario | System | Runs | Write gap p50 (ms) | p99 | max | Acked writes | Lost acked writes |${extra.map((c) => ` ${c.title} |`).join('')}`,
      `|---|---|--:|--:|--:|--:|--:|--:|${extra.map(() => '--:|').join('')}`,
      ...rows.map(
        (r) =>
          `| ${r.name} | ${r.system} | ${r.runs} | ${ms(r.gapMs.p50)} | ${ms(r.gapMs.p99)} | ${ms(r.gapMs.max)} | ${r.acked} | ${r.lost} |${extra.map((c) => ` ${c.cell(r)} |`).join('')}`,
      ),
    );
  lines.push(...perServiceLines(perService));
  if (fleetRuns.length) lines.push('', renderFleet(fleetRuns));
  const reactions = report.scenarios.filter((r) => r.rerouteAfterPromotionMs || r.promotionAfterKillMs);
  // One line per cluster of a scenario: ha-redis's (and the baselines'), and the one with node agents.
  const byScenario = new Map<string, ScenarioRow>();
  const clusterOf = (r: ScenarioRow) => (r.system.includes('+agent') ? `${r.name}, with agents` : r.name);
  for (const r of reactions) {
    const seen = byScenario.get(clusterOf(r));
    if (!seen || (!seen.rerouteAfterPromotionMs && r.rerouteAfterPromotionMs))
      byScenario.set(clusterOf(r), r);
  }
  if (byScenario.size) {
    lines.push(
      '',
      "Timings in ms, median (max) over the runs. Promotion = first `+failover-state-wait-promotion` or `+promoted-slave` from any Sentinel; rerouted = end of the `rerouted` step in the orchestrator history (with agents: of the fast path's `fast-rerouted`); fenced = end of its `fenced` step.",
      '',
      '| Scenario | Promotion after the fault | +switch-master after the fault | ha-redis: proxies rerouted after promotion | rerouted after +switch-master | old master fenced after promotion | first write through proxy-1 after reroute |',
      '|---|--:|--:|--:|--:|--:|--:|',
      ...[...byScenario.entries()].map(
        ([name, r]) =>
          `| ${name} | ${showSpread(r.promotionAfterKillMs)} | ${showSpread(r.switchMasterAfterKillMs)} | ${showSpread(r.rerouteAfterPromotionMs)} | ${showSpread(r.rerouteAfterSwitchMasterMs)} | ${showSpread(r.fenceMs)} | ${showSpread(r.recoveryAfterRerouteMs)} |`,
      ),
    );
  }
  const procedures = rows.filter((r) => r.procedureMs);
  if (procedures.length) {
    const percent = (r: ScenarioRow) =>
      r.ackedDuringProcedure ? `${((100 * r.lost) / r.ackedDuringProcedure).toFixed(1)}%` : '–';
    lines.push(
      '',
      "Switchover timings in ms, median (max) over the runs. Procedure = first to last action of the system: the whole workflow (ha-redis); `SENTINEL FAILOVER` until the old master answers `ROLE` slave (naive); proxies cut until `CLIENT UNPAUSE` (classic). FAILOVER → named = until a Sentinel's `GET-MASTER-ADDR-BY-NAME` names the new master.",
      '',
      '| Scenario | System | Procedure | WAIT on the paused master | FAILOVER → named | FAILOVER → old master ROLE slave | Acked during the procedure | Lost, % of those |',
      '|---|---|--:|--:|--:|--:|--:|--:|',
      ...procedures.map(
        (r) =>
          `| ${r.name} | ${r.system} | ${showSpread(r.procedureMs)} | ${showSpread(r.waitMs)} | ${showSpread(r.namedAfterFailoverMs)} | ${showSpread(r.oldMasterDemotedAfterFailoverMs)} | ${r.ackedDuringProcedure ?? '–'} | ${percent(r)} |`,
      ),
    );
  }
  const twice = secondFailoverLines(report);
  if (twice.length) lines.push('', ...twice);
  const errors = report.scenarios.flatMap((r) => r.errors.map((e) => `${r.name}: ${e}`));
  if (errors.length) lines.push('', ...[...new Set(errors)].map((e) => `- ${e}`));
  return `${lines.join('\n')}\n`;
}

/** One line per row whose runs saw Sentinel fail over twice after the fault, and whether ha-redis followed. */
function secondFailoverLines(report: BenchReport): string[] {
  return report.scenarios.flatMap((r) => {
    if (!r.runsWithTwoFailovers) return [];
    const followed = r.errors.some((e) => e.includes('did not follow'))
      ? '; ha-redis did NOT follow every second failover'
      : r.system.startsWith('ha-redis')
        ? '; ha-redis followed both each time'
        : '';
    return [
      `- ${r.name}, ${r.system}: in ${r.runsWithTwoFailovers} of ${r.runs} runs Sentinel failed over a second time right after the first (two epochs); ${r.lost} acknowledged writes lost over all runs${followed}`,
    ];
  });
}

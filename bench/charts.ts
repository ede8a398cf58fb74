/**
 * The bench report's charts as vega-lite specs (pure): the write gap per system and scenario, the lost
 * acknowledged writes per system, and one failover's timeline. bench/render-charts.ts draws them as SVG.
 */
import type { TopLevelSpec } from 'vega-lite';
import { type GanttBar, type GanttSpan, ganttSpec } from '../adapters/charts/gantt.ts';
import type { BenchReport, RunSample, ScenarioRow } from './report.ts';

/** One chart: the file name's suffix (`<report>-<name>.svg`) and its spec. */
export interface BenchChart {
  name: 'write-gap' | 'lost-writes' | 'failover-timeline';
  spec: TopLevelSpec;
}

const WIDTH = 560;
const COLORS = { p50: '#4c78a8', max: '#9ecae9', lost: '#e45756' };
const SYSTEM_AXIS = {
  field: 'system',
  type: 'nominal',
  sort: null,
  title: 'system',
  axis: { labelLimit: 220 },
};

/** The rows with a write gap per system: the fleet's simulated clusters have charts of their own to come. */
const systemRows = (report: BenchReport): ScenarioRow[] => report.scenarios.filter((r) => !r.fleet);

/** Where and when the report was measured, in short lines (vega sizes a picture by estimated text widths). */
const machineLines = (report: BenchReport) => [
  `bench run of ${report.date.slice(0, 10)} on ${report.machine.cpu}, ${report.machine.cores} cores`,
  `Redis ${report.machine.redis}, HAProxy ${report.machine.haproxy.replace(/-.*$/, '')}`,
];

/** A chart with one panel per scenario, stacked, each with its own systems on y. */
function perScenario(
  title: string,
  subtitle: string[],
  values: object[],
  layer: object[],
  rowPx: number,
): TopLevelSpec {
  return {
    title: { text: title, subtitle, anchor: 'start' },
    config: { font: 'sans-serif', legend: { orient: 'bottom' } },
    data: { values },
    facet: {
      row: {
        field: 'scenario',
        type: 'nominal',
        sort: { field: 'order', op: 'min' },
        title: null,
        header: { labelAngle: 0, labelOrient: 'top', labelAnchor: 'start', labelFontWeight: 'bold' },
      },
    },
    spec: { width: WIDTH, height: { step: rowPx }, layer },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** The write gap per system and scenario: p50 and max over the runs, in ms. */
export function writeGapSpec(report: BenchReport): TopLevelSpec {
  const values = systemRows(report).flatMap((r, order) => [
    { order, scenario: r.name, system: r.system, statistic: 'p50', ms: r.gapMs.p50 },
    { order, scenario: r.name, system: r.system, statistic: 'max', ms: r.gapMs.max },
  ]);
  const y = SYSTEM_AXIS;
  const x = { field: 'ms', type: 'quantitative', title: 'write gap (ms)', axis: { grid: true } };
  const yOffset = { field: 'statistic', sort: ['p50', 'max'] };
  return perScenario(
    'Write gap per system and scenario (ms)',
    [
      'the longest stretch with no acknowledged write:',
      'p50 and max over the runs of each cell',
      ...machineLines(report),
    ],
    values,
    [
      {
        mark: { type: 'bar', height: { band: 0.8 } },
        encoding: {
          y,
          yOffset,
          x,
          color: {
            field: 'statistic',
            type: 'nominal',
            title: 'over the runs',
            scale: { domain: ['p50', 'max'], range: [COLORS.p50, COLORS.max] },
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 },
        encoding: { y, yOffset, x, text: { field: 'ms', type: 'quantitative', format: ',d' } },
      },
    ],
    12, // per bar: two bars a system
  );
}

/** Lost acknowledged writes per system, summed over the runs of each scenario. */
export function lostWritesSpec(report: BenchReport): TopLevelSpec {
  const values = systemRows(report).map((r, order) => ({
    order,
    scenario: r.name,
    system: r.system,
    lost: r.lost,
    label: `${r.lost.toLocaleString('en-US')} of ${r.acked.toLocaleString('en-US')}`,
  }));
  const y = SYSTEM_AXIS;
  const most = Math.max(1, ...values.map((v) => v.lost));
  const x = {
    field: 'lost',
    type: 'quantitative',
    // Losses run from 0 to hundreds of thousands: a linear axis would hide the 1s and 3s.
    scale: { type: 'symlog', domain: [0, most] },
    title: 'lost acknowledged writes (writes, symlog scale)',
    axis: {
      grid: true,
      format: ',d',
      values: [0, 1, 10, 100, 1000, 10_000, 100_000, 1_000_000].filter((v) => v <= most),
    },
  };
  return perScenario(
    'Lost acknowledged writes per system',
    [
      'acknowledged, then missing on the final master; summed over the runs',
      'each label: lost of acknowledged',
      ...machineLines(report),
    ],
    values,
    [
      { mark: { type: 'bar', color: COLORS.lost, height: 14 }, encoding: { y, x } },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 },
        encoding: { y, x, text: { field: 'label' } },
      },
    ],
    22,
  );
}

const median = <T>(items: readonly T[], key: (t: T) => number): T | undefined =>
  [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)];

/** The row to take one failover from: ha-redis itself (not -tls, +agent ...) first. */
const failoverRows = (report: BenchReport) =>
  [...report.scenarios].sort((a, b) => Number(b.system === 'ha-redis') - Number(a.system === 'ha-redis'));

/** One recorded failover (newer reports): the history steps of the run with the median write gap. */
function recordedFailover(report: BenchReport): TopLevelSpec | undefined {
  for (const row of failoverRows(report)) {
    const runs = row.samples.filter((s): s is RunSample & Required<Pick<RunSample, 'failover'>> =>
      Boolean(s.failover),
    );
    const sample = median(runs, (s) => s.gapMs);
    if (!sample) continue;
    const { steps, outage } = sample.failover;
    const bars: GanttBar[] = [
      { label: 'fault', startMs: 0, durationMs: 0, status: 'ok' },
      ...steps.map((s) => ({ label: s.step, startMs: s.at, durationMs: s.durationMs, status: s.status })),
    ];
    const span: GanttSpan | undefined = outage
      ? {
          startMs: outage.from,
          durationMs: outage.to - outage.from,
          label: `write gap ${outage.to - outage.from} ms`,
        }
      : undefined;
    return ganttSpec({
      title: `One failover: ${row.name}, ${row.system}, run ${sample.run} of ${row.runs} (the median write gap)`,
      subtitle: ["ha-redis's history steps; shaded: the clients' write gap", ...machineLines(report)],
      zero: 'the fault',
      bars,
      ...(span ? { span } : {}),
    });
  }
  return undefined;
}

/** One failover from the medians of a row (older reports hold no steps): each milestone after the fault. */
function medianFailover(report: BenchReport): TopLevelSpec | undefined {
  const row = failoverRows(report).find((r) => r.promotionAfterKillMs && r.rerouteAfterPromotionMs);
  if (!row?.promotionAfterKillMs || !row.rerouteAfterPromotionMs) return undefined;
  const promoted = row.promotionAfterKillMs.p50;
  const after = (label: string, ms: number | undefined): GanttBar[] =>
    ms === undefined ? [] : [{ label, startMs: promoted, durationMs: ms, status: 'ok' }];
  const firstWrite = row.recoveryAfterPromotionMs && promoted + row.recoveryAfterPromotionMs.p50;
  const bars: GanttBar[] = [
    { label: 'fault -> promotion (Sentinel)', startMs: 0, durationMs: promoted, status: 'ok' },
    ...(row.switchMasterAfterKillMs
      ? [
          {
            label: '+switch-master',
            startMs: row.switchMasterAfterKillMs.p50,
            durationMs: 0,
            status: 'ok' as const,
          },
        ]
      : []),
    ...after('promotion -> proxies rerouted', row.rerouteAfterPromotionMs.p50),
    ...after('promotion -> old master fenced', row.fenceMs?.p50),
    ...(firstWrite
      ? [{ label: 'first acked write', startMs: firstWrite, durationMs: 0, status: 'ok' as const }]
      : []),
  ];
  return ganttSpec({
    title: `One failover: ${row.name}, ${row.system}: medians of ${row.runs} runs`,
    subtitle: [
      'each milestone is its own median (the report holds no per-run steps)',
      'shaded: the write gap, p50',
      ...machineLines(report),
    ],
    zero: 'the fault',
    bars,
    ...(firstWrite
      ? {
          span: {
            startMs: firstWrite - row.gapMs.p50,
            durationMs: row.gapMs.p50,
            label: `write gap ${row.gapMs.p50} ms`,
          },
        }
      : {}),
  });
}

/** Every chart the report has data for. */
export function benchCharts(report: BenchReport): BenchChart[] {
  const charts: BenchChart[] = [];
  if (systemRows(report).length) {
    charts.push({ name: 'write-gap', spec: writeGapSpec(report) });
    charts.push({ name: 'lost-writes', spec: lostWritesSpec(report) });
  }
  const timeline = recordedFailover(report) ?? medianFailover(report);
  if (timeline) charts.push({ name: 'failover-timeline', spec: timeline });
  return charts;
}

/**
 * A Gantt chart of timed steps as a vega-lite spec (pure: data in, spec out; render-svg.ts draws it). The
 * history CLI draws an entry's timeline with it, the bench one failover of its report.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Endpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import type { TimelineStep } from '../../core/model/timeline.ts';

/** One bar: a step that started `startMs` after the chart's zero and took `durationMs` (0: a point in time). */
export interface GanttBar {
  label: string;
  startMs: number;
  durationMs: number;
  status: TimelineStep['status'];
}

/** A stretch drawn behind the bars, e.g. the write gap. */
export interface GanttSpan {
  startMs: number;
  durationMs: number;
  label: string;
}

export interface GanttInput {
  title: string;
  subtitle?: string[];
  /** What the zero of the time axis is, e.g. `the first step`, `the kill`. */
  zero: string;
  bars: readonly GanttBar[];
  span?: GanttSpan;
}

const STATUS_COLORS: Record<TimelineStep['status'], string> = {
  ok: '#4c78a8',
  failed: '#e45756',
  skipped: '#bab0ac',
};
const SPAN_COLOR = '#f58518';
const WIDTH = 640;
const ROW_PX = 22;
const LABEL_PX = 280;

/** Step names repeat (a retried step, the fast path and the reaction): each row gets a label of its own. */
function uniqueLabels(bars: readonly GanttBar[]): string[] {
  const seen = new Map<string, number>();
  return bars.map((b) => {
    const n = (seen.get(b.label) ?? 0) + 1;
    seen.set(b.label, n);
    return n === 1 ? b.label : `${b.label} (${n})`;
  });
}

/** The vega-lite spec of a Gantt chart: one row per bar in the given order, time in ms on x. */
export function ganttSpec(input: GanttInput): TopLevelSpec {
  const labels = uniqueLabels(input.bars);
  const rows = input.bars.map((b, i) => ({
    step: labels[i],
    start: b.startMs,
    end: b.startMs + b.durationMs,
    status: b.status,
    // A point in time says when it was; a step how long it took.
    duration: `${b.durationMs === 0 ? `at ${b.startMs} ms` : `${b.durationMs} ms`}${b.status === 'ok' ? '' : `, ${b.status}`}`,
  }));
  const x = {
    field: 'start',
    type: 'quantitative' as const,
    title: `ms after ${input.zero}`,
    axis: { grid: true },
  };
  const y = {
    field: 'step',
    type: 'nominal' as const,
    sort: labels,
    title: 'step',
    axis: { labelLimit: LABEL_PX },
  };
  const color = {
    field: 'status',
    type: 'nominal' as const,
    title: 'status',
    scale: { domain: Object.keys(STATUS_COLORS), range: Object.values(STATUS_COLORS) },
    // Every step ok: the legend would only explain colours that are not there.
    ...(input.bars.every((b) => b.status === 'ok') ? { legend: null } : {}),
  };
  const span = input.span;
  const spanLayers = span
    ? [
        {
          data: { values: [{ start: span.startMs, end: span.startMs + span.durationMs, label: span.label }] },
          layer: [
            {
              mark: { type: 'rect' as const, color: SPAN_COLOR, opacity: 0.18 },
              encoding: { x: { ...x }, x2: { field: 'end' } },
            },
            {
              mark: {
                type: 'text' as const,
                color: SPAN_COLOR,
                align: 'left' as const,
                baseline: 'bottom' as const,
                dx: 3,
                dy: -2,
                y: 0,
                fontWeight: 'bold' as const,
              },
              encoding: { x: { ...x }, text: { field: 'label' } },
            },
          ],
        },
      ]
    : [];
  return {
    title: {
      text: input.title,
      ...(input.subtitle?.length ? { subtitle: input.subtitle } : {}),
      anchor: 'start',
    },
    width: WIDTH,
    height: { step: ROW_PX },
    config: { font: 'sans-serif', legend: { orient: 'bottom' } },
    layer: [
      ...spanLayers,
      {
        data: { values: rows },
        layer: [
          { mark: { type: 'bar', height: 12 }, encoding: { x, x2: { field: 'end' }, y, color } },
          {
            // A step with no duration (a point in time, e.g. `detected`) shows as a tick.
            transform: [{ filter: 'datum.end === datum.start' }],
            mark: { type: 'tick', thickness: 3, size: 16 },
            encoding: { x, y, color },
          },
          {
            mark: { type: 'text', align: 'left', dx: 4 },
            encoding: { x: { field: 'end', type: 'quantitative' }, y, text: { field: 'duration' } },
          },
        ],
      },
    ],
  };
}

const address = (e: Endpoint | null) => (e ? `${e.host}:${e.port}` : '-');

/**
 * Where the write gap lies on an entry's timeline: a switchover blocks writes at its `writes-blocked` step and
 * records `writeGapMs` from there to the reroute. Undefined when the entry has no gap or no such step.
 */
export function writeGapSpan(entry: HistoryEntry, zero: number): GanttSpan | undefined {
  if (entry.writeGapMs === undefined) return undefined;
  const blocked = entry.timeline.find((s) => s.step === 'writes-blocked');
  if (!blocked) return undefined;
  return {
    startMs: blocked.at - zero,
    durationMs: entry.writeGapMs,
    label: `write gap ${entry.writeGapMs} ms`,
  };
}

/** A history entry's timeline as a Gantt chart, from its first step, with its write gap marked. */
export function historyTimelineSpec(
  entry: HistoryEntry,
  label: (e: Endpoint | null) => string = address,
): TopLevelSpec {
  const zero = entry.timeline[0]?.at ?? entry.startedAt;
  const span = writeGapSpan(entry, zero);
  const gapNote =
    entry.writeGapMs === undefined
      ? []
      : [
          `write gap ${entry.writeGapMs} ms${span ? ' (shaded)' : ' (no writes-blocked step to place it on)'}`,
        ];
  return ganttSpec({
    title: `${entry.kind} of ${entry.cluster}, epoch ${entry.epoch ?? '-'}: ${label(entry.oldMaster)} -> ${label(entry.newMaster)}, ${entry.outcome}`,
    // Short lines: without a canvas, vega sizes the picture by an estimate of each line's width.
    subtitle: [
      `started ${new Date(entry.startedAt).toISOString()}, took ${entry.durationMs} ms`,
      `trigger ${entry.trigger}`,
      `id ${entry.id}`,
      ...gapNote,
    ],
    zero: 'the first step',
    bars: entry.timeline.map((s) => ({
      label: s.step,
      startMs: s.at - zero,
      durationMs: s.durationMs,
      status: s.status,
    })),
    ...(span ? { span } : {}),
  });
}

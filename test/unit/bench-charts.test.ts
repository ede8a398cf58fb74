import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderSvg } from '../../adapters/charts/render-svg.ts';
import { type BenchChart, benchCharts } from '../../bench/charts.ts';
import type { BenchReport, RunSample, ScenarioRow } from '../../bench/report.ts';

const KILL = 'kill-master/down-after-5000';

const row = (name: string, system: string, gap: number, lost: number, extra: Partial<ScenarioRow> = {}) =>
  ({
    name,
    system,
    runs: 3,
    gapMs: { p50: gap, p99: gap + 20, max: gap + 20 },
    acked: 10_000,
    lost,
    downAfterMs: 5000,
    writers: 4,
    samples: [],
    errors: [],
    ...extra,
  }) satisfies ScenarioRow;

/** A report of two scenarios, as `npm run bench -- --json` writes it, with few rows. */
const smallReport = (): BenchReport => ({
  date: '2026-12-01T10:00:00.000Z',
  machine: {
    cpu: 'Test CPU',
    cores: 2,
    memoryGiB: 8,
    os: 'linux',
    node: 'v24',
    redis: '7.0.15',
    haproxy: '2.6.12-1',
  },
  options: { scenarios: [] },
  scenarios: [
    row(KILL, 'ha-redis', 5420, 3, {
      promotionAfterKillMs: { p50: 5360, max: 5370, n: 3 },
      switchMasterAfterKillMs: { p50: 6280, max: 6300, n: 3 },
      rerouteAfterPromotionMs: { p50: 45, max: 54, n: 3 },
      fenceMs: { p50: 114, max: 144, n: 3 },
      recoveryAfterPromotionMs: { p50: 70, max: 73, n: 3 },
    }),
    row(KILL, 'sentinel-ioredis', 6257, 1),
    row(KILL, 'haproxy-role', 6253, 0),
    row('switchover', 'naive-sentinel-failover', 10_084, 264_265),
    row('switchover', 'classic-careful', 1623, 0),
  ],
});

/** The same report where each ha-redis run recorded its failover's steps (newer reports). */
const withRecordedSteps = (report: BenchReport): BenchReport => {
  const sample = (run: number, gapMs: number): RunSample => ({
    run,
    gapMs,
    acked: 3000,
    lost: 0,
    failed: 10,
    failover: {
      steps: [
        { step: 'detected', at: 5360, durationMs: 0, status: 'ok' },
        { step: 'epoch-claimed', at: 5362, durationMs: 4, status: 'ok' },
        { step: 'rerouted', at: 5366, durationMs: 40, status: 'ok' },
      ],
      outage: { from: 5, to: 5405 + run },
    },
  });
  const [first, ...rest] = report.scenarios as [ScenarioRow, ...ScenarioRow[]];
  return {
    ...report,
    scenarios: [{ ...first, samples: [sample(1, 5400), sample(2, 5420), sample(3, 5440)] }, ...rest],
  };
};

/** The SVG of one of the report's charts; fails the test when the report has no such chart. */
async function svgOf(report: BenchReport, name: BenchChart['name']): Promise<string> {
  const chart = benchCharts(report).find((c) => c.name === name);
  if (!chart) throw new Error(`no ${name} chart`);
  return renderSvg(chart.spec);
}

const systemsOf = (report: BenchReport) => [...new Set(report.scenarios.map((r) => r.system))];

describe('the bench charts', () => {
  it('draws the write gap of each system in each scenario, p50 and max, on an axis in ms', async () => {
    // Arrange
    const report = smallReport();

    // Act
    const svg = await svgOf(report, 'write-gap');

    // Assert
    for (const system of systemsOf(report)) expect(svg).toContain(system);
    expect(svg).toContain(KILL);
    expect(svg).toContain('write gap (ms)');
    expect(svg).toContain('5,420');
    expect(svg).toContain('5,440'); // the max
  });

  it('draws the lost acknowledged writes of each system, zeros too, on an axis that counts writes', async () => {
    // Act
    const svg = await svgOf(smallReport(), 'lost-writes');

    // Assert
    for (const system of systemsOf(smallReport())) expect(svg).toContain(system);
    expect(svg).toContain('lost acknowledged writes (writes, symlog scale)');
    expect(svg).toContain('264,265 of 10,000');
    expect(svg).toContain('0 of 10,000');
  });

  it("draws one failover from a report's medians when it holds no steps, in ms after the fault", async () => {
    // Act
    const svg = await svgOf(smallReport(), 'failover-timeline');

    // Assert
    expect(svg).toContain('ha-redis');
    expect(svg).toContain('ms after the fault');
    expect(svg).toContain('promotion -&gt; proxies rerouted');
    expect(svg).toContain('write gap 5420 ms');
  });

  it('draws the recorded steps of the run with the median write gap, when the report has them', async () => {
    // Act
    const svg = await svgOf(withRecordedSteps(smallReport()), 'failover-timeline');

    // Assert
    expect(svg).toContain('run 2 of 3');
    for (const step of ['fault', 'detected', 'epoch-claimed', 'rerouted']) expect(svg).toContain(step);
    expect(svg).toContain('write gap 5402 ms');
  });
});

describe('npm run bench:charts', () => {
  let dir = '';
  const run = promisify(execFile);
  const charts = (...args: string[]) =>
    run(process.execPath, ['bench/render-charts.ts', ...args], { timeout: 30_000 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-charts-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the three SVG files of a report, named after it, each naming every system it charts', async () => {
    // Arrange
    const input = join(dir, 'small-report.json');
    await writeFile(input, JSON.stringify(smallReport()));

    // Act
    await charts('--in', input, '--out', join(dir, 'charts'));

    // Assert
    const files = (await readdir(join(dir, 'charts'))).sort();
    expect(files).toEqual([
      'small-report-failover-timeline.svg',
      'small-report-lost-writes.svg',
      'small-report-write-gap.svg',
    ]);
    const gap = await readFile(join(dir, 'charts', 'small-report-write-gap.svg'), 'utf8');
    for (const system of systemsOf(smallReport())) expect(gap).toContain(system);
  });

  it('says what is wrong with a file that is not a bench report, and exits 1', async () => {
    // Arrange
    const input = join(dir, 'not-a-report.json');
    await writeFile(input, '{"hello": 1}');

    // Act + Assert
    await expect(charts('--in', input, '--out', dir)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('is not a bench report'),
    });
  });
});

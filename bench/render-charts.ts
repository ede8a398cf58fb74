#!/usr/bin/env node
/**
 * `npm run bench:charts -- --in bench/results/<report>.json [--out docs/charts]`: the bench report's charts as
 * SVG files, `<report>-write-gap.svg`, `<report>-lost-writes.svg` and `<report>-failover-timeline.svg`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import { renderSvg } from '../adapters/charts/render-svg.ts';
import { errorMessage } from '../core/model/errors.ts';
import { benchCharts } from './charts.ts';
import type { BenchReport } from './report.ts';

const err = (line: string) => process.stderr.write(`${line}\n`);

/** The report at `path`, or an error that says what is wrong with it. */
async function readReport(path: string): Promise<BenchReport> {
  let report: Partial<BenchReport>;
  try {
    report = JSON.parse(await readFile(path, 'utf8')) as Partial<BenchReport>;
  } catch (error) {
    throw new Error(`cannot read the bench report ${path}: ${errorMessage(error)}`);
  }
  if (!Array.isArray(report.scenarios) || typeof report.date !== 'string' || !report.machine)
    throw new Error(`${path} is not a bench report (no date, machine and scenarios); write one with --json`);
  return report as BenchReport;
}

/** Render every chart of the report at `input` into `outDir`; returns the files written. */
async function renderBenchCharts(input: string, outDir: string): Promise<string[]> {
  const report = await readReport(input);
  const charts = benchCharts(report);
  if (!charts.length) throw new Error(`${input} has no rows to chart (fleet rows have their own tables)`);
  await mkdir(outDir, { recursive: true });
  const stem = basename(input).replace(/\.json$/, '');
  const written: string[] = [];
  for (const chart of charts) {
    const file = join(outDir, `${stem}-${chart.name}.svg`);
    await writeFile(file, await renderSvg(chart.spec));
    written.push(file);
  }
  return written;
}

const program = new Command()
  .name('bench:charts')
  .description(
    "the bench report's charts as SVG: write gap, lost acknowledged writes, one failover's timeline",
  )
  .requiredOption('--in <file>', 'a JSON report of `npm run bench -- --json FILE`')
  .option('--out <dir>', 'where the SVG files go', 'docs/charts');

async function main(): Promise<void> {
  const o = program.parse(process.argv).opts<{ in: string; out: string }>();
  for (const file of await renderBenchCharts(o.in, o.out)) err(`bench:charts: wrote ${file}`);
}

main().catch((error: unknown) => {
  err(`bench:charts: ${errorMessage(error)}`);
  process.exit(1);
});

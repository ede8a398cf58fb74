#!/usr/bin/env node
/**
 * `npm run bench`: failover benchmarks against baselines, each run on a fresh local cluster.
 * The markdown table goes to stdout, progress to stderr; `--json FILE` writes the report (`-`: stdout, and the
 * table goes to stderr then).
 */
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { SENTINEL_LAYOUTS, type SentinelLayout } from '../config/host-set-descriptor.ts';
import { errorMessage } from '../core/model/errors.ts';
import { downActiveClusters } from './cluster.ts';
import { DEFAULT_LOAD, isDefaultLoad, type LoadProfile, parseSize } from './load-profile.ts';
import { type BenchReport, machineInfo, renderMarkdown, type ScenarioRow } from './report.ts';
import { SCENARIOS } from './scenarios/index.ts';
import type { Scenario } from './scenarios/types.ts';

const err = (line: string) => process.stderr.write(`${line}\n`);

const MIN_DOWN_AFTER_MS = 100; // below this Sentinel flaps on a busy 2-core machine
const MAX_DOWN_AFTER_MS = 60_000;

const parseRuns = (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError(`--runs must be an integer from 1 to 1000, got '${value}'`);
  return n;
};

/** `--down-after 5000,1000 --down-after 3000` -> [5000, 1000, 3000] */
const collectDownAfter = (value: string, previous: number[] | undefined): number[] => {
  const parsed = value.split(',').map((part) => {
    const n = Number(part.trim());
    if (!/^\d+$/.test(part.trim()) || n < MIN_DOWN_AFTER_MS || n > MAX_DOWN_AFTER_MS)
      throw new InvalidArgumentError(
        `--down-after takes milliseconds from ${MIN_DOWN_AFTER_MS} to ${MAX_DOWN_AFTER_MS}, comma-separated; got '${value}'`,
      );
    return n;
  });
  return [...(previous ?? []), ...parsed];
};

/** An integer option from `min` to `max`. */
const intIn =
  (option: string, min: number, max: number) =>
  (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max)
      throw new InvalidArgumentError(`${option} must be an integer from ${min} to ${max}, got '${value}'`);
    return n;
  };

const collectList = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...value
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean),
];

interface Options {
  runs?: number;
  system?: string[];
  writers?: number;
  valueSize?: number;
  pipeline?: number;
  dataset?: number;
  json?: string;
  downAfter?: number[];
  scenario: string[];
  keepFiles?: boolean;
  clusters?: number;
  failAz?: number;
  provisioned?: number;
  sentinels?: SentinelLayout[];
}

const ALL = 'all';

function parseLayouts(value: string): SentinelLayout[] {
  const names = value.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !(SENTINEL_LAYOUTS as readonly string[]).includes(n));
  if (unknown.length)
    throw new InvalidArgumentError(
      `unknown Sentinel layout '${unknown.join("', '")}'; choose from ${SENTINEL_LAYOUTS.join(', ')}`,
    );
  return [...new Set(names as SentinelLayout[])];
}

const collectScenario = (value: string, previous: string[] | undefined): string[] => {
  const names = value.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => n !== ALL && !SCENARIOS.has(n));
  if (unknown.length)
    throw new InvalidArgumentError(
      `unknown scenario '${unknown.join("', '")}'; choose from ${[ALL, ...SCENARIOS.keys()].join(', ')}`,
    );
  return [...(previous ?? []), ...names];
};

const program = new Command()
  .name('bench')
  .description('failover benchmarks: ha-redis against baselines on the same faults, on fresh local clusters')
  .option('--runs <n>', 'runs per cell (default: 5, 10 for switchover)', parseRuns)
  .option('--json <file>', "write the JSON report to FILE ('-' for stdout)")
  .option(
    '--down-after <ms>',
    'Sentinel down-after-milliseconds; repeat or comma-separate for several (default: 5000 and 1000 for kill-master, 5000 otherwise)',
    collectDownAfter,
  )
  .option(
    '--scenario <name>',
    `scenario(s) to run, repeat or comma-separate: ${[ALL, ...SCENARIOS.keys()].join(', ')} (default: all)`,
    collectScenario,
  )
  .option(
    '--system <name>',
    'only these systems of the chosen scenarios (repeat or comma-separate), e.g. ha-redis,sentinel-ioredis',
    collectList,
  )
  .option('--writers <n>', `writers per system (default ${DEFAULT_LOAD.writers})`, intIn('--writers', 1, 256))
  .option('--value-size <size>', 'bytes per written value, e.g. 1k (default: a few bytes)', (v) =>
    parseSize(v, '--value-size', 2 ** 20),
  )
  .option(
    '--pipeline <n>',
    `SETs each writer sends before reading their replies (default ${DEFAULT_LOAD.pipeline})`,
    intIn('--pipeline', 1, 1000),
  )
  .option(
    '--dataset <size>',
    "data written to the master before each run's writers start, e.g. 1g (default: none)",
    (v) => parseSize(v, '--dataset', 8 * 2 ** 30),
  )
  .option(
    '--clusters <n>',
    'fleet: simulated clusters, masters spread round robin over 3 AZs (default 500)',
    intIn('--clusters', 1, 10_000),
  )
  .option('--fail-az <k>', 'fleet: the AZ that is lost, 1, 2 or 3 (default 1)', intIn('--fail-az', 1, 3))
  .option(
    '--provisioned <n>',
    "fleet: sentinel-event environments kept warm (the stack's provisionedConcurrency; default 0)",
    intIn('--provisioned', 0, 1000),
  )
  .option(
    '--sentinels <layout>',
    `host-failure: the Sentinel layouts to run, comma-separated: ${SENTINEL_LAYOUTS.join(', ')} (default: both)`,
    parseLayouts,
  )
  .option('--keep-files', "keep each run's cluster files (configs, logs) under the temp dir, to investigate")
  .configureOutput({
    outputError: (message, write) => write(`bench: ${message.replace(/^error: /, '')}`),
  });

const loadOf = (o: Options): LoadProfile => ({
  writers: o.writers ?? DEFAULT_LOAD.writers,
  valueBytes: o.valueSize ?? DEFAULT_LOAD.valueBytes,
  pipeline: o.pipeline ?? DEFAULT_LOAD.pipeline,
  datasetBytes: o.dataset ?? DEFAULT_LOAD.datasetBytes,
});

const fleetOf = (o: Options) => ({
  ...(o.clusters !== undefined ? { clusters: o.clusters } : {}),
  ...(o.failAz !== undefined ? { failAz: o.failAz } : {}),
  ...(o.provisioned !== undefined ? { provisioned: o.provisioned } : {}),
});

/** `--system`, the load, fleet and layout options only with scenarios that take them; every named system must exist. */
function checkSubset(
  scenarios: readonly Scenario[],
  systems: readonly string[] | undefined,
  load: LoadProfile,
  fleet: { clusters?: number | undefined; failAz?: number | undefined; provisioned?: number | undefined },
  layouts?: readonly SentinelLayout[],
) {
  const fail = (message: string) => program.error(message, { exitCode: 2 });
  if (!isDefaultLoad(load)) {
    const cannot = scenarios.filter((s) => !s.takesLoad).map((s) => s.name);
    if (cannot.length)
      fail(
        `--writers, --value-size, --pipeline and --dataset apply to ${[...SCENARIOS.values()]
          .filter((s) => s.takesLoad)
          .map((s) => s.name)
          .join(', ')}; not to ${cannot.join(', ')}`,
      );
  }
  if (Object.values(fleet).some((v) => v !== undefined)) {
    const cannot = scenarios.filter((s) => !s.takesFleet).map((s) => s.name);
    if (cannot.length)
      fail(
        `--clusters, --fail-az and --provisioned apply to the fleet scenario only; not to ${cannot.join(', ')}: add --scenario fleet`,
      );
  }
  if (layouts) {
    const cannot = scenarios.filter((s) => !s.takesLayouts).map((s) => s.name);
    if (cannot.length) fail(`--sentinels applies to host-failure only; not to ${cannot.join(', ')}`);
  }
  if (!systems) return;
  const cannot = scenarios.filter((s) => !s.systems).map((s) => s.name);
  if (cannot.length) fail(`--system cannot choose the systems of ${cannot.join(', ')}`);
  const known = new Set(scenarios.flatMap((s) => s.systems ?? []));
  const unknown = systems.filter((s) => !known.has(s));
  if (unknown.length) fail(`unknown system '${unknown.join("', '")}'; choose from ${[...known].join(', ')}`);
  const empty = scenarios.filter((s) => !s.systems?.some((x) => systems.includes(x))).map((s) => s.name);
  if (empty.length) fail(`--system leaves no system to run in ${empty.join(', ')}`);
}

async function main(): Promise<void> {
  const o = program.parse(process.argv).opts<Options>();
  const chosen = o.scenario ?? [ALL];
  const scenarios = [...SCENARIOS.values()].filter((s) => chosen.includes(ALL) || chosen.includes(s.name));
  const load = loadOf(o);
  checkSubset(
    scenarios,
    o.system,
    load,
    { clusters: o.clusters, failAz: o.failAz, provisioned: o.provisioned },
    o.sentinels,
  );

  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130); // a second Ctrl-C: leave now
    interrupted = true;
    err(`bench: ${signal}; taking the local clusters down (Ctrl-C again to leave at once)`);
    void downActiveClusters(err).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const date = new Date().toISOString();
  const machine = await machineInfo();
  err(`bench: ${scenarios.map((s) => s.name).join(', ')} on ${machine.cpu} (${machine.cores} cores)`);
  const rows: ScenarioRow[] = [];
  const failures: string[] = [];
  const plan: BenchReport['options']['scenarios'] = [];
  for (const scenario of scenarios) {
    const runs = o.runs ?? scenario.defaultRuns;
    const downAfter = [...new Set(o.downAfter ?? scenario.defaultDownAfterMs)];
    plan.push({
      name: scenario.name,
      runs,
      downAfterMs: downAfter,
      ...(scenario.takesLoad && !isDefaultLoad(load) ? { load } : {}),
      ...(o.system ? { systems: o.system.filter((x) => scenario.systems?.includes(x)) } : {}),
    });
    err(`bench ${scenario.name}: ${runs} run(s) at down-after ${downAfter.join(', ')} ms`);
    for (const downAfterMs of downAfter) {
      try {
        const result = await scenario.run({
          runs,
          downAfterMs,
          log: err,
          keepFiles: Boolean(o.keepFiles),
          ...(scenario.takesLoad ? { load } : {}),
          ...(o.system ? { systems: o.system } : {}),
          ...(scenario.takesFleet ? { fleet: fleetOf(o) } : {}),
          ...(scenario.takesLayouts && o.sentinels ? { layouts: o.sentinels } : {}),
        });
        rows.push(...result);
        if (result.some((r) => r.runs < runs))
          failures.push(`${scenario.name}/down-after-${downAfterMs}: some runs failed`);
      } catch (error) {
        failures.push(errorMessage(error));
        err(`bench: ${errorMessage(error)}`);
      }
    }
  }
  const report: BenchReport & { failures?: string[] } = {
    date,
    machine,
    options: { scenarios: plan },
    scenarios: rows,
    ...(failures.length ? { failures } : {}),
  };
  const markdown = renderMarkdown(report);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (o.json === '-') {
    process.stderr.write(`\n${markdown}`);
    process.stdout.write(json);
  } else {
    process.stdout.write(markdown);
    if (o.json) {
      await writeFile(o.json, json);
      err(`bench: report written to ${o.json}`);
    }
  }
  const incomplete = failures.length > 0;
  if (incomplete) err('bench: some runs failed; see the errors above and in the report');
  process.exitCode = incomplete ? 1 : 0;
}

main().catch((error: unknown) => {
  err(`bench: ${errorMessage(error)}`);
  process.exit(1);
});

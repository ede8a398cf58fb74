/**
 * `npm run bench:cli`: how long the `ha-redis` command takes to answer, and its peak memory, against a bare
 * `node -e ''` measured in the same run. Each case runs `--runs` times (default 5) after one warm-up run (which
 * fills Node's compile cache, as any earlier use of the command does); the table shows the median and the
 * worst. `status` runs against a local cluster that the script starts and takes down.
 * Markdown goes to stdout, progress to stderr; `--json FILE` writes the figures.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { errorMessage } from '../core/model/errors.ts';
import { localDown, localUp } from '../local/launcher.ts';
import { machineInfo } from './report.ts';

const BIN = new URL('../bin/ha-redis.js', import.meta.url).pathname;
/** Preloaded into every measured process: writes its peak RSS (KiB) to the file named in the environment. */
const RSS_PROBE = new URL('./rss-probe.mjs', import.meta.url).pathname;
const err = (line: string) => process.stderr.write(`${line}\n`);

/** The issue's budgets: over the bare `node -e ''` of the same run. */
const BUDGET = {
  quick: { overBareMs: 250, rssMb: 80 },
  status: { overBareMs: 400 },
} as const;

interface Sample {
  ms: number;
  rssKb: number;
  code: number;
}

interface CaseResult {
  name: string;
  args: string[];
  runs: number;
  ms: { p50: number; max: number };
  overBareMs: number;
  rssMb: { p50: number; max: number };
  exitCode: number;
  budget?: { overBareMs: number; rssMb?: number; met: boolean };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

/** Run one process to its end: wall time from spawn to exit, its peak RSS, its exit code. */
async function measure(args: string[], env: NodeJS.ProcessEnv, dir: string): Promise<Sample> {
  const rssFile = join(dir, `rss-${process.hrtime.bigint()}`);
  const started = performance.now();
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', RSS_PROBE, ...args], {
      env: { ...env, HA_REDIS_RSS_FILE: rssFile },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c ?? 1));
  });
  const ms = performance.now() - started;
  const rssKb = Number(await readFile(rssFile, 'utf8').catch(() => 'NaN'));
  await rm(rssFile, { force: true });
  return { ms, rssKb, code };
}

async function runCase(
  name: string,
  args: string[],
  runs: number,
  env: NodeJS.ProcessEnv,
  dir: string,
): Promise<Omit<CaseResult, 'overBareMs'>> {
  await measure(args, env, dir); // warm-up: the compile cache, the page cache
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i += 1) samples.push(await measure(args, env, dir));
  const ms = samples.map((s) => s.ms);
  const rss = samples.map((s) => s.rssKb / 1024);
  const result = {
    name,
    args,
    runs,
    ms: { p50: Math.round(median(ms)), max: Math.round(Math.max(...ms)) },
    rssMb: { p50: Math.round(median(rss)), max: Math.round(Math.max(...rss)) },
    exitCode: samples[samples.length - 1]?.code ?? -1,
  };
  err(`  ${name}: ${result.ms.p50} ms (max ${result.ms.max}), ${result.rssMb.p50} MB`);
  return result;
}

const program = new Command()
  .name('bench:cli')
  .description("the ha-redis command's start-up time and memory against a bare node -e ''")
  .option(
    '--runs <n>',
    'measured runs per case (default 5)',
    (v: string) => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < 1 || n > 100)
        throw new InvalidArgumentError(`--runs must be 1 to 100, got '${v}'`);
      return n;
    },
    5,
  )
  .option('--json <file>', 'write the figures as JSON to FILE')
  .option('--no-status', 'skip the status case (it starts a local cluster)');

async function main(): Promise<void> {
  const o = program.parse(process.argv).opts<{ runs: number; json?: string; status: boolean }>();
  const dir = await mkdtemp(join(tmpdir(), 'ha-redis-bench-cli-'));
  const home = join(dir, 'home');
  const env = { ...process.env, HA_REDIS_HOME: home };
  const clusterName = 'bench-cli';
  let up = false;
  const down = async () => {
    if (up) await localDown({ name: clusterName, root: join(home, 'local') }).catch(() => undefined);
    up = false;
  };
  process.once('SIGINT', () => void down().finally(() => process.exit(130)));
  const results: Omit<CaseResult, 'overBareMs'>[] = [];
  try {
    err(`bench:cli: ${o.runs} runs per case, after one warm-up`);
    results.push(await runCase("bare node -e ''", ['-e', ''], o.runs, env, dir));
    const quick: [string, string[]][] = [
      ['--help', [BIN, '--help']],
      ['--version', [BIN, '--version']],
      ['switchover --help', [BIN, 'switchover', '--help']],
      ['an argument error (switchover)', [BIN, 'switchover']],
      ['an unknown command', [BIN, 'failover']],
    ];
    for (const [name, args] of quick) results.push(await runCase(name, args, o.runs, env, dir));
    if (o.status) {
      err('bench:cli: starting a local cluster for status');
      up = true;
      await localUp({ name: clusterName, root: join(home, 'local'), progress: () => undefined });
      results.push(
        await runCase(
          `status --cluster ${clusterName}`,
          [BIN, 'status', '--cluster', clusterName],
          o.runs,
          env,
          dir,
        ),
      );
    }
  } finally {
    await down();
    await rm(dir, { recursive: true, force: true });
  }

  const bare = results[0]?.ms.p50 ?? 0;
  const rows: CaseResult[] = results.map((r, i) => {
    const overBareMs = r.ms.p50 - bare;
    if (i === 0) return { ...r, overBareMs };
    const b = r.name.startsWith('status') ? BUDGET.status : BUDGET.quick;
    const rssMb = 'rssMb' in b ? b.rssMb : undefined;
    const met = overBareMs <= b.overBareMs && (rssMb === undefined || r.rssMb.max <= rssMb);
    return { ...r, overBareMs, budget: { overBareMs: b.overBareMs, ...(rssMb ? { rssMb } : {}), met } };
  });
  const machine = await machineInfo();
  const lines = [
    `CLI start-up, ${new Date().toISOString().slice(0, 10)}, ${machine.cpu} (${machine.cores} cores), median of ${o.runs} after a warm-up`,
    '',
    '| command | wall p50 (max) | over bare node | peak RSS p50 (max) | budget | exit |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.ms.p50} ms (${r.ms.max}) | ${r.budget ? `+${r.overBareMs} ms` : '-'} | ${r.rssMb.p50} MB (${r.rssMb.max}) | ${
          r.budget
            ? `${r.budget.met ? 'met' : 'MISSED'}: +${r.budget.overBareMs} ms${r.budget.rssMb ? `, ${r.budget.rssMb} MB` : ''}`
            : '-'
        } | ${r.exitCode} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (o.json) {
    await writeFile(
      o.json,
      `${JSON.stringify({ date: new Date().toISOString(), machine, cases: rows }, null, 2)}\n`,
    );
    err(`bench:cli: written to ${o.json}`);
  }
  process.exitCode = rows.every((r) => r.budget?.met !== false) ? 0 : 1;
}

main().catch((error: unknown) => {
  err(`bench:cli: ${errorMessage(error)}`);
  process.exit(1);
});

/**
 * `npm run bench:lambda`: the init of each Lambda bundle, as `make synth` builds it (CDK's local esbuild) and as a
 * cold Lambda environment loads it: a fresh Node process (no compile cache) imports the bundle's `index.mjs`.
 * For each function: its size, the time from the process's start to the module loaded with its handler exported
 * (what Lambda's Init phase spends on our code, beside the runtime's own start), and the resident memory then;
 * against a bare `node -e ''` of the same run. Median and worst of `--runs` (default 5) after one warm-up (the
 * page cache). Markdown to stdout, progress to stderr, `--json FILE` for the figures.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { Command, InvalidArgumentError } from 'commander';
import { loadDeploymentConfig } from '../config/load.ts';
import { HaRedisStack } from '../infra/stack.ts';
import { machineInfo } from './report.ts';

const EXAMPLE = resolve(import.meta.dirname, '../config/example.json');
const err = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Imports the bundle, then prints when that was done (ms since the process started) and the resident memory
 * then. Read inside the process: a child's peak RSS from getrusage counts the parent it was forked from.
 */
const IMPORT_SCRIPT = `const m = await import(process.argv[1]);
if (typeof m.handler !== 'function') throw new Error('no handler exported');
process.stdout.write(JSON.stringify({ readyMs: performance.now(), rssKb: process.memoryUsage().rss / 1024 }));`;
const BARE_SCRIPT =
  'process.stdout.write(JSON.stringify({ readyMs: performance.now(), rssKb: process.memoryUsage().rss / 1024 }))';

interface Sample {
  wallMs: number;
  /** Inside the process: from its start to the module loaded (performance.now() at the end). */
  readyMs: number;
  /** Resident memory once loaded. */
  rssKb: number;
}

interface FunctionResult {
  name: string;
  bundleKb: number;
  wallMs: { p50: number; max: number };
  readyMs: { p50: number; max: number };
  overBareMs: number;
  rssMb: { p50: number; max: number };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const spreadOf = (xs: number[]) => ({ p50: Math.round(median(xs)), max: Math.round(Math.max(...xs)) });

/** One cold process: node with no compile cache, the bundle imported (or nothing: bare). */
async function measure(bundle: string | undefined, env: NodeJS.ProcessEnv, dir: string): Promise<Sample> {
  const args = bundle ? ['--input-type=module', '-e', IMPORT_SCRIPT, bundle] : ['-e', BARE_SCRIPT];
  const started = performance.now();
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((done, fail) => {
    const child = spawn(process.execPath, args, {
      cwd: dir,
      env: { ...env, NODE_DISABLE_COMPILE_CACHE: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', fail);
    child.on('exit', (c) => done({ code: c ?? 1, stdout: out }));
  });
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`${bundle ?? 'bare node'} exited ${code}`);
  const { readyMs, rssKb } = JSON.parse(stdout) as { readyMs: number; rssKb: number };
  return { wallMs, readyMs, rssKb };
}

async function runs(bundle: string | undefined, n: number, env: NodeJS.ProcessEnv, dir: string) {
  await measure(bundle, env, dir);
  const samples: Sample[] = [];
  for (let i = 0; i < n; i += 1) samples.push(await measure(bundle, env, dir));
  return samples;
}

/** Every Lambda of the stack for config/example.json, bundled as `make synth` bundles it: name -> index.mjs. */
function bundles(outdir: string): Map<string, string> {
  const app = new cdk.App({ outdir });
  const stack = new HaRedisStack(app, 'HaRedisBench', {
    config: loadDeploymentConfig(EXAMPLE),
    configFile: EXAMPLE,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  app.synth();
  return new Map(
    stack.functions().map((f) => {
      const code = (f.node.defaultChild as cdk.aws_lambda.CfnFunction).code as { s3Key?: string };
      const dir = join(outdir, `asset.${(code.s3Key ?? '').replace(/\.zip$/, '')}`);
      return [f.node.id, join(dir, 'index.mjs')];
    }),
  );
}

async function main(): Promise<void> {
  const o = new Command()
    .name('bench:lambda')
    .option('--runs <n>', 'cold processes per function (default 5)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number from 1');
      return n;
    })
    .option('--json <file>', 'write the figures as JSON')
    .parse(process.argv)
    .opts<{ runs?: number; json?: string }>();
  const n = o.runs ?? 5;
  const dir = await mkdtemp(join(tmpdir(), 'ha-redis-lambda-init-'));
  try {
    err('bundling every Lambda (CDK, local esbuild) ...');
    const built = bundles(join(dir, 'cdk.out'));
    const env = { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', POWERTOOLS_DEV: 'true' };
    const bare = await runs(undefined, n, env, dir);
    const bareReady = median(bare.map((s) => s.readyMs));
    err(`  bare node: ${Math.round(median(bare.map((s) => s.wallMs)))} ms`);
    const results: FunctionResult[] = [];
    for (const [name, bundle] of built) {
      const samples = await runs(bundle, n, env, dir);
      const result: FunctionResult = {
        name,
        bundleKb: Math.round((await stat(bundle)).size / 1024),
        wallMs: spreadOf(samples.map((s) => s.wallMs)),
        readyMs: spreadOf(samples.map((s) => s.readyMs)),
        overBareMs: Math.round(median(samples.map((s) => s.readyMs)) - bareReady),
        rssMb: spreadOf(samples.map((s) => s.rssKb / 1024)),
      };
      err(
        `  ${name}: ready at ${result.readyMs.p50} ms (+${result.overBareMs} over bare), ${result.rssMb.p50} MB`,
      );
      results.push(result);
    }
    const bareRow = {
      wallMs: spreadOf(bare.map((s) => s.wallMs)),
      readyMs: spreadOf(bare.map((s) => s.readyMs)),
      rssMb: spreadOf(bare.map((s) => s.rssKb / 1024)),
    };
    if (o.json)
      await writeFile(
        o.json,
        `${JSON.stringify({ machine: await machineInfo(), runs: n, bare: bareRow, functions: results }, null, 2)}\n`,
      );
    const lines = [
      '| Lambda | bundle | ready after process start, p50 (max) | over bare node | process wall time | RSS once loaded |',
      '| --- | --: | --: | --: | --: | --: |',
      `| bare \`node -e ''\` | - | ${bareRow.readyMs.p50} ms (${bareRow.readyMs.max}) | - | ${bareRow.wallMs.p50} ms | ${bareRow.rssMb.p50} MB |`,
      ...results.map(
        (r) =>
          `| ${r.name} | ${r.bundleKb} KiB | ${r.readyMs.p50} ms (${r.readyMs.max}) | +${r.overBareMs} ms | ${r.wallMs.p50} ms | ${r.rssMb.p50} MB (${r.rssMb.max}) |`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  err(`bench:lambda: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

/**
 * A host for the install tests, after the install: what systemd and AWS would do there, so that an installed unit
 * is started as written. There is no systemd (PID 1) on this machine, so `startUnit` does what `systemctl start`
 * does with the parts of a unit ha-redis uses: Environment= and EnvironmentFile= (`-`: optional; files override),
 * RuntimeDirectory= (0700; under `runRoot` instead of /run, every `/run/` path of the unit and its environment
 * moved there), each ExecStartPre= in order (systemd's quoting, `$$` for `$`, `%i` for the instance), then
 * ExecStart=. `fakeAws` answers `aws ssm get-parameter` from values the test gives, as the instance role would.
 * `fakeSns` takes the services' SNS Publish (and answers CloudWatch) on a loopback port.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A command line split as systemd does for Exec*= (single and double quotes; `$$` is a literal `$`). */
export function splitExecLine(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (quote) throw new Error(`unterminated quote in ${line}`);
  if (word !== undefined) words.push(word);
  return words.map((w) => w.replaceAll('$$', '$'));
}

/** The settings of an environment file (KEY=VALUE lines; comments and blank lines skipped). */
const parseEnvFile = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.trim() && !l.trimStart().startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

export interface StartedUnit {
  /** The service's main process (ExecStart). */
  pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
  /** The runtime directory, as created under `runRoot`. */
  runtimeDir: string;
  /** The environment the service got. */
  env: Record<string, string>;
  stop: () => void;
}

/**
 * Start an installed unit as systemd would: its environment, its runtime directory, its ExecStartPre commands
 * (any failing one fails the start, with its stderr), then its ExecStart as a process of its own.
 */
export async function startUnit(options: {
  unitFile: string;
  /** The template instance, `%i` (a bridge's Sentinel port). */
  instance?: string;
  /** Where /run is for this test. */
  runRoot: string;
  /** What the service inherits: PATH (with the fake aws), the instance role's credentials, endpoints. */
  baseEnv: Record<string, string>;
}): Promise<StartedUnit> {
  const { unitFile, instance = '', runRoot, baseEnv } = options;
  const toRun = (text: string) => text.replaceAll('%i', instance).replaceAll('/run/', `${runRoot}/`);
  const settings = (await readFile(unitFile, 'utf8'))
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), toRun(l.slice(l.indexOf('=') + 1))] as const);
  const all = (key: string) => settings.filter(([k]) => k === key).map(([, v]) => v);
  const env: Record<string, string> = { ...baseEnv };
  for (const assignment of all('Environment')) {
    env[assignment.slice(0, assignment.indexOf('='))] = assignment.slice(assignment.indexOf('=') + 1);
  }
  for (const entry of all('EnvironmentFile')) {
    const optional = entry.startsWith('-');
    const text = await readFile(optional ? entry.slice(1) : entry, 'utf8').catch((error: unknown) => {
      if (optional) return '';
      throw error;
    });
    for (const [k, v] of Object.entries(parseEnvFile(text))) env[k] = toRun(v);
  }
  const [runtimeName] = all('RuntimeDirectory');
  if (!runtimeName) throw new Error(`${unitFile} has no RuntimeDirectory`);
  const runtimeDir = join(runRoot, runtimeName);
  await mkdir(runtimeDir, { recursive: true });
  await chmod(runtimeDir, Number.parseInt(all('RuntimeDirectoryMode')[0] ?? '0755', 8));
  for (const line of all('ExecStartPre')) {
    const [command, ...args] = splitExecLine(line);
    try {
      await run(command as string, args, { env });
    } catch (error) {
      const { code, stderr } = error as { code: number; stderr: string };
      throw new Error(`ExecStartPre failed (exit ${code}): ${stderr}`);
    }
  }
  const [command, ...args] = splitExecLine(all('ExecStart')[0] ?? '');
  const child = spawn(command as string, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return {
    pid: child.pid,
    output: () => output,
    runtimeDir,
    env,
    stop: () => {
      child.kill('SIGKILL');
    },
  };
}

/**
 * An `aws` on the host's PATH that answers `aws ssm get-parameter --with-decryption --name NAME --query
 * Parameter.Value --output text` with the value of NAME (as the CLI prints it: the value and a newline), and
 * fails as the CLI does for any other name. Each call's arguments (names only, never a value) go to `<bin>/aws.log`.
 */
export async function fakeAws(
  bin: string,
  parameters: Record<string, string>,
): Promise<{ calls: () => Promise<string[]> }> {
  const valuesDir = join(bin, 'ssm-values');
  await mkdir(valuesDir, { recursive: true, mode: 0o700 });
  const cases: string[] = [];
  for (const [i, [name, value]] of Object.entries(parameters).entries()) {
    if (!/^\/?[A-Za-z0-9_./-]+$/.test(name)) throw new Error(`not an SSM parameter name: ${name}`);
    await writeFile(join(valuesDir, String(i)), value, { mode: 0o600 });
    cases.push(`    '${name}') file='${join(valuesDir, String(i))}' ;;`);
  }
  const log = join(bin, 'aws.log');
  const script = [
    '#!/usr/bin/env bash',
    `echo "$*" >> '${log}'`,
    'name=""',
    'while [ $# -gt 0 ]; do case "$1" in --name) name="$2"; shift 2 ;; *) shift ;; esac; done',
    'case "$name" in',
    ...cases,
    '    *) echo "An error occurred (ParameterNotFound) when calling the GetParameter operation: " >&2; exit 254 ;;',
    'esac',
    // --output text prints the value and a newline.
    'cat "$file"; echo',
  ].join('\n');
  await writeFile(join(bin, 'aws'), `${script}\n`, { mode: 0o755 });
  return {
    calls: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean),
  };
}

/** One SNS Publish the fake received. */
export interface FakePublish {
  topicArn: string;
  message: string;
}

/** SNS on a loopback port (AWS_ENDPOINT_URL_SNS): records each Publish and answers it; CloudWatch gets a 200. */
export async function fakeSns(): Promise<{
  url: string;
  published: FakePublish[];
  close: () => Promise<void>;
}> {
  const published: FakePublish[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const form = new URLSearchParams(body);
      if (form.get('Action') === 'Publish') {
        published.push({ topicArn: form.get('TopicArn') ?? '', message: form.get('Message') ?? '' });
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-${published.length}</MessageId></PublishResult><ResponseMetadata><RequestId>r-${published.length}</RequestId></ResponseMetadata></PublishResponse>`,
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        '<PutMetricDataResponse><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PutMetricDataResponse>',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    published,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Run the `ha-redis` executable as a user does (`bin/ha-redis.js`, the package's bin) in a process of its own.
 * At most as many run at once, per test file, as the machine has cores: a busy 2-core machine must not have
 * 20 Node processes starting together (a fresh machine found 20 CLI tests timing out that way).
 */
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';

export const BIN = new URL('../../bin/ha-redis.js', import.meta.url).pathname;

/**
 * A command that only parses its arguments answers in ~0.2 s on an idle machine; this budget holds on a busy
 * one. Tests that call the CLI give their `it` a timeout above it (CLI_TEST_TIMEOUT_MS).
 */
export const CLI_TIMEOUT_MS = 30_000;
export const CLI_TEST_TIMEOUT_MS = 3 * CLI_TIMEOUT_MS;

export interface CliResult {
  /** The exit code; the process never ends by a signal here (a timeout throws). */
  code: number;
  stdout: string;
  stderr: string;
}

const slots = { free: availableParallelism(), waiting: [] as (() => void)[] };

async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (slots.free > 0) slots.free -= 1;
  else await new Promise<void>((resolve) => slots.waiting.push(resolve));
  try {
    return await fn();
  } finally {
    const next = slots.waiting.shift();
    if (next) next();
    else slots.free += 1;
  }
}

/** Run `ha-redis <args>`; resolves with its exit code and output whatever the code. */
export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; maxBuffer?: number } = {},
): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? CLI_TIMEOUT_MS;
  return withSlot(
    () =>
      new Promise<CliResult>((resolve, reject) => {
        execFile(
          process.execPath,
          [BIN, ...args],
          {
            env: options.env ?? process.env,
            timeout: timeoutMs,
            maxBuffer: options.maxBuffer ?? 10 * 1024 * 1024,
          },
          (error, stdout, stderr) => {
            const e = error as (Error & { code?: number | string; killed?: boolean; signal?: string }) | null;
            if (e && (e.killed || e.signal || typeof e.code !== 'number')) {
              reject(
                new Error(
                  `ha-redis ${args.join(' ')} did not exit by itself within ${timeoutMs} ms (${e.signal ?? e.code ?? e.message}); stderr: ${stderr.slice(-2000)}`,
                ),
              );
              return;
            }
            resolve({ code: e ? (e.code as number) : 0, stdout, stderr });
          },
        );
      }),
  );
}

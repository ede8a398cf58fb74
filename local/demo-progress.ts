/** The demo's live output: the orchestrator's steps as they happen, progress ticks, and waiting for a condition. */
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Follow the orchestrator's JSON log and print each step as it happens. */
export function followSteps(path: string, say: (line: string) => void): () => void {
  let stopped = false;
  let offset = 0;
  void (async () => {
    const file = await open(path, 'r');
    try {
      let carry = '';
      while (!stopped) {
        const buffer = Buffer.alloc(65536);
        const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) {
          await sleep(50);
          continue;
        }
        offset += bytesRead;
        const lines = (carry + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
        carry = lines.pop() ?? '';
        for (const line of lines) {
          try {
            const log = JSON.parse(line) as {
              message?: string;
              step?: string;
              detail?: string;
              durationMs?: number;
              trigger?: string;
            };
            const quiet =
              log.trigger === 'reconcile' ||
              log.trigger === 'adopt' ||
              log.step === 'recorded' ||
              (log.step === 'confirmed' && log.detail === 'current');
            if (log.step && !quiet) {
              say(
                `  orchestrator: ${log.step.padEnd(18)} ${String(log.durationMs ?? 0).padStart(5)} ms  ${log.detail ?? ''}`,
              );
            } else if (log.message?.startsWith('failover of') || log.message?.includes('returning node')) {
              say(`  orchestrator: ${log.message}`);
            }
          } catch {
            /* not a JSON line */
          }
        }
      }
    } finally {
      await file.close();
    }
  })();
  return () => {
    stopped = true;
  };
}

/** Print a progress line at least every second until `done` resolves. */
export async function withProgress<T>(
  say: (line: string) => void,
  what: () => string,
  done: Promise<T>,
): Promise<T> {
  const start = Date.now();
  let finished = false;
  const ticker = (async () => {
    while (!finished) {
      await sleep(1000);
      if (!finished) say(`  ... ${((Date.now() - start) / 1000).toFixed(1)} s: ${what()}`);
    }
  })();
  try {
    return await done;
  } finally {
    finished = true;
    await ticker;
  }
}

/** Poll `fn` every 50 ms until it returns a value; a rejection counts as not yet. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

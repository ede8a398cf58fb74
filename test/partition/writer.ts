/**
 * A client application for the partition test, started inside a network namespace (`ip netns exec`):
 * one connection through a HAProxy, one SET of a new key at a time, every acknowledgement recorded with
 * its time. Prints `{"acked":N}` lines while it runs; on SIGTERM prints the report as one JSON line and exits.
 * Usage: node writer.ts <host> <port> <password-file> <key-prefix>
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/** What the writer prints last: acknowledged sequence numbers and their times (epoch ms), index for index. */
export interface WriterReport {
  prefix: string;
  acked: number[];
  ackedAt: number[];
  /** Failed writes by the first word of the error (NOREPLICAS, READONLY, Command timed out, ...). */
  errors: Record<string, { count: number; first: number; last: number }>;
}

/** Pause between writes: a few hundred writes a second is resolution enough, and leaves the 2 cores to Redis. */
const PACE_MS = 2;
/** Pause after a failed write. */
const RETRY_MS = 20;

async function main(): Promise<void> {
  const [host, port, passwordFile, prefix] = process.argv.slice(2);
  if (!host || !port || !passwordFile || !prefix) {
    throw new Error('usage: writer.ts <host> <port> <password-file> <key-prefix>');
  }
  const client = new Redis({
    host,
    port: Number(port),
    password: readFileSync(passwordFile, 'utf8').trim(),
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 1000,
    commandTimeout: 1000,
    retryStrategy: () => 50,
    // A demoted master answers READONLY: reconnect, and the proxy picks the node again.
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  });
  client.on('error', () => undefined);
  const report: WriterReport = { prefix, acked: [], ackedAt: [], errors: {} };
  let running = true;
  process.on('SIGTERM', () => {
    running = false;
  });
  const progress = setInterval(() => {
    process.stdout.write(`${JSON.stringify({ acked: report.acked.length })}\n`);
  }, 100);
  for (let seq = 1; running; seq += 1) {
    try {
      await client.set(`${prefix}:${seq}`, String(seq));
      report.acked.push(seq);
      report.ackedAt.push(Date.now());
      await sleep(PACE_MS);
    } catch (error) {
      const now = Date.now();
      const kind = (error as Error).message.split(/[ :]/)[0] || 'error';
      const seen = report.errors[kind] ?? { count: 0, first: now, last: now };
      seen.count += 1;
      seen.last = now;
      report.errors[kind] = seen;
      await sleep(RETRY_MS);
    }
  }
  clearInterval(progress);
  client.disconnect();
  process.stdout.write(`${JSON.stringify({ report })}\n`, () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`writer failed: ${(error as Error).message}\n`);
  process.exit(1);
});

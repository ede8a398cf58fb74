/** The partition test's handle on a writer application (writer.ts) it runs in a network namespace. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '../../core/model/cluster.ts';
import { inNetns } from '../../local/netns.ts';
import { waitUntil } from '../../local/processes.ts';
import type { WriterReport } from './writer.ts';

const WRITER = fileURLToPath(new URL('./writer.ts', import.meta.url));

/** A writer application running in a network namespace (see writer.ts). */
export class WriterProcess {
  private readonly child: ChildProcess;
  private acked = 0;
  private stdout = '';
  private stderr = '';
  private readonly exited: Promise<number | null>;

  constructor(netns: string, proxy: Endpoint, passwordFile: string, prefix: string) {
    const [program, args] = inNetns(netns, process.execPath, [
      WRITER,
      proxy.host,
      String(proxy.port),
      passwordFile,
      prefix,
    ]);
    this.child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString('utf8');
      const lines = this.stdout.split('\n');
      for (const line of lines.slice(0, -1).reverse()) {
        const count = /^\{"acked":(\d+)\}$/.exec(line)?.[1];
        if (count !== undefined) {
          this.acked = Number(count);
          break;
        }
      }
      // Keep only the unfinished line and the report (the progress lines are read once).
      this.stdout = lines.filter((l, i) => i === lines.length - 1 || l.startsWith('{"report"')).join('\n');
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
  }

  get ackCount(): number {
    return this.acked;
  }

  async waitForAcks(n: number, timeoutMs: number, what: string): Promise<void> {
    await waitUntil(async () => this.acked >= n, timeoutMs, what, 20).catch((error: Error) => {
      throw new Error(`${error.message}; ${this.acked} acked; writer stderr: ${this.stderr.trim()}`);
    });
  }

  /** Stop the writer and read what it acknowledged. */
  async stop(): Promise<WriterReport> {
    this.child.kill('SIGTERM');
    const code = await this.exited;
    const line = this.stdout.split('\n').find((l) => l.startsWith('{"report"'));
    if (code !== 0 || !line) {
      throw new Error(`writer exited with ${code} and no report; stderr: ${this.stderr.trim()}`);
    }
    return (JSON.parse(line) as { report: WriterReport }).report;
  }

  /** For teardown after a failure: the process we started, by its pid. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

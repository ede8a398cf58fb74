/**
 * A WriteLoad in its own worker thread. The writers then keep their own event loop, as real clients in their own
 * processes do: work in the benchmark's thread (e.g. a workflow run in-process, which renders its state machine
 * with CDK at start, ~0.5 s of synchronous work) cannot delay their acks and count as a write gap.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type LoadOptions, type LoadReport, WriteLoad } from '../local/load.ts';

const KIND = 'ha-redis-bench-write-load';
/** How often the worker publishes its ack count to the shared counter. */
const PUBLISH_MS = 5;

interface Init {
  kind: typeof KIND;
  options: LoadOptions;
  acks: SharedArrayBuffer;
}

type FromWorker = { type: 'report'; report: LoadReport } | { type: 'error'; message: string };
type ToWorker = 'stop' | 'reconnect';

export class WorkerLoad {
  private readonly acks = new Int32Array(new SharedArrayBuffer(4));
  private readonly options: LoadOptions;
  private running: { worker: Worker; done: Promise<LoadReport> } | undefined;
  private stopped: Promise<LoadReport> | undefined;

  /** `start` starts the writers; `autoStart` (the default) does it at once. */
  constructor(options: LoadOptions, autoStart = true) {
    this.options = options;
    if (autoStart) this.start();
  }

  /** Start the writers in their worker; safe to call twice. */
  start(): void {
    if (this.running) return;
    const init: Init = { kind: KIND, options: this.options, acks: this.acks.buffer as SharedArrayBuffer };
    const worker = new Worker(new URL(import.meta.url), { workerData: init });
    const done = new Promise<LoadReport>((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'report') resolve(m.report);
        else reject(new Error(`write load: ${m.message}`));
      });
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`write load worker exited (code ${code})`)));
    });
    done.catch(() => undefined); // observed by stop()
    this.running = { worker, done };
  }

  /** Every writer drops its connection and connects again (see WriteLoad.reconnect). */
  reconnect(): void {
    this.running?.worker.postMessage('reconnect' satisfies ToWorker);
  }

  /** Acknowledged writes so far (at most PUBLISH_MS old). */
  get ackCount(): number {
    return Atomics.load(this.acks, 0);
  }

  async waitForAcks(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ackCount < n) {
      if (Date.now() > deadline)
        throw new Error(`only ${this.ackCount} of ${n} writes acknowledged in ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  /** Stop the writers and end the worker; safe to call twice. */
  stop(): Promise<LoadReport> {
    this.stopped ??= (async () => {
      const running = this.running;
      if (!running) throw new Error('write load: stopped before it started');
      running.worker.postMessage('stop' satisfies ToWorker);
      try {
        return await running.done;
      } finally {
        await running.worker.terminate();
      }
    })();
    return this.stopped;
  }
}

/** The worker side: run the load until told to stop, then send the report. */
if (!isMainThread && (workerData as Init | undefined)?.kind === KIND && parentPort) {
  const port = parentPort;
  const { options, acks } = workerData as Init;
  const counter = new Int32Array(acks);
  const load = new WriteLoad(options);
  load.start();
  const publish = setInterval(() => Atomics.store(counter, 0, load.ackCount), PUBLISH_MS);
  const onMessage = (m: ToWorker) => {
    if (m === 'reconnect') {
      load.reconnect();
      return;
    }
    port.off('message', onMessage);
    clearInterval(publish);
    load
      .stop()
      .then((report) => {
        Atomics.store(counter, 0, report.acked);
        port.postMessage({ type: 'report', report } satisfies FromWorker);
      })
      .catch((error: unknown) =>
        port.postMessage({ type: 'error', message: error instanceof Error ? error.message : String(error) }),
      );
  };
  port.on('message', onMessage);
}

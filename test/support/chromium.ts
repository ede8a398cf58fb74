/**
 * A small Chrome DevTools Protocol client for browser tests: one headless Chromium per test file, driven over the
 * WebSocket it prints on stderr (Node's global WebSocket; no puppeteer). One page target, attached with
 * `flatten: true`, so that the page's commands travel on the browser's connection with a session id.
 * Chromium and its profile directory are removed by `close()`, and by the launch itself when it fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HaRedisError } from '../../core/model/errors.ts';

/** Something went wrong with the test browser; the message says what, and Chromium's stderr when it helps. */
export class ChromiumError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChromiumError';
  }
}

/** A busy 2-core machine may take seconds to start Chromium; no DevTools URL by then fails the launch. */
export const DEVTOOLS_URL_WITHIN_MS = 10_000;
/** One protocol command (a navigation included) that takes longer than this fails. */
const COMMAND_TIMEOUT_MS = 30_000;
/** How long `close()` lets Chromium exit after Browser.close before it kills the process group. */
const EXIT_GRACE_MS = 5_000;
/** The last bytes of Chromium's stderr, kept for error messages. */
const STDERR_TAIL = 4_000;

/** One page in the test browser. */
export interface ChromiumPage {
  /** Load `url` in the page and wait for its load event; a failed navigation throws with Chromium's reason. */
  navigate(url: string): Promise<void>;
  /** The value of a JavaScript expression in the page (returned by value, so JSON-like); a thrown one throws. */
  evaluate<T>(expression: string): Promise<T>;
  /** Close the browser, kill what is left of its processes and remove its profile; safe to call twice. */
  close(): Promise<void>;
}

interface CdpError {
  code: number;
  message: string;
  data?: string;
}

/** A message from Chromium: the answer to a command (id) or an event (method). */
interface CdpMessage {
  id?: number;
  method?: string;
  sessionId?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: CdpError;
}

interface Pending {
  method: string;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** The browser-level connection: commands with ids, answers matched to them, events to listeners. */
class CdpConnection {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(message: CdpMessage) => void>();
  #nextId = 1;
  #closedBecause: string | undefined;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener('message', (event) => this.#receive(String(event.data)));
    socket.addEventListener('close', () => this.#failAll('the DevTools connection closed'));
  }

  static open(url: string, timeoutMs: number): Promise<CdpConnection> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const timer = setTimeout(() => {
        socket.close();
        reject(
          new ChromiumError(`could not connect to Chromium's DevTools at ${url} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      socket.addEventListener('open', () => {
        clearTimeout(timer);
        resolve(new CdpConnection(socket));
      });
      socket.addEventListener('error', (event) => {
        clearTimeout(timer);
        reject(new ChromiumError(`could not connect to Chromium's DevTools at ${url}`, { cause: event }));
      });
    });
  }

  /** Send one command (to a page when `sessionId` is given) and wait for its answer. */
  send<T>(
    method: string,
    params: object = {},
    sessionId?: string,
    timeoutMs = COMMAND_TIMEOUT_MS,
  ): Promise<T> {
    if (this.#closedBecause) {
      return Promise.reject(new ChromiumError(`cannot send ${method}: ${this.#closedBecause}`));
    }
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ChromiumError(`Chromium did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { method, resolve: (r) => resolve(r as T), reject, timer });
      this.#socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  /** Wait for the next event `method` of `sessionId`; start waiting before the command that causes it. */
  nextEvent(method: string, sessionId: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<CdpMessage> {
    return new Promise((resolve, reject) => {
      const listener = (message: CdpMessage) => {
        if (message.method !== method || message.sessionId !== sessionId) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(message);
      };
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new ChromiumError(`no ${method} from Chromium within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#listeners.add(listener);
    });
  }

  close(): void {
    this.#failAll('the DevTools connection was closed by the test');
    this.#socket.close();
  }

  #receive(data: string): void {
    const message = JSON.parse(data) as CdpMessage;
    if (message.id === undefined) {
      for (const listener of [...this.#listeners]) listener(message);
      return;
    }
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.error) {
      const { code, message: text, data: detail } = message.error;
      pending.reject(
        new ChromiumError(`${pending.method} failed: ${text} (code ${code}${detail ? `, ${detail}` : ''})`),
      );
    } else {
      pending.resolve(message.result);
    }
  }

  #failAll(reason: string): void {
    this.#closedBecause ??= reason;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new ChromiumError(`${reason} while waiting for ${pending.method}`));
      this.#pending.delete(id);
    }
  }
}

/** The headless browser process: its stderr tail, its exit, and a kill of its whole process group. */
class ChromiumProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  #stderr = '';
  #exitedWith: string | undefined;

  constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitedWith ??= signal ? `signal ${signal}` : `code ${code}`;
        resolve();
      });
      // Not started at all (no chromium on PATH): 'error', and no 'exit'.
      child.once('error', (error) => {
        this.#exitedWith ??= `could not start: ${error.message}`;
        resolve();
      });
    });
    // Always drained: a full stderr pipe would stop Chromium.
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL);
    });
  }

  get stderrTail(): string {
    return this.#stderr;
  }

  /** The DevTools WebSocket URL Chromium prints on stderr when it is ready. */
  devtoolsUrl(timeoutMs: number): Promise<string> {
    const found = () => /DevTools listening on (ws:\/\/\S+)/.exec(this.#stderr)?.[1];
    return new Promise((resolve, reject) => {
      const done = (error?: ChromiumError) => {
        clearTimeout(timer);
        this.child.stderr?.off('data', check);
        const url = found();
        if (url && !error) resolve(url);
        else reject(error);
      };
      const check = () => {
        if (found()) done();
      };
      const timer = setTimeout(
        () =>
          done(new ChromiumError(`Chromium printed no DevTools URL within ${timeoutMs} ms${this.#tail()}`)),
        timeoutMs,
      );
      this.child.stderr?.on('data', check);
      void this.exited.then(() =>
        done(
          new ChromiumError(
            `Chromium exited (${this.#exitedWith}) before it printed a DevTools URL${this.#tail()}`,
          ),
        ),
      );
      check();
    });
  }

  /** SIGKILL to the process group (Chromium's renderers and helpers with it); gone already is fine. */
  killGroup(): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      /* the group is gone already */
    }
  }

  #tail(): string {
    return this.#stderr ? `; its stderr ended with:\n${this.#stderr}` : '';
  }
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Flags of the test browser; `about:blank` is its first page, and the tests open one more of their own. */
function chromiumArgs(profile: string): string[] {
  return [
    '--headless',
    // The browser only ever loads the test's own loopback page; as root, and in most containers, Chromium
    // refuses to start with its sandbox.
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--no-default-browser-check',
    // The page's poller is a 2 s timer: keep Chromium from slowing timers of a page it deems in the background.
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
    '--remote-debugging-port=0',
    `--user-data-dir=${profile}`,
    'about:blank',
  ];
}

/** Attach to a new page target; its commands carry the returned session id. */
async function openPage(cdp: CdpConnection): Promise<string> {
  const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', {
    targetId,
    flatten: true,
  });
  await cdp.send('Page.enable', {}, sessionId);
  await cdp.send('Runtime.enable', {}, sessionId);
  return sessionId;
}

function pageOf(cdp: CdpConnection, sessionId: string, close: () => Promise<void>): ChromiumPage {
  return {
    async navigate(url) {
      const loaded = cdp.nextEvent('Page.loadEventFired', sessionId);
      loaded.catch(() => undefined); // awaited below, unless the navigation itself fails first
      const { errorText } = await cdp.send<{ errorText?: string }>('Page.navigate', { url }, sessionId);
      if (errorText) throw new ChromiumError(`Chromium could not load ${url}: ${errorText}`);
      await loaded;
    },
    async evaluate<T>(expression: string) {
      const answer = await cdp.send<{
        result: { value?: unknown };
        exceptionDetails?: { text: string; exception?: { description?: string } };
      }>('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId);
      if (answer.exceptionDetails) {
        const { text, exception } = answer.exceptionDetails;
        throw new ChromiumError(`the page threw on ${expression}: ${exception?.description ?? text}`);
      }
      return answer.result.value as T;
    },
    close,
  };
}

/**
 * Start headless Chromium with a fresh profile and open one page in it.
 * 1. start it in a process group of its own 2. read its DevTools URL 3. connect 4. create and attach a page.
 * A failure at any step kills Chromium and removes the profile before it throws.
 */
export async function launchChromium(devtoolsWithinMs = DEVTOOLS_URL_WITHIN_MS): Promise<ChromiumPage> {
  const profile = await mkdtemp(join(tmpdir(), 'har-chromium-'));
  const browser = new ChromiumProcess(
    spawn('chromium', chromiumArgs(profile), { detached: true, stdio: ['ignore', 'ignore', 'pipe'] }),
  );
  // Should the test process end without close(), Chromium and its profile go with it.
  const onExit = () => {
    browser.killGroup();
    rmSync(profile, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let cdp: CdpConnection | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      if (cdp) {
        // Asked first, so that Chromium leaves its profile whole; killed below whatever it answers.
        await cdp.send('Browser.close', {}, undefined, 2_000).catch(() => undefined);
        cdp.close();
        await Promise.race([browser.exited, wait(EXIT_GRACE_MS)]);
      }
      browser.killGroup();
      await Promise.race([browser.exited, wait(EXIT_GRACE_MS)]);
      await rm(profile, { recursive: true, force: true, maxRetries: 5 });
      process.off('exit', onExit);
    })();
    return closing;
  };
  try {
    const url = await browser.devtoolsUrl(devtoolsWithinMs);
    cdp = await CdpConnection.open(url, devtoolsWithinMs);
    const sessionId = await openPage(cdp);
    return pageOf(cdp, sessionId, close);
  } catch (error) {
    await close();
    throw error;
  }
}

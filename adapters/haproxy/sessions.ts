/**
 * Runtime API sessions kept open in HAProxy's interactive mode (`prompt`), per address, so that a reroute,
 * the reads that verify it, and the next invocation of the same Lambda container within a second send their
 * commands without a new TCP (and TLS) handshake.
 *
 * Why each rule:
 * - A session is kept for a short idle time only, and HAProxy is told so (`set timeout cli`): the stats socket
 *   takes 10 connections by default (`stats maxconn`, HAProxy 2.6 configuration manual, 3.1), and a frozen
 *   Lambda container cannot close what it holds; HAProxy closes it one second after its last command.
 * - Every request asks `show info` first, on the same line: after a reload (`-sf`, or USR2 to the master) the
 *   old worker keeps serving the sessions it holds, and its `Stopping: 1` says so. Its answer is not trusted
 *   and the commands are sent again on a new session, which reaches the new worker. This is the health check,
 *   paid in bytes, not in a round trip.
 * - A kept session that HAProxy closed meanwhile (its timeout, a restart) fails before any byte of an answer:
 *   the commands are sent once more on a new session. Never after a timeout: that proxy is not answering.
 * - A session carries one request at a time; requests at once take a session each (IDLE_PER_PROXY says why).
 * - A broken or timed-out session is destroyed and forgotten.
 */
import type { Socket } from 'node:net';
import type { RuntimeApiAddress } from '../../core/model/cluster.ts';
import { RoutingError, UnreachableError } from '../../core/model/errors.ts';
import {
  materialKey,
  openRuntimeApi,
  type RuntimeApiTls,
  refuseUnsafeCommands,
  runtimeApiError,
  whereOf,
} from './connect.ts';

/** How long a kept session may sit idle and still be used: under the second after which HAProxy closes it. */
export const SESSION_IDLE_MS = 800;

/** HAProxy's answers in interactive mode: each command's output, then this prompt. */
const PROMPT = '\n> ';

/** The first line of a session: interactive mode, and HAProxy's own idle timeout for it (whole seconds). */
const openingLine = (idleMs: number) =>
  `prompt;set timeout cli ${Math.max(1, Math.ceil((idleMs + 200) / 1000))}\n`;

/** What a request got back: each command's answer, and whether the process answering is a stopping one. */
interface Answer {
  answers: string[];
  stopping: boolean;
}

interface Waiting {
  /** Prompts that end this request's answer (one per command). */
  prompts: number;
  resolve(answer: string[]): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
  /** Whether the session had answered before this was written: only a kept session can be stale. */
  kept: boolean;
  /** Characters the session had received when this was written. */
  receivedAtWrite: number;
}

/** A kept session that was found closed before any byte of the answer: the commands may go on a new one. */
class StaleSessionError extends Error {
  readonly unreachable: UnreachableError;
  constructor(unreachable: UnreachableError) {
    super(unreachable.message, { cause: unreachable });
    this.unreachable = unreachable;
  }
}

/** Errors of a session that the peer closed, as opposed to one that stopped answering. */
const CLOSED_CODES = new Set(['ECONNRESET', 'EPIPE', 'HA_REDIS_SESSION_CLOSED']);

/** One connection in interactive mode; requests are answered in the order written. */
class RuntimeApiSession {
  private readonly socket: Socket;
  private readonly where: string;
  private readonly waiting: Waiting[] = [];
  private buffer = '';
  private received = 0;
  private answered = 0;
  private failure: Error | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** When the last answer arrived (or the session was opened). */
  private lastActive: number;
  /** Set when a `show info` said the answering process is stopping: never used again. */
  private stopping = false;

  private readonly idleMs: number;
  private readonly now: () => number;
  /** Called once the session takes no new request: the pool forgets it. */
  private readonly onGone: () => void;

  constructor(
    address: RuntimeApiAddress,
    tls: RuntimeApiTls | undefined,
    idleMs: number,
    now: () => number,
    onGone: () => void,
  ) {
    this.idleMs = idleMs;
    this.now = now;
    this.onGone = onGone;
    this.where = whereOf(address);
    this.lastActive = now();
    const { socket } = openRuntimeApi(address, tls);
    this.socket = socket;
    if (address.kind === 'tcp') socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => this.fail(runtimeApiError(this.where, error)));
    socket.on('close', () =>
      this.fail(
        new UnreachableError(`Runtime API ${this.where} closed the session`, {
          cause: Object.assign(new Error('session closed'), { code: 'HA_REDIS_SESSION_CLOSED' }),
        }),
      ),
    );
    // Written at once: the socket sends it when connected, and the first request right behind it.
    this.enqueue(openingLine(idleMs), 2, undefined).catch(() => undefined);
  }

  /** Whether a new request may use this session now: it is open, waits for nothing, and was used lately. */
  reusable(): boolean {
    if (this.failure || this.stopping || this.waiting.length > 0) return false;
    return this.now() - this.lastActive < this.idleMs;
  }

  /** Send commands on one line, behind `show info`; resolve with each command's answer. */
  async request(commands: readonly string[], timeoutMs: number): Promise<Answer> {
    const [info = '', ...answers] = await this.enqueue(
      `show info;${commands.join(';')}\n`,
      commands.length + 1,
      timeoutMs,
    );
    const stopping = /^Stopping: 1$/m.test(info);
    if (stopping) this.retire();
    return { answers, stopping };
  }

  close(): void {
    this.retire();
  }

  private enqueue(line: string, prompts: number, timeoutMs: number | undefined): Promise<string[]> {
    if (this.failure) return Promise.reject(this.failure);
    clearTimeout(this.idleTimer);
    this.socket.ref();
    return new Promise((resolve, reject) => {
      const waiting: Waiting = {
        prompts,
        resolve,
        reject,
        kept: this.answered > 0,
        receivedAtWrite: this.received,
      };
      if (timeoutMs !== undefined) {
        waiting.timer = setTimeout(() => {
          this.fail(
            runtimeApiError(
              this.where,
              Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }),
            ),
          );
        }, timeoutMs);
      }
      this.waiting.push(waiting);
      this.socket.write(line);
    });
  }

  private onData(chunk: string): void {
    this.received += chunk.length;
    this.buffer += chunk;
    for (;;) {
      const head = this.waiting[0];
      if (!head) return;
      const answers: string[] = [];
      let from = 0;
      for (let i = 0; i < head.prompts; i++) {
        const at = this.buffer.indexOf(PROMPT, from);
        if (at < 0) return;
        answers.push(this.buffer.slice(from, at));
        from = at + PROMPT.length;
      }
      this.buffer = this.buffer.slice(from);
      this.waiting.shift();
      clearTimeout(head.timer);
      this.answered += 1;
      this.lastActive = this.now();
      head.resolve(answers);
      if (this.waiting.length === 0) this.idle();
    }
  }

  /** Nothing is waiting: let the process exit, and close the session when its idle time is up. */
  private idle(): void {
    this.socket.unref();
    if (this.stopping) {
      this.retire();
      return;
    }
    this.idleTimer = setTimeout(() => {
      if (this.waiting.length === 0 && !this.reusable()) this.retire();
    }, this.idleMs + 1);
    this.idleTimer.unref();
  }

  /** Take no new request; close once the requests already written are answered. */
  private retire(): void {
    this.stopping = true;
    this.onGone();
    if (this.waiting.length === 0 && !this.failure) {
      clearTimeout(this.idleTimer);
      this.failure = new UnreachableError(`Runtime API ${this.where}: session closed by ha-redis`);
      this.socket.end();
      this.socket.unref();
    }
  }

  private fail(error: UnreachableError | RoutingError): void {
    if (this.failure) return;
    this.failure = error;
    clearTimeout(this.idleTimer);
    this.onGone();
    const code = String((error.cause as { code?: unknown } | undefined)?.code ?? '');
    for (const waiting of this.waiting.splice(0)) {
      clearTimeout(waiting.timer);
      const stale =
        waiting.kept &&
        this.received === waiting.receivedAtWrite &&
        CLOSED_CODES.has(code) &&
        error instanceof UnreachableError;
      waiting.reject(stale ? new StaleSessionError(error) : error);
    }
    this.socket.destroy();
  }
}

/** Options of the kept sessions; tests shorten the idle time and step the clock. */
export interface RuntimeApiSessionOptions {
  /** How long an idle session is kept; HAProxy is told to close it a little after. Default SESSION_IDLE_MS. */
  idleMs?: number;
  now?: () => number;
}

/** How many times a request is sent: a stale kept session, then a stopping process, each earn one more try. */
const MAX_SENDS = 3;

/** How the router's commands reach a Runtime API: each command's answer, from a process that is not stopping. */
export interface RuntimeApiTransport {
  send(
    address: RuntimeApiAddress,
    commands: readonly string[],
    timeoutMs: number,
    tls?: RuntimeApiTls,
  ): Promise<string[]>;
  /** Connections opened so far (reuse is what the benchmark and the tests measure). */
  readonly opened: number;
  close(): void;
}

/**
 * How many idle sessions are kept per proxy. A request never waits behind another on a session: under load
 * HAProxy answers a session's commands one scheduler pass after another, so 8 reroutes sent on one session took
 * 2-5 times as long as on 8 sessions, which it serves side by side (bench host-failure). A burst opens a session
 * per request at once, as many connections as before; this many of them stay for the next steps.
 */
const IDLE_PER_PROXY = 4;

/** The kept Runtime API sessions of a process (a Lambda container), per address and client certificate. */
export class RuntimeApiSessions implements RuntimeApiTransport {
  /** The idle sessions of each key, the most recently used last. */
  private readonly idle = new Map<string, RuntimeApiSession[]>();
  private readonly open = new Set<RuntimeApiSession>();
  private readonly idleMs: number;
  private readonly now: () => number;
  opened = 0;

  constructor(options: RuntimeApiSessionOptions = {}) {
    this.idleMs = options.idleMs ?? SESSION_IDLE_MS;
    this.now = options.now ?? (() => performance.now());
  }

  /** Send commands on one line and return each command's answer, from a process that is not stopping. */
  async send(
    address: RuntimeApiAddress,
    commands: readonly string[],
    timeoutMs: number,
    tls?: RuntimeApiTls,
  ): Promise<string[]> {
    refuseUnsafeCommands(commands);
    const key = keyOf(address, tls);
    let stale = false;
    for (let send = 1; ; send++) {
      let answer: Answer;
      const session = this.take(key, address, tls);
      try {
        answer = await session.request(commands, timeoutMs);
      } catch (error) {
        if (!(error instanceof StaleSessionError)) throw error;
        if (stale || send >= MAX_SENDS) throw error.unreachable;
        stale = true;
        continue;
      }
      this.giveBack(key, session);
      if (!answer.stopping) return answer.answers;
      if (send >= MAX_SENDS) {
        throw new RoutingError(
          `Runtime API ${whereOf(address)} answered ${send} times from a HAProxy process that is stopping (a reload under way); try again when the reload is done`,
        );
      }
    }
  }

  /** Close every session (a process that ends; a test's teardown). */
  close(): void {
    for (const session of [...this.open]) session.close();
    this.open.clear();
    this.idle.clear();
  }

  /** An idle session of `key` used lately, or a new one. */
  private take(key: string, address: RuntimeApiAddress, tls: RuntimeApiTls | undefined): RuntimeApiSession {
    const idle = this.idle.get(key) ?? [];
    for (let kept = idle.pop(); kept; kept = idle.pop()) {
      if (kept.reusable()) return kept;
      kept.close();
    }
    const session: RuntimeApiSession = new RuntimeApiSession(address, tls, this.idleMs, this.now, () => {
      this.open.delete(session);
      const list = this.idle.get(key);
      const at = list?.indexOf(session) ?? -1;
      if (list && at >= 0) list.splice(at, 1);
    });
    this.open.add(session);
    this.opened += 1;
    return session;
  }

  /** A session whose request was answered: kept for the next one, unless enough are kept already. */
  private giveBack(key: string, session: RuntimeApiSession): void {
    if (!session.reusable()) return;
    const idle = this.idle.get(key) ?? [];
    if (idle.length >= IDLE_PER_PROXY) {
      session.close();
      return;
    }
    idle.push(session);
    this.idle.set(key, idle);
  }
}

/** A session is shared only by requests to the same address with the same client certificate. */
function keyOf(address: RuntimeApiAddress, tls: RuntimeApiTls | undefined): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return `${address.tls ? 'tls' : 'tcp'}:${address.host}:${address.port}\0${tls ? materialKey(tls) : ''}`;
}

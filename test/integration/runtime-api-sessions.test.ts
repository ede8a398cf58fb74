import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HaproxyRouter, runtimeApi } from '../../adapters/haproxy/runtime-api.ts';
import { RuntimeApiSessions } from '../../adapters/haproxy/sessions.ts';
import { RoutingError, UnreachableError } from '../../core/model/errors.ts';
import { readPidFile, waitUntil } from '../../local/processes.ts';
import { type HaproxyHost, missingProxyTools, startHaproxyHost } from '../support/haproxy-host.ts';

const skipReason = missingProxyTools();
if (skipReason) console.warn(`Runtime API session tests skipped: ${skipReason}`);

/** Connections HAProxy has accepted since it started (`show info`), asked on a connection of its own. */
async function acceptedConnections(h: HaproxyHost): Promise<number> {
  const info = await runtimeApi({ kind: 'unix', path: h.socketPath }, ['show info']);
  return Number(/^CumConns: (\d+)$/m.exec(info)?.[1]);
}

/** CLI sessions open on the admin socket, besides the one that asks (`show sess`, frontend GLOBAL). */
async function otherCliSessions(h: HaproxyHost): Promise<number> {
  const sessions = await runtimeApi({ kind: 'unix', path: h.socketPath }, ['show sess']);
  return sessions.split('\n').filter((l) => l.includes('fe=GLOBAL')).length - 1;
}

describe.skipIf(skipReason !== undefined)('Runtime API sessions kept open (real haproxy)', () => {
  let dir: string;
  let h: HaproxyHost;
  let router: HaproxyRouter;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'har-sessions-'));
    h = await startHaproxyHost(dir, 4);
  });
  afterEach(async () => {
    router?.close();
    await h?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends a reroute and the reads after it over one connection', async () => {
    // A long idle time: a busy machine must not close the session between the steps this counts.
    router = new HaproxyRouter(1000, async () => undefined, new RuntimeApiSessions({ idleMs: 60_000 }));
    const proxy = h.proxyFor('redis_svc1');
    const before = await acceptedConnections(h);

    await router.pointMasterAt(proxy, { host: '127.0.0.1', port: 7001 });
    const route = await router.masterRoute(proxy);
    await router.blockMaster(proxy);
    await router.pointMasterAt(proxy, { host: '127.0.0.1', port: 7002 });

    // One kept session, and the connection of the second count itself.
    expect((await acceptedConnections(h)) - before).toBe(2);
    expect(route).toEqual({ address: { host: '127.0.0.1', port: 7001 }, state: 'ready' });
    expect((await h.runtimeRoutes()).redis_svc1).toBe('127.0.0.1:7002');
    expect(router.sessions.opened).toBe(1);
  });

  it('sends the reroutes of many services on one proxy at once on a session each, and keeps them for the next', async () => {
    // A long idle time: a busy machine must not close the session between the steps this counts.
    router = new HaproxyRouter(1000, async () => undefined, new RuntimeApiSessions({ idleMs: 60_000 }));
    const targets = h.backends.map((b, i) => ({ backend: b.backend, port: 7100 + i }));
    const rerouteAll = (offset: number) =>
      Promise.all(
        targets.map((t) =>
          router.pointMasterAt(h.proxyFor(t.backend), { host: '127.0.0.1', port: t.port + offset }),
        ),
      );

    await rerouteAll(0);
    const openedByTheBurst = router.sessions.opened;
    await rerouteAll(10);

    const routes = await h.runtimeRoutes();
    for (const t of targets) expect(routes[t.backend]).toBe(`127.0.0.1:${t.port + 10}`);
    expect(openedByTheBurst).toBe(4);
    expect(router.sessions.opened).toBe(4);
  });

  it('after a reload, sends the reroute again to the new worker, not the stopping one that holds the session', async () => {
    // A long idle time keeps the session through the reload, as a burst of commands would.
    router = new HaproxyRouter(1000, async () => undefined, new RuntimeApiSessions({ idleMs: 60_000 }));
    const proxy = h.proxyFor('redis_svc1');
    await router.pointMasterAt(proxy, { host: '127.0.0.1', port: 7001 });
    const oldWorker = await h.workerPid();

    // USR2 to the master: a new worker starts; the old one stops, but keeps serving the sessions it holds.
    process.kill(Number(await readPidFile(h.pidFile)), 'SIGUSR2');
    await waitUntil(async () => (await h.workerPid()) !== oldWorker, 10_000, 'a new haproxy worker');
    await router.pointMasterAt(proxy, { host: '127.0.0.1', port: 7002 });

    expect((await h.runtimeRoutes()).redis_svc1).toBe('127.0.0.1:7002');
    expect(router.sessions.opened).toBe(2);
    expect(await router.masterRoute(proxy)).toEqual({
      address: { host: '127.0.0.1', port: 7002 },
      state: 'ready',
    });
  });

  it('opens a new session when the kept one has been idle too long, and HAProxy closes the kept one itself', async () => {
    let now = 0;
    router = new HaproxyRouter(1000, async () => undefined, new RuntimeApiSessions({ now: () => now }));
    const proxy = h.proxyFor('redis_svc1');
    await router.masterRoute(proxy);
    now += 500;
    await router.masterRoute(proxy);
    expect(router.sessions.opened).toBe(1);

    now += 900;
    await router.masterRoute(proxy);
    expect(router.sessions.opened).toBe(2);

    // The clock stands still, so ha-redis never finds the new session idle: as in a frozen Lambda container,
    // only HAProxy's own timeout for the session (`set timeout cli`) frees its slot of `stats maxconn`.
    // (The first session, closed by ha-redis just now, may still be listed while HAProxy takes its close.)
    expect(await otherCliSessions(h)).toBeGreaterThanOrEqual(1);
    // HAProxy closes it about a second later (`set timeout cli 1`). In 3 of ~14 full fresh-clone runs it was
    // not closed within 5 s, once not within 10: as if that timeout had not taken and only the stats socket's
    // default (10 s) applied. Not understood yet (see the README, Runtime API sessions); this waits for either,
    // and still fails when HAProxy never closes it (ha-redis never does here).
    await waitUntil(
      async () => (await otherCliSessions(h)) === 0,
      15_000,
      'haproxy to close the idle session',
    );
    await router.masterRoute(proxy);
    expect(router.sessions.opened).toBe(3);
  }, 25_000);

  it('opens a new session after HAProxy restarts, and tells a proxy that is down from one that refuses', async () => {
    router = new HaproxyRouter(1000, async () => undefined, new RuntimeApiSessions({ idleMs: 60_000 }));
    await router.masterRoute(h.proxyFor('redis_svc1'));
    await h.stop();

    await expect(router.masterRoute(h.proxyFor('redis_svc1'))).rejects.toBeInstanceOf(UnreachableError);
    h = await startHaproxyHost(dir, 4);
    expect(await router.masterRoute(h.proxyFor('redis_svc1'))).toMatchObject({ state: 'ready' });
    await expect(router.masterRoute({ ...h.proxyFor('redis_svc1'), server: 'nope' })).rejects.toBeInstanceOf(
      RoutingError,
    );
    expect(router.sessions.opened).toBe(3);
  });
});

/**
 * A peer that speaks the Runtime API's interactive mode, for the two races no real HAProxy can be timed into: a
 * kept session closed by the peer just as a request is written (HAProxy's idle timeout), and a peer that accepts
 * and never answers (a hung process).
 */
describe('Runtime API sessions against a peer that closes or hangs', () => {
  let dir: string;
  let server: Server;
  let accepted: Socket[];
  let behaviour: (socket: Socket, line: string, lineNo: number) => void;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'har-sessions-peer-'));
    accepted = [];
    server = createServer((socket) => {
      accepted.push(socket);
      let buffer = '';
      let lineNo = 0;
      socket.on('data', (chunk) => {
        buffer += chunk.toString();
        for (let at = buffer.indexOf('\n'); at >= 0; at = buffer.indexOf('\n')) {
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + 1);
          behaviour(socket, line, lineNo++);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(join(dir, 'admin.sock'), resolve));
  });
  afterEach(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  /** What HAProxy answers to a line in interactive mode: each command's output, then the prompt. */
  const answer = (line: string) =>
    line
      .split(';')
      .map((command) => `${command === 'show info' ? 'Name: HAProxy\nStopping: 0\n' : ''}\n> `)
      .join('');

  it('sends the commands again on a new session when the kept one is closed before any answer', async () => {
    // The first session answers its opening line and one request, then closes when the next request arrives.
    behaviour = (socket, line, lineNo) => {
      if (accepted.indexOf(socket) === 0 && lineNo === 2) socket.destroy();
      else socket.write(answer(line));
    };
    const sessions = new RuntimeApiSessions({ idleMs: 60_000 });
    const address = { kind: 'unix', path: join(dir, 'admin.sock') } as const;

    expect(await sessions.send(address, ['set server b/m state ready'], 1000)).toEqual(['']);
    expect(await sessions.send(address, ['set server b/m state ready'], 1000)).toEqual(['']);

    expect(sessions.opened).toBe(2);
    expect(accepted).toHaveLength(2);
    sessions.close();
  });

  it('fails a request to a peer that never answers after its timeout, and never uses that session again', async () => {
    behaviour = (socket, line) => {
      if (accepted.indexOf(socket) === 1) socket.write(answer(line));
    };
    const sessions = new RuntimeApiSessions({ idleMs: 60_000 });
    const address = { kind: 'unix', path: join(dir, 'admin.sock') } as const;

    await expect(sessions.send(address, ['show servers state'], 200)).rejects.toThrow(
      /admin\.sock: timed out after 200 ms/,
    );
    expect(await sessions.send(address, ['show servers state'], 1000)).toEqual(['']);
    expect(sessions.opened).toBe(2);
    sessions.close();
  });

  it('refuses a command that could smuggle another one in, before anything is sent', async () => {
    behaviour = (socket, line) => socket.write(answer(line));
    const sessions = new RuntimeApiSessions();
    const address = { kind: 'unix', path: join(dir, 'admin.sock') } as const;
    await expect(sessions.send(address, ['show info; shutdown frontend f'], 1000)).rejects.toThrow(
      /refusing Runtime API command with ';'/,
    );
    expect(sessions.opened).toBe(0);
  });
});

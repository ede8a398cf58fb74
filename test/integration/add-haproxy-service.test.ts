/**
 * add-haproxy-service.sh, the move's way to give a host's HAProxy one more service, on a real HAProxy that serves
 * other services: added under the config lock and validated, served after update-haproxy's reload with the other
 * services' routes unchanged; run again, nothing changes; a conflict (the backend with other ports, a port another
 * frontend binds, an IPv6 bind, an odd certificate path) is refused with the config untouched.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSM_SCRIPTS_DIR } from '../../adapters/host/bash-node-ops.ts';
import { freePorts, waitForPort } from '../../local/processes.ts';
import { generateTls } from '../../local/tls.ts';
import {
  type HaproxyHost,
  missingProxyTools,
  startHaproxyHost,
  updateHaproxy,
} from '../support/haproxy-host.ts';

const skipReason = missingProxyTools();
if (skipReason) console.warn(`add-haproxy-service tests skipped: ${skipReason}`);

const addService = (
  args: Record<string, string | number>,
): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      'bash',
      [
        `${SSM_SCRIPTS_DIR}add-haproxy-service.sh`,
        ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]),
      ],
      { timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

describe.skipIf(skipReason !== undefined)('add-haproxy-service (real haproxy)', () => {
  let dir: string;
  let h: HaproxyHost;
  let pem: string;
  let service: {
    backend: string;
    bind: string;
    'plain-port': number;
    'tls-port': number;
    addr: string;
    port: number;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'har-add-'));
    h = await startHaproxyHost(dir, 2);
    pem = (await generateTls(dir)).proxyPemPath;
    const [plain, tls, master] = (await freePorts(3)) as [number, number, number];
    service = {
      backend: 'redis_moved',
      bind: '127.0.0.1',
      'plain-port': plain,
      'tls-port': tls,
      addr: '127.0.0.1',
      port: master,
    };
  });
  afterAll(async () => {
    await h?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('adds the frontends and backend; after the reload HAProxy serves it, every other route unchanged', async () => {
    const before = await h.runtimeRoutes();
    const added = await addService({ config: h.configPath, pem, ...service });
    expect(added, added.stderr).toMatchObject({ code: 0 });
    expect(added.stdout).toContain('added redis_moved');
    expect(await readFile(h.configPath, 'utf8')).toContain(
      `bind 127.0.0.1:${service['tls-port']} ssl crt ${pem}`,
    );
    const reloaded = await updateHaproxy(h, 'redis_moved', { host: service.addr, port: service.port });
    expect(reloaded, reloaded.stderr).toMatchObject({ code: 0 });
    await waitForPort(service['plain-port'], 10_000, 'the added frontend');
    const after = await h.runtimeRoutes();
    expect(after.redis_moved).toBe(`127.0.0.1:${service.port}`);
    for (const [backend, route] of Object.entries(before)) expect(after[backend]).toBe(route);
  });

  it('run again with the same service: nothing changed', async () => {
    const config = await readFile(h.configPath, 'utf8');
    const again = await addService({ config: h.configPath, pem, ...service });
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('nothing changed');
    expect(await readFile(h.configPath, 'utf8')).toBe(config);
  });

  it.each([
    [
      'the backend with other ports',
      () => ({ ...service, 'plain-port': service['plain-port'] + 1 }),
      /already, with other frontends/,
    ],
    [
      'a port another frontend binds',
      () => ({ ...service, backend: 'redis_other', 'tls-port': service['plain-port'] }),
      /is bound by frontend redis_moved_plain/,
    ],
    ['an IPv6 bind', () => ({ ...service, backend: 'redis_v6', bind: '::1' }), /not an IPv4 address/],
  ])('refuses %s, changing nothing', async (_what, args, message) => {
    const config = await readFile(h.configPath, 'utf8');
    const refused = await addService({ config: h.configPath, pem, ...args() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(message);
    expect(await readFile(h.configPath, 'utf8')).toBe(config);
  });

  it('refuses a certificate path that is not absolute and plain', async () => {
    const refused = await addService({
      config: h.configPath,
      pem: 'proxy.pem\nbackend x',
      ...service,
      backend: 'redis_x',
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--pem .* must be an absolute path/s);
  });
});

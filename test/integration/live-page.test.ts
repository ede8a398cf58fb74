/**
 * The live page of a local cluster, in a real browser: headless Chromium (Debian's `chromium`, which
 * scripts/setup.sh installs) loads the page the orchestrator serves, runs its poller, and dumps the DOM. Loaded
 * before a kill -9 of the master it shows the old master; loaded again while the failover happens, it comes to
 * show the new one and the failover's timeline.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameEndpoint } from '../../core/model/cluster.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';

const run = promisify(execFile);

function chromiumSkipReason(): string | undefined {
  const probe = spawnSync('chromium', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return "chromium is not installed; scripts/setup.sh installs it as root ('apt-get install chromium')";
  }
  return undefined;
}
const skip = chromiumSkipReason();
if (skip) console.warn(`SKIPPED live-page.test.ts: ${skip}`);

/** A busy 2-core machine can take long to start a browser; a load past this fails the test. */
const BROWSER_TIMEOUT_MS = 60_000;
/** From the kill to the page showing the new master and its failover (down-after 2000 + the reaction). */
const FAILOVER_SHOWN_WITHIN_MS = 90_000;

/** Load `url` in headless Chromium, let the page's poller run for 3 s of virtual time, and return the DOM. */
async function dumpDom(url: string, profile: string): Promise<string> {
  const { stdout } = await run(
    'chromium',
    [
      '--headless',
      // As root Chromium refuses to start with its sandbox.
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      '--dump-dom',
      '--virtual-time-budget=3000',
      url,
    ],
    { timeout: BROWSER_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/** The master the page shows for `cluster` (data-master of its row), or undefined. */
const masterShown = (dom: string, cluster: string): string | undefined =>
  new RegExp(`<tr class="service" data-cluster="${cluster}" data-master="([^"]*)"`).exec(dom)?.[1];

/** A GET with a Host header of our choosing (fetch will not send another host's name to 127.0.0.1). */
function get(url: string, host?: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(skip !== undefined)(
  'the live page in headless Chromium (real redis, sentinel, haproxy)',
  () => {
    let t: TestCluster;
    let url: string;
    let profile: string;

    beforeAll(async () => {
      // down-after 2000, as in failover.test.ts: a loaded machine delays PINGs past 1000 now and then.
      t = await startTestCluster({ downAfterMs: 2000 });
      if (!t.d.livePageUrl) throw new Error('the descriptor names no live page');
      url = t.d.livePageUrl;
      profile = await mkdtemp(join(tmpdir(), 'har-chromium-'));
    });
    afterAll(async () => {
      await t?.down();
      if (profile) await rm(profile, { recursive: true, force: true });
    });

    it('serves the page on loopback only, read-only, with no password in it', async () => {
      // Arrange / Act
      const page = await get(url);
      const json = await get(new URL('live.json', url).href);
      const post = await get(url, undefined, 'POST');
      const rebound = await get(url, 'ha-redis.attacker.example');

      // Assert
      expect(new URL(url).hostname).toBe('127.0.0.1');
      expect(page.status).toBe(200);
      expect(page.body).toContain(`data-cluster="${t.name}"`);
      expect(JSON.parse(json.body).view.services[0].masterId).toBe('redis-1');
      expect(post.status).toBe(405);
      expect(rebound.status).toBe(421);
      for (const body of [page.body, json.body]) expect(body).not.toContain(t.password);
    });

    it(
      'shows the old master, then the new one and its failover while the failover happens',
      async () => {
        // Arrange: the page as it is before, in the browser; its poller has refreshed it at least once.
        const initial = t.d.nodes[0];
        if (!initial) throw new Error('no nodes');
        const before = await dumpDom(url, profile);
        expect(masterShown(before, t.name), before).toBe('redis-1');
        expect(before, 'the poller never refreshed the page').toMatch(/<body[^>]* data-refreshes="[1-9]/);

        // Act: kill -9 the master; load the page again and again until it shows another master and its failover.
        process.kill(initial.pid, 'SIGKILL');
        const deadline = Date.now() + FAILOVER_SHOWN_WITHIN_MS;
        let dom = before;
        let shown: string | undefined = 'redis-1';
        for (;;) {
          dom = await dumpDom(url, profile);
          shown = masterShown(dom, t.name);
          const moved = shown !== undefined && shown !== '' && shown !== 'redis-1';
          if (moved && dom.includes(`data-to="${shown}"`)) break;
          if (Date.now() > deadline) {
            throw new Error(
              `the page did not show a new master and its failover within ${FAILOVER_SHOWN_WITHIN_MS} ms of the kill; last DOM:\n${dom}`,
            );
          }
        }

        // Assert: the node the page names is the one master, and no password reached the browser.
        const newMaster = await t.soleMaster();
        const node = t.d.nodes.find((n) => sameEndpoint(n, newMaster));
        expect(shown, dom).toBe(node?.id);
        expect(dom).toMatch(/failover <span class="ok">succeeded<\/span>/);
        expect(dom).not.toContain(t.password);
      },
      FAILOVER_SHOWN_WITHIN_MS + 2 * BROWSER_TIMEOUT_MS,
    );
  },
);

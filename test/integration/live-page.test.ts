/**
 * The live page of a local cluster, in a real browser: one headless Chromium (Debian's `chromium`, which
 * scripts/setup.sh installs), driven over the DevTools protocol, opens the page the orchestrator serves once.
 * Opened before a kill -9 of the master, it shows the old master; then, never loaded again, the page's own poller
 * brings it to show the new master and the failover's timeline.
 */
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameEndpoint } from '../../core/model/cluster.ts';
import { type ChromiumPage, launchChromium } from '../support/chromium.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';

function chromiumSkipReason(): string | undefined {
  const probe = spawnSync('chromium', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return "chromium is not installed; scripts/setup.sh installs it as root ('apt-get install chromium')";
  }
  return undefined;
}
const skip = chromiumSkipReason();
if (skip) console.warn(`SKIPPED live-page.test.ts: ${skip}`);

/** The page's poller refreshes every 2 s; a busy 2-core machine may need longer for its first refresh. */
const FIRST_REFRESH_WITHIN_MS = 30_000;
/** From the kill to the page showing the new master and its failover (down-after 2000 + the reaction). */
const FAILOVER_SHOWN_WITHIN_MS = 90_000;
/** How often the test looks at the open page. */
const LOOK_EVERY_MS = 250;

/** What the open page shows, read in the page itself. */
interface PageLook {
  /** data-master of the cluster's row, or null without a row. */
  master: string | null;
  /** The failovers and switchovers shown: data-to and the article's HTML. */
  operations: { to: string; html: string }[];
  /** data-refreshes of the body: how many times the page's poller has swapped in a newer rendering. */
  refreshes: number;
  /** When this document was loaded: the same number before and after means the page was never loaded again. */
  timeOrigin: number;
  text: string;
  html: string;
}

/** The expression that reads a PageLook of `cluster` in the page. */
const lookAt = (cluster: string): string => `(() => {
  const row = document.querySelector(${JSON.stringify(`tr.service[data-cluster="${cluster}"]`)});
  return {
    master: row ? row.dataset.master : null,
    operations: [...document.querySelectorAll('article.operation')].map((a) => ({ to: a.dataset.to, html: a.outerHTML })),
    refreshes: Number(document.body.dataset.refreshes ?? '0'),
    timeOrigin: performance.timeOrigin,
    text: document.body.innerText,
    html: document.documentElement.outerHTML,
  };
})()`;

/** Look at the open page until `shows` holds; past `withinMs`, fail with the page text last seen. */
async function lookUntil(
  page: ChromiumPage,
  cluster: string,
  shows: (look: PageLook) => boolean,
  withinMs: number,
  what: string,
): Promise<PageLook> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const look = await page.evaluate<PageLook>(lookAt(cluster));
    if (shows(look)) return look;
    if (Date.now() > deadline) {
      throw new Error(
        `the page did not show ${what} within ${withinMs} ms (master ${look.master}, ${look.refreshes} refreshes); last page text:\n${look.text}`,
      );
    }
    await sleep(LOOK_EVERY_MS);
  }
}

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
    let page: ChromiumPage | undefined;

    beforeAll(async () => {
      // down-after 2000, as in failover.test.ts: a loaded machine delays PINGs past 1000 now and then.
      t = await startTestCluster({ downAfterMs: 2000 });
      if (!t.d.livePageUrl) throw new Error('the descriptor names no live page');
      url = t.d.livePageUrl;
      page = await launchChromium();
    });
    afterAll(async () => {
      await page?.close();
      await t?.down();
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
      'shows the old master, then, without being loaded again, the new one and its failover',
      async () => {
        // Arrange: the page opened once, before; it shows redis-1, and its poller has refreshed it.
        const initial = t.d.nodes[0];
        if (!initial || !page) throw new Error('no nodes, or no browser');
        const open = page;
        await open.navigate(url);
        const before = await open.evaluate<PageLook>(lookAt(t.name));
        expect(before.master, before.text).toBe('redis-1');
        const refreshed = await lookUntil(
          open,
          t.name,
          (look) => look.refreshes >= 1,
          FIRST_REFRESH_WITHIN_MS,
          'a refresh by its poller',
        );
        expect(refreshed.master, refreshed.text).toBe('redis-1');

        // Act: kill -9 the master; look at the same page, never navigating, until it shows the new master.
        process.kill(initial.pid, 'SIGKILL');
        const after = await lookUntil(
          open,
          t.name,
          (look) =>
            !!look.master && look.master !== 'redis-1' && look.operations.some((op) => op.to === look.master),
          FAILOVER_SHOWN_WITHIN_MS,
          'a new master and its failover',
        );

        // Assert: the same document, refreshed by its poller; it names the one master and its failover.
        expect(after.timeOrigin, 'the page was loaded again').toBe(before.timeOrigin);
        expect(after.refreshes).toBeGreaterThan(refreshed.refreshes);
        const newMaster = await t.soleMaster();
        const node = t.d.nodes.find((n) => sameEndpoint(n, newMaster));
        expect(after.master, after.text).toBe(node?.id);
        const failover = after.operations.find((op) => op.to === after.master);
        expect(failover?.html).toMatch(/failover <span class="ok">succeeded<\/span>/);
        expect(after.html).not.toContain(t.password);
      },
      FIRST_REFRESH_WITHIN_MS + FAILOVER_SHOWN_WITHIN_MS + 60_000,
    );
  },
);

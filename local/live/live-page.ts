/**
 * The live page of the clusters one orchestrator serves (a cluster, or every service of a host set), on
 * loopback, read-only: `/` is the page, `/live.json` its model and its main part as HTML, which the page polls.
 * Each look observes through the same status core as `ha-redis status`, with connections of its own, so that a
 * page left open never queues behind, or ahead of, a reaction's commands.
 */
import { readFile } from 'node:fs/promises';
import { composeLocal, type LocalRuntime } from '../../compose/local.ts';
import type { Descriptor } from '../../config/local-descriptor.ts';
import type { Logger } from '../../core/ports.ts';
import { clusterStatusReport } from '../../core/status/observe.ts';
import { type EndpointResponse, serveReadOnlyOnLoopback } from '../http-endpoint.ts';
import { LIVE_CSP, renderLiveMain, renderLivePage } from './render.ts';
import { buildLiveView, type LiveView } from './view.ts';

/** A view younger than this is served again instead of observing anew: many open pages cost one observation. */
const FRESH_MS = 1000;
/** History entries read per cluster, of which the page shows the newest failovers and switchovers. */
const HISTORY_SCAN = 20;

/** The page's observations log nothing: a page left open would fill the orchestrator's log. */
const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** One observation at a time; a fresh one is shared by every request that comes while it is fresh. */
function latestView(runtimes: readonly { d: Descriptor; runtime: LocalRuntime }[]): () => Promise<LiveView> {
  let last: { at: number; view: LiveView } | undefined;
  let pending: Promise<LiveView> | undefined;
  const observe = async () => {
    const services = await Promise.all(
      runtimes.map(async ({ d, runtime }) => ({
        descriptor: d,
        report: await clusterStatusReport(runtime.cluster, runtime.deps),
        history: await runtime.deps.state.listHistory(d.cluster, HISTORY_SCAN).catch(() => []),
      })),
    );
    return buildLiveView(services, Date.now());
  };
  return () => {
    if (last && Date.now() - last.at < FRESH_MS) return Promise.resolve(last.view);
    pending ??= observe()
      .then((view) => {
        last = { at: Date.now(), view };
        return view;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}

/** Every occurrence of a secret replaced: no error text of an adapter may put a password on the page. */
function redact(text: string, secrets: readonly string[]): string {
  return secrets.reduce((t, secret) => (secret ? t.split(secret).join('(redacted)') : t), text);
}

/**
 * Every string of the view redacted, before it is HTML- or JSON-encoded: encoding would hide a password with
 * `&`, `<` or `"` from a redaction of the encoded page.
 */
export function redactView<T>(value: T, secrets: readonly string[]): T {
  if (typeof value === 'string') return redact(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v) => redactView(v, secrets)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactView(v, secrets)])) as T;
  }
  return value;
}

/** Serve the live page at `url` (a loopback URL the launcher reserved) for the clusters of `descriptors`. */
export async function serveLivePage(
  url: string,
  descriptors: readonly Descriptor[],
  onError: (error: unknown) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const runtimes = descriptors.map((d) => ({ d, runtime: composeLocal(d, quiet) }));
  // Redis and Sentinel share the password file's one password.
  const secrets = await Promise.all(
    [...new Set(descriptors.map((d) => d.passwordFile))].map(async (file) =>
      (await readFile(file, 'utf8')).trim(),
    ),
  );
  const latest = latestView(runtimes);
  const view = async () => redactView(await latest(), secrets);
  const answer = (contentType: string, body: string): EndpointResponse => ({
    statusCode: 200,
    headers: {
      'content-type': contentType,
      'cache-control': 'no-store',
      'content-security-policy': LIVE_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
    body: redact(body, secrets),
  });
  const page = async () => answer('text/html; charset=utf-8', renderLivePage(await view()));
  const json = async () => {
    const v = await view();
    return answer('application/json', JSON.stringify({ view: v, html: renderLiveMain(v) }));
  };
  try {
    const served = await serveReadOnlyOnLoopback(
      Number(new URL(url).port),
      new Map([
        ['/', page],
        ['/index.html', page],
        ['/live.json', json],
      ]),
      onError,
    );
    return {
      url: served.url,
      close: async () => {
        await served.close();
        await Promise.all(runtimes.map(({ runtime }) => runtime.close()));
      },
    };
  } catch (error) {
    await Promise.all(runtimes.map(({ runtime }) => runtime.close()));
    throw error;
  }
}

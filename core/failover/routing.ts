import {
  type ClusterConfig,
  type Endpoint,
  nodeLabel,
  type ProxyConfig,
  sameEndpoint,
} from '../model/cluster.ts';
import { ERROR_NAMES, errorMessage } from '../model/errors.ts';
import { fixedPause, type Retries, withRetries } from '../model/retry.ts';
import type { CorePorts } from '../ports.ts';
import { hostDeadline } from './host-deadline.ts';

/** Where the proxies send writes: reroute them to a new master, find the ones routed elsewhere, persist it. */

/** A Runtime API socket can refuse a connection during a reload: retry briefly, whatever the error. */
const PROXY_RETRIES: Retries = { attempts: 3, pauseMs: fixedPause(20) };

/**
 * Point every HAProxy at the new master at once, cutting sessions to the old one. The summary names when each
 * proxy was done, from the start (`p2 +38ms`): a proxy on a dead host holds the step's end with its failed
 * attempts, and the others' times say when their clients were rerouted.
 */
export async function rerouteProxies(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: CorePorts,
  options: { skipRouted?: boolean } = {},
): Promise<{ summary: string; failed: { id: string; error: string; unreachable: boolean }[] }> {
  const proxies = options.skipRouted
    ? (await proxiesAwayFrom(cluster, master, deps)).map((p) => p.proxy)
    : cluster.proxies;
  const already = cluster.proxies.length - proxies.length;
  const started = deps.clock.now();
  const results = await Promise.allSettled(
    proxies.map(async (proxy) => {
      await withRetries(() => deps.router.pointMasterAt(proxy, master), PROXY_RETRIES, deps.clock);
      return `${proxy.id} +${deps.clock.now() - started}ms`;
    }),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected'
      ? [
          {
            id: proxies[i]?.id ?? `#${i}`,
            error: errorMessage(r.reason),
            unreachable: (r.reason as Error | undefined)?.name === ERROR_NAMES.unreachable,
          },
        ]
      : [],
  );
  const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const notes = [...(already ? [`${already} already there`] : []), ...(done.length ? [done.join(', ')] : [])];
  const left = notes.length ? ` (${notes.join('; ')})` : '';
  return { summary: `${done.length} proxies -> ${nodeLabel(cluster, master)}${left}`, failed };
}

/** The proxies that are not ready and pointing at `master` (route undefined: the proxy did not answer). */
export async function proxiesAwayFrom(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: Pick<CorePorts, 'router'>,
): Promise<{ proxy: ProxyConfig; route: { address: Endpoint; state: string } | undefined }[]> {
  const routes = await Promise.all(
    cluster.proxies.map(async (proxy) => ({
      proxy,
      route: await deps.router.masterRoute(proxy).catch(() => undefined),
    })),
  );
  return routes.filter(({ route }) => !(route?.state === 'ready' && sameEndpoint(route.address, master)));
}

/**
 * Persist the routing of `epoch` on each proxy host, so a reload or restart keeps it. A host that recorded a
 * newer epoch refuses it (stale): a newer failover persisted its own routing there, which stays. A proxy in
 * `pending` (it did not answer the reroute: its host is gone) gets no command, which would only wait out SSM's
 * delivery timeout: the reconcile points it at the applied master when it answers, and persists it then.
 */
export async function persistRouting(
  cluster: ClusterConfig,
  master: Endpoint,
  epoch: number,
  deps: CorePorts,
  options: { pending?: readonly string[] } = {},
): Promise<string> {
  const pending = cluster.proxies.filter((p) => options.pending?.includes(p.id));
  const proxies = cluster.proxies.filter((p) => !pending.includes(p));
  const results = await Promise.allSettled(
    proxies.map((proxy) =>
      deps.nodeOps.run({ document: 'update-haproxy', proxy, master, epoch }, hostDeadline(deps)),
    ),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`${proxies[i]?.id}: ${errorMessage(r.reason)}`] : [],
  );
  if (failed.length) throw new Error(failed.join('; '));
  const stale = results.flatMap((r, i) =>
    r.status === 'fulfilled' && r.value.stale ? [proxies[i]?.id ?? `#${i}`] : [],
  );
  const queued = results.filter((r) => r.status === 'fulfilled' && r.value.queued).length;
  return [
    queued
      ? `${queued} proxies queued (their hosts' queue persists it, in order)`
      : `${proxies.length - stale.length} proxies`,
    ...(stale.length
      ? [`${stale.join(', ')} kept a newer epoch's routing (epoch ${epoch} is stale there)`]
      : []),
    ...(pending.length
      ? [
          `${pending.map((p) => p.id).join(', ')} pending (did not answer the reroute; persisted when repaired)`,
        ]
      : []),
  ].join('; ');
}

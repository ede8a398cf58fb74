import {
  type ClusterConfig,
  type Endpoint,
  nodeLabel,
  type ProxyConfig,
  proxyListeners,
} from '../model/cluster.ts';
import { errorMessage, VerificationError } from '../model/errors.ts';
import { fixedPause, withRetries } from '../model/retry.ts';
import type { CorePorts } from '../ports.ts';

/** Proof that writes reach the new master: a canary write through every proxy listener. */

/**
 * A canary write through one proxy listener that must land on `master`, tried `verifyAttempts` times: right
 * after a switch the new master may refuse a write for a moment (no replica attached yet, a proxy reloading).
 */
export async function canaryWithRetries(
  cluster: ClusterConfig,
  proxy: ProxyConfig,
  listener: 'plain' | 'tls',
  master: Endpoint,
  deps: Pick<CorePorts, 'redis' | 'clock'>,
): Promise<{ key: string; value: string }> {
  const { verifyAttempts, verifyIntervalMs, nodeTimeoutMs } = cluster.timing;
  return withRetries(
    () => deps.redis.canaryThroughProxy(proxy, listener, master, nodeTimeoutMs),
    { attempts: verifyAttempts, pauseMs: fixedPause(verifyIntervalMs) },
    deps.clock,
  );
}

/** A canary write through every proxy listener (plain and TLS) must land on the new master. */
export async function verifyThroughProxies(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: CorePorts,
  options: { skip?: readonly string[] } = {},
): Promise<string> {
  const skip = options.skip ?? [];
  const checks = proxyListeners(cluster).filter(({ proxy }) => !skip.includes(proxy.id));
  const skipped = skip.length ? `; not through ${skip.join(', ')} (not rerouted)` : '';
  const results = await Promise.allSettled(
    checks.map(({ proxy, listener }) => canaryWithRetries(cluster, proxy, listener, master, deps)),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected'
      ? [`${checks[i]?.proxy.id}/${checks[i]?.listener}: ${errorMessage(r.reason)}`]
      : [],
  );
  if (failed.length) throw new VerificationError(`canary failed through ${failed.join('; ')}${skipped}`);
  return `${checks.length} canaries landed on ${nodeLabel(cluster, master)}${skipped}`;
}

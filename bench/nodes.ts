/** Small admin helpers the scenarios share: Redis and Sentinel clients, ROLE, the final master, the orchestrator. */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Descriptor } from '../config/local-descriptor.ts';
import type { Endpoint } from '../core/model/cluster.ts';
import { HaRedisError } from '../core/model/errors.ts';
import { stopProcess } from '../local/processes.ts';

/** An admin connection to a Redis node or a Sentinel (same password locally); fails fast, never queues. */
export function adminClient(endpoint: Endpoint, password: string, commandTimeoutMs = 1000): Redis {
  const client = new Redis({
    host: endpoint.host,
    port: endpoint.port,
    password,
    lazyConnect: true,
    connectTimeout: 500,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 50,
  });
  client.on('error', () => undefined);
  return client;
}

/** The first word of ROLE (`master`, `slave`), or `unreachable`. */
export const roleOf = (client: Redis): Promise<string> =>
  client
    .call('ROLE')
    .then((r) => String((r as unknown[])[0]))
    .catch(() => 'unreachable');

/** The one node among `nodes` that answers ROLE master (Sentinel may still be reconfiguring the others). */
export async function finalMaster(
  nodes: readonly Endpoint[],
  password: string,
  timeoutMs = 10_000,
): Promise<Endpoint> {
  const clients = nodes.map((n) => adminClient(n, password, 500));
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const roles = await Promise.all(clients.map(roleOf));
      const masters = nodes.filter((_, i) => roles[i] === 'master');
      if (masters.length === 1 && masters[0]) return masters[0];
      if (Date.now() > deadline)
        throw new HaRedisError(
          `expected one master among ${nodes.map((n) => n.port).join(', ')}, got roles ${roles.join(', ')}; see the Sentinel logs`,
        );
      await sleep(100);
    }
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/** Stop the cluster's orchestrator (checked by pid and command line), so that nothing reacts but the baseline. */
export async function stopOrchestrator(d: Descriptor): Promise<void> {
  const o = d.orchestrator;
  if (!o) return;
  await stopProcess(o.pid, (cmd) => cmd.includes('orchestrator.ts') && cmd.includes(d.dir));
}

import { type ClusterConfig, formatEndpoint, nodeLabel, sameEndpoint } from '../model/cluster.ts';
import { ERROR_NAMES, errorMessage } from '../model/errors.ts';
import type { CorePorts } from '../ports.ts';
import { decideMajority, observeSentinels } from './confirm.ts';

/**
 * The state store down, told to people: while it does not answer, no failover can be claimed, so ha-redis
 * changes no routing (each epoch is acted on once, and only a claim says which reaction acts). People are told
 * once when it stops answering for a cluster, with what routing does meanwhile; again when that changes (Sentinel
 * failed over meanwhile: writes through the proxies now fail) or every `retellMs` while it lasts; and once when
 * it answers again. The memory is the process's own: the store is what is down.
 */

/** How often an outage still going on is told again. */
export const STATE_STORE_RETELL_MS = 15 * 60_000;

/** Whether an error is the state store not answering (by name: it may cross a module or process boundary). */
export const isStateStoreDown = (error: unknown): boolean =>
  error instanceof Error && error.name === ERROR_NAMES.stateStore;

export class StateStoreWatch {
  private readonly down = new Map<string, { since: number; toldAt: number; told: string }>();
  /** One look at a cluster at a time, so that concurrent failures tell once. */
  private readonly turns = new Map<string, Promise<unknown>>();
  private readonly retellMs: number;

  constructor(retellMs = STATE_STORE_RETELL_MS) {
    this.retellMs = retellMs;
  }

  /**
   * After handling an event or a reconcile of `cluster` failed with `error`: when the state store is the cause,
   * tells people (when it is new, when what routing does changed, or every `retellMs`) and returns true.
   */
  async failed(cluster: ClusterConfig, error: unknown, deps: CorePorts): Promise<boolean> {
    if (!isStateStoreDown(error)) return false;
    await this.inTurn(cluster.name, () => this.tellDown(cluster, error, deps));
    return true;
  }

  /** Tells the outage when it is new, when what routing does changed, or when it was told `retellMs` ago. */
  private async tellDown(cluster: ClusterConfig, error: unknown, deps: CorePorts): Promise<void> {
    const now = deps.clock.now();
    const outage = this.down.get(cluster.name) ?? { since: now, toldAt: Number.NEGATIVE_INFINITY, told: '' };
    this.down.set(cluster.name, outage);
    const meanwhile = await routingMeanwhile(cluster, deps).catch(
      (e: unknown) => `What routing does now could not be read (${errorMessage(e)}).`,
    );
    if (meanwhile === outage.told && now - outage.toldAt < this.retellMs) return;
    outage.toldAt = now;
    outage.told = meanwhile;
    const minutes = Math.round((now - outage.since) / 60_000);
    const lasting = minutes > 0 ? ` (for ${minutes} min now)` : '';
    await this.tell(cluster, deps, 'failed', [
      `ha-redis cannot reach its state store${lasting}: ${errorMessage(error)}.`,
      `No failover of ${cluster.name} can be claimed, so ha-redis changes no routing, DNS or fence until it answers.`,
      meanwhile,
      "Sentinel's own failover goes on, and clients that ask Sentinel follow it. The reconcile acts as soon as the store answers.",
    ]);
  }

  /** After a reconcile of `cluster` went through: the store answers; people told it was down are told it is back. */
  async answered(cluster: ClusterConfig, deps: CorePorts): Promise<void> {
    await this.inTurn(cluster.name, () => this.tellBack(cluster, deps));
  }

  private async tellBack(cluster: ClusterConfig, deps: CorePorts): Promise<void> {
    const outage = this.down.get(cluster.name);
    if (!outage) return;
    this.down.delete(cluster.name);
    if (outage.toldAt === Number.NEGATIVE_INFINITY) return;
    const minutes = Math.max(1, Math.round((deps.clock.now() - outage.since) / 60_000));
    await this.tell(cluster, deps, 'succeeded', [
      `The state store answers again, after about ${minutes} min: ha-redis claims and acts on ${cluster.name}'s failovers again.`,
    ]);
  }

  /** Runs `look` after the cluster's previous look, whatever became of it. */
  private async inTurn(cluster: string, look: () => Promise<void>): Promise<void> {
    const turn = (this.turns.get(cluster) ?? Promise.resolve()).then(look, look);
    this.turns.set(cluster, turn);
    try {
      await turn;
    } finally {
      if (this.turns.get(cluster) === turn) this.turns.delete(cluster);
    }
  }

  private async tell(
    cluster: ClusterConfig,
    deps: CorePorts,
    outcome: 'failed' | 'succeeded',
    lines: string[],
  ): Promise<void> {
    const summary = lines.join(' ');
    await deps.notifier
      .publish({ cluster: cluster.name, kind: 'state-store', outcome, summary })
      .catch((error: unknown) =>
        deps.logger.error('state store notification not sent', {
          cluster: cluster.name,
          summary,
          error: errorMessage(error),
        }),
      );
    deps.logger[outcome === 'failed' ? 'error' : 'info'](summary, { cluster: cluster.name });
  }
}

/** Where the proxies send writes now, against the master a majority of the Sentinels names, in words. */
async function routingMeanwhile(cluster: ClusterConfig, deps: CorePorts): Promise<string> {
  const [routes, answers] = await Promise.all([
    Promise.all(
      cluster.proxies.map(async (proxy) => ({
        proxy,
        route: await deps.router.masterRoute(proxy).catch(() => undefined),
      })),
    ),
    observeSentinels(cluster, deps.sentinels),
  ]);
  const { agreed } = decideMajority(answers, cluster.sentinels.length);
  const where = routes
    .map(({ proxy, route }) =>
      route
        ? `${proxy.id} -> ${nodeLabel(cluster, route.address)}${route.state === 'ready' ? '' : ` (${route.state})`}`
        : `${proxy.id}: no answer`,
    )
    .join(', ');
  if (!agreed)
    return `Meanwhile the proxies keep their routes (${where}); no majority of the Sentinels agrees on a master.`;
  const master = `${nodeLabel(cluster, agreed.master)} (${formatEndpoint(agreed.master)}, epoch ${agreed.epoch})`;
  const away = routes.filter(
    ({ route }) => !(route && route.state === 'ready' && sameEndpoint(route.address, agreed.master)),
  );
  return away.length === 0
    ? `Meanwhile every proxy routes to the master the Sentinels name, ${master}: writes go on.`
    : `Meanwhile the proxies keep their routes (${where}), while the Sentinels name ${master}: writes through ${away.map((a) => a.proxy.id).join(', ')} fail (fail closed) until the store answers.`;
}

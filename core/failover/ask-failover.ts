import { type ClusterConfig, type Endpoint, formatEndpoint } from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import type { CorePorts } from '../ports.ts';

/** What asking the Sentinels for `SENTINEL FAILOVER` came to. */
export type FailoverAsked =
  | { taken: Endpoint }
  /** A Sentinel answered INPROG: a failover of the master is under way already. */
  | { underWay: string };

/**
 * `SENTINEL FAILOVER` to the first Sentinel of `order` that takes it. A refusal (Sentinel's error reply:
 * NOGOODSLAVE, ...) moves on to the next one. No answer (a timeout, a lost connection) ends it: that Sentinel may
 * have taken it, and a second Sentinel's forced failover would promote at another epoch, maybe another replica.
 * Throws, saying why, when no Sentinel took it.
 */
export async function askForFailover(
  cluster: ClusterConfig,
  order: readonly Endpoint[],
  deps: Pick<CorePorts, 'sentinels'>,
): Promise<FailoverAsked> {
  const refusals: string[] = [];
  for (const sentinel of order) {
    let answer: string;
    try {
      answer = await deps.sentinels.failover(sentinel, cluster.masterName, cluster.timing.sentinelTimeoutMs);
    } catch (error) {
      refusals.push(`${formatEndpoint(sentinel)} did not answer (${errorMessage(error)})`);
      throw new Error(
        `no Sentinel took SENTINEL FAILOVER: ${refusals.join('; ')}; not asked of another Sentinel, since ${formatEndpoint(sentinel)} may have taken it`,
      );
    }
    if (answer === 'ok') return { taken: sentinel };
    if (/INPROG/i.test(answer)) return { underWay: `${formatEndpoint(sentinel)}: ${answer}` };
    refusals.push(`${formatEndpoint(sentinel)}: ${answer}`);
  }
  throw new Error(`no Sentinel took SENTINEL FAILOVER: ${refusals.join('; ')}`);
}

/**
 * The replica that `leader`'s failover has selected (flag `promoted` in its `SENTINEL REPLICAS`), or undefined
 * when it has not yet; throws when the Sentinel does not answer (that proves nothing either way).
 *
 * Sentinel's failover moves one state per timer tick (10-19 a second, sentinel.c `sentinelTimer`): the tick after
 * SENTINEL FAILOVER it selects a replica (`sentinelFailoverSelectSlave`), and only the next one sends it REPLICAOF
 * NO ONE (`sentinelFailoverSendSlaveOfNoOne`; from the selection its only other way is an abort after a whole
 * failover-timeout without a link to that replica). Sending that same command to the selected replica at once
 * changes what is promoted in nothing, only when: a tick sooner. Sentinel's own command still follows; it ends
 * with CLIENT KILL TYPE normal, one more reconnect for clients that reached the new master in that tick, and
 * a cut for a replica still in its replication handshake (see the switchover's selectionFreshMs).
 */
export async function selectedReplica(
  cluster: ClusterConfig,
  leader: Endpoint,
  deps: Pick<CorePorts, 'sentinels'>,
  timeoutMs: number,
): Promise<Endpoint | undefined> {
  const replicas = await deps.sentinels.replicasView(leader, cluster.masterName, timeoutMs);
  return replicas.find((r) => r.flags.includes('promoted'))?.address;
}

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

import { ConfigurationError } from '../../core/model/errors.ts';

/**
 * Which clusters one bridge serves, as the install-bridge document's `cluster` parameter (HA_REDIS_CLUSTER on
 * the host) gives them: a cluster name (`orders`), or for a Sentinel that monitors several masters (a host
 * set with shared Sentinels) the cluster of each master name (`carts=carts,payments=payments`).
 */

/** What SentinelBridge takes: the cluster, and for a shared Sentinel the cluster of each master. */
export interface BridgeClusters {
  /** The one cluster; with `masters`, the clusters it maps to, joined by commas (a label for the logs). */
  cluster: string;
  masters?: ReadonlyMap<string, string>;
}

/** A cluster name, as the config schema has it. */
const CLUSTER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A Sentinel master name the document can carry: no quotes, spaces, `=` or `,`. */
const MASTER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

const FORMS =
  'give a cluster name (lower-case letters, digits and dashes), e.g. orders, or for a Sentinel that monitors several masters master=cluster pairs, e.g. carts=carts,payments=payments';

/** Parses a cluster name or `master=cluster,...`; `source` names the value in the error. */
export function parseBridgeClusters(value: string, source = 'HA_REDIS_CLUSTER'): BridgeClusters {
  if (CLUSTER_NAME.test(value)) return { cluster: value };
  if (!value.includes('=')) {
    throw new ConfigurationError(`${source} '${value}' is not a cluster name: ${FORMS}`);
  }
  const masters = new Map<string, string>();
  for (const pair of value.split(',')) {
    const [master = '', cluster = '', ...rest] = pair.split('=');
    if (!MASTER_NAME.test(master) || !CLUSTER_NAME.test(cluster) || rest.length > 0) {
      throw new ConfigurationError(
        `${source} '${value}': '${pair}' is no master=cluster pair (a master name of letters, digits and . _ -, a cluster name of lower-case letters, digits and dashes): ${FORMS}`,
      );
    }
    const earlier = masters.get(master);
    if (earlier !== undefined) {
      throw new ConfigurationError(
        `${source} '${value}' maps master '${master}' twice (to ${earlier} and ${cluster}): give each master one cluster`,
      );
    }
    masters.set(master, cluster);
  }
  return { cluster: [...new Set(masters.values())].join(','), masters };
}

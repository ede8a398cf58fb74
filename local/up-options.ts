/** The options of `local up` (`localUp`), their defaults, and the check that refuses bad ones before anything starts. */
import { isIP } from 'node:net';
import { ConfigurationError } from '../core/model/errors.ts';
import type { HostPlacement } from './host-programs.ts';

export interface UpOptions {
  name: string;
  root?: string;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
  /** Progress lines for a person; the CLI prints them to stderr. */
  progress?: (line: string) => void;
  /** Slack user ids allowed to run /redis commands on the local endpoint (default: U0LOCALOPS). */
  slackUsers?: string[];
  /** Also deliver each outcome's JSON document to this webhook. */
  notifyWebhookUrl?: string;
  /**
   * Node i, Sentinel i and proxy i run on host i (exactly 3 hosts; then there are 3 proxies). Default: all on
   * loopback, 2 proxies. The partition tests place them in network namespaces.
   */
  hosts?: HostPlacement[];
  /** Redis `min-replicas-to-write` (default 1; 0: an isolated master keeps accepting writes). */
  minReplicasToWrite?: number;
  /** Redis `min-replicas-max-lag` in seconds (default 3). */
  minReplicasMaxLag?: number;
  /**
   * `role-check`: start no orchestrator, and let every HAProxy route to whichever node a health check finds
   * saying `role:master` (the classic setup without ha-redis, as a baseline). Default: the orchestrator routes.
   */
  routing?: 'orchestrator' | 'role-check';
  /**
   * Start a node agent beside each Redis node: it reports a node's exit (process gone, port refusing) at once,
   * and the orchestrator fails over without waiting out `down-after-milliseconds` (the fast path).
   */
  nodeAgent?: boolean;
  /**
   * For tests: Sentinel's timer periods, set with `SENTINEL DEBUG` (not kept across a Sentinel restart).
   * Default: Sentinel's own, as in production.
   * - `infoMs` (10 s): Sentinel reads replica priorities from INFO this often, so a switchover's Prepare
   *   waits up to that long for every Sentinel to see them; at 1000 it waits about 1 s.
   * - `publishMs` (2 s): Sentinels find each other (and learn a new configuration) through hello messages
   *   sent this often; `up` waits for that discovery.
   */
  sentinelPeriods?: { infoMs?: number; publishMs?: number };
}

/** The range `sentinelPeriods` accepts, in milliseconds. */
const SENTINEL_PERIOD_RANGE = { min: 100, max: 10_000 } as const;

/** The Slack user the local endpoint allows when none is given. */
export const LOCAL_SLACK_USER = 'U0LOCALOPS';

/** Refuse a bad name, host list, Sentinel period or host address, with the rule it breaks. */
export function validateUpOptions(options: UpOptions): void {
  const { name } = options;
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)) {
    throw new ConfigurationError(
      `cluster name '${name}' must be lower-case letters, digits and dashes (max 31)`,
    );
  }
  if (options.hosts && options.hosts.length !== 3) {
    throw new ConfigurationError(
      `hosts must list exactly 3 hosts (node, Sentinel and proxy i run on host i), not ${options.hosts.length}`,
    );
  }
  for (const [key, ms] of Object.entries(options.sentinelPeriods ?? {})) {
    if (!Number.isInteger(ms) || ms < SENTINEL_PERIOD_RANGE.min || ms > SENTINEL_PERIOD_RANGE.max) {
      throw new ConfigurationError(
        `sentinelPeriods.${key} must be whole milliseconds from ${SENTINEL_PERIOD_RANGE.min} to ${SENTINEL_PERIOD_RANGE.max}, got ${ms}`,
      );
    }
  }
  const badIp = options.hosts?.find((h) => !isIP(h.ip));
  if (badIp) throw new ConfigurationError(`host address '${badIp.ip}' is not an IP address`);
}

import { type DeploymentConfig, PROVISIONED_FOR_AZ_LOSS } from '../../config/schema.ts';
import { reconcileShardCount } from '../../core/failover/reconcile-shards.ts';
import { ConfigurationError } from '../../core/model/errors.ts';
import { SLACK_RESERVED_CONCURRENCY, SLACK_WORKER_RESERVED_CONCURRENCY } from './slack-front-door.ts';

/**
 * Reserved concurrency of the stack's Lambdas, so that none can starve another: a reservation is both a floor
 * (no other function of the account can take it) and a cap (the function never takes more). The reaction
 * (sentinel-event) is sized for the loss of an availability zone, the reconcile for its schedules, notify and
 * Slack for a team. The functions left unreserved (the switchover, maintenance and operator-start functions)
 * share what the account keeps unreserved.
 */

/** Availability zones the masters are assumed spread over: losing one fails over a third of the clusters at once. */
export const MASTER_ZONES = 3;
/** Room above one reaction per failed-over cluster: the duplicate events (each Sentinel's +switch-master). */
export const SENTINEL_EVENT_HEADROOM = 1.2;
/** The reaction's reservation for a small fleet: a few failovers at once, with their duplicate events. */
export const SENTINEL_EVENT_RESERVED_MIN = 20;
/** Runs of the reconcile beyond one per schedule: one named by hand, one overrunning into the next minute. */
export const RECONCILE_RESERVED_HEADROOM = 2;
/**
 * notify: deliveries at once. A burst (170 failovers) beyond it waits in Lambda's asynchronous queue, which
 * retries throttled invocations for up to the event age (10 minutes), and Slack rate-limits a channel anyway.
 */
export const NOTIFY_RESERVED_CONCURRENCY = 20;
/** The share of the account's concurrency ha-redis may reserve: the rest stays for the account's other functions. */
export const MAX_RESERVED_SHARE = 0.5;
/** Lambda refuses a reservation that leaves fewer than this unreserved in the account. */
export const LAMBDA_MIN_UNRESERVED = 100;

/** The burst of reactions when one zone is lost: a third of the clusters fail over at once, with their duplicates. */
const azLossBurst = (clusters: number) => Math.ceil((clusters / MASTER_ZONES) * SENTINEL_EVENT_HEADROOM);

/**
 * Environments of sentinel-event kept initialized: the configured number, or, for `az-loss`, one per reaction of a
 * zone's loss (at least 1), so that none of those failovers waits out a cold start (250-1000 ms in the fleet
 * simulation) before it confirms and reroutes.
 */
export function provisionedEnvironments(config: DeploymentConfig): number {
  const { provisionedConcurrency } = config.sentinelEvent;
  return provisionedConcurrency === PROVISIONED_FOR_AZ_LOSS
    ? Math.max(1, azLossBurst(config.clusters.length))
    : provisionedConcurrency;
}

/** sentinel-event's reservation: a zone's failovers and their duplicates, never below what is provisioned. */
export const sentinelEventReservation = (clusters: number, provisioned: number): number =>
  Math.max(SENTINEL_EVENT_RESERVED_MIN, provisioned, azLossBurst(clusters));

/** Each function's reservation, their sum, and what the account keeps unreserved. */
export interface ReservedConcurrency {
  sentinelEvent: number;
  reconcile: number;
  notify: number;
  slack: number;
  slackWorker: number;
  total: number;
  /** The account's concurrency (config accountConcurrency) minus the total. */
  left: number;
}

/** The reservations for a config; a ConfigurationError when they would take more than a sane share. */
export function reservedConcurrency(config: DeploymentConfig): ReservedConcurrency {
  const clusters = config.clusters.length;
  const sentinelEvent = sentinelEventReservation(clusters, provisionedEnvironments(config));
  const reconcile = reconcileShardCount(clusters) + RECONCILE_RESERVED_HEADROOM;
  const slack = config.slack ? SLACK_RESERVED_CONCURRENCY : 0;
  const slackWorker = config.slack ? SLACK_WORKER_RESERVED_CONCURRENCY : 0;
  const total = sentinelEvent + reconcile + NOTIFY_RESERVED_CONCURRENCY + slack + slackWorker;
  const account = config.accountConcurrency;
  const share = Math.floor(account * MAX_RESERVED_SHARE);
  if (total > share || account - total < LAMBDA_MIN_UNRESERVED) {
    throw new ConfigurationError(
      `the Lambdas of ${config.name} would reserve ${total} of the account's concurrency of ${account} ` +
        `(sentinel-event ${sentinelEvent} for ${clusters} clusters, reconcile ${reconcile}, notify ` +
        `${NOTIFY_RESERVED_CONCURRENCY}, Slack ${slack + slackWorker}), more than the ${share} ` +
        `(${MAX_RESERVED_SHARE * 100}%) ha-redis may take, leaving at least ${LAMBDA_MIN_UNRESERVED} unreserved; ` +
        'raise the account\'s "Concurrent executions" quota (Service Quotas, Lambda) and set accountConcurrency ' +
        'to it, or split the clusters over more deployments',
    );
  }
  return {
    sentinelEvent,
    reconcile,
    notify: NOTIFY_RESERVED_CONCURRENCY,
    slack,
    slackWorker,
    total,
    left: account - total,
  };
}

import type { ClusterConfig, ClusterRegistry } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import type { MoveInput, MovePlan } from '../../core/move/state.ts';
import type { Clock, Logger, StateStore, WorkflowStarter } from '../../core/ports.ts';
import type { StatusReport } from '../../core/status/report.ts';
import type { SwitchoverInput, SwitchoverPlan } from '../../core/switchover/state.ts';
import type { ClusterSlack, DeferredTask, SlackMessage } from './contract.ts';

/**
 * What the Slack front door needs from the world, and its time limits. On AWS it is two functions with their own
 * roles: the front (behind the public Function URL) verifies, authorizes, replies and starts a confirmed
 * switchover (a move too, where the runtime runs moves: locally); the worker (no URL) does what needs the
 * clusters' secrets or the state table. Locally one process has both.
 */

/** Where the dry-run plan of a move comes from (locally: the move workflow run with dryRun). */
export interface MovePlanner {
  /** The move's dry-run plan (changes nothing); a refusal (unknown set, port in use...) throws, saying why. */
  planMove(input: MoveInput): Promise<MovePlan>;
}

/** What the front needs: no cluster secret, no state table; plan and maintenance mode are asked of the worker. */
export interface SlackFrontDeps extends MovePlanner {
  clusters: ClusterRegistry;
  /** The cluster's `slack` block; absent = nobody may act on it from Slack. */
  slackOf(cluster: string): ClusterSlack | undefined;
  signingSecret(): Promise<string>;
  clock: Clock;
  logger: Logger;
  /** Starts the confirmed switchover or move execution. */
  workflows: Pick<WorkflowStarter, 'start'>;
  /** The dry-run plan (read-only). */
  plan(input: SwitchoverInput): Promise<SwitchoverPlan>;
  /** Where `/redis maintenance pause|resume` sets the cluster's maintenance mode (the state store). */
  maintenance: Pick<StateStore, 'setMaintenanceMode'>;
  /** POST to Slack's response_url. */
  respond(responseUrl: string, message: SlackMessage): Promise<void>;
  /** Run the task after the reply (AWS: an async invoke of the worker; local: in-process). */
  defer(task: DeferredTask): Promise<void>;
  /** Ids of the user groups the user is in, for allowedGroups. */
  userGroups?(userId: string): Promise<string[]>;
}

/** What the deferred work needs: it reads the clusters and the state table, and follows executions. */
export interface SlackWorkerDeps extends MovePlanner {
  clusters: ClusterRegistry;
  clock: Clock;
  logger: Logger;
  /** Describes the switchover or move execution a watch follows. */
  workflows: Pick<WorkflowStarter, 'describe'>;
  /** The dry-run plan (read-only). */
  plan(input: SwitchoverInput): Promise<SwitchoverPlan>;
  status(cluster: ClusterConfig): Promise<StatusReport>;
  history(cluster: string, limit: number): Promise<HistoryEntry[]>;
  /** POST to Slack's response_url. */
  respond(responseUrl: string, message: SlackMessage): Promise<void>;
}

/** Both, in one process: the local runtime and the tests. */
export type SlackDeps = SlackFrontDeps & SlackWorkerDeps & { workflows: WorkflowStarter };

/** Deps built on first use (the AWS entry loads its composition root then). */
export type GetDeps<D> = () => D | Promise<D>;
/** The deps, built on first use. */
export type GetSlackDeps = GetDeps<SlackDeps>;

/** Time limits of the front door, in milliseconds. */
export interface SlackTiming {
  /** The dry-run plan gets this long inside Slack's 3 s; slower, it is deferred. */
  planBudgetMs: number;
  /** The watch asks where the execution is this often. */
  watchPollMs: number;
  /**
   * The watch stops following a switchover after this long (it takes ~10-30 s, a recovery up to ~2 min). It must
   * end, and post, inside the Lambda's timeout (600 s in the stack).
   */
  watchTimeoutMs: number;
  /**
   * The same for a move (the new nodes' full sync, Sentinels handed over pair by pair: up to ~25 min). Moves run
   * in the local runtime only, with no Lambda timeout; a response_url takes posts for 30 minutes.
   */
  moveWatchTimeoutMs: number;
  /** Consecutive failed describes after which the watch gives up. */
  watchMaxFailures: number;
}

export const SLACK_TIMING: SlackTiming = {
  planBudgetMs: 2000,
  watchPollMs: 1000,
  watchTimeoutMs: 9 * 60_000,
  moveWatchTimeoutMs: 25 * 60_000,
  watchMaxFailures: 10,
};

/** A scripted fake of the SentinelView port. */
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { UnreachableError } from '../../core/model/errors.ts';
import type { SentinelMasterView, SentinelView } from '../../core/ports.ts';
import { endpointOf, SENTINELS } from '../support/fixtures.ts';

/** What one Sentinel says in one poll, or 'down' when it does not answer. */
export type ViewSpec = { master: Endpoint; epoch: number; failoverState?: string; flags?: string[] } | 'down';

/**
 * Sentinels driven by a script: `rounds[k][i]` is what Sentinel i answers at its (k+1)-th question;
 * the last round repeats. `onQuestion` runs before each answer (to simulate the world changing).
 */
export class FakeSentinelView implements SentinelView {
  readonly questions: { sentinel: Endpoint; masterName: string }[] = [];
  private readonly sentinels: readonly Endpoint[];
  private readonly rounds: ViewSpec[][];
  private readonly asked = new Map<string, number>();
  onQuestion?: (sentinel: Endpoint, round: number) => Promise<void> | void;

  constructor(rounds: ViewSpec[][], sentinels: readonly Endpoint[] = SENTINELS) {
    this.rounds = rounds;
    this.sentinels = sentinels;
  }

  /** Every Sentinel says the same thing, every time. */
  static agreeing(master: Endpoint, epoch: number): FakeSentinelView {
    const view = { master, epoch };
    return new FakeSentinelView([[view, view, view]]);
  }

  /** Sentinel endpoint (host:port) -> run id; by default `id-<port>`. */
  readonly ids = new Map<string, string>();

  /** Sentinel (host:port) -> its SENTINEL CKQUORUM refusal; a Sentinel not listed answers OK. */
  readonly quorumProblems = new Map<string, string>();

  async checkQuorum(sentinel: Endpoint): Promise<string | undefined> {
    return this.quorumProblems.get(formatEndpoint(sentinel));
  }

  /** SENTINEL REPLICAS of a Sentinel at its (poll+1)-th question; unset: no replicas. */
  replicasViewOf?: (
    sentinel: Endpoint,
    poll: number,
  ) => { address: Endpoint; priority: number; flags: string[]; roleReported?: string }[];
  readonly replicasViewCalls: Endpoint[] = [];

  async replicasView(
    sentinel: Endpoint,
  ): Promise<{ address: Endpoint; priority: number; flags: string[]; roleReported?: string }[]> {
    const poll = this.replicasViewCalls.filter((s) => sameEndpoint(s, sentinel)).length;
    this.replicasViewCalls.push(endpointOf(sentinel));
    return this.replicasViewOf?.(sentinel, poll) ?? [];
  }

  /** Sentinel (host:port) -> its answer to SENTINEL FAILOVER (an Error is thrown); a Sentinel not listed says 'ok'. */
  readonly failoverAnswers = new Map<string, string | Error>();
  readonly failoverCalls: Endpoint[] = [];
  /** Runs when a Sentinel accepts SENTINEL FAILOVER, to simulate what the failover does to the world. */
  onFailover?: (sentinel: Endpoint) => void;

  /** Sentinels in TILT, by `host:port`. */
  readonly tilted = new Set<string>();
  async inTilt(sentinel: Endpoint): Promise<boolean> {
    return this.tilted.has(formatEndpoint(sentinel));
  }

  async failover(sentinel: Endpoint): Promise<'ok' | string> {
    this.failoverCalls.push(endpointOf(sentinel));
    const answer = this.failoverAnswers.get(formatEndpoint(sentinel)) ?? 'ok';
    if (answer instanceof Error) throw answer;
    if (answer === 'ok') this.onFailover?.(sentinel);
    return answer;
  }

  /** When set, every Sentinel answers this (by index) instead of following the script. */
  answersNow?: ViewSpec[];

  /**
   * `<sentinel>><master>` (host:port each) -> the vote that Sentinel holds for the master at that address;
   * 'down' fails at once, 'silent' never answers (a host that is gone, before the timeout).
   */
  readonly votes = new Map<string, { leaderRunId: string; epoch: number } | 'down' | 'silent'>();
  readonly voteQuestions: { sentinel: Endpoint; master: Endpoint }[] = [];

  async vote(
    sentinel: Endpoint,
    master: Endpoint,
  ): Promise<{ leaderRunId: string; epoch: number } | undefined> {
    this.voteQuestions.push({ sentinel: endpointOf(sentinel), master: endpointOf(master) });
    const held = this.votes.get(`${formatEndpoint(sentinel)}>${formatEndpoint(master)}`);
    if (held === 'down') throw new UnreachableError(`sentinel ${formatEndpoint(sentinel)} timed out`);
    if (held === 'silent') return new Promise(() => undefined);
    return held;
  }

  async myId(sentinel: Endpoint): Promise<string> {
    return this.ids.get(formatEndpoint(sentinel)) ?? `id-${sentinel.port}`;
  }

  async masterView(sentinel: Endpoint, masterName: string): Promise<SentinelMasterView> {
    this.questions.push({ sentinel, masterName });
    const key = formatEndpoint(sentinel);
    const round = this.asked.get(key) ?? 0;
    this.asked.set(key, round + 1);
    await this.onQuestion?.(sentinel, round);
    const index = this.sentinels.findIndex((s) => sameEndpoint(s, sentinel));
    const spec = this.answersNow
      ? this.answersNow[index]
      : this.rounds[Math.min(round, this.rounds.length - 1)]?.[index];
    if (spec === undefined || spec === 'down') throw new UnreachableError(`sentinel ${key} timed out`);
    return {
      sentinel,
      master: spec.master,
      configEpoch: spec.epoch,
      flags: spec.flags ?? ['master'],
      failoverState: spec.failoverState ?? 'none',
      numOtherSentinels: this.sentinels.length - 1,
      quorum: 2,
    };
  }
}

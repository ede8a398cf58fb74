import type { Log } from '../cluster.ts';
import type { ScenarioRow } from '../report.ts';

export interface ScenarioOptions {
  runs: number;
  /** Sentinel down-after-milliseconds of the clusters the scenario starts. */
  downAfterMs: number;
  /** Progress lines for a person (stderr). */
  log?: Log;
  /** Keep each cluster's configs and logs (under os.tmpdir()) after its run, to investigate. */
  keepFiles?: boolean;
}

/** A benchmark scenario: runs `runs` times and returns one report row per system it measured. */
export interface Scenario {
  name: string;
  description: string;
  /** Runs per cell when `--runs` is not given. */
  defaultRuns: number;
  /** Sentinel down-after values to run when `--down-after` is not given. */
  defaultDownAfterMs: readonly number[];
  run(options: ScenarioOptions): Promise<ScenarioRow[]>;
}

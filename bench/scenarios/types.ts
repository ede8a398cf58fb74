import type { SentinelLayout } from '../../config/host-set-descriptor.ts';
import type { Log } from '../cluster.ts';
import type { LoadProfile } from '../load-profile.ts';
import type { ScenarioRow } from '../report.ts';

export interface ScenarioOptions {
  runs: number;
  /** Sentinel down-after-milliseconds of the clusters the scenario starts. */
  downAfterMs: number;
  /** Progress lines for a person (stderr). */
  log?: Log;
  /** Keep each cluster's configs and logs (under os.tmpdir()) after its run, to investigate. */
  keepFiles?: boolean;
  /** The writers' load and the dataset (scenarios with `takesLoad`); default DEFAULT_LOAD. */
  load?: LoadProfile;
  /** Only these systems (names from the scenario's `systems`); default all. */
  systems?: readonly string[];
  /** Scenarios with `takesFleet`: how many simulated clusters, and which AZ (1-3) is lost. */
  fleet?: { clusters?: number; failAz?: number; provisioned?: number };
  /** Scenarios with `takesLayouts`: only these Sentinel layouts; default every one. */
  layouts?: readonly SentinelLayout[];
}

/** A benchmark scenario: runs `runs` times and returns one report row per system it measured. */
export interface Scenario {
  name: string;
  description: string;
  /** Runs per cell when `--runs` is not given. */
  defaultRuns: number;
  /** Sentinel down-after values to run when `--down-after` is not given. */
  defaultDownAfterMs: readonly number[];
  /** The systems it measures, for `--system` (absent: it cannot run a subset). */
  systems?: readonly string[];
  /** It runs with `--writers`, `--value-size`, `--pipeline` and `--dataset`. */
  takesLoad?: boolean;
  /** It runs with `--clusters` and `--fail-az`. */
  takesFleet?: boolean;
  /** It runs with `--sentinels` (a host set's Sentinel layouts). */
  takesLayouts?: boolean;
  run(options: ScenarioOptions): Promise<ScenarioRow[]>;
}

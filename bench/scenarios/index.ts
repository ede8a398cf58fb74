import { fleet } from './fleet.ts';
import { hostDrain } from './host-drain.ts';
import { hostFailure } from './host-failure.ts';
import { killMaster, restartOldMaster, zombieMaster } from './master-fault.ts';
import { move } from './move.ts';
import { switchover } from './switchover.ts';
import type { Scenario } from './types.ts';

/** Every scenario `bench/run.ts --scenario` can run, in the order `--scenario all` runs them. */
export const SCENARIOS: ReadonlyMap<string, Scenario> = new Map(
  [killMaster, zombieMaster, restartOldMaster, switchover, hostFailure, hostDrain, move, fleet].map((s) => [
    s.name,
    s,
  ]),
);

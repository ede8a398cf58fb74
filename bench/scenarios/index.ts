import { killMaster } from './kill-master.ts';
import { switchover } from './switchover.ts';
import type { Scenario } from './types.ts';

/** Every scenario `bench/run.ts --scenario` can run; a new scenario is one module here. */
export const SCENARIOS: ReadonlyMap<string, Scenario> = new Map(
  [killMaster, switchover].map((s) => [s.name, s]),
);

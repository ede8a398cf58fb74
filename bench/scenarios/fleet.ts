import { type FleetRun, renderFleet } from '../fleet/fleet-report.ts';
import { simulateFleet } from '../fleet/simulate.ts';
import type { ScenarioRow } from '../report.ts';
import type { Scenario } from './types.ts';

/** `--clusters` and `--fail-az` when not given. */
export const FLEET_DEFAULTS = { clusters: 500, failAz: 1 } as const;

/**
 * `fleet`: an AZ lost under N simulated clusters, reacted to by the real sentinel-event handler and core on the
 * real AWS adapters, AWS played by rate-limited fakes (bench/fleet/). One row per run; `gapMs` holds promotion ->
 * every live proxy rerouted (no writes are made: `acked` and `lost` are 0), `fleet` the whole run.
 */
export const fleet: Scenario = {
  name: 'fleet',
  description: 'an AZ lost under N simulated clusters, AWS limits enforced',
  defaultRuns: 1,
  defaultDownAfterMs: [5000],
  takesFleet: true,
  async run(options) {
    const clusters = options.fleet?.clusters ?? FLEET_DEFAULTS.clusters;
    const failAz = options.fleet?.failAz ?? FLEET_DEFAULTS.failAz;
    const rows: ScenarioRow[] = [];
    const runs: FleetRun[] = [];
    for (let run = 1; run <= options.runs; run += 1) {
      const log = options.log ?? (() => undefined);
      const provisioned = options.fleet?.provisioned ?? 0;
      const result = await simulateFleet({
        clusters,
        failAz,
        provisioned,
        downAfterMs: options.downAfterMs,
        log,
      });
      runs.push(result);
      rows.push({
        name: 'fleet',
        system: `ha-redis, ${clusters} clusters, AZ ${failAz} lost${provisioned ? `, ${provisioned} provisioned` : ''}`,
        runs: 1,
        gapMs: result.promotionToReroutedMs,
        acked: 0,
        lost: 0,
        downAfterMs: options.downAfterMs,
        writers: 0,
        fleet: result,
        samples: [],
        errors: result.handlerErrors,
      });
    }
    options.log?.(renderFleet(runs));
    return rows;
  },
};

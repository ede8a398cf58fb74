import { simulateFleet } from '/work/main/bench/fleet/simulate.ts';

const t0 = Date.now();
const r = await simulateFleet({ clusters: 20, failAz: 2, downAfterMs: 1000, log: console.log });
console.log(
  Date.now() - t0,
  JSON.stringify(r.calls.dnsQueue),
  r.dnsNotWritten,
  JSON.stringify(r.promotionToDnsWrittenMs),
);

/** The fleet simulation's report: per cluster, the summaries, the calls AWS refused, and the goals. */
import type { SNSEvent } from 'aws-lambda';
import type { RecordOutcome } from '../../functions/sentinel-event/handler.ts';
import { type Summary, summarize } from '../stats.ts';
import type { ServiceCounts } from './aws-fakes.ts';
import type { QueueCounts } from './fifo-queues.ts';
import type { LambdaCounts, LambdaSim } from './lambda.ts';
import { LIMITS } from './limits.ts';
import type { FleetWorld } from './topology.ts';

/** What one invocation's record came to, for one cluster. */
export interface OutcomeNote {
  cluster: string;
  action: string;
  /** A failed-over reaction's outcome (succeeded, partial). */
  outcome?: string;
  error?: string;
}

/** One failed-over cluster, times in ms after its promotion (null: never within the run). */
export interface ClusterSample {
  cluster: string;
  /** Promotion, ms after the AZ was lost. */
  promotedAfterLossMs: number;
  reroutedMs: number | null;
  dnsWrittenMs: number | null;
  fenceIssuedMs: number | null;
  /** The epoch record at the end: `done@7` when the reaction finished. */
  applied: string;
  actions: string[];
}

export interface Goal {
  goal: string;
  pass: boolean;
  measured: string;
}

export interface FleetRun {
  clusters: number;
  failAz: number;
  downAfterMs: number;
  failovers: number;
  /** From the AZ loss to the last invocation's end. */
  durationMs: number;
  promotionToReroutedMs: Summary;
  promotionToDnsWrittenMs: Summary;
  promotionToFenceIssuedMs: Summary;
  /** Clusters that never got there within the run. */
  notRerouted: number;
  dnsNotWritten: number;
  fenceNotIssued: number;
  /** Calls each fake took, and the ones it refused by error name (each refusal is one retry or one give-up). */
  calls: {
    route53: ServiceCounts;
    ssm: ServiceCounts;
    dynamodb: ServiceCounts;
    /** `reserved`: sentinel-event's reserved concurrency, its cap (as the stack sets it). */
    lambda: LambdaCounts & { reserved: number };
    /** The FIFO queues of the handed-off writes and their consumers (DNS per zone, routing per proxy host). */
    queues: { dns: QueueCounts; routing: QueueCounts };
  };
  /** Failed-over clusters whose epoch is not done at the end. */
  failedReactions: string[];
  /** Partial reactions (a step failed; a later event retried the epoch), by their first error. */
  partialReactions: number;
  unconfirmed: number;
  unconfirmedByThrottling: number;
  handlerErrors: string[];
  goals: Goal[];
  perCluster: ClusterSample[];
}

const THROTTLED =
  /Throttl|Rate exceeded|ProvisionedThroughputExceeded|PriorRequestNotComplete|TooManyRequests/;

export const clusterOfEvent = (event: SNSEvent): string => {
  try {
    return String(JSON.parse(event.Records[0]?.Sns.Message ?? '{}').cluster ?? '?');
  } catch {
    return '?';
  }
};

export function noteOf(cluster: string, o: RecordOutcome): OutcomeNote {
  const reaction = o.action === 'fast-failover' ? o.reaction : o;
  if (reaction.action === 'failed-over')
    return {
      cluster,
      action: o.action,
      outcome: reaction.entry.outcome,
      ...(reaction.entry.error ? { error: reaction.entry.error } : {}),
    };
  if (reaction.action === 'unconfirmed') {
    const error = reaction.reason ?? reaction.entry?.error;
    return { cluster, action: 'unconfirmed', ...(error ? { error } : {}) };
  }
  return { cluster, action: o.action, ...('error' in o ? { error: String(o.error) } : {}) };
}

const after = (t: number | undefined, from: number | undefined) =>
  t === undefined || from === undefined ? null : Math.round(t - from);
const present = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null);

/** The samples, the summaries and the goals of one run. */
export function summarizeRun(r: {
  options: { clusters: number; failAz: number; downAfterMs: number };
  world: FleetWorld;
  aws: {
    dnsWrittenAt: Map<string, number>;
    fenceIssuedAt: Map<string, number>;
    counts: { route53: ServiceCounts; ssm: ServiceCounts };
  };
  dynamoCounts: ServiceCounts;
  queues: { dns: QueueCounts; routing: QueueCounts };
  lambda: LambdaSim;
  notes: OutcomeNote[];
  applied: Map<string, string>;
  lostAt: number;
}): FleetRun {
  const failing = r.world.clusters.filter((c) => c.failsOver);
  const perCluster: ClusterSample[] = failing.map((c) => {
    const name = c.config.name;
    const live = c.config.proxies.filter((p) => !r.world.lost(p.host)).map((p) => p.id);
    const routed = r.world.routedAt.get(name);
    const times = live.map((id) => routed?.get(id));
    const allRouted = times.every((t) => t !== undefined);
    return {
      cluster: name,
      promotedAfterLossMs: Math.round((c.promotedAt ?? 0) - r.lostAt),
      reroutedMs: allRouted ? after(Math.max(...(times as number[])), c.promotedAt) : null,
      dnsWrittenMs: after(r.aws.dnsWrittenAt.get(c.config.dns.recordName), c.promotedAt),
      fenceIssuedMs: after(r.aws.fenceIssuedAt.get(name), c.promotedAt),
      applied: r.applied.get(name) ?? 'none',
      actions: r.notes
        .filter((n) => n.cluster === name)
        .map((n) => (n.outcome ?? n.action) + (n.error ? `: ${n.error}` : '')),
    };
  });
  const rerouted = present(perCluster.map((s) => s.reroutedMs));
  const dns = present(perCluster.map((s) => s.dnsWrittenMs));
  const fence = present(perCluster.map((s) => s.fenceIssuedMs));
  const unconfirmed = r.notes.filter((n) => n.action === 'unconfirmed');
  const run: Omit<FleetRun, 'goals'> = {
    clusters: r.options.clusters,
    failAz: r.options.failAz,
    downAfterMs: r.options.downAfterMs,
    failovers: failing.length,
    durationMs: Date.now() - r.lostAt,
    promotionToReroutedMs: summarize(rerouted),
    promotionToDnsWrittenMs: summarize(dns),
    promotionToFenceIssuedMs: summarize(fence),
    notRerouted: failing.length - rerouted.length,
    dnsNotWritten: failing.length - dns.length,
    fenceNotIssued: failing.length - fence.length,
    calls: {
      ...r.aws.counts,
      dynamodb: r.dynamoCounts,
      lambda: { ...r.lambda.counts, reserved: r.lambda.concurrency },
      queues: r.queues,
    },
    failedReactions: perCluster.filter((s) => s.applied !== 'done@7').map((s) => s.cluster),
    partialReactions: r.notes.filter((n) => n.outcome === 'partial').length,
    unconfirmed: unconfirmed.length,
    unconfirmedByThrottling: unconfirmed.filter((n) => THROTTLED.test(n.error ?? '')).length,
    handlerErrors: r.lambda.errorMessages.slice(0, 5),
    perCluster,
  };
  return { ...run, goals: goalsOf(run) };
}

/** The goals of issue #16: reroute within 1 s at p99, DNS within 30 s, nothing failed, nothing lost to throttling. */
export function goalsOf(run: Omit<FleetRun, 'goals'>): Goal[] {
  const r = run.promotionToReroutedMs;
  const d = run.promotionToDnsWrittenMs;
  return [
    {
      goal: 'p99 promotion -> rerouted <= 1 s',
      pass: run.notRerouted === 0 && run.failovers > 0 && r.p99 <= 1000,
      measured: `p99 ${r.p99} ms${run.notRerouted ? `, ${run.notRerouted} never rerouted` : ''}`,
    },
    {
      goal: 'every DNS record written within 30 s',
      pass: run.dnsNotWritten === 0 && run.failovers > 0 && d.max <= 30_000,
      measured: `max ${d.max} ms${run.dnsNotWritten ? `, ${run.dnsNotWritten} never written` : ''}`,
    },
    {
      goal: '0 failed reactions',
      pass: run.failedReactions.length === 0 && run.calls.lambda.errors === 0,
      measured: `${run.failedReactions.length} not done, ${run.calls.lambda.errors} handler errors`,
    },
    {
      goal: '0 reactions unconfirmed because of throttling',
      pass: run.unconfirmedByThrottling === 0,
      measured: `${run.unconfirmedByThrottling} (of ${run.unconfirmed} unconfirmed)`,
    },
  ];
}

const refusals = (c: ServiceCounts) =>
  Object.entries(c.refused)
    .map(([name, n]) => `${n} ${name}`)
    .join(', ') || 'none';

const queueCell = (q: QueueCounts) => `${q.sent} (${q.deduplicated}), ${q.batches}, ${q.retried}`;

/** The markdown of one or more runs: the timings table, the calls table, the goals. */
export function renderFleet(runs: readonly FleetRun[]): string {
  const s = (x: Summary) => `${x.p50} / ${x.p99} / ${x.max}`;
  return [
    `Fleet simulation (AZ lost; limits: Route53 ${LIMITS.route53.accountCapacity}+${LIMITS.route53.accountRefillPerSec}/s, zone busy ${LIMITS.route53.zoneBusyMs} ms; SSM send ${LIMITS.ssm.sendCapacity}+${LIMITS.ssm.sendRefillPerSec}/s; Lambda ${LIMITS.lambda.concurrency} concurrent). Times in ms after each cluster's promotion, p50 / p99 / max.`,
    '',
    '| Clusters | Failovers | Rerouted | DNS written | Fence issued | Not rerouted / DNS / fence | Failed | Partial | Unconfirmed (throttling) | Run (s) |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...runs.map(
      (r) =>
        `| ${r.clusters} | ${r.failovers} | ${s(r.promotionToReroutedMs)} | ${s(r.promotionToDnsWrittenMs)} | ${s(r.promotionToFenceIssuedMs)} | ${r.notRerouted} / ${r.dnsNotWritten} / ${r.fenceNotIssued} | ${r.failedReactions.length} | ${r.partialReactions} | ${r.unconfirmed} (${r.unconfirmedByThrottling}) | ${(r.durationMs / 1000).toFixed(1)} |`,
    ),
    '',
    '| Clusters | Route53 calls (refused) | SSM calls (refused) | DynamoDB calls (refused) | Lambda invocations, cold starts, throttled, errors, peak concurrency (reserved) | Queues, DNS / routing: sent (deduplicated), batches, retried |',
    '|--:|---|---|---|---|---|',
    ...runs.map(
      (r) =>
        `| ${r.clusters} | ${r.calls.route53.calls} (${refusals(r.calls.route53)}) | ${r.calls.ssm.calls} (${refusals(r.calls.ssm)}) | ${r.calls.dynamodb.calls} (${refusals(r.calls.dynamodb)}) | ${r.calls.lambda.invocations}, ${r.calls.lambda.coldStarts}, ${r.calls.lambda.throttled}, ${r.calls.lambda.errors}, ${r.calls.lambda.maxConcurrency} (${r.calls.lambda.reserved}) | ${queueCell(r.calls.queues.dns)} / ${queueCell(r.calls.queues.routing)} |`,
    ),
    '',
    ...runs.flatMap((r) =>
      r.goals.map((g) => `- ${r.clusters} clusters: ${g.pass ? 'PASS' : 'FAIL'} ${g.goal} (${g.measured})`),
    ),
    '',
  ].join('\n');
}

/**
 * The live page's model: hosts as columns, each service's nodes, proxies and Sentinels on the host they run on,
 * judged by the status report of `ha-redis status` (core/status); and the newest failovers and switchovers with
 * their timelines. Pure: the page's server gathers the reports and the history, this only arranges them.
 */
import type { Descriptor } from '../../config/local-descriptor.ts';
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import type { StatusReport } from '../../core/status/report.ts';

/** How many of the newest failovers and switchovers (of every service together) the page shows. */
export const LIVE_OPERATIONS = 5;

/** What the page knows of one served cluster: where its processes run, its status report, its history. */
export interface ServiceObservation {
  descriptor: Pick<Descriptor, 'cluster' | 'hostSet' | 'nodes' | 'sentinels' | 'proxies'>;
  report: StatusReport;
  history: readonly HistoryEntry[];
}

/** A column: a host of the set (`host-1`), or an address when the cluster is not placed on hosts. */
export interface LiveHost {
  id: string;
  address: string;
}

/** One line of a cell: what a process is, what it says, and whether that is as it should be. */
export interface LiveLine {
  id: string;
  text: string;
  ok: boolean;
  /** A node's part: the master is shown first and marked. */
  master?: boolean;
}

/** What one service runs on one host. */
export interface LiveCell {
  nodes: LiveLine[];
  proxies: LiveLine[];
  sentinels: LiveLine[];
}

/** One row: a service, its verdict, its master, the Sentinels' agreement, and a cell per host. */
export interface LiveService {
  cluster: string;
  healthy: boolean;
  /** The master's node id, as `ha-redis status` names it (empty when unknown). */
  masterId: string;
  master: string;
  agreement: string;
  reasons: string[];
  warnings: string[];
  cells: LiveCell[];
}

/** One failover or switchover, with its steps measured from the first. */
export interface LiveOperation {
  cluster: string;
  id: string;
  kind: string;
  outcome: string;
  trigger: string;
  epoch: number | null;
  startedAt: number;
  durationMs: number;
  writeGapMs?: number;
  from: string;
  to: string;
  error?: string;
  steps: { step: string; offsetMs: number; durationMs: number; status: string; detail?: string }[];
}

export interface LiveView {
  title: string;
  observedAt: number;
  healthy: boolean;
  hosts: LiveHost[];
  services: LiveService[];
  operations: LiveOperation[];
}

type Placed = { host: string; hostId?: string | undefined };
const hostKey = (p: Placed): string => p.hostId ?? p.host;

/** The columns: every host any served process runs on, in the order they first appear. */
function hostsOf(services: readonly ServiceObservation[]): LiveHost[] {
  const hosts = new Map<string, LiveHost>();
  for (const { descriptor: d } of services) {
    for (const p of [...d.nodes, ...d.proxies, ...d.sentinels]) {
      const id = hostKey(p);
      if (!hosts.has(id)) hosts.set(id, { id, address: p.host });
    }
  }
  return [...hosts.values()];
}

/** Names an address by its node id (and the node's host, in a host set), or host:port. */
function labeller(d: ServiceObservation['descriptor']): (e: Endpoint | null | undefined) => string {
  return (e) => {
    if (!e) return '-';
    const node = d.nodes.find((n) => sameEndpoint(n, e));
    if (!node) return formatEndpoint(e);
    return node.hostId ? `${node.id} on ${node.hostId}` : node.id;
  };
}

/** A node's line: master, a replica of whom with its lag, or down. */
function nodeLine(n: StatusReport['nodes'][number], label: ReturnType<typeof labeller>): LiveLine {
  if (!n.reachable) return { id: n.id, text: `DOWN: ${n.error ?? 'no answer'}`, ok: false };
  if (n.isMaster) return { id: n.id, text: 'MASTER', ok: n.role === 'master', master: true };
  if (n.role !== 'slave') return { id: n.id, text: `answers ROLE ${n.role ?? 'unknown'}`, ok: false };
  const link = n.linkUp === false ? ', link down' : '';
  const lag = n.lagBytes === undefined ? '' : `, ${n.lagBytes} B behind`;
  return { id: n.id, text: `replica of ${label(n.master)}${lag}${link}`, ok: n.linkUp !== false };
}

/** The cell of one service on one host. */
function cellOf(s: ServiceObservation, host: LiveHost, label: ReturnType<typeof labeller>): LiveCell {
  const { descriptor: d, report: r } = s;
  const here = (p: Placed) => hostKey(p) === host.id;
  const nodes = r.nodes
    .filter((n) => d.nodes.some((dn) => dn.id === n.id && here(dn)))
    .map((n) => nodeLine(n, label));
  const proxies = r.proxies
    .filter((p) => d.proxies.some((dp) => dp.id === p.id && here(dp)))
    .map((p) => ({
      id: p.id,
      text: p.route
        ? `routes to ${label(p.route.address)} (${p.route.state})`
        : `DOWN: ${p.error ?? 'no answer'}`,
      ok: p.pointsAtMaster && p.route?.state === 'ready',
    }));
  const sentinels = r.sentinels
    .filter((x) => d.sentinels.some((ds) => sameEndpoint(ds, x.sentinel) && here(ds)))
    .map((x) => {
      const id = d.sentinels.find((ds) => sameEndpoint(ds, x.sentinel))?.id ?? formatEndpoint(x.sentinel);
      if (x.tilt) return { id, text: 'in TILT (not counted)', ok: false };
      if (!x.ok) return { id, text: `DOWN: ${x.error ?? 'no answer'}`, ok: false };
      const says = `names ${label(x.master)} at epoch ${x.configEpoch}`;
      return { id, text: x.agrees ? says : `${says}: DISAGREES`, ok: x.agrees };
    });
  return { nodes: [...nodes.filter((n) => n.master), ...nodes.filter((n) => !n.master)], proxies, sentinels };
}

/** One service's row. */
function serviceOf(s: ServiceObservation, hosts: readonly LiveHost[]): LiveService {
  const r = s.report;
  const label = labeller(s.descriptor);
  const agreeing = r.sentinels.filter((x) => x.agrees).length;
  const agreed = r.majority.agreed;
  return {
    cluster: r.cluster,
    healthy: r.healthy,
    masterId: r.master?.id ?? '',
    master: r.master
      ? `${label(r.master.address)}${r.master.epoch === undefined ? '' : ` (epoch ${r.master.epoch})`}`
      : 'unknown',
    agreement: agreed
      ? `${agreeing} of ${r.sentinels.length} Sentinels agree on ${label(agreed.master)} at epoch ${agreed.epoch} (${r.majority.needed} needed)`
      : `no majority: ${r.majority.answered} of ${r.sentinels.length} answered, ${r.majority.needed} must agree`,
    reasons: r.reasons,
    warnings: r.warnings,
    cells: hosts.map((h) => cellOf(s, h, label)),
  };
}

/** A history entry as the page shows it. */
function operationOf(e: HistoryEntry, label: ReturnType<typeof labeller>): LiveOperation {
  const first = e.timeline[0]?.at ?? e.startedAt;
  return {
    cluster: e.cluster,
    id: e.id,
    kind: e.kind,
    outcome: e.outcome,
    trigger: e.trigger,
    epoch: e.epoch,
    startedAt: e.startedAt,
    durationMs: e.durationMs,
    ...(e.writeGapMs === undefined ? {} : { writeGapMs: e.writeGapMs }),
    from: label(e.oldMaster),
    to: label(e.newMaster),
    ...(e.error ? { error: e.error } : {}),
    steps: e.timeline.map((step) => ({
      step: step.step,
      offsetMs: step.at - first,
      durationMs: step.durationMs,
      status: step.status,
      ...(step.detail ? { detail: step.detail } : {}),
    })),
  };
}

/** Arrange every served cluster's report and history into the page's model. */
export function buildLiveView(services: readonly ServiceObservation[], observedAt: number): LiveView {
  const hosts = hostsOf(services);
  const first = services[0]?.descriptor;
  const operations = services
    .flatMap((s) =>
      s.history
        .filter((e) => e.kind === 'failover' || e.kind === 'switchover')
        .map((e) => operationOf(e, labeller(s.descriptor))),
    )
    .sort((a, b) => b.startedAt - a.startedAt)
    .slice(0, LIVE_OPERATIONS);
  return {
    title: first?.hostSet ?? first?.cluster ?? 'ha-redis',
    observedAt,
    healthy: services.every((s) => s.report.healthy),
    hosts,
    services: services.map((s) => serviceOf(s, hosts)),
    operations,
  };
}

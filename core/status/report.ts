import { decideMajority, type MajorityDecision, type SentinelAnswer } from '../failover/confirm.ts';
import { type Endpoint, formatEndpoint, sameEndpoint } from '../model/cluster.ts';
import type { ClusterLease, HistoryEntry, MaintenanceMode } from '../model/records.ts';
import type { Role } from '../ports.ts';

// A leaf module of its own, so that the CLI can show the default in its help without loading the core.
export { DEFAULT_MAX_LAG_BYTES } from '../model/limits.ts';

/** What one Redis node answered, or why it did not. */
export interface NodeObservation {
  id: string;
  address: Endpoint;
  reachable: boolean;
  error?: string;
  role?: Role;
  /** Replication offset (master_repl_offset or slave_repl_offset). */
  offset?: number;
  /** For a replica: the master it replicates from, and whether its link is up. */
  master?: Endpoint;
  linkUp?: boolean;
  replicaPriority?: number;
  aofEnabled?: boolean;
}

/** One Sentinel's answer about the master, and whether it is in TILT (`INFO sentinel`). */
export interface SentinelObservation {
  answer: SentinelAnswer;
  tilt?: boolean;
}

/** Where one HAProxy's master server points, or why its Runtime API did not answer. */
export interface ProxyObservation {
  id: string;
  route?: { address: Endpoint; state: string };
  error?: string;
}

/** Everything `status` gathered about a cluster at one moment. */
export interface StatusObservations {
  cluster: string;
  observedAt: number;
  sentinelsConfigured: number;
  nodes: NodeObservation[];
  sentinels: SentinelObservation[];
  proxies: ProxyObservation[];
  dns?: { master: Endpoint; epoch: number } | { error: string };
  /** The newest failover or switchover in history. */
  lastOperation?: HistoryEntry;
  lease?: ClusterLease;
  /** The maintenance mode (absent: never set, so running), or why it could not be read. */
  maintenance?: MaintenanceMode | { error: string };
}

export interface NodeStatus extends NodeObservation {
  isMaster: boolean;
  /** Bytes behind the master, for a replica of the master. */
  lagBytes?: number;
}

export interface SentinelStatus {
  sentinel: Endpoint;
  ok: boolean;
  master?: Endpoint;
  configEpoch?: number;
  tilt?: boolean;
  /** Names the same master and epoch as the majority. */
  agrees: boolean;
  error?: string;
}

export interface ProxyStatus extends ProxyObservation {
  pointsAtMaster: boolean;
}

/** The status report and its health verdict; `reasons` say why it is unhealthy, `warnings` what to look at. */
export interface StatusReport {
  cluster: string;
  observedAt: number;
  healthy: boolean;
  reasons: string[];
  warnings: string[];
  master?: { id: string; address: Endpoint; epoch?: number };
  majority: MajorityDecision;
  nodes: NodeStatus[];
  sentinels: SentinelStatus[];
  proxies: ProxyStatus[];
  dns?: { master: Endpoint; epoch: number; pointsAtMaster: boolean } | { error: string };
  lastOperation?: HistoryEntry;
  /** The lease, when one is held (not expired). */
  lease?: ClusterLease;
  /** The maintenance mode as observed (paused: scheduled maintenance runs are skipped). */
  maintenance?: MaintenanceMode | { error: string };
}

/** What makes the cluster unhealthy (`reasons`) and what to look at (`warnings`), in the order the steps find them. */
interface Findings {
  reasons: string[];
  warnings: string[];
}

/** Names an endpoint by its node id, or by host:port when no node has it. */
type Label = (e: Endpoint) => string;

/** The master as the report sees it: the node (if any) and its address. */
interface MasterPick {
  node?: NodeObservation;
  address?: Endpoint;
}

/**
 * Turn observations into a report with a verdict: who is master, who follows, who routes where.
 * 1. Sentinels 2. the master 3. replicas 4. proxies 5. DNS, lease and maintenance.
 */
export function buildStatusReport(obs: StatusObservations, options: { maxLagBytes: number }): StatusReport {
  const findings: Findings = { reasons: [], warnings: [] };
  const label: Label = (e) => obs.nodes.find((n) => sameEndpoint(n.address, e))?.id ?? formatEndpoint(e);

  const { majority, sentinels } = judgeSentinels(obs, label, findings);
  const agreed = majority.agreed;
  const master = findMaster(obs.nodes, agreed, findings);
  const nodes = judgeNodes(obs.nodes, master, label, options.maxLagBytes, findings);
  const proxies = judgeProxies(obs.proxies, master.address, label, findings);
  const { dns, lease } = judgeFacts(obs, master.address, label, findings);

  const { reasons, warnings } = findings;
  const masterAddress = master.address;
  return {
    cluster: obs.cluster,
    observedAt: obs.observedAt,
    healthy: reasons.length === 0,
    reasons,
    warnings,
    ...(masterAddress
      ? {
          master: {
            id: label(masterAddress),
            address: masterAddress,
            ...(agreed ? { epoch: agreed.epoch } : {}),
          },
        }
      : {}),
    majority,
    nodes,
    sentinels,
    proxies,
    ...(dns ? { dns } : {}),
    ...(obs.lastOperation ? { lastOperation: obs.lastOperation } : {}),
    ...(lease ? { lease } : {}),
    ...(obs.maintenance ? { maintenance: obs.maintenance } : {}),
  };
}

/** 1. Sentinels: a majority of the configured ones must name the same master and epoch, and none dissent. */
function judgeSentinels(
  obs: StatusObservations,
  label: Label,
  findings: Findings,
): { majority: MajorityDecision; sentinels: SentinelStatus[] } {
  const answers = obs.sentinels.map((s) => s.answer);
  const majority = decideMajority(answers, obs.sentinelsConfigured);
  const agreed = majority.agreed;
  const sentinels: SentinelStatus[] = obs.sentinels.map(({ answer, tilt }) => {
    if (!answer.ok) {
      return {
        sentinel: answer.sentinel,
        ok: false,
        agrees: false,
        error: answer.error,
        ...(tilt === undefined ? {} : { tilt }),
      };
    }
    const agrees =
      agreed !== undefined &&
      sameEndpoint(answer.view.master, agreed.master) &&
      answer.view.configEpoch === agreed.epoch;
    return {
      sentinel: answer.view.sentinel,
      ok: true,
      master: answer.view.master,
      configEpoch: answer.view.configEpoch,
      ...(tilt === undefined ? {} : { tilt }),
      agrees,
    };
  });
  if (!agreed) {
    const said = sentinels
      .filter((s) => s.ok && s.master)
      .map((s) => `${formatEndpoint(s.sentinel)} names ${label(s.master as Endpoint)}@${s.configEpoch}`);
    findings.reasons.push(
      `no Sentinel majority: ${majority.answered} of ${obs.sentinelsConfigured} answered, ${majority.needed} must agree` +
        (said.length ? ` (${said.join('; ')})` : ''),
    );
  } else {
    for (const s of sentinels) {
      if (s.ok && !s.agrees) {
        findings.reasons.push(
          `Sentinels disagree: ${formatEndpoint(s.sentinel)} names ${label(s.master as Endpoint)} at epoch ${s.configEpoch}, the majority ${label(agreed.master)} at epoch ${agreed.epoch}`,
        );
      }
    }
  }
  for (const s of sentinels) {
    if (s.tilt) {
      findings.warnings.push(
        `Sentinel ${formatEndpoint(s.sentinel)} is in TILT; its view is not trusted (not counted) until it leaves`,
      );
    } else if (!s.ok) {
      findings.warnings.push(`Sentinel ${formatEndpoint(s.sentinel)} did not answer: ${s.error}`);
    }
  }
  if (majority.failoverInProgress) findings.warnings.push('a Sentinel reports a failover in progress');
  return { majority, sentinels };
}

/** 2. The master: the one the majority names, else the only node that answers ROLE master. */
function findMaster(
  nodes: NodeObservation[],
  agreed: MajorityDecision['agreed'],
  findings: Findings,
): MasterPick {
  const masters = nodes.filter((n) => n.reachable && n.role === 'master');
  const node = agreed
    ? nodes.find((n) => sameEndpoint(n.address, agreed.master))
    : masters.length === 1
      ? masters[0]
      : undefined;
  const address = agreed?.master ?? node?.address;
  if (agreed) {
    if (!node)
      findings.reasons.push(
        `the Sentinels' master ${formatEndpoint(agreed.master)} is not a node of the cluster`,
      );
    else if (!node.reachable)
      findings.reasons.push(`master ${node.id} is down: ${node.error ?? 'no answer'}`);
    else if (node.role !== 'master')
      findings.reasons.push(
        `master ${node.id} named by the Sentinels answers ROLE ${node.role ?? 'unknown'}`,
      );
  }
  return { node, address };
}

/** 3. Replicas: up, replicating from the master, link up, within the lag bound; then the master's AOF. */
function judgeNodes(
  nodes: NodeObservation[],
  master: MasterPick,
  label: Label,
  maxLagBytes: number,
  findings: Findings,
): NodeStatus[] {
  const masterOffset = master.node?.reachable ? master.node.offset : undefined;
  const statuses = nodes.map((n) => judgeNode(n, master.address, masterOffset, label, maxLagBytes, findings));
  if (master.node?.aofEnabled === false) findings.warnings.push(`master ${master.node.id} has AOF off`);
  return statuses;
}

/** 3. One node: the master passes as is; a replica must be up, follow the master and keep up. */
function judgeNode(
  n: NodeObservation,
  masterAddress: Endpoint | undefined,
  masterOffset: number | undefined,
  label: Label,
  maxLagBytes: number,
  findings: Findings,
): NodeStatus {
  const isMaster = masterAddress !== undefined && sameEndpoint(n.address, masterAddress);
  if (isMaster) return { ...n, isMaster };
  if (!n.reachable) {
    findings.reasons.push(`replica ${n.id} is down: ${n.error ?? 'no answer'}`);
    return { ...n, isMaster };
  }
  if (n.role !== 'slave') {
    findings.reasons.push(`${n.id} answers ROLE ${n.role ?? 'unknown'} but is not the master`);
    return { ...n, isMaster };
  }
  if (masterAddress && !sameEndpoint(n.master, masterAddress)) {
    findings.reasons.push(
      `replica ${n.id} replicates from ${n.master ? label(n.master) : 'nothing'}, not from the master ${label(masterAddress)}`,
    );
    return { ...n, isMaster };
  }
  if (n.linkUp === false) findings.reasons.push(`replica ${n.id} has its link to the master down`);
  const lagBytes =
    masterOffset !== undefined && n.offset !== undefined ? Math.max(0, masterOffset - n.offset) : undefined;
  if (lagBytes !== undefined && lagBytes > maxLagBytes) {
    findings.reasons.push(`replica ${n.id} is ${lagBytes} bytes behind the master (limit ${maxLagBytes})`);
  }
  if (n.aofEnabled === false) findings.warnings.push(`${n.id} has AOF off`);
  return { ...n, isMaster, ...(lagBytes === undefined ? {} : { lagBytes }) };
}

/** 4. Proxies: each routes to the master, and its master server is not in maint. */
function judgeProxies(
  proxies: ProxyObservation[],
  masterAddress: Endpoint | undefined,
  label: Label,
  findings: Findings,
): ProxyStatus[] {
  return proxies.map((p) => {
    const pointsAtMaster = p.route !== undefined && sameEndpoint(p.route.address, masterAddress);
    if (!p.route) findings.reasons.push(`proxy ${p.id} did not answer: ${p.error ?? 'no answer'}`);
    else {
      if (masterAddress && !pointsAtMaster) {
        findings.reasons.push(
          `proxy ${p.id} routes to ${label(p.route.address)}, not to the master ${label(masterAddress)}`,
        );
      }
      if (p.route.state !== 'ready')
        findings.reasons.push(`proxy ${p.id} has its master server in ${p.route.state}`);
    }
    return { ...p, pointsAtMaster };
  });
}

/** 5. DNS, last operation and lease are facts to show; a stale record is a warning. */
function judgeFacts(
  obs: StatusObservations,
  masterAddress: Endpoint | undefined,
  label: Label,
  findings: Findings,
): { dns: StatusReport['dns']; lease: ClusterLease | undefined } {
  let dns: StatusReport['dns'];
  if (obs.dns && 'error' in obs.dns) {
    dns = obs.dns;
    findings.warnings.push(`DNS record unreadable: ${obs.dns.error}`);
  } else if (obs.dns) {
    const pointsAtMaster = sameEndpoint(obs.dns.master, masterAddress);
    dns = { ...obs.dns, pointsAtMaster };
    if (masterAddress && !pointsAtMaster) {
      findings.warnings.push(`DNS names ${label(obs.dns.master)}, not the master ${label(masterAddress)}`);
    }
  }
  const lease = obs.lease && obs.lease.until > obs.observedAt ? obs.lease : undefined;
  if (obs.maintenance && 'error' in obs.maintenance) {
    findings.warnings.push(`maintenance mode unreadable: ${obs.maintenance.error}`);
  }
  return { dns, lease };
}

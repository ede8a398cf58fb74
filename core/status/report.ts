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

/** Turn observations into a report with a verdict: who is master, who follows, who routes where. */
export function buildStatusReport(obs: StatusObservations, options: { maxLagBytes: number }): StatusReport {
  const reasons: string[] = [];
  const warnings: string[] = [];
  const label = (e: Endpoint) => obs.nodes.find((n) => sameEndpoint(n.address, e))?.id ?? formatEndpoint(e);

  // 1. Sentinels: a majority of the configured ones must name the same master and epoch, and none dissent.
  const answers = obs.sentinels.map((s) => s.answer);
  const majority = decideMajority(answers, obs.sentinelsConfigured);
  const agreed = majority.agreed;
  const sentinels: SentinelStatus[] = obs.sentinels.map(({ answer, tilt }) => {
    if (!answer.ok) return { sentinel: answer.sentinel, ok: false, agrees: false, error: answer.error };
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
    reasons.push(
      `no Sentinel majority: ${majority.answered} of ${obs.sentinelsConfigured} answered, ${majority.needed} must agree` +
        (said.length ? ` (${said.join('; ')})` : ''),
    );
  } else {
    for (const s of sentinels) {
      if (s.ok && !s.agrees) {
        reasons.push(
          `Sentinels disagree: ${formatEndpoint(s.sentinel)} names ${label(s.master as Endpoint)} at epoch ${s.configEpoch}, the majority ${label(agreed.master)} at epoch ${agreed.epoch}`,
        );
      }
    }
  }
  for (const s of sentinels) {
    if (!s.ok) warnings.push(`Sentinel ${formatEndpoint(s.sentinel)} did not answer: ${s.error}`);
    if (s.tilt) warnings.push(`Sentinel ${formatEndpoint(s.sentinel)} is in TILT; its view is not trusted`);
  }
  if (majority.failoverInProgress) warnings.push('a Sentinel reports a failover in progress');

  // 2. The master: the one the majority names, else the only node that answers ROLE master.
  const masters = obs.nodes.filter((n) => n.reachable && n.role === 'master');
  const masterNode = agreed
    ? obs.nodes.find((n) => sameEndpoint(n.address, agreed.master))
    : masters.length === 1
      ? masters[0]
      : undefined;
  const masterAddress = agreed?.master ?? masterNode?.address;
  if (agreed) {
    if (!masterNode)
      reasons.push(`the Sentinels' master ${formatEndpoint(agreed.master)} is not a node of the cluster`);
    else if (!masterNode.reachable)
      reasons.push(`master ${masterNode.id} is down: ${masterNode.error ?? 'no answer'}`);
    else if (masterNode.role !== 'master')
      reasons.push(
        `master ${masterNode.id} named by the Sentinels answers ROLE ${masterNode.role ?? 'unknown'}`,
      );
  }
  const masterOffset = masterNode?.reachable ? masterNode.offset : undefined;

  // 3. Replicas: up, replicating from the master, link up, within the lag bound.
  const nodes: NodeStatus[] = obs.nodes.map((n) => {
    const isMaster = masterAddress !== undefined && sameEndpoint(n.address, masterAddress);
    if (isMaster) return { ...n, isMaster };
    if (!n.reachable) {
      reasons.push(`replica ${n.id} is down: ${n.error ?? 'no answer'}`);
      return { ...n, isMaster };
    }
    if (n.role !== 'slave') {
      reasons.push(`${n.id} answers ROLE ${n.role ?? 'unknown'} but is not the master`);
      return { ...n, isMaster };
    }
    if (masterAddress && !sameEndpoint(n.master, masterAddress)) {
      reasons.push(
        `replica ${n.id} replicates from ${n.master ? label(n.master) : 'nothing'}, not from the master ${label(masterAddress)}`,
      );
      return { ...n, isMaster };
    }
    if (n.linkUp === false) reasons.push(`replica ${n.id} has its link to the master down`);
    const lagBytes =
      masterOffset !== undefined && n.offset !== undefined ? Math.max(0, masterOffset - n.offset) : undefined;
    if (lagBytes !== undefined && lagBytes > options.maxLagBytes) {
      reasons.push(`replica ${n.id} is ${lagBytes} bytes behind the master (limit ${options.maxLagBytes})`);
    }
    if (n.aofEnabled === false) warnings.push(`${n.id} has AOF off`);
    return { ...n, isMaster, ...(lagBytes === undefined ? {} : { lagBytes }) };
  });
  if (masterNode?.aofEnabled === false) warnings.push(`master ${masterNode.id} has AOF off`);

  // 4. Proxies: each routes to the master, and its master server is not in maint.
  const proxies: ProxyStatus[] = obs.proxies.map((p) => {
    const pointsAtMaster = p.route !== undefined && sameEndpoint(p.route.address, masterAddress);
    if (!p.route) reasons.push(`proxy ${p.id} did not answer: ${p.error ?? 'no answer'}`);
    else {
      if (masterAddress && !pointsAtMaster) {
        reasons.push(
          `proxy ${p.id} routes to ${label(p.route.address)}, not to the master ${label(masterAddress)}`,
        );
      }
      if (p.route.state !== 'ready') reasons.push(`proxy ${p.id} has its master server in ${p.route.state}`);
    }
    return { ...p, pointsAtMaster };
  });

  // 5. DNS, last operation and lease are facts to show; a stale record is a warning.
  let dns: StatusReport['dns'];
  if (obs.dns && 'error' in obs.dns) {
    dns = obs.dns;
    warnings.push(`DNS record unreadable: ${obs.dns.error}`);
  } else if (obs.dns) {
    const pointsAtMaster = sameEndpoint(obs.dns.master, masterAddress);
    dns = { ...obs.dns, pointsAtMaster };
    if (masterAddress && !pointsAtMaster) {
      warnings.push(`DNS names ${label(obs.dns.master)}, not the master ${label(masterAddress)}`);
    }
  }
  const lease = obs.lease && obs.lease.until > obs.observedAt ? obs.lease : undefined;
  if (obs.maintenance && 'error' in obs.maintenance) {
    warnings.push(`maintenance mode unreadable: ${obs.maintenance.error}`);
  }

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

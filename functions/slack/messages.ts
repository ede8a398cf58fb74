import type { ClusterConfig, Endpoint } from '../../core/model/cluster.ts';
import { formatEndpoint, nodeLabel } from '../../core/model/cluster.ts';
import type { HistoryEntry, MaintenanceMode } from '../../core/model/records.ts';
import type { StatusReport } from '../../core/status/report.ts';
import { code, context, ephemeral, escapeText, section, slackTime } from './blocks.ts';
import { HISTORY_MAX } from './commands.ts';
import type { SlackMessage } from './contract.ts';

/**
 * The replies to `/redis` commands (help, problems, refusals, failures, status, history, maintenance mode), as
 * Block Kit with a plain `text` fallback. Pure: data in, message out. The switchover's messages are in
 * switchover-messages.ts.
 */

// ---------------------------------------------------------------------------------------------
// Help, usage, refusals
// ---------------------------------------------------------------------------------------------

export function usageLines(command: string): string[] {
  return [
    `\`${command} help\`: this help`,
    `\`${command} status &lt;cluster&gt;\`: master, Sentinel agreement, routing, replica lag, last failover`,
    `\`${command} history &lt;cluster&gt; [N]\`: the last N failovers and switchovers (default 10, at most ${HISTORY_MAX})`,
    `\`${command} switchover &lt;cluster&gt; [to &lt;node&gt;]\`: plan a switchover, then Confirm or Cancel`,
    `\`${command} maintenance pause|resume &lt;cluster&gt; [reason]\`: skip scheduled maintenance runs, or let them run again`,
    `\`${command} move &lt;service&gt; &lt;set&gt;\`: plan moving a service to another set of hosts (local runtime), then Confirm or Cancel`,
  ];
}

export function helpMessage(command: string, clusters: readonly string[]): SlackMessage {
  const lines = usageLines(command);
  const known = `clusters: ${clusters.length ? clusters.join(', ') : '(none configured)'}`;
  return ephemeral(`${lines.join('\n')}\n${known}`, [section(lines.join('\n')), context(known)]);
}

/** A command that could not be understood: what was wrong, and the usage. */
export function problemMessage(command: string, said: string): SlackMessage {
  const lines = usageLines(command);
  const problem = escapeText(said);
  return ephemeral(`${problem}\n${lines.join('\n')}`, [
    section(`:warning: ${problem}`),
    section(lines.join('\n')),
  ]);
}

export function refusalMessage(reason: string): SlackMessage {
  return ephemeral(`Refused: ${reason}`, [section(`:no_entry: Refused: ${reason}`)]);
}

/** Something failed while serving the request; `what` says what was being done. */
export function failureMessage(what: string, failure: string): SlackMessage {
  const error = escapeText(failure);
  return ephemeral(`Could not ${what}: ${error}`, [section(`:x: Could not ${what}: ${error}`)]);
}

export function workingMessage(what: string): SlackMessage {
  return ephemeral(`${what}…`, [context(`:hourglass_flowing_sand: ${what}…`)]);
}

// ---------------------------------------------------------------------------------------------
// status and history
// ---------------------------------------------------------------------------------------------

/** A compact status: verdict and reasons, master, Sentinel agreement, routes, replicas with lag, last failover. */
export function statusMessage(r: StatusReport): SlackMessage {
  const label = (e: Endpoint | null | undefined) =>
    e ? (r.nodes.find((n) => formatEndpoint(n.address) === formatEndpoint(e))?.id ?? formatEndpoint(e)) : '-';
  const verdict = r.healthy
    ? `:large_green_circle: *${r.cluster}* is healthy`
    : `:red_circle: *${r.cluster}* is UNHEALTHY`;
  const master = r.master
    ? `*master* ${r.master.id} (${formatEndpoint(r.master.address)})${r.master.epoch === undefined ? '' : `, epoch ${r.master.epoch}`}`
    : '*master* unknown';
  const agreeing = r.sentinels.filter((s) => s.agrees).length;
  const sentinels = `*Sentinels* ${agreeing} of ${r.sentinels.length} agree (${r.majority.needed} needed)${
    r.sentinels.some((s) => !s.ok)
      ? `; down: ${r.sentinels
          .filter((s) => !s.ok)
          .map((s) => formatEndpoint(s.sentinel))
          .join(', ')}`
      : ''
  }`;
  const proxies = r.proxies.map((p) =>
    p.route
      ? `${p.id} → ${label(p.route.address)} (${p.route.state})${p.pointsAtMaster ? '' : ' NOT THE MASTER'}`
      : `${p.id} DOWN: ${escapeText(p.error ?? 'no answer')}`,
  );
  const replicas = r.nodes
    .filter((n) => !n.isMaster)
    .map((n) =>
      n.reachable
        ? `${n.id} ${n.role ?? '?'} of ${label(n.master)}, lag ${n.lagBytes ?? '?'} B${n.linkUp === false ? ', link down' : ''}`
        : `${n.id} DOWN: ${escapeText(n.error ?? 'no answer')}`,
    );
  const op = r.lastOperation;
  const last = op
    ? `*last* ${op.kind} ${op.outcome} ${slackTime(op.startedAt)}: ${label(op.oldMaster)} → ${label(op.newMaster)} (${op.durationMs} ms)`
    : '*last* no failover or switchover in history';
  const reasons = r.reasons.length ? `\n${r.reasons.map((x) => `• ${escapeText(x)}`).join('\n')}` : '';
  const text = [
    `${r.cluster}: ${r.healthy ? 'healthy' : 'UNHEALTHY'}${r.reasons.length ? ` (${escapeText(r.reasons.join('; '))})` : ''}`,
    `master ${r.master?.id ?? 'unknown'}; Sentinels ${agreeing}/${r.sentinels.length} agree${
      r.maintenance && 'paused' in r.maintenance && r.maintenance.paused ? '; maintenance PAUSED' : ''
    }`,
  ].join('\n');
  return ephemeral(text, [
    section(`${verdict}${reasons}`),
    section(
      `${master}\n${sentinels}${r.lease ? `\n*lease* ${r.lease.purpose} by ${r.lease.owner} until ${slackTime(r.lease.until)}` : ''}\n${maintenanceLine(r.maintenance)}`,
    ),
    section(
      `*proxies*\n${code(proxies.length ? proxies : ['(none)'])}\n*replicas*\n${code(replicas.length ? replicas : ['(none)'])}`,
    ),
    section(last),
    context(
      `observed ${slackTime(r.observedAt)}${r.warnings.length ? ` · ${r.warnings.length} warning(s): ${escapeText(r.warnings.slice(0, 3).join('; '))}` : ''}`,
    ),
  ]);
}

/** A maintenance mode in a line: paused (by whom, since when, why) or running. */
export function maintenanceLine(mode: StatusReport['maintenance']): string {
  if (!mode) return '*maintenance* running (never paused)';
  if ('error' in mode) return `*maintenance* unknown: ${escapeText(mode.error)}`;
  const change = `${escapeText(mode.by)} ${slackTime(mode.at)}${mode.reason ? ` (${escapeText(mode.reason)})` : ''}`;
  return mode.paused
    ? `*maintenance* PAUSED by ${change}: scheduled runs are skipped`
    : `*maintenance* running (resumed by ${change})`;
}

/** The answer to `maintenance pause|resume`, shown to the channel. */
export function maintenanceModeMessage(cluster: string, mode: MaintenanceMode): SlackMessage {
  const who = mode.by.startsWith('slack:') ? `<@${mode.by.slice('slack:'.length)}>` : escapeText(mode.by);
  const text = mode.paused
    ? `Maintenance of ${cluster} paused by ${who}${mode.reason ? `: ${escapeText(mode.reason)}` : ''}. Scheduled maintenance runs are skipped; the automatic failover reaction keeps running.`
    : `Maintenance of ${cluster} resumed by ${who}. Scheduled maintenance runs go ahead again.`;
  return {
    response_type: 'in_channel',
    text,
    blocks: [section(`${mode.paused ? ':double_vertical_bar:' : ':arrow_forward:'} ${text}`)],
  };
}

/** The newest entries, one line each: when, kind, outcome, old → new, duration, write gap. */
export function historyMessage(cluster: ClusterConfig, entries: readonly HistoryEntry[]): SlackMessage {
  if (entries.length === 0) return ephemeral(`No history for ${cluster.name} yet.`);
  const label = (e: Endpoint | null) => (e ? nodeLabel(cluster, e) : '-');
  const lines = entries.map((e) =>
    [
      slackTime(e.startedAt),
      `*${e.kind}* ${e.outcome}`,
      `${label(e.oldMaster)} → ${label(e.newMaster)}`,
      `${e.durationMs} ms`,
      ...(e.writeGapMs === undefined ? [] : [`write gap ${e.writeGapMs} ms`]),
      ...(e.error ? [`_${escapeText(e.error)}_`] : []),
    ].join(' · '),
  );
  const fallback = entries.map(
    (e) =>
      `${new Date(e.startedAt).toISOString()} ${e.kind} ${e.outcome} ${label(e.oldMaster)} → ${label(e.newMaster)} ${e.durationMs} ms`,
  );
  return ephemeral(`History of ${cluster.name}:\n${fallback.join('\n')}`, [
    section(`*History of ${cluster.name}* (newest first)`),
    // One section per ten lines keeps each under Slack's text limit.
    ...chunk(lines, 10).map((part) => section(part.join('\n'))),
  ]);
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const parts: T[][] = [];
  for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size));
  return parts;
}

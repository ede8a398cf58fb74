import type { ActionsBlock, Button, ContextBlock, KnownBlock, SectionBlock } from '@slack/types';
import { type ClusterConfig, type Endpoint, formatEndpoint, nodeLabel } from '../../core/model/cluster.ts';
import { causeMessage } from '../../core/model/errors.ts';
import type { TimelineStep } from '../../core/model/timeline.ts';
import type { HistoryEntry, MaintenanceMode, WorkflowExecution } from '../../core/ports.ts';
import type { StatusReport } from '../../core/status/report.ts';
import {
  SWITCHOVER_FAILURES,
  type SwitchoverPlan,
  type SwitchoverState,
} from '../../core/switchover/state.ts';
import { HISTORY_MAX } from './commands.ts';
import { ACTIONS, type SlackMessage, type SwitchoverButton } from './contract.ts';

/**
 * Every message the Slack front door sends, as Block Kit with a plain `text` fallback. Pure: data in, message out.
 */

/** The Fail states of the switchover workflow. */
export const ENDINGS = SWITCHOVER_FAILURES;

/** States after the write-blocked Switch on the success path: once there, writes flow to the new master. */
export const AFTER_SWITCH_STATES: ReadonlySet<string> = new Set(['Fence', 'Verify', 'Finish', 'Done']);

/** Slack's limit for a section's text. */
const SECTION_LIMIT = 3000;

/** Slack's control characters in text we did not write (errors, echoed input): `&`, `<`, `>`. */
export const escapeText = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

const clip = (text: string, limit = SECTION_LIMIT): string =>
  text.length <= limit ? text : `${text.slice(0, limit - 2)} …`;

const section = (text: string): SectionBlock => ({
  type: 'section',
  text: { type: 'mrkdwn', text: clip(text) },
});
const context = (...texts: string[]): ContextBlock => ({
  type: 'context',
  elements: texts.map((text) => ({ type: 'mrkdwn', text: clip(text, 2000) })),
});
const code = (lines: readonly string[]): string => `\`\`\`${lines.join('\n')}\`\`\``;

const ephemeral = (text: string, blocks?: KnownBlock[]): SlackMessage => ({
  response_type: 'ephemeral',
  text,
  ...(blocks ? { blocks } : {}),
});

/** Slack renders it in the reader's time zone; the fallback is UTC. */
const slackTime = (ms: number): string => {
  const iso = new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${iso}>`;
};

/** The execution name of an execution id (an ARN on AWS). */
export const executionName = (executionId: string): string => executionId.split(':').at(-1) ?? executionId;

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

// ---------------------------------------------------------------------------------------------
// switchover: plan, confirm, cancel
// ---------------------------------------------------------------------------------------------

/** The dry-run plan with Confirm (behind a confirm dialog) and Cancel; posted in the channel. */
export function planMessage(plan: SwitchoverPlan, button: SwitchoverButton): SlackMessage {
  const { cluster } = button;
  const value = JSON.stringify(button);
  const replicas = plan.replicas.map(
    (r) =>
      `${r.id === plan.target.id ? '→ ' : '  '}${r.id} ${formatEndpoint(r)}  lag ${r.lagBytes} B  priority ${r.priority}${r.online ? '' : '  OFFLINE'}`,
  );
  const confirm: Button = {
    type: 'button',
    action_id: ACTIONS.confirm,
    text: { type: 'plain_text', text: 'Confirm switchover' },
    style: 'primary',
    value,
    confirm: {
      title: { type: 'plain_text', text: `Switch ${cluster} over?` },
      text: {
        type: 'mrkdwn',
        text: clip(
          `${plan.master.id} hands the master role to *${plan.target.id}*. Writes to ${cluster} block for about ${plan.expectedWriteGapMs} ms.`,
          300,
        ),
      },
      confirm: { type: 'plain_text', text: 'Switch over' },
      deny: { type: 'plain_text', text: 'Back' },
      style: 'danger',
    },
  };
  const cancel: Button = {
    type: 'button',
    action_id: ACTIONS.cancel,
    text: { type: 'plain_text', text: 'Cancel' },
    value,
  };
  const actions: ActionsBlock = {
    type: 'actions',
    block_id: 'switchover-actions',
    elements: [confirm, cancel],
  };
  const headline = `Switchover plan for ${cluster}: ${plan.master.id} → ${plan.target.id} (epoch ${plan.epoch}), expected write gap ${plan.expectedWriteGapMs} ms`;
  return {
    response_type: 'in_channel',
    text: `${headline}. Confirm or Cancel.`,
    blocks: [
      section(
        `:twisted_rightwards_arrows: *Switchover plan for ${cluster}*\n*${plan.master.id}* (${formatEndpoint(plan.master)}) → *${plan.target.id}* (${formatEndpoint(plan.target)}), epoch ${plan.epoch}\nexpected write gap *~${plan.expectedWriteGapMs} ms*`,
      ),
      section(`*replicas*\n${code(replicas)}`),
      section(`*steps*\n${plan.steps.map((s, i) => `${i + 1}. ${s}`).join('\n')}`),
      context(`requested by <@${button.requestedBy}> · dry run: nothing has changed yet`),
      actions,
    ],
  };
}

export function planRefusedMessage(cluster: string, refusal: string): SlackMessage {
  const reason = escapeText(refusal);
  return ephemeral(`Switchover of ${cluster} refused: ${reason}`, [
    section(`:no_entry: *Switchover of ${cluster} refused*: ${reason}\nNothing was changed.`),
  ]);
}

/** Replaces the plan once Confirm started the execution. */
export function startedMessage(button: SwitchoverButton, userId: string, executionId: string): SlackMessage {
  const name = executionName(executionId);
  return {
    replace_original: true,
    text: `Switchover of ${button.cluster} to ${button.target} started by <@${userId}>, execution ${name}`,
    blocks: [
      section(
        `:arrows_counterclockwise: *Switchover of ${button.cluster} to ${button.target}* started by <@${userId}>`,
      ),
      context(`execution \`${name}\` · requested by <@${button.requestedBy}>`),
    ],
  };
}

/** To the one who clicked again: the execution of this request exists already; the message follows it. */
export function alreadyRunningMessage(button: SwitchoverButton, executionId: string): SlackMessage {
  return {
    response_type: 'ephemeral',
    replace_original: false,
    text: `The switchover of ${button.cluster} for this request is already running (execution ${executionName(executionId)}); nothing new was started.`,
  };
}

export function cancelledMessage(button: SwitchoverButton, userId: string): SlackMessage {
  return {
    replace_original: true,
    text: `Switchover of ${button.cluster} cancelled by <@${userId}>; nothing was changed.`,
    blocks: [
      section(
        `:heavy_multiplication_x: Switchover of ${button.cluster} to ${button.target} cancelled by <@${userId}>; nothing was changed.`,
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// switchover: progress and outcome
// ---------------------------------------------------------------------------------------------

/** The watch's middle post: the write-blocked section is over and writes flow to the new master. */
export function switchedMessage(
  task: { cluster: string; target: string; startedBy: string; executionId: string },
  state: SwitchoverState | undefined,
): SlackMessage {
  const gap = state?.writeGapMs === undefined ? '' : `, write gap ${state.writeGapMs} ms`;
  return {
    replace_original: true,
    text: `Switchover of ${task.cluster}: writes go to ${task.target} now${gap}; fencing and verifying.`,
    blocks: [
      section(
        `:arrows_counterclockwise: *Switchover of ${task.cluster}*: writes go to *${task.target}* now${gap}. Fencing the old master and verifying…`,
      ),
      context(`started by <@${task.startedBy}> · execution \`${executionName(task.executionId)}\``),
    ],
  };
}

/** The step timeline as aligned lines: offset, step, duration, status, detail. */
export function timelineLines(steps: readonly TimelineStep[]): string[] {
  const first = steps[0]?.at ?? 0;
  return steps.map((s) =>
    `+${String(s.at - first).padStart(6)} ms  ${s.step.padEnd(18)} ${String(s.durationMs).padStart(6)} ms  ${s.status}${s.detail ? `  ${escapeText(s.detail)}` : ''}`.trimEnd(),
  );
}

/** What failed: the failed step and its detail, else the error the Catch recorded, else the execution's cause. */
function whatFailed(state: SwitchoverState | undefined, execution: WorkflowExecution): string {
  const step = state?.timeline.find((s) => s.status === 'failed');
  if (step) return `${step.step} failed: ${step.detail ?? 'no detail'}`;
  const error = state?.error;
  if (error) return `${error.Error}: ${causeMessage(error.Cause) ?? 'no detail'}`;
  return causeMessage(execution.cause) ?? execution.error ?? 'no detail';
}

/** The final post: the outcome, what failed and whether writes are unblocked, the write gap and the timeline. */
export function outcomeMessage(
  task: { cluster: string; target: string; startedBy: string; executionId: string },
  execution: WorkflowExecution,
  state: SwitchoverState | undefined,
): SlackMessage {
  const cluster = task.cluster;
  const master = (id: 'master' | 'target') =>
    state?.plan?.[id].id ?? (id === 'target' ? task.target : 'the old master');
  let headline: string;
  let icon: string;
  let detail = '';
  if (execution.status === 'SUCCEEDED') {
    icon = ':white_check_mark:';
    headline = `Switchover of ${cluster} done: ${master('master')} → ${master('target')}`;
  } else {
    icon = ':x:';
    const failed = escapeText(whatFailed(state, execution));
    switch (execution.error) {
      case ENDINGS.refused:
        headline = `Switchover of ${cluster} refused: nothing was changed, writes were never blocked`;
        detail = failed;
        break;
      case ENDINGS.rolledBack:
        headline = `Switchover of ${cluster} failed and was rolled back: ${master('master')} is master, writes are unblocked`;
        detail = failed;
        break;
      case ENDINGS.completedForward:
        icon = ':warning:';
        headline = `Switchover of ${cluster} hit a failure after the promotion; recovery completed it forward: ${master('target')} is master, writes are unblocked`;
        detail = failed;
        break;
      case ENDINGS.recoveryFailed:
        icon = ':rotating_light:';
        headline = `Switchover of ${cluster} FAILED and recovery failed too: the cluster may be half switched and writes may be blocked. An operator must look now (\`/redis status ${cluster}\`, \`ha-redis status\`)`;
        detail = failed;
        break;
      default:
        icon = ':rotating_light:';
        headline = `Switchover of ${cluster} ended ${execution.status}${execution.error ? ` (${execution.error})` : ''}: an operator must look (\`/redis status ${cluster}\`)`;
        detail = failed;
    }
  }
  const gap = state?.writeGapMs === undefined ? undefined : `write gap ${state.writeGapMs} ms`;
  const steps = state?.timeline ?? [];
  const text = [headline, detail, gap].filter(Boolean).join('. ');
  return {
    replace_original: true,
    text,
    blocks: [
      section(`${icon} *${headline}*${detail ? `\n${detail}` : ''}${gap ? `\n${gap}` : ''}`),
      ...(steps.length ? [section(`*timeline*\n${code(timelineLines(steps))}`)] : []),
      context(`started by <@${task.startedBy}> · execution \`${executionName(task.executionId)}\``),
    ],
  };
}

/** The watch gave up following before the execution ended. */
export function lostTrackMessage(
  task: { cluster: string; startedBy: string; executionId: string },
  reason: string,
): SlackMessage {
  const why = escapeText(reason);
  return {
    replace_original: true,
    text: `Stopped following the switchover of ${task.cluster}: ${why}. It may still be running: check /redis status ${task.cluster}.`,
    blocks: [
      section(
        `:grey_question: Stopped following the switchover of *${task.cluster}*: ${why}. It may still be running: check \`/redis status ${task.cluster}\`.`,
      ),
      context(`started by <@${task.startedBy}> · execution \`${executionName(task.executionId)}\``),
    ],
  };
}

import { MOVE_FAILURES, type MovePlan, type MoveState } from '../../core/move/state.ts';
import type { WorkflowExecution } from '../../core/ports.ts';
import { code, confirmOrCancel, context, ephemeral, escapeText, executionName, section } from './blocks.ts';
import { MOVE_ACTIONS, type MoveButton, type SlackMessage } from './contract.ts';
import { timelineLines, whatFailed } from './switchover-messages.ts';

/**
 * The move's messages in Slack: the dry-run plan with its buttons, the refusal, started, already running,
 * cancelled, and the watch's posts (writes flow to the new master, the outcome). Pure: data in, message out.
 */

/** States after the Switchover on the success path: once there, writes flow to the new master on the target set. */
export const MOVE_AFTER_SWITCH_STATES: ReadonlySet<string> = new Set(['Proxies', 'Retire', 'Done']);

/** A started move, as the watch follows it. */
export interface MoveTask {
  cluster: string;
  fromSet: string;
  toSet: string;
  startedBy: string;
  executionId: string;
}

const listed = (items: readonly string[]): string => (items.length ? items.join(', ') : '(none)');

/** What the service gains on the target set, and what it leaves, one line each. */
function memberLines(plan: MovePlan): string[] {
  return [
    `new nodes:      ${listed(plan.newNodes.map((n) => `${n.id} ${n.host}:${n.port} (${n.hostId})`))}`,
    `new Sentinels:  ${listed(plan.newSentinels.map((s) => `${s.id} ${s.host}:${s.port} (${s.hostId}${s.shared ? ', shared' : ''})`))}`,
    `new frontends:  ${listed(plan.newProxies.map((p) => `${p.id} ${p.host}:${p.plainPort}/${p.tlsPort} (${p.hostId})`))}`,
    `retired after:  ${listed(plan.oldNodes.map((n) => `${n.id} (${n.hostId})`))}`,
  ].map(escapeText);
}

/** The dry-run plan with Confirm (behind a confirm dialog) and Cancel; posted in the channel. */
export function movePlanMessage(plan: MovePlan, button: MoveButton): SlackMessage {
  const { cluster } = button;
  const from = escapeText(plan.fromSet);
  const to = escapeText(plan.toSet);
  const target = escapeText(plan.target);
  const actions = confirmOrCancel({
    blockId: 'move-actions',
    actions: MOVE_ACTIONS,
    value: JSON.stringify(button),
    label: 'Confirm move',
    dialog: {
      title: `Move ${cluster} to set ${plan.toSet}?`,
      text: `New nodes start on set ${to} and sync, the Sentinels are handed over, then the switchover onto *${target}* blocks writes to ${cluster} for about ${plan.expectedWriteGapMs} ms; the old nodes stop.`,
      yes: 'Move',
    },
  });
  const headline = `Move plan for ${cluster}: set ${from} -> set ${to}, then the switchover onto ${target} (expected write gap ${plan.expectedWriteGapMs} ms)`;
  return {
    response_type: 'in_channel',
    text: `${headline}. Confirm or Cancel.`,
    blocks: [
      section(
        `:truck: *Move plan for ${cluster}*: set *${from}* -> set *${to}* (master now ${escapeText(plan.master.id)} on ${escapeText(plan.master.hostId)})\nthen the switchover onto *${target}*: expected write gap *~${plan.expectedWriteGapMs} ms*; no other gap`,
      ),
      section(code(memberLines(plan))),
      section(`*steps*\n${plan.steps.map((s, i) => `${i + 1}. ${escapeText(s)}`).join('\n')}`),
      context(`requested by <@${button.requestedBy}> · dry run: nothing has changed yet`),
      actions,
    ],
  };
}

/** The plan refused the move (unknown set, port in use, unhealthy service...): why; nothing changed. */
export function moveRefusedMessage(cluster: string, toSet: string, refusal: string): SlackMessage {
  const reason = escapeText(refusal);
  return ephemeral(`Move of ${cluster} to set ${toSet} refused: ${reason}`, [
    section(`:no_entry: *Move of ${cluster} to set ${toSet} refused*: ${reason}\nNothing was changed.`),
  ]);
}

/** Replaces the plan once Confirm started the execution. */
export function moveStartedMessage(button: MoveButton, userId: string, executionId: string): SlackMessage {
  const name = executionName(executionId);
  const what = `Move of ${button.cluster} from set ${button.fromSet} to set ${button.toSet}`;
  return {
    replace_original: true,
    text: `${what} started by <@${userId}>, execution ${name}`,
    blocks: [
      section(`:truck: *${what}* started by <@${userId}>`),
      context(`execution \`${name}\` · requested by <@${button.requestedBy}>`),
    ],
  };
}

/** To the one who clicked again: the execution of this request exists already; the message follows it. */
export function moveAlreadyRunningMessage(button: MoveButton, executionId: string): SlackMessage {
  return {
    response_type: 'ephemeral',
    replace_original: false,
    text: `The move of ${button.cluster} for this request is already running (execution ${executionName(executionId)}); nothing new was started.`,
  };
}

export function moveCancelledMessage(button: MoveButton, userId: string): SlackMessage {
  const text = `Move of ${button.cluster} to set ${button.toSet} cancelled by <@${userId}>; nothing was changed.`;
  return { replace_original: true, text, blocks: [section(`:heavy_multiplication_x: ${text}`)] };
}

// ---------------------------------------------------------------------------------------------
// move: progress and outcome
// ---------------------------------------------------------------------------------------------

const startedBy = (task: MoveTask) =>
  context(`started by <@${task.startedBy}> · execution \`${executionName(task.executionId)}\``);

/** The watch's middle post: the switchover is over and writes flow to the new master on the target set. */
export function moveSwitchedMessage(task: MoveTask, state: MoveState | undefined): SlackMessage {
  // A failover during the move may have put the master on another new node: no name, then.
  const target = 'the new master';
  const gap = state?.writeGapMs === undefined ? '' : `, write gap ${state.writeGapMs} ms`;
  const text = `Move of ${task.cluster}: writes go to ${target} on set ${task.toSet} now${gap}; adding the frontends and retiring the old nodes.`;
  return {
    replace_original: true,
    text,
    blocks: [section(`:truck: ${text}`), startedBy(task)],
  };
}

/** The headline, its icon and what failed, by how the execution ended. */
function ending(
  task: MoveTask,
  execution: WorkflowExecution,
  state: MoveState | undefined,
): { icon: string; headline: string; detail: string } {
  const { cluster, toSet } = task;
  if (execution.status === 'SUCCEEDED') {
    return {
      icon: ':white_check_mark:',
      headline: `Move of ${cluster} done: it lives on set ${toSet} now`,
      detail: "the old hosts' HAProxy still routes it",
    };
  }
  const detail = escapeText(whatFailed(state, execution));
  switch (execution.error) {
    case MOVE_FAILURES.refused:
      return {
        icon: ':no_entry:',
        headline: `Move of ${cluster} to set ${toSet} refused: nothing was changed`,
        detail,
      };
    case MOVE_FAILURES.stopped:
      return {
        icon: ':warning:',
        headline: `Move of ${cluster} to set ${toSet} stopped after ${state?.done.at(-1) ?? 'the plan'}: the service is writable and a Sentinel majority names its master; \`/redis move ${cluster} ${toSet}\` again goes on from there`,
        detail,
      };
    case MOVE_FAILURES.recoveryFailed:
      return {
        icon: ':rotating_light:',
        headline: `Move of ${cluster} to set ${toSet} FAILED and recovery failed too: an operator must look now (\`/redis status ${cluster}\`, \`ha-redis status\`)`,
        detail,
      };
    default:
      return {
        icon: ':rotating_light:',
        headline: `Move of ${cluster} ended ${execution.status}${execution.error ? ` (${execution.error})` : ''}: an operator must look (\`/redis status ${cluster}\`)`,
        detail,
      };
  }
}

/** The final post: the outcome, what failed and what Recover found, the write gap and the timeline. */
export function moveOutcomeMessage(
  task: MoveTask,
  execution: WorkflowExecution,
  state: MoveState | undefined,
): SlackMessage {
  const { icon, headline, detail } = ending(task, execution, state);
  const gap = state?.writeGapMs === undefined ? undefined : `write gap ${state.writeGapMs} ms`;
  const recovery = (state?.recovery ?? []).map(escapeText);
  const steps = state?.timeline ?? [];
  return {
    replace_original: true,
    text: [headline, detail, gap, ...recovery].filter(Boolean).join('. '),
    blocks: [
      section(`${icon} *${headline}*\n${detail}${gap ? `\n${gap}` : ''}`),
      ...(recovery.length ? [section(`*recovery*\n${recovery.map((l) => `• ${l}`).join('\n')}`)] : []),
      ...(steps.length ? [section(`*timeline*\n${code(timelineLines(steps))}`)] : []),
      startedBy(task),
    ],
  };
}

import { formatEndpoint } from '../../core/model/cluster.ts';
import { causeMessage } from '../../core/model/errors.ts';
import type { TimelineStep } from '../../core/model/timeline.ts';
import type { WorkflowExecution } from '../../core/ports.ts';
import {
  SWITCHOVER_FAILURES,
  type SwitchoverPlan,
  type SwitchoverState,
} from '../../core/switchover/state.ts';
import { code, confirmOrCancel, context, ephemeral, escapeText, executionName, section } from './blocks.ts';
import { ACTIONS, type SlackMessage, type SwitchoverButton } from './contract.ts';

/**
 * The switchover's messages in Slack: the dry-run plan with its buttons, started, already running, cancelled,
 * and the watch's posts (writes flow again, the outcome, lost track). Pure: data in, message out.
 */

/** The Fail states of the switchover workflow. */
export const ENDINGS = SWITCHOVER_FAILURES;

/** States after the write-blocked Switch on the success path: once there, writes flow to the new master. */
export const AFTER_SWITCH_STATES: ReadonlySet<string> = new Set(['Fence', 'Verify', 'Finish', 'Done']);

/** The dry-run plan with Confirm (behind a confirm dialog) and Cancel; posted in the channel. */
export function planMessage(plan: SwitchoverPlan, button: SwitchoverButton): SlackMessage {
  const { cluster } = button;
  const value = JSON.stringify(button);
  const replicas = plan.replicas.map(
    (r) =>
      `${r.id === plan.target.id ? '→ ' : '  '}${r.id} ${formatEndpoint(r)}  lag ${r.lagBytes} B  priority ${r.priority}${r.online ? '' : '  OFFLINE'}`,
  );
  const actions = confirmOrCancel({
    blockId: 'switchover-actions',
    actions: ACTIONS,
    value,
    label: 'Confirm switchover',
    dialog: {
      title: `Switch ${cluster} over?`,
      text: `${plan.master.id} hands the master role to *${plan.target.id}*. Writes to ${cluster} block for about ${plan.expectedWriteGapMs} ms.`,
      yes: 'Switch over',
    },
  });
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
export function whatFailed(
  state:
    | { timeline: readonly TimelineStep[]; error?: { Error: string; Cause?: string | undefined } }
    | undefined,
  execution: WorkflowExecution,
): string {
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

/** The watch gave up following the switchover (or the move) before the execution ended. */
export function lostTrackMessage(
  task: { cluster: string; startedBy: string; executionId: string },
  reason: string,
  workflow: 'switchover' | 'move' = 'switchover',
): SlackMessage {
  const why = escapeText(reason);
  return {
    replace_original: true,
    text: `Stopped following the ${workflow} of ${task.cluster}: ${why}. It may still be running: check /redis status ${task.cluster}.`,
    blocks: [
      section(
        `:grey_question: Stopped following the ${workflow} of *${task.cluster}*: ${why}. It may still be running: check \`/redis status ${task.cluster}\`.`,
      ),
      context(`started by <@${task.startedBy}> · execution \`${executionName(task.executionId)}\``),
    ],
  };
}

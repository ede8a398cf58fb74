import type { ActionsBlock, ContextBlock, KnownBlock, SectionBlock } from '@slack/types';
import type { SlackMessage } from './contract.ts';

/** The Block Kit pieces every Slack message is built from: escaping, clipping, sections, context, code, time. */

/** Slack's limit for a section's text. */
const SECTION_LIMIT = 3000;

/** Slack's control characters in text we did not write (errors, echoed input): `&`, `<`, `>`. */
export const escapeText = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** `text`, cut to Slack's `limit` with an ellipsis. */
export const clip = (text: string, limit = SECTION_LIMIT): string =>
  text.length <= limit ? text : `${text.slice(0, limit - 2)} …`;

/** A mrkdwn section, clipped to Slack's limit. */
export const section = (text: string): SectionBlock => ({
  type: 'section',
  text: { type: 'mrkdwn', text: clip(text) },
});
/** A context block of mrkdwn elements, each clipped. */
export const context = (...texts: string[]): ContextBlock => ({
  type: 'context',
  elements: texts.map((text) => ({ type: 'mrkdwn', text: clip(text, 2000) })),
});
/** Lines as a code block. */
export const code = (lines: readonly string[]): string => `\`\`\`${lines.join('\n')}\`\`\``;

/** A message only its requester sees. */
export const ephemeral = (text: string, blocks?: KnownBlock[]): SlackMessage => ({
  response_type: 'ephemeral',
  text,
  ...(blocks ? { blocks } : {}),
});

/** Slack renders it in the reader's time zone; the fallback is UTC. */
export const slackTime = (ms: number): string => {
  const iso = new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${iso}>`;
};

/** The execution name of an execution id (an ARN on AWS). */
export const executionName = (executionId: string): string => executionId.split(':').at(-1) ?? executionId;

/**
 * A plan's Confirm button (behind a confirm dialog: `title`, `text`, and `yes` to go on) and its Cancel button,
 * both carrying `value`.
 */
export function confirmOrCancel(options: {
  blockId: string;
  actions: { confirm: string; cancel: string };
  value: string;
  label: string;
  dialog: { title: string; text: string; yes: string };
}): ActionsBlock {
  const { dialog, value } = options;
  return {
    type: 'actions',
    block_id: options.blockId,
    elements: [
      {
        type: 'button',
        action_id: options.actions.confirm,
        text: { type: 'plain_text', text: options.label },
        style: 'primary',
        value,
        confirm: {
          title: { type: 'plain_text', text: clip(dialog.title, 100) },
          text: { type: 'mrkdwn', text: clip(dialog.text, 300) },
          confirm: { type: 'plain_text', text: dialog.yes },
          deny: { type: 'plain_text', text: 'Back' },
          style: 'danger',
        },
      },
      {
        type: 'button',
        action_id: options.actions.cancel,
        text: { type: 'plain_text', text: 'Cancel' },
        value,
      },
    ],
  };
}

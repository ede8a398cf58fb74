import type { ContextBlock, KnownBlock, SectionBlock } from '@slack/types';
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

/** Reading a formatted notification back: its header, sections, Slack fields, timeline and text lines. */
import type { ContextBlock, HeaderBlock, KnownBlock, SectionBlock } from '@slack/types';
import type { FormattedNotification } from '../../../adapters/notify/format.ts';

export const header = (f: FormattedNotification): string =>
  (f.slack.blocks.find((b): b is HeaderBlock => b.type === 'header')?.text.text ?? '') as string;

export const sections = (f: FormattedNotification): SectionBlock[] =>
  f.slack.blocks.filter((b): b is SectionBlock => b.type === 'section');

/** Label -> value of the fields section (`*Label*\nvalue`). */
export function slackFields(f: FormattedNotification): Record<string, string> {
  const fields = sections(f).find((s) => s.fields)?.fields ?? [];
  return Object.fromEntries(
    fields.map((field) => {
      const [label = '', ...value] = field.text.split('\n');
      return [label.replace(/^\*|\*$/g, ''), value.join('\n')];
    }),
  );
}

export const timelineBlock = (f: FormattedNotification): string | undefined =>
  sections(f).find((s) => s.text?.text.startsWith('*Timeline*'))?.text?.text;

/** Every mrkdwn text of the blocks. */
export const mrkdwnTexts = (blocks: KnownBlock[]): string[] =>
  blocks.flatMap((b) => {
    if (b.type === 'section') return [b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text)];
    if (b.type === 'context') return (b as ContextBlock).elements.map((e) => ('text' in e ? e.text : ''));
    return [];
  });

export const lines = (f: FormattedNotification): string[] => f.text.split('\n');

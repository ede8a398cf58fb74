import { createHash } from 'node:crypto';
import type { ContextBlock, HeaderBlock, KnownBlock, SectionBlock } from '@slack/types';
import { type Endpoint, formatEndpoint } from '../../core/model/cluster.ts';
import { ERROR_NAMES } from '../../core/model/errors.ts';
import type { CloudWatchAlarm, NotificationMessage, NotifyMessage } from '../../events/notifications.ts';

/**
 * Every outcome as people read it: a Slack message (`text` + Block Kit `blocks`), a plain text block
 * (console, Slack's fallback) and a JSON document (generic webhooks). Pure: no I/O, no clock.
 * Notifications carry no secrets, and nothing here adds any; no text carries a link.
 */

export type Severity = 'ok' | 'warning' | 'error';

/** One step of the timeline, relative to the first. */
export interface DocumentStep {
  step: string;
  offsetMs: number;
  durationMs: number;
  status: string;
  detail?: string;
}

/** What a generic JSON webhook receives. */
export interface NotificationDocument {
  source: 'ha-redis';
  version: 1;
  /** Stable for one outcome (its history id, or the alarm and its change time): a receiver can deduplicate. */
  id: string;
  type: 'notification' | 'alarm';
  /** `FAILOVER OK`, `SWITCHOVER ROLLED BACK`, `ALARM`, ... */
  marker: string;
  title: string;
  severity: Severity;
  /** Null for a CloudWatch alarm: it names no cluster. */
  cluster: string | null;
  kind: string;
  outcome: string;
  summary: string;
  oldMaster: string | null;
  newMaster: string | null;
  epoch: number | null;
  /** ISO 8601. */
  startedAt: string | null;
  durationMs: number | null;
  writeGapMs: number | null;
  bytesAtRisk: number | null;
  trigger: string | null;
  error: string | null;
  timeline: DocumentStep[];
  alarm?: {
    name: string;
    state: string;
    previousState: string | null;
    reason: string;
    description: string | null;
    changedAt: string | null;
    region: string | null;
  };
  /** The plain text rendering, as in `FormattedNotification.text`. */
  text: string;
}

/** One outcome, rendered for every kind of target. */
export interface FormattedNotification {
  id: string;
  /** The header line: `FAILOVER OK: orders`. */
  title: string;
  /** Plain multi-line text, no markup and no links. */
  text: string;
  /** For chat.postMessage and incoming webhooks; `text` is the escaped plain text (Slack's fallback). */
  slack: { text: string; blocks: KnownBlock[] };
  json: NotificationDocument;
}

/** How a switchover ended, read from its notification. */
export type SwitchoverEnding = 'done' | 'refused' | 'rolled-back' | 'completed-forward' | 'failed';

/** Slack's limits (Block Kit reference: header and section blocks), and ours for a readable message. */
const LIMITS = {
  header: 150,
  sectionText: 3000,
  field: 2000,
  fields: 10,
  /** Slack cuts a longer `text` in notifications anyway; the blocks carry the whole message. */
  fallback: 3000,
  /** One timeline step's detail. */
  detail: 120,
} as const;

const OUTCOME_WORDS: Record<string, string> = {
  succeeded: 'OK',
  partial: 'PARTIAL',
  failed: 'FAILED',
  unconfirmed: 'NOT CONFIRMED',
};

const SEVERITIES: Record<string, Severity> = {
  succeeded: 'ok',
  partial: 'warning',
  unconfirmed: 'warning',
  failed: 'error',
};

/** Errors of a switchover that stopped before it changed anything. */
const REFUSALS: ReadonlySet<string> = new Set([
  ERROR_NAMES.switchoverRefused,
  ERROR_NAMES.leaseHeld,
  ERROR_NAMES.invalidInput,
]);

/** Anything that arrives on the notification topic. */
export function formatMessage(message: NotifyMessage): FormattedNotification {
  return message.type === 'alarm' ? formatAlarm(message.alarm) : formatNotification(message.notification);
}

/**
 * How a switchover ended: the error name tells a refusal (nothing changed); the `recovered` step (or the
 * summary) tells whether recovery went forward or back.
 */
export function switchoverEnding(n: NotificationMessage): SwitchoverEnding {
  if (n.outcome === 'succeeded') return 'done';
  // `<Error> in <step>: <cause>` and `FAILED in <step> (<Error>)`; publishers before the step was named left it out.
  const errorName =
    /^(\w+)(?: in \w+)?:/.exec(n.entry?.error ?? '')?.[1] ??
    /FAILED (?:in \w+ )?\((\w+)\)/.exec(n.summary)?.[1];
  if (errorName && REFUSALS.has(errorName)) return 'refused';
  const recovered = n.entry?.timeline.find((s) => s.step === 'recovered' && s.status === 'ok')?.detail;
  for (const direction of ['completed-forward', 'rolled-back'] as const) {
    if (recovered === direction || n.summary.includes(`; ${direction};`)) return direction;
  }
  return 'failed';
}

const SWITCHOVER_MARKERS: Record<SwitchoverEnding, { marker: string; severity: Severity }> = {
  done: { marker: 'SWITCHOVER DONE', severity: 'ok' },
  refused: { marker: 'SWITCHOVER REFUSED', severity: 'warning' },
  'rolled-back': { marker: 'SWITCHOVER ROLLED BACK', severity: 'warning' },
  'completed-forward': { marker: 'SWITCHOVER COMPLETED FORWARD', severity: 'warning' },
  failed: { marker: 'SWITCHOVER FAILED', severity: 'error' },
};

/** `FAILOVER OK`, `DEFERRED FENCE APPLIED`, `SWITCHOVER ROLLED BACK`, ...; an unknown kind reads `<KIND> <OUTCOME>`. */
export function markerOf(n: NotificationMessage): { marker: string; severity: Severity } {
  const word = OUTCOME_WORDS[n.outcome] ?? upper(n.outcome);
  const severity = SEVERITIES[n.outcome] ?? 'warning';
  switch (n.kind) {
    case 'switchover':
      return SWITCHOVER_MARKERS[switchoverEnding(n)];
    case 'deferred-fence':
      return { marker: `DEFERRED FENCE ${n.outcome === 'succeeded' ? 'APPLIED' : word}`, severity };
    case 'alarm':
      return { marker: 'ALARM', severity: 'error' };
    case 'state-store':
      return n.outcome === 'succeeded'
        ? { marker: 'STATE STORE BACK', severity: 'ok' }
        : { marker: 'STATE STORE DOWN', severity: 'error' };
    default:
      return { marker: `${upper(n.kind)} ${word}`, severity };
  }
}

/** Where the new master of an outcome without one is: said, rather than left blank. */
function newMasterOf(n: NotificationMessage): string {
  const master = n.entry?.newMaster;
  if (master) return formatEndpoint(master);
  if (n.kind !== 'switchover') return 'none';
  const ending = switchoverEnding(n);
  if (ending === 'completed-forward') return 'the node Sentinel promoted';
  return ending === 'failed' ? 'unknown' : 'unchanged';
}

/** A Notification (published by the core) as a Slack message, plain text and JSON document. */
export function formatNotification(n: NotificationMessage): FormattedNotification {
  const { marker, severity } = markerOf(n);
  const entry = n.entry;
  const title = `${marker}: ${n.cluster}`;
  const fields: [string, string][] = [['Cluster', n.cluster]];
  if (entry) {
    fields.push(
      ['Old master', endpointOrUnknown(entry.oldMaster)],
      ['New master', newMasterOf(n)],
      ['Epoch', entry.epoch === null ? 'none' : String(entry.epoch)],
      ['Duration', `${entry.durationMs} ms`],
    );
    if (entry.writeGapMs !== undefined) fields.push(['Write gap', `${entry.writeGapMs} ms`]);
    if (entry.bytesAtRisk !== null && entry.kind === 'failover')
      fields.push(['Bytes at risk', String(entry.bytesAtRisk)]);
    fields.push(['Trigger', entry.trigger], ['Started', isoTime(entry.startedAt)]);
  } else {
    fields.push(['Kind', n.kind], ['Outcome', n.outcome]);
  }
  const timeline = (entry?.timeline ?? []).map((s, _i, all) => ({
    step: s.step,
    offsetMs: s.at - (all[0]?.at ?? s.at),
    durationMs: s.durationMs,
    status: s.status,
    ...(s.detail ? { detail: s.detail } : {}),
  }));
  const id = entry?.id ?? digest([n.cluster, n.kind, n.outcome, n.summary]);
  return render({
    id,
    title,
    summary: n.summary,
    fields,
    ...(entry?.error ? { error: entry.error } : {}),
    timeline,
    context: `ha-redis | ${n.kind} | ${n.outcome} | id ${id}`,
    document: {
      id,
      type: 'notification',
      marker,
      title,
      severity,
      cluster: n.cluster,
      kind: n.kind,
      outcome: n.outcome,
      summary: n.summary,
      oldMaster: entry?.oldMaster ? formatEndpoint(entry.oldMaster) : null,
      newMaster: entry?.newMaster ? formatEndpoint(entry.newMaster) : null,
      epoch: entry?.epoch ?? null,
      startedAt: entry ? isoTime(entry.startedAt) : null,
      durationMs: entry?.durationMs ?? null,
      writeGapMs: entry?.writeGapMs ?? null,
      bytesAtRisk: entry?.bytesAtRisk ?? null,
      trigger: entry?.trigger ?? null,
      error: entry?.error ?? null,
      timeline,
    },
  });
}

const ALARM_MARKERS: Record<string, { marker: string; severity: Severity }> = {
  ALARM: { marker: 'ALARM', severity: 'error' },
  OK: { marker: 'ALARM OK', severity: 'ok' },
  INSUFFICIENT_DATA: { marker: 'ALARM INSUFFICIENT DATA', severity: 'warning' },
};

/** A CloudWatch alarm state change (the SNS Message of an alarm action): name, state, reason. */
export function formatAlarm(alarm: CloudWatchAlarm): FormattedNotification {
  const state = alarm.NewStateValue;
  const { marker, severity } = ALARM_MARKERS[state] ?? {
    marker: `ALARM ${upper(state)}`,
    severity: 'warning',
  };
  const title = `${marker}: ${alarm.AlarmName}`;
  const summary = alarm.AlarmDescription || `${alarm.AlarmName} is ${state}`;
  const transition = alarm.OldStateValue ? `${alarm.OldStateValue} -> ${state}` : state;
  const fields: [string, string][] = [
    ['Alarm', alarm.AlarmName],
    ['State', transition],
  ];
  if (alarm.StateChangeTime) fields.push(['Changed', alarm.StateChangeTime]);
  if (alarm.Region) fields.push(['Region', alarm.Region]);
  const id = digest([
    alarm.AlarmArn ?? alarm.AlarmName,
    state,
    alarm.StateChangeTime ?? alarm.NewStateReason,
  ]);
  return render({
    id,
    title,
    summary,
    fields,
    reason: alarm.NewStateReason,
    timeline: [],
    context: `ha-redis | CloudWatch alarm | ${state}`,
    document: {
      id,
      type: 'alarm',
      marker,
      title,
      severity,
      cluster: null,
      kind: 'alarm',
      outcome: state,
      summary,
      oldMaster: null,
      newMaster: null,
      epoch: null,
      startedAt: null,
      durationMs: null,
      writeGapMs: null,
      bytesAtRisk: null,
      trigger: null,
      error: null,
      timeline: [],
      alarm: {
        name: alarm.AlarmName,
        state,
        previousState: alarm.OldStateValue ?? null,
        reason: alarm.NewStateReason,
        description: alarm.AlarmDescription ?? null,
        changedAt: alarm.StateChangeTime ?? null,
        region: alarm.Region ?? null,
      },
    },
  });
}

interface Parts {
  id: string;
  title: string;
  summary: string;
  fields: [string, string][];
  error?: string;
  /** An alarm's reason: shown like an error, under its own label. */
  reason?: string;
  timeline: DocumentStep[];
  context: string;
  document: Omit<NotificationDocument, 'source' | 'version' | 'text'>;
}

/** One layout for every message: header, summary, fields, error or reason, timeline, context. */
function render(parts: Parts): FormattedNotification {
  const table = timelineTable(parts.timeline);
  // The core often puts the error in the summary already (a partial failover lists its problems there).
  const error = parts.error && !parts.summary.includes(parts.error) ? parts.error : undefined;
  const note: [string, string] | undefined = error
    ? ['Error', error]
    : parts.reason
      ? ['Reason', parts.reason]
      : undefined;
  const text = [
    parts.title,
    parts.summary,
    parts.fields.map(([label, value]) => `${label.toLowerCase()}: ${value}`).join(' | '),
    ...(note ? [`${note[0].toLowerCase()}: ${note[1]}`] : []),
    ...(table.length ? ['timeline:', ...table.map((line) => `  ${line}`)] : []),
  ].join('\n');

  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: clip(parts.title, LIMITS.header) },
    } satisfies HeaderBlock,
    {
      type: 'section',
      text: { type: 'mrkdwn', text: clip(escapeMrkdwn(parts.summary), LIMITS.sectionText) },
    } satisfies SectionBlock,
    {
      type: 'section',
      fields: parts.fields.slice(0, LIMITS.fields).map(([label, value]) => ({
        type: 'mrkdwn' as const,
        text: clip(`*${label}*\n${escapeMrkdwn(value)}`, LIMITS.field),
      })),
    } satisfies SectionBlock,
  ];
  if (note) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: clip(`*${note[0]}*\n${escapeMrkdwn(note[1])}`, LIMITS.sectionText) },
    } satisfies SectionBlock);
  }
  if (table.length) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: codeBlock('*Timeline*', table) },
    } satisfies SectionBlock);
  }
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: escapeMrkdwn(parts.context) }],
  } satisfies ContextBlock);

  return {
    id: parts.id,
    title: parts.title,
    text,
    slack: { text: clip(escapeMrkdwn(text), LIMITS.fallback), blocks },
    json: { source: 'ha-redis', version: 1, ...parts.document, text },
  };
}

/**
 * The timeline as aligned lines: `confirmed   +12ms   12ms  n2 epoch 7, ...`; a step that did not end ok
 * says so in capitals.
 */
export function timelineTable(steps: readonly DocumentStep[]): string[] {
  const stepWidth = Math.max(0, ...steps.map((s) => s.step.length));
  const offsetWidth = Math.max(0, ...steps.map((s) => `+${s.offsetMs}ms`.length));
  const durationWidth = Math.max(0, ...steps.map((s) => `${s.durationMs}ms`.length));
  return steps.map((s) => {
    const status = s.status === 'ok' ? '' : `  ${s.status.toUpperCase()}`;
    const detail = s.detail ? `  ${clip(s.detail, LIMITS.detail)}` : '';
    return `${s.step.padEnd(stepWidth)}  ${`+${s.offsetMs}ms`.padStart(offsetWidth)}  ${`${s.durationMs}ms`.padStart(durationWidth)}${status}${detail}`;
  });
}

/** A labelled code block within one section's limit: the lines that fit, then how many did not. */
function codeBlock(label: string, lines: readonly string[]): string {
  const fence = '```';
  const budget = LIMITS.sectionText - label.length - 2 * fence.length - 40;
  const kept: string[] = [];
  let used = 0;
  for (const line of lines.map(escapeMrkdwn)) {
    if (used + line.length + 1 > budget) break;
    kept.push(line);
    used += line.length + 1;
  }
  if (kept.length < lines.length) kept.push(`... ${lines.length - kept.length} more steps`);
  return `${label}\n${fence}\n${kept.join('\n')}\n${fence}`;
}

/** Slack's three control characters; escaped, no text can become a link, mention or quote. */
export const escapeMrkdwn = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 3)}...` : s);
const upper = (s: string): string =>
  s
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, ' ')
    .trim();
const endpointOrUnknown = (e: Endpoint | null): string => (e ? formatEndpoint(e) : 'unknown');
const isoTime = (ms: number): string => new Date(ms).toISOString();
const digest = (parts: readonly string[]): string =>
  createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);

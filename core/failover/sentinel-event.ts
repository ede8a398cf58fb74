import { z } from 'zod';

import { issuesText } from '../model/errors.ts';

/**
 * What a Sentinel said, typed: one pub/sub message (channel = event type, payload = Sentinel's text) parsed by
 * `parseSentinelMessage`, the single parser of the raw Sentinel format. The wire envelope that carries a message
 * from the bridge to the reaction is the `sentinel-event` contract in events/.
 */

const port = z.coerce.number().int().min(1).max(65535);
const host = z.string().min(1);

const InstanceSchema = z.object({
  kind: z.enum(['master', 'slave', 'sentinel']),
  name: z.string().min(1),
  host,
  port,
});

/** A Sentinel's host and port as they appear in its events. */
export { host as HostSchema, port as PortSchema };

const MasterRefSchema = z.object({ name: z.string().min(1), host, port });

/** Event types whose payload names an instance (Sentinel's `%@` format). */
export const INSTANCE_EVENT_TYPES = [
  '+sdown',
  '-sdown',
  '+odown',
  '-odown',
  '+try-failover',
  '+elected-leader',
  '+selected-slave',
  '+promoted-slave',
  '+failover-state-select-slave',
  '+failover-state-send-slaveof-noone',
  '+failover-state-wait-promotion',
  '+failover-state-reconf-slaves',
  '+failover-end',
  '+failover-end-for-timeout',
  '-failover-abort-not-elected',
  '-failover-abort-no-good-slave',
  '-failover-abort-slave-timeout',
  '+convert-to-slave',
  '+reboot',
  '+slave',
  '+sentinel',
  '+config-update-from',
  '+fix-slave-config',
  '+slave-reconf-sent',
  '+slave-reconf-inprog',
  '+slave-reconf-done',
  '-slave-reconf-sent-timeout',
  '+monitor',
  '-monitor',
  '-dup-sentinel',
  '+role-change',
  '-role-change',
  '+cluster-reset',
] as const;

export const InstanceEventSchema = z.object({
  type: z.enum(INSTANCE_EVENT_TYPES),
  instance: InstanceSchema,
  /** The master this instance belongs to; for a master event, the master itself. */
  master: MasterRefSchema,
  /** Trailing text, e.g. `#quorum 2/2`. */
  extra: z.string().optional(),
});

export const SwitchMasterEventSchema = z.object({
  type: z.literal('+switch-master'),
  masterName: z.string().min(1),
  from: z.object({ host, port }),
  to: z.object({ host, port }),
});

export const NewEpochEventSchema = z.object({
  type: z.literal('+new-epoch'),
  epoch: z.coerce.number().int().nonnegative(),
});

/** A Sentinel voted for a leader (`<leader-runid> <epoch>`). */
export const VoteForLeaderEventSchema = z.object({
  type: z.literal('+vote-for-leader'),
  leaderRunId: z.string().min(1),
  epoch: z.coerce.number().int().nonnegative(),
});

export const TiltEventSchema = z.object({ type: z.enum(['+tilt', '-tilt']), extra: z.string() });

export const SentinelEventSchema = z.discriminatedUnion('type', [
  InstanceEventSchema,
  SwitchMasterEventSchema,
  NewEpochEventSchema,
  VoteForLeaderEventSchema,
  TiltEventSchema,
]);
/** One Sentinel event, typed. */
export type SentinelEvent = z.infer<typeof SentinelEventSchema>;
export type SentinelEventType = SentinelEvent['type'];

export type ParseResult =
  | { ok: true; event: SentinelEvent }
  | { ok: false; reason: 'unknown-channel' | 'malformed'; message: string };

const isInstanceType = (t: string): t is (typeof INSTANCE_EVENT_TYPES)[number] =>
  (INSTANCE_EVENT_TYPES as readonly string[]).includes(t);

/** Parse one Sentinel pub/sub message (channel = event type, payload = Sentinel's text). */
export function parseSentinelMessage(channel: string, payload: string): ParseResult {
  const words = payload.trim().split(/\s+/);
  let candidate: unknown;
  if (channel === '+switch-master') {
    const [masterName, fromHost, fromPort, toHost, toPort, ...rest] = words;
    if (rest.length) return malformed(channel, payload, 'expected 5 words');
    candidate = {
      type: channel,
      masterName,
      from: { host: fromHost, port: fromPort },
      to: { host: toHost, port: toPort },
    };
  } else if (channel === '+new-epoch') {
    if (words.length !== 1) return malformed(channel, payload, 'expected one epoch number');
    candidate = { type: channel, epoch: words[0] };
  } else if (channel === '+vote-for-leader') {
    if (words.length !== 2) return malformed(channel, payload, 'expected <leader-runid> <epoch>');
    candidate = { type: channel, leaderRunId: words[0], epoch: words[1] };
  } else if (channel === '+tilt' || channel === '-tilt') {
    candidate = { type: channel, extra: payload.trim() };
  } else if (isInstanceType(channel) || channel.startsWith('+failover-state-')) {
    if (!isInstanceType(channel))
      return { ok: false, reason: 'unknown-channel', message: `unknown failover state ${channel}` };
    const [kind, name, ih, ip, at, mName, mHost, mPort, ...rest] = words;
    if (kind === 'master') {
      const tail = [at, mName, mHost, mPort, ...rest].filter((w) => w !== undefined).join(' ');
      candidate = {
        type: channel,
        instance: { kind, name, host: ih, port: ip },
        master: { name, host: ih, port: ip },
        ...(tail ? { extra: tail } : {}),
      };
    } else {
      if (at !== '@') return malformed(channel, payload, "expected '@ <master> <ip> <port>'");
      candidate = {
        type: channel,
        instance: { kind, name, host: ih, port: ip },
        master: { name: mName, host: mHost, port: mPort },
        ...(rest.length ? { extra: rest.join(' ') } : {}),
      };
    }
  } else {
    return { ok: false, reason: 'unknown-channel', message: `unknown Sentinel event channel '${channel}'` };
  }
  const parsed = SentinelEventSchema.safeParse(candidate);
  if (!parsed.success) return malformed(channel, payload, issuesText(parsed.error, 'event'));
  return { ok: true, event: parsed.data };
}

function malformed(channel: string, payload: string, why: string): ParseResult {
  return {
    ok: false,
    reason: 'malformed',
    message: `malformed ${channel} payload '${payload.slice(0, 200)}': ${why}`,
  };
}

/** The master name an event is about, so a consumer can drop events for masters it does not manage. */
export function masterNameOf(event: SentinelEvent): string | undefined {
  if (event.type === '+switch-master') return event.masterName;
  if ('master' in event) return event.master.name;
  return undefined;
}

/** The config epoch an event carries, where it carries one. */
export function epochOf(event: SentinelEvent): number | undefined {
  return event.type === '+new-epoch' || event.type === '+vote-for-leader' ? event.epoch : undefined;
}

import { createHash } from 'node:crypto';
import type { ClusterRegistry } from '../../core/model/cluster.ts';
import { MoveInputSchema } from '../../core/move/state.ts';
import type { ClusterSlack } from './contract.ts';

/** `/redis` subcommands, parsed. */
export type SlackCommand =
  | { kind: 'help' }
  | { kind: 'status'; cluster: string }
  | { kind: 'history'; cluster: string; limit: number }
  | { kind: 'switchover'; cluster: string; target?: string }
  | { kind: 'maintenance'; cluster: string; pause: boolean; reason?: string }
  | { kind: 'move'; cluster: string; toSet: string };

export type ParsedCommand = { ok: true; command: SlackCommand } | { ok: false; problem: string };

/** History entries shown when no count is given, and the most one message shows. */
export const HISTORY_DEFAULT = 10;
export const HISTORY_MAX = 25;

const NODE_REF = /^[A-Za-z0-9._:-]{1,255}$/;

/** Slack may wrap what looks like a link or an address: `<http://n1.example|n1.example>` -> `n1.example`. */
function unwrap(token: string): string {
  const link = /^<([^|>]*)(?:\|([^>]*))?>$/.exec(token);
  return link ? (link[2] ?? link[1] ?? '') : token;
}

/** The subcommand in `text`, or what is wrong with it (the caller adds the usage). */
export function parseCommandText(text: string, clusters: ClusterRegistry): ParsedCommand {
  const words = text.trim().split(/\s+/).filter(Boolean).map(unwrap);
  if (words[0] === 'maintenance') return parseMaintenance(words.slice(1), clusters);
  if (words[0] === 'move') return parseMove(words.slice(1), clusters);
  const [sub, clusterName, ...rest] = words;
  if (sub === undefined || sub === 'help') return { ok: true, command: { kind: 'help' } };
  if (sub !== 'status' && sub !== 'history' && sub !== 'switchover') {
    return { ok: false, problem: `unknown subcommand '${sub}'` };
  }
  const checked = checkCluster(clusterName, clusters, sub);
  if (!checked.ok) return checked;
  const cluster = checked.name;
  switch (sub) {
    case 'status':
      if (rest.length)
        return { ok: false, problem: `\`status\` takes only a cluster name, not '${rest.join(' ')}'` };
      return { ok: true, command: { kind: 'status', cluster } };
    case 'history': {
      const [count, ...extra] = rest;
      if (extra.length)
        return { ok: false, problem: `\`history\` takes a cluster and a count, not '${rest.join(' ')}'` };
      if (count === undefined)
        return { ok: true, command: { kind: 'history', cluster, limit: HISTORY_DEFAULT } };
      const limit = /^\d{1,3}$/.test(count) ? Number(count) : Number.NaN;
      if (!(limit >= 1 && limit <= HISTORY_MAX)) {
        return { ok: false, problem: `history count '${count}' must be a number from 1 to ${HISTORY_MAX}` };
      }
      return { ok: true, command: { kind: 'history', cluster, limit } };
    }
    case 'switchover': {
      if (rest.length === 0) return { ok: true, command: { kind: 'switchover', cluster } };
      const [to, target, ...extra] = rest;
      if (to !== 'to' || target === undefined || extra.length || !NODE_REF.test(target)) {
        return {
          ok: false,
          problem: `after the cluster, \`switchover\` takes \`to <node>\`, not '${rest.join(' ')}'`,
        };
      }
      return { ok: true, command: { kind: 'switchover', cluster, target } };
    }
  }
}

/** The cluster name when it is configured; else what is wrong (missing or unknown). */
function checkCluster(
  name: string | undefined,
  clusters: ClusterRegistry,
  sub: string,
): { ok: true; name: string } | { ok: false; problem: string } {
  if (name === undefined) return { ok: false, problem: `\`${sub}\` needs a cluster name` };
  if (clusters.names().includes(name)) return { ok: true, name };
  const known = clusters.names();
  return {
    ok: false,
    problem: `unknown cluster '${name}'; known clusters: ${known.length ? known.join(', ') : '(none)'}`,
  };
}

/** `maintenance pause|resume <cluster> [reason…]`. */
function parseMaintenance(words: string[], clusters: ClusterRegistry): ParsedCommand {
  const [verb, clusterName, ...reason] = words;
  if (verb !== 'pause' && verb !== 'resume') {
    return {
      ok: false,
      problem: `\`maintenance\` takes \`pause\` or \`resume\`${verb === undefined ? '' : `, not '${verb}'`}`,
    };
  }
  const checked = checkCluster(clusterName, clusters, `maintenance ${verb}`);
  if (!checked.ok) return checked;
  const text = reason.join(' ').slice(0, 200);
  return {
    ok: true,
    command: {
      kind: 'maintenance',
      cluster: clusterName as string,
      pause: verb === 'pause',
      ...(text ? { reason: text } : {}),
    },
  };
}

/** `move <service> <set>`: the service (a configured cluster) and the set of hosts it moves to. */
function parseMove(words: string[], clusters: ClusterRegistry): ParsedCommand {
  const [service, toSet, ...extra] = words;
  if (service === undefined) {
    return { ok: false, problem: '`move` needs a service and the set it moves to: `move <service> <set>`' };
  }
  const checked = checkCluster(service, clusters, 'move');
  if (!checked.ok) return checked;
  if (toSet === undefined) {
    return {
      ok: false,
      problem: `\`move ${service}\` needs the set of hosts to move it to: \`move ${service} <set>\``,
    };
  }
  if (extra.length) {
    return {
      ok: false,
      problem: `\`move\` takes a service and a set only, not '${extra.join(' ')}' after them`,
    };
  }
  if (!MoveInputSchema.shape.toSet.safeParse(toSet).success) {
    return {
      ok: false,
      problem: `'${toSet}' is not a host set name: 1 to 31 lower-case letters, digits and dashes, not starting with a dash`,
    };
  }
  return { ok: true, command: { kind: 'move', cluster: checked.name, toSet } };
}

/** Who asks, and from where. */
export interface Requester {
  userId: string;
  channelId: string | undefined;
}

export type Authorization = { allowed: true } | { allowed: false; reason: string };

/**
 * May `who` act on `cluster` from Slack? The cluster's `slack` block decides: the channel must be one of
 * `allowedChannels` when that list is not empty, and the user must be in `allowedUsers` or in one of
 * `allowedGroups` (looked up only when needed). No block: nobody.
 */
export async function authorize(
  cluster: string,
  slack: ClusterSlack | undefined,
  who: Requester,
  userGroups: ((userId: string) => Promise<string[]>) | undefined,
): Promise<Authorization> {
  if (!slack) {
    return {
      allowed: false,
      reason: `cluster ${cluster} is not enabled for Slack (it has no slack block in the configuration)`,
    };
  }
  if (slack.allowedChannels.length && !(who.channelId && slack.allowedChannels.includes(who.channelId))) {
    return {
      allowed: false,
      reason: `commands for ${cluster} are accepted only in ${slack.allowedChannels.map((c) => `<#${c}>`).join(', ')}`,
    };
  }
  if (slack.allowedUsers.includes(who.userId)) return { allowed: true };
  const notAllowed = `<@${who.userId}> is not allowed to act on ${cluster}; ask to be added to its slack.allowedUsers${
    slack.allowedGroups.length ? ' or to one of its slack.allowedGroups' : ''
  }`;
  if (slack.allowedGroups.length === 0) return { allowed: false, reason: notAllowed };
  if (!userGroups) {
    return {
      allowed: false,
      reason: `${notAllowed} (user groups cannot be checked here: no user group lookup is configured)`,
    };
  }
  const groups = await userGroups(who.userId);
  return slack.allowedGroups.some((g) => groups.includes(g))
    ? { allowed: true }
    : { allowed: false, reason: notAllowed };
}

/** The request id of a command: the same command (one trigger id) always gives the same id. */
export function requestIdOf(command: {
  team_id: string;
  channel_id: string;
  user_id: string;
  trigger_id: string;
}): string {
  return createHash('sha256')
    .update([command.team_id, command.channel_id, command.user_id, command.trigger_id].join('\n'))
    .digest('hex')
    .slice(0, 24);
}

/**
 * The Step Functions execution name of a confirmed request: the idempotency key, so a double click or a retry
 * starts one execution. `slack-<cluster, at most 48 characters>-<request id>`: at most 79 characters.
 */
export const executionNameOf = (cluster: string, requestId: string): string =>
  `slack-${cluster.slice(0, 48)}-${requestId}`;

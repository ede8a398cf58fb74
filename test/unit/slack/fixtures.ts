import { createHmac } from 'node:crypto';
import type { ActionsBlock, Button, KnownBlock } from '@slack/types';
import { ClusterRegistry } from '../../../core/model/cluster.ts';
import type { HistoryEntry, MaintenanceMode } from '../../../core/model/records.ts';
import type { MoveInput, MovePlan } from '../../../core/move/state.ts';
import type { Logger, WorkflowExecution, WorkflowStarter } from '../../../core/ports.ts';
import type { StatusReport } from '../../../core/status/report.ts';
import type { SwitchoverInput, SwitchoverPlan } from '../../../core/switchover/state.ts';
import type { ClusterSlack, DeferredTask, SlackMessage } from '../../../functions/slack/contract.ts';
import type { SlackDeps } from '../../../functions/slack/deps.ts';
import { makeSlackHandler } from '../../../functions/slack/handler.ts';
import type { HttpRequest, HttpResponse } from '../../../functions/slack/http.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { N1, N2, N3, START, testCluster } from '../../support/fixtures.ts';

export const SECRET = 'e5f1c0ffee0ddba11d00dfeedfacecafe0123456789abcdef0123456789abcd';
export const OPERATOR = 'U0OPERATOR';
export const SECOND_OPERATOR = 'U0SECONDOP';
export const STRANGER = 'U0STRANGER';
export const GROUP_MEMBER = 'U0GROUPMEM';
export const OPS_GROUP = 'S0OPSGROUP';
export const OPS_CHANNEL = 'C0OPSCHAN1';
export const OTHER_CHANNEL = 'C0RANDOM01';
export const RESPONSE_URL = 'https://hooks.slack.com/commands/T0TEAM/1234/abcdef';
export const CLICK_URL = 'https://hooks.slack.com/actions/T0TEAM/5678/ghijkl';
export const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:ha-redis-switchover';

/** Slack's signature of `body` at `timestamp` (seconds), computed here independently of verify.ts. */
export function signatureOf(body: string | Buffer, timestamp: number | string, secret = SECRET): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')}`;
}

/** A request signed now (FakeClock time) with the test secret; `changes` bend it for refusal cases. */
export function signed(
  body: string,
  changes: {
    at?: number;
    secret?: string;
    headers?: Record<string, string | undefined>;
    base64?: boolean;
  } = {},
): HttpRequest {
  const at = changes.at ?? Math.floor(START / 1000);
  return {
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(at),
      'x-slack-signature': signatureOf(body, at, changes.secret),
      ...changes.headers,
    },
    body: changes.base64 ? Buffer.from(body, 'utf8').toString('base64') : body,
    ...(changes.base64 ? { isBase64Encoded: true } : {}),
  };
}

/** The form body of `/redis <text>` run by `user` in `channel`. */
export function commandBody(
  text: string,
  options: { user?: string; channel?: string; trigger?: string; command?: string } = {},
): string {
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: 'T0TEAM',
    team_domain: 'example',
    channel_id: options.channel ?? OPS_CHANNEL,
    channel_name: 'ops',
    user_id: options.user ?? OPERATOR,
    user_name: 'operator',
    command: options.command ?? '/redis',
    text,
    api_app_id: 'A0APP',
    is_enterprise_install: 'false',
    response_url: RESPONSE_URL,
    trigger_id: options.trigger ?? '1234.5678.abcdef',
  }).toString();
}

/** The form body of a block_actions callback: `user` clicked the button `actionId` with `value`. */
export function clickBody(
  actionId: string,
  value: string,
  options: { user?: string; channel?: string } = {},
): string {
  const payload = {
    type: 'block_actions',
    user: { id: options.user ?? OPERATOR, username: 'operator', name: 'operator', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: '1732467600.000100', channel_id: OPS_CHANNEL },
    trigger_id: '2222.3333.ffff',
    team: { id: 'T0TEAM', domain: 'example' },
    channel: { id: options.channel ?? OPS_CHANNEL, name: 'ops' },
    response_url: CLICK_URL,
    actions: [
      {
        action_id: actionId,
        block_id: 'switchover-actions',
        text: { type: 'plain_text', text: 'Confirm switchover' },
        value,
        type: 'button',
        action_ts: '1732467601.000200',
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** The message a 200 reply carries. */
export function replyOf(response: HttpResponse): SlackMessage {
  if (response.statusCode !== 200)
    throw new Error(`expected 200, got ${response.statusCode}: ${response.body}`);
  return JSON.parse(response.body) as SlackMessage;
}

/** Everything the message says: its text and every text in its blocks. */
export function wordsOf(message: SlackMessage): string {
  return JSON.stringify(message);
}

/** The phrases the message does not say (an empty list when it says them all). */
export function missingPhrases(message: SlackMessage | undefined, phrases: readonly string[]): string[] {
  const words = message ? wordsOf(message) : '';
  return phrases.filter((p) => !words.includes(p));
}

/** The buttons of a plan message. */
export function buttonsOf(message: SlackMessage): Button[] {
  const actions = (message.blocks ?? []).find((b: KnownBlock): b is ActionsBlock => b.type === 'actions');
  if (!actions) throw new Error('the message has no actions block');
  return actions.elements as Button[];
}

export const PLAN: SwitchoverPlan = {
  master: { id: 'n1', ...N1 },
  target: { id: 'n2', ...N2 },
  replicas: [
    { id: 'n2', ...N2, lagBytes: 0, priority: 100, online: true },
    { id: 'n3', ...N3, lagBytes: 120, priority: 100, online: true },
  ],
  epoch: 7,
  expectedWriteGapMs: 350,
  steps: ['plan', 'lease + replica priorities', 'block writes', 'reroute every proxy'],
};

/** A move of orders from set blue (n1-n3) to set green (n4-n6), with green's shared Sentinels. */
export const MOVE_PLAN: MovePlan = {
  fromSet: 'blue',
  toSet: 'green',
  master: { id: 'n1', ...N1, hostId: 'blue/host-1' },
  oldNodes: [
    { id: 'n1', ...N1, hostId: 'blue/host-1' },
    { id: 'n2', ...N2, hostId: 'blue/host-2' },
    { id: 'n3', ...N3, hostId: 'blue/host-3' },
  ],
  oldSentinels: [{ id: 's1', host: '10.0.1.21', port: 26379, hostId: 'blue/host-1', shared: true }],
  oldProxies: [{ id: 'p1', hostId: 'blue/host-1' }],
  newNodes: [
    { id: 'n4', host: '10.0.2.21', port: 6390, hostId: 'green/host-1' },
    { id: 'n5', host: '10.0.2.22', port: 6390, hostId: 'green/host-2' },
    { id: 'n6', host: '10.0.2.23', port: 6390, hostId: 'green/host-3' },
  ],
  newSentinels: [{ id: 'green-s1', host: '10.0.2.21', port: 26379, hostId: 'green/host-1', shared: true }],
  newProxies: [{ id: 'p4', hostId: 'green/host-1', host: '10.0.2.21', plainPort: 6391, tlsPort: 6392 }],
  target: 'n4',
  expectedWriteGapMs: 350,
  steps: ['plan', 'nodes', 'sentinels', 'switchover', 'proxies', 'retire'],
};

/** Starts once per name, like Step Functions; describe answers a script (the last answer repeats). */
export class FakeWorkflows implements WorkflowStarter {
  readonly starts: { workflow: string; name: string; input: unknown }[] = [];
  readonly names = new Set<string>();
  readonly described: string[] = [];
  script: (WorkflowExecution | Error)[] = [];
  startError: Error | undefined;

  async start(request: Parameters<WorkflowStarter['start']>[0]) {
    this.starts.push(request);
    if (this.startError) throw this.startError;
    const executionId = `arn:aws:states:eu-west-1:123456789012:execution:ha-redis-switchover:${request.name}`;
    if (this.names.has(request.name)) return { executionId, started: false };
    this.names.add(request.name);
    return { executionId, started: true };
  }

  async describe(executionId: string): Promise<WorkflowExecution> {
    this.described.push(executionId);
    const next = this.script.length > 1 ? this.script.shift() : this.script[0];
    if (next === undefined) throw new Error('no describe answer scripted');
    if (next instanceof Error) throw next;
    return structuredClone(next);
  }
}

/** A logger that keeps messages and attributes, to assert what a refusal logs. */
export class CapturingLogger implements Logger {
  readonly lines: { level: string; message: string; attributes?: Record<string, unknown> }[] = [];
  debug(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: 'debug', message, ...(attributes ? { attributes } : {}) });
  }
  info(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: 'info', message, ...(attributes ? { attributes } : {}) });
  }
  warn(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: 'warn', message, ...(attributes ? { attributes } : {}) });
  }
  error(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: 'error', message, ...(attributes ? { attributes } : {}) });
  }
}

/** A FakeClock whose sleeps wait until released: a budget race that the work always wins unless released. */
export class HeldClock extends FakeClock {
  private readonly waiting: (() => void)[] = [];
  override sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

export const SLACK_BLOCK: ClusterSlack = {
  channel: OPS_CHANNEL,
  allowedUsers: [OPERATOR, SECOND_OPERATOR],
  allowedGroups: [],
  allowedChannels: [],
};

/** The fakes of one test: `calls` names every port used, in order (signingSecret included). */
export function slackWorld(
  options: {
    slack?: Record<string, ClusterSlack | undefined>;
    groups?: Record<string, string[]>;
    clock?: FakeClock;
    plan?: (input: SwitchoverInput) => Promise<SwitchoverPlan>;
    planMove?: (input: MoveInput) => Promise<MovePlan>;
    report?: StatusReport;
    history?: HistoryEntry[];
    /** Setting the maintenance mode fails with this. */
    maintenanceError?: Error;
  } = {},
) {
  const modes = new Map<string, MaintenanceMode>();
  const calls: string[] = [];
  const posts: { url: string; message: SlackMessage }[] = [];
  const deferred: DeferredTask[] = [];
  const planned: SwitchoverInput[] = [];
  const movesPlanned: MoveInput[] = [];
  const clock = options.clock ?? new HeldClock();
  const logger = new CapturingLogger();
  const workflows = new FakeWorkflows();
  const slack = options.slack ?? { orders: SLACK_BLOCK };
  const recorded = <A extends unknown[], R>(name: string, fn: (...args: A) => R) => {
    return (...args: A): R => {
      calls.push(name);
      return fn(...args);
    };
  };
  const deps: SlackDeps = {
    clusters: new ClusterRegistry([testCluster(), testCluster({ name: 'billing' })]),
    slackOf: recorded('slackOf', (cluster: string) => slack[cluster]),
    signingSecret: recorded('signingSecret', async () => SECRET),
    clock,
    logger,
    workflows: {
      start: recorded('workflows.start', (r: Parameters<WorkflowStarter['start']>[0]) => workflows.start(r)),
      describe: recorded('workflows.describe', (id: string) => workflows.describe(id)),
    },
    plan: recorded('plan', async (input: SwitchoverInput) => {
      planned.push(input);
      return options.plan ? options.plan(input) : structuredClone(PLAN);
    }),
    planMove: recorded('planMove', async (input: MoveInput) => {
      movesPlanned.push(input);
      return options.planMove ? options.planMove(input) : structuredClone(MOVE_PLAN);
    }),
    status: recorded('status', async () => {
      if (!options.report) throw new Error('no status report scripted');
      return options.report;
    }),
    history: recorded('history', async () => options.history ?? []),
    maintenance: {
      setMaintenanceMode: recorded('maintenance.set', async (cluster: string, mode: MaintenanceMode) => {
        if (options.maintenanceError) throw options.maintenanceError;
        modes.set(cluster, mode);
      }),
    },
    respond: recorded('respond', async (url: string, message: SlackMessage) => {
      posts.push({ url, message });
    }),
    defer: recorded('defer', async (task: DeferredTask) => {
      deferred.push(task);
    }),
    userGroups: recorded('userGroups', async (userId: string) =>
      Object.entries(options.groups ?? {})
        .filter(([, members]) => members.includes(userId))
        .map(([group]) => group),
    ),
  };
  return { deps, calls, posts, deferred, planned, movesPlanned, clock, logger, workflows, modes };
}

/** Run `/redis <text>` (a plan) and return the handler, the plan reply and its Confirm / Cancel buttons. */
export async function plannedWithButtons(w: ReturnType<typeof slackWorld>, text: string) {
  const handle = makeSlackHandler(() => w.deps);
  const reply = replyOf(await handle(signed(commandBody(text))));
  const [confirm, cancel] = buttonsOf(reply);
  if (!confirm?.value || !cancel?.value) throw new Error('the plan has no Confirm / Cancel values');
  return { handle, reply, confirm, cancel };
}

/** A timeline step `offset` ms after START. */
export const timelineStep = (
  name: string,
  offset: number,
  status: 'ok' | 'failed' = 'ok',
  detail?: string,
) => ({
  step: name,
  at: START + offset,
  durationMs: 10,
  status,
  ...(detail ? { detail } : {}),
});

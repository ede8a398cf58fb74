import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameEndpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import { ACTIONS, type SlackMessage } from '../../functions/slack/contract.ts';
import { LOCAL_SLACK_USER } from '../../local/launcher.ts';
import { waitUntil } from '../../local/processes.ts';
import { startTestCluster, type TestCluster, waitForHistory } from './cluster.ts';

/** A response_url stand-in: every message Slack would receive, in order. */
async function responseUrlServer(): Promise<{
  url: string;
  messages: SlackMessage[];
  close(): Promise<void>;
}> {
  const messages: SlackMessage[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      messages.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as SlackMessage);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/response`,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const textOf = (m: SlackMessage | undefined) => `${m?.text ?? ''} ${JSON.stringify(m?.blocks ?? [])}`;

describe('Slack /redis against the local endpoint, over real HTTP', () => {
  let t: TestCluster;
  let secret: string;
  let endpoint: string;
  let hook: Awaited<ReturnType<typeof responseUrlServer>>;
  let trigger = 0;

  beforeAll(async () => {
    t = await startTestCluster();
    await waitForHistory(t, (e) => e.trigger === 'adopt');
    secret = (await readFile(t.d.slack.signingSecretPath ?? '', 'utf8')).trim();
    endpoint = t.d.slack.endpointUrl ?? '';
    hook = await responseUrlServer();
  });
  afterAll(async () => {
    await hook?.close();
    await t?.down().catch(() => undefined);
  });

  /** POST a form body, signed as Slack signs it unless told otherwise. */
  const post = async (
    body: string,
    sign: { secret?: string; timestamp?: number; tamper?: (body: string) => string; omit?: boolean } = {},
  ) => {
    const timestamp = String(sign.timestamp ?? Math.floor(Date.now() / 1000));
    const signature = `v0=${createHmac('sha256', sign.secret ?? secret)
      .update(`v0:${timestamp}:${body}`)
      .digest('hex')}`;
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(sign.omit ? {} : { 'X-Slack-Request-Timestamp': timestamp, 'X-Slack-Signature': signature }),
      },
      body: sign.tamper ? sign.tamper(body) : body,
    });
    const text = await response.text();
    return {
      status: response.status,
      text,
      json: text.startsWith('{') ? (JSON.parse(text) as SlackMessage) : undefined,
    };
  };
  const command = (text: string, user = LOCAL_SLACK_USER) => {
    trigger += 1;
    return new URLSearchParams({
      command: '/redis',
      text,
      user_id: user,
      user_name: 'ops',
      channel_id: t.d.slack.channel,
      team_id: 'T0LOCAL',
      response_url: hook.url,
      trigger_id: `trigger-${trigger}-${Date.now()}`,
    }).toString();
  };
  const click = (actionId: string, value: string, user = LOCAL_SLACK_USER) =>
    new URLSearchParams({
      payload: JSON.stringify({
        type: 'block_actions',
        user: { id: user },
        team: { id: 'T0LOCAL' },
        channel: { id: t.d.slack.channel },
        response_url: hook.url,
        actions: [{ action_id: actionId, value }],
      }),
    }).toString();
  const switchovers = async (): Promise<HistoryEntry[]> =>
    (await t.history()).filter((e) => e.kind === 'switchover');

  it('answers a correctly signed help command', async () => {
    // Act
    const answer = await post(command('help'));

    // Assert
    expect(answer.status).toBe(200);
    expect(textOf(answer.json)).toContain('switchover &lt;cluster&gt; [to &lt;node&gt;]'); // Slack escapes < and > in mrkdwn
  });

  it.each([
    ['unsigned', { omit: true }],
    ['signed with another secret', { secret: 'not-the-secret' }],
    ['replayed 6 minutes later', { timestamp: Math.floor(Date.now() / 1000) - 360 }],
    ['tampered after signing', { tamper: (b: string) => b.replace('status', 'switchover') }],
  ])('refuses a request %s with 401 and does nothing', async (_what, sign) => {
    // Arrange
    const before = { messages: hook.messages.length, switchovers: (await switchovers()).length };

    // Act
    const answer = await post(command(`status ${t.name}`), sign);
    await new Promise((resolve) => setTimeout(resolve, 300)); // a deferred post would land by now

    // Assert
    expect(answer.status).toBe(401);
    expect(answer.text).not.toContain(secret);
    expect(hook.messages.length).toBe(before.messages);
    expect((await switchovers()).length).toBe(before.switchovers);
  });

  it('refuses an unauthorized user, saying why, and plans nothing', async () => {
    // Act
    const answer = await post(command(`switchover ${t.name}`, 'U0STRANGER'));

    // Assert
    expect(answer.status).toBe(200);
    expect(answer.json?.response_type ?? 'ephemeral').toBe('ephemeral');
    expect(textOf(answer.json)).toMatch(/U0STRANGER|not allowed|not authorized/i);
    expect(JSON.stringify(answer.json)).not.toContain(ACTIONS.confirm);
  });

  it('posts the status of the cluster to response_url', async () => {
    // Arrange
    const before = hook.messages.length;

    // Act
    const answer = await post(command(`status ${t.name}`));
    await waitUntil(async () => hook.messages.length > before, 15_000, 'the status post', 100);

    // Assert
    expect(answer.status).toBe(200);
    const master = await t.soleMaster();
    expect(textOf(hook.messages[before])).toContain(`${master.port}`);
  });

  it('plans a switchover; Cancel starts nothing; Confirm clicked twice starts exactly one', async () => {
    // Arrange: the plan, with its two buttons.
    const oldMaster = await t.soleMaster();
    const plan = await post(command(`switchover ${t.name}`));
    const buttons = JSON.stringify(plan.json?.blocks ?? []);
    expect(plan.status).toBe(200);
    expect(buttons).toContain(ACTIONS.confirm);
    expect(buttons).toContain(ACTIONS.cancel);
    const value = (
      (plan.json?.blocks ?? [])
        .flatMap((b) => ('elements' in b ? (b.elements as { action_id?: string; value?: string }[]) : []))
        .find((e) => e.action_id === ACTIONS.confirm) as { value: string }
    ).value;
    const before = (await switchovers()).length;

    // Act 1: Cancel.
    const cancelled = await post(click(ACTIONS.cancel, value));
    await new Promise((resolve) => setTimeout(resolve, 500));

    // Assert 1
    expect(cancelled.status).toBe(200);
    expect((await switchovers()).length).toBe(before);
    expect(textOf(hook.messages.at(-1))).toMatch(/cancel/i);

    // Act 2: Confirm, twice at once (a double click, or Slack retrying).
    const [first, second] = await Promise.all([
      post(click(ACTIONS.confirm, value)),
      post(click(ACTIONS.confirm, value)),
    ]);
    await waitUntil(async () => (await switchovers()).length > before, 90_000, 'the switchover entry', 250);
    await waitUntil(
      async () =>
        hook.messages.some(
          (m) => /SWITCHOVER|switched|done|succeeded/i.test(textOf(m)) && /timeline|ms/.test(textOf(m)),
        ),
      30_000,
      'the final outcome posted back',
      250,
    ).catch(() => undefined);

    // Assert 2
    expect([first.status, second.status]).toEqual([200, 200]);
    const done = await switchovers();
    expect(done.length).toBe(before + 1);
    expect(done[0]?.outcome).toBe('succeeded');
    const newMaster = await t.soleMaster();
    expect(sameEndpoint(newMaster, oldMaster)).toBe(false);
    expect(hook.messages.map(textOf).join('\n')).toMatch(/already/i);
  });
});

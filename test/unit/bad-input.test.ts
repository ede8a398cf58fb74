/**
 * The bad-input catalog: every way in (SNS Sentinel events, the workflow step Tasks, Slack, the CLI), each bad
 * input, the specific error it gets, and proof that nothing changed (no port called, no file written).
 *
 * Cases tested where their subject is, and not repeated here:
 * - Sentinel events against a real cluster: a malformed message and an unknown cluster
 *   (test/integration/events.test.ts, "rejects a malformed message and an unknown cluster without acting");
 *   every payload shape (test/unit/sentinel-events.test.ts); an infrastructure failure, which is retried rather
 *   than rejected (test/unit/handler.test.ts).
 * - Workflow Tasks: an unknown action, a state without executionId, an unknown cluster
 *   (test/unit/switchover.test.ts and test/unit/maintenance.test.ts, "make*StepHandler"); an unknown cluster
 *   for the reconcile (test/unit/handler.test.ts).
 * - Slack: unsigned, another secret, replayed, dated ahead, tampered, malformed signatures and timestamps
 *   (test/unit/slack/verify.test.ts); unknown subcommand or cluster, bad counts and buttons
 *   (test/unit/slack/handler.test.ts); users who may not act (test/unit/slack/commands.test.ts,
 *   handler.test.ts, maintenance.test.ts); over real HTTP: unsigned, forged, replayed, tampered, unauthorized
 *   (test/integration/slack.test.ts).
 * - CLI: a bad number, an unknown command and option, an unknown local cluster
 *   (test/integration/local-cluster.test.ts); maintenance arguments (test/unit/cli-maintenance.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SNSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRegistry } from '../../core/model/cluster.ts';
import { ERROR_NAMES } from '../../core/model/errors.ts';
import { makeMaintenanceStepHandler } from '../../functions/maintenance-step/handler.ts';
import { MAX_ENVELOPE_BYTES, makeSentinelEventHandler } from '../../functions/sentinel-event/handler.ts';
import { makeSlackHandler } from '../../functions/slack/handler.ts';
import { makeSwitchoverStepHandler } from '../../functions/switchover-step/handler.ts';
import { BIN, CLI_TEST_TIMEOUT_MS, CLI_TIMEOUT_MS, runCli } from '../support/cli.ts';
import { N2, START, testCluster } from '../support/fixtures.ts';
import { loadEnvelope, snsEventWith } from '../support/samples.ts';
import { failedOverWorld, rejectingSentinelEventHandler, untouchableDeps } from '../support/world.ts';
import { commandBody, SECRET, STRANGER, signed, slackWorld } from './slack/fixtures.ts';

/** The SNS Message of the switch-master envelope with `changes`. */
const changed = (changes: Record<string, unknown>) =>
  JSON.stringify({ ...loadEnvelope('switch-master'), ...changes });
/** The SNS Message of a sample envelope. */
const sample = (name: string) => JSON.stringify(loadEnvelope(name));

describe('SNS Sentinel events (sentinel-event handler)', () => {
  // 6000 euro signs: fewer characters than the limit, three times as many bytes.
  const wide = changed({ payload: '€'.repeat(6000) });

  it.each([
    ['a Message that is not JSON', '{"contract": "sentinel-event", ', 'SNS Message is not JSON'],
    [
      'another contract',
      changed({ contract: 'notification' }),
      'SNS Message is not a sentinel-event v1 envelope: contract',
    ],
    ['another version', changed({ version: 2 }), 'SNS Message is not a sentinel-event v1 envelope: version'],
    [
      'a missing payload and channel',
      changed({ payload: undefined, channel: undefined }),
      'channel: Invalid input',
    ],
    [
      'a malformed +switch-master payload',
      sample('malformed-switch-master-four-words'),
      "malformed +switch-master payload 'mymaster 10.0.1.21 6379 10.0.1.22'",
    ],
    [
      'a slave event without its master',
      sample('malformed-slave-without-master'),
      'malformed +sdown payload',
    ],
    ['an unknown channel', sample('unknown-channel'), "unknown Sentinel event channel '__sentinel__:hello'"],
    ['no Message at all', undefined, 'SNS record has no Message string'],
    [
      'an oversized Message',
      changed({ payload: 'x'.repeat(20_000) }),
      'bytes is larger than a sentinel-event envelope can be (16384); not parsed',
    ],
    ['a JSON null', 'null', 'SNS Message is not a sentinel-event v1 envelope: : Invalid input'],
    ['a JSON array', '[]', 'SNS Message is not a sentinel-event v1 envelope: : Invalid input'],
    [
      'a Message oversized in bytes, not in characters',
      wide,
      `SNS Message of ${Buffer.byteLength(wide)} bytes is larger than a sentinel-event envelope can be (${MAX_ENVELOPE_BYTES}); not parsed`,
    ],
    [
      'an unknown failover state',
      changed({ channel: '+failover-state-bogus', payload: 'master mymaster 10.0.1.21 6379' }),
      'unknown failover state +failover-state-bogus',
    ],
    [
      'a port that is not a number',
      sample('malformed-port-not-a-number'),
      "malformed +sdown payload 'master mymaster 10.0.1.21 redis'",
    ],
    [
      'an epoch that is not a number',
      sample('malformed-new-epoch-not-a-number'),
      "malformed +new-epoch payload 'seven'",
    ],
    [
      'a seenAt that is not a time',
      changed({ seenAt: 'yesterday' }),
      'SNS Message is not a sentinel-event v1 envelope: seenAt:',
    ],
    [
      'a Sentinel without a port',
      changed({ sentinel: { host: '10.0.1.11' } }),
      'SNS Message is not a sentinel-event v1 envelope: sentinel.port:',
    ],
  ])('rejects %s with its error and calls no port', async (_what, message, error) => {
    // Arrange
    const { handler, touched } = rejectingSentinelEventHandler();

    // Act
    const results = await handler(snsEventWith(message));

    // Assert
    expect(results).toEqual([{ action: 'rejected', error: expect.stringContaining(error) }]);
    expect(touched).toEqual([]);
  });

  it('rejects an unknown cluster, naming the known clusters, and calls no port', async () => {
    // Arrange
    const { handler, touched } = rejectingSentinelEventHandler();

    // Act
    const results = await handler(snsEventWith(changed({ cluster: 'payments' })));

    // Assert
    expect(results).toEqual([
      {
        action: 'rejected',
        error:
          "unknown cluster 'payments'; known clusters: orders. Check the cluster name or the configuration",
      },
    ]);
    expect(touched).toEqual([]);
  });

  it('counts the bytes of the Message: the oversized one is shorter than the limit in characters', () => {
    expect(wide.length).toBeLessThan(MAX_ENVELOPE_BYTES);
    expect(Buffer.byteLength(wide)).toBeGreaterThan(MAX_ENVELOPE_BYTES);
  });

  it('rejects a record without an Sns part, and calls no port', async () => {
    // Arrange
    const { handler, touched } = rejectingSentinelEventHandler();

    // Act
    const results = await handler({ Records: [{}] } as unknown as SNSEvent);

    // Assert
    expect(results).toEqual([{ action: 'rejected', error: 'SNS record has no Message string' }]);
    expect(touched).toEqual([]);
  });

  it('rejects the bad record of a batch and still acts on the good one', async () => {
    // Arrange: an event for an unknown cluster, then the switch-master sample.
    const w = failedOverWorld();
    const handler = makeSentinelEventHandler(() => ({
      clusters: new ClusterRegistry([w.cluster]),
      failover: w.deps,
    }));
    const event = snsEventWith(changed({ cluster: 'payments' }));
    const good = snsEventWith(sample('switch-master')).Records[0];
    if (!good) throw new Error('the SNS sample has no record');
    event.Records.push(good);

    // Act
    const results = await handler(event);

    // Assert
    expect(results.map((r) => r.action)).toEqual(['rejected', 'failed-over']);
    expect(results[0]).toMatchObject({ error: expect.stringContaining("unknown cluster 'payments'") });
    expect(w.router.calls.map((c) => c.node)).toEqual([N2, N2]);
    expect(w.state.history).toHaveLength(1);
  });
});

describe('workflow step Tasks (switchover-step, maintenance-step)', () => {
  const state = {
    input: { cluster: 'orders' },
    executionId: 'switchover-orders-1',
    startedAt: START,
    timeline: [],
  };
  const withInput = (input: Record<string, unknown>) => ({
    action: 'plan',
    state: { ...state, input: { cluster: 'orders', ...input } },
  });
  const handlers = {
    'switchover-step': makeSwitchoverStepHandler,
    'maintenance-step': makeMaintenanceStepHandler,
  };

  it.each([
    ['switchover-step', 'no event at all', null, 'invalid switchover step event: event: '],
    [
      'switchover-step',
      'an event without a state',
      { action: 'plan' },
      'invalid switchover step event: state: ',
    ],
    [
      'switchover-step',
      'a negative lag limit',
      withInput({ maxLagBytes: -1 }),
      'invalid switchover step event: state.input.maxLagBytes: ',
    ],
    [
      'switchover-step',
      'a start that is no time',
      { action: 'plan', state: { ...state, startedAt: 'soon' } },
      'invalid switchover step event: state.startedAt: ',
    ],
    [
      'switchover-step',
      'a dry run that is not a boolean',
      withInput({ dryRun: 'yes' }),
      'invalid switchover step event: state.input.dryRun: ',
    ],
    ['maintenance-step', 'no event at all', null, 'invalid maintenance step event: event: '],
    [
      'maintenance-step',
      'a node action it does not know',
      withInput({ action: 'wipe' }),
      'invalid maintenance step event: state.input.action: ',
    ],
    [
      'maintenance-step',
      'an empty drain host',
      withInput({ drainHost: '' }),
      'invalid maintenance step event: state.input.drainHost: ',
    ],
  ] as const)(
    '%s refuses %s with InvalidInputError naming the field, touching nothing',
    async (task, _what, event, field) => {
      // Arrange
      const touched: string[] = [];
      const handle = handlers[task](() => ({
        clusters: new ClusterRegistry([testCluster()]),
        failover: untouchableDeps(touched),
      }));

      // Act
      const run = handle(event);

      // Assert
      await expect(run).rejects.toMatchObject({
        name: ERROR_NAMES.invalidInput,
        message: expect.stringContaining(field),
      });
      expect(touched).toEqual([]);
    },
  );
});

describe('Slack (the signature comes first)', () => {
  const NOW_S = Math.floor(START / 1000);

  it.each([
    ['forged, by a user who may not act, for an unknown cluster', { secret: 'not-the-secret' }],
    ['replayed, by a user who may not act, for an unknown cluster', { at: NOW_S - 6 * 60 }],
  ])('refuses a request %s with 401 before it looks at the user or the command', async (_what, changes) => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const response = await handle(signed(commandBody('switchover nowhere', { user: STRANGER }), changes));

    // Assert: only the secret was read; no reply names the user or the cluster.
    expect(response).toMatchObject({ statusCode: 401, body: 'invalid or missing Slack signature' });
    expect(w.calls).toEqual(['signingSecret']);
    expect(w.planned).toEqual([]);
    expect(w.workflows.starts).toEqual([]);
    expect(JSON.stringify(w.logger.lines)).not.toContain(SECRET);
  });
});

// Each case is a process of its own (runCli runs no more at once than there are cores); they share only the
// empty home they must leave empty.
describe.concurrent('the ha-redis CLI', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  let home: string;
  const cli = (...args: string[]) => runCli(args, { env: { ...process.env, HA_REDIS_HOME: home } });

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'har-cli-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it.each([
    [['failover'], "error: unknown command 'failover'"],
    [['switchover'], "error: required option '--cluster <name>' not specified"],
    [
      ['switchover', '--cluster', 'demo', '--max-lag-bytes', '-1'],
      "error: option '--max-lag-bytes <n>' argument '-1' is invalid. --max-lag-bytes must be a non-negative integer, got '-1'",
    ],
    [
      ['switchover', '--cluster', 'demo', '--max-lag-bytes', '1.5'],
      "error: option '--max-lag-bytes <n>' argument '1.5' is invalid. --max-lag-bytes must be a non-negative integer, got '1.5'",
    ],
    [
      ['history', '--cluster', 'demo', '--limit', 'lots'],
      "error: option '--limit <n>' argument 'lots' is invalid. --limit must be a positive integer, got 'lots'",
    ],
    [['history', '--cluster', 'demo', 'show'], "error: missing required argument 'id'"],
    [
      ['local', 'up', '--failover-timeout-ms', '0'],
      "error: option '--failover-timeout-ms <ms>' argument '0' is invalid. --failover-timeout-ms must be a positive integer, got '0'",
    ],
    [
      ['local', 'up', '--slack-user', 'bob'],
      "error: option '--slack-user <ids>' argument 'bob' is invalid. --slack-user: 'bob' is not a Slack user id (U0123ABCD)",
    ],
    [
      ['local', 'up', '--notify-webhook', 'ftp://example.com/hook'],
      "error: option '--notify-webhook <url>' argument 'ftp://example.com/hook' is invalid. --notify-webhook must be an http(s) URL, got 'ftp://example.com/hook'",
    ],
    [['status', '--cluster', 'demo', '--table', 'ha-redis-state'], 'error: --table needs --config <file>'],
    [['history', '--cluster', 'demo', '--table', 'ha-redis-state'], 'error: --table needs --config <file>'],
    [
      ['doctor', '--cluster', 'demo', '--secrets-dir', 'secrets'],
      'error: --secrets-dir needs --config <file>',
    ],
    [
      ['history', 'show', 'abc', '--cluster', 'demo', '--dynamodb-endpoint', 'http://localhost:4567'],
      'error: --dynamodb-endpoint needs --config <file>',
    ],
    [
      ['history', '--cluster', 'demo', '--config', 'ha-redis.config.json'],
      'error: history --config also needs --table <name>, the state table (stack output StateTableName)',
    ],
    [
      ['history', 'show', 'abc', '--cluster', 'demo', '--config', 'ha-redis.config.json'],
      'error: history --config also needs --table <name>, the state table (stack output StateTableName)',
    ],
    [['drain'], "error: required option '--host <host>' not specified"],
  ])('%j exits 2 with its error, and writes nothing', async (args, message) => {
    // Act
    const r = await cli(...args);

    // Assert
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(message);
    expect(r.stdout).toBe('');
    expect(await readdir(home)).toEqual([]);
  });

  it.each([
    [['switchover', '--cluster', 'nope']],
    // 0 is a limit (the target fully caught up), not a bad number: the command gets as far as the cluster.
    [['switchover', '--cluster', 'nope', '--max-lag-bytes', '0']],
    [['doctor', '--cluster', 'nope']],
    [['history', '--cluster', 'nope']],
  ])('names the missing local cluster in one line for %j, and writes nothing', async (args) => {
    // Act
    const r = await cli(...args);

    // Assert
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `ha-redis: no local cluster descriptor at ${join(home, 'local', 'nope', 'cluster.json')}; start one with 'ha-redis local up'\n`,
    );
    expect(await readdir(home)).toEqual([]);
  });
});

describe('the ha-redis bin on a Node too old for TypeScript', () => {
  // The machine's own Node, when it is older than 22.18 (Debian's is 20): what `ha-redis` meets when run
  // without the project's Node 24.
  const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
    const r = spawnSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    const [major = 0, minor = 0] = (r.stdout ?? '').trim().split('.').map(Number);
    return r.status === 0 && (major < 22 || (major === 22 && minor < 18));
  });
  if (!systemNode) {
    console.log('skipped: no Node older than 22.18 on this machine to run the bin with');
  }

  it.skipIf(!systemNode)('says which Node it needs and how to get it, and exits 2', () => {
    // Act
    const r = spawnSync(systemNode as string, [BIN, '--help'], { encoding: 'utf8', timeout: CLI_TIMEOUT_MS });

    // Assert
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^ha-redis: needs Node 22\.18 or newer .* but this is v\d+\.\d+\.\d+; `npm ci` installs Node 24/,
    );
  });
});

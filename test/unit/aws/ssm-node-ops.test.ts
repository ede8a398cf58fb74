import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { SsmNodeOps } from '../../../adapters/aws/ssm-node-ops.ts';
import { operationParameters } from '../../../adapters/node-ops/operations.ts';
import type { InstanceTarget, NodeConfig, ProxyConfig } from '../../../core/model/cluster.ts';
import { NodeOpsError } from '../../../core/model/errors.ts';
import type { NodeOperation } from '../../../core/ports.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { N1, N2, START, testCluster } from '../../support/fixtures.ts';
import { awsError, fixedRandom, rejectionOf, throttling } from './sdk-errors.ts';

const ssmMock = mockClient(SSMClient);
const COMMAND_ID = '0b5f3c1e-1111-2222-3333-444455556666';
const INSTANCE = 'i-0abc12345678def90';

beforeEach(() => {
  ssmMock.reset();
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
});
afterAll(() => {
  ssmMock.restore();
});

function firstOf<T>(items: readonly T[]): T {
  const [first] = items;
  if (first === undefined) throw new Error('the test cluster is empty');
  return first;
}

/** Proxy p1 of the test cluster, with its host paths and the given instance. */
function proxy(instance: InstanceTarget | undefined): ProxyConfig {
  return {
    ...firstOf(testCluster().proxies),
    instance,
    configPath: '/etc/haproxy/haproxy.cfg',
    stateFilePath: '/var/lib/haproxy/server-state',
    reload: 'systemd:haproxy',
  };
}

function node(instance: InstanceTarget | undefined): NodeConfig {
  return { ...firstOf(testCluster().nodes), instance, configPath: '/etc/redis/redis.conf' };
}

/** update-haproxy on p1 towards n2; null: a proxy without an instance. */
const updateHaproxy = (instance: InstanceTarget | null = { id: INSTANCE }): NodeOperation => ({
  document: 'update-haproxy',
  proxy: proxy(instance ?? undefined),
  master: N2,
  epoch: 4,
});

const invocation = (
  Status: GetCommandInvocationCommandOutput['Status'],
  extra: Partial<GetCommandInvocationCommandOutput> = {},
): GetCommandInvocationCommandOutput => ({
  $metadata: {},
  CommandId: COMMAND_ID,
  InstanceId: INSTANCE,
  Status,
  ...extra,
});

function nodeOps(options: { deadlineMs?: number; commandTimeoutSeconds?: number } = {}) {
  const clock = new FakeClock();
  const ops = new SsmNodeOps({
    client: new SSMClient({ region: 'eu-west-1' }),
    documentName: (document) => `ha-redis-prod-${document}`,
    clock,
    random: fixedRandom(0.5),
    ...options,
  });
  return { ops, clock };
}

describe('SsmNodeOps.run', () => {
  it('sends the document to the instance id with its parameters and returns the trimmed output', async () => {
    // Arrange
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejectsOnce(awsError('InvocationDoesNotExist'))
      .resolvesOnce(invocation('Pending'))
      .resolvesOnce(invocation('InProgress'))
      .resolves(invocation('Success', { StandardOutputContent: '\nrouting persisted: 10.0.1.22:6379\n\n' }));
    const { ops, clock } = nodeOps();

    // Act
    const result = await ops.run(updateHaproxy());

    // Assert
    expect(result).toEqual({ output: 'routing persisted: 10.0.1.22:6379' });
    const sends = ssmMock.commandCalls(SendCommandCommand);
    expect(sends).toHaveLength(1);
    expect(sends[0]?.args[0].input).toEqual({
      DocumentName: 'ha-redis-prod-update-haproxy',
      InstanceIds: [INSTANCE],
      Parameters: {
        config: ['/etc/haproxy/haproxy.cfg'],
        stateFile: ['/var/lib/haproxy/server-state'],
        socket: ['/run/p1'],
        backend: ['redis_master'],
        server: ['master'],
        addr: ['10.0.1.22'],
        port: ['6379'],
        reload: ['systemd:haproxy'],
        epoch: ['4'],
      },
      TimeoutSeconds: 30,
      Comment: 'ha-redis update-haproxy proxy p1 -> 10.0.1.22:6379',
    });
    const polls = ssmMock.commandCalls(GetCommandInvocationCommand).map((c) => c.args[0].input);
    expect(polls).toEqual(Array(4).fill({ CommandId: COMMAND_ID, InstanceId: INSTANCE }));
    expect(ssmMock.commandCalls(ListCommandInvocationsCommand)).toHaveLength(0);
    expect(clock.sleeps).toEqual([100, 200, 400, 800]);
  });

  it('sends a fence to the instance a tag names, one instance at a time, and waits on that instance', async () => {
    // Arrange
    ssmMock
      .on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: [] })
      .resolves({ CommandInvocations: [{ CommandId: COMMAND_ID, InstanceId: 'i-0fed98765432abc10' }] });
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation('Success', { StandardOutputContent: 'fenced' }));
    const { ops, clock } = nodeOps({ commandTimeoutSeconds: 45 });
    const fence: NodeOperation = {
      document: 'fence-node',
      node: node({ tag: { key: 'Name', value: 'redis-n1' } }),
      master: N2,
      epoch: 4,
    };

    // Act
    const result = await ops.run(fence);

    // Assert
    expect(result).toEqual({ output: 'fenced' });
    expect(ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input).toEqual({
      DocumentName: 'ha-redis-prod-fence-node',
      Targets: [{ Key: 'tag:Name', Values: ['redis-n1'] }],
      MaxConcurrency: '1',
      MaxErrors: '0',
      // Every parameter of the one operation mapping, each as SSM's one-element list.
      Parameters: Object.fromEntries(
        Object.entries(operationParameters(fence)).map(([name, value]) => [name, [value]]),
      ),
      TimeoutSeconds: 45,
      Comment: 'ha-redis fence-node node n1 -> 10.0.1.22:6379',
    });
    expect(ssmMock.commandCalls(ListCommandInvocationsCommand).map((c) => c.args[0].input)).toEqual([
      { CommandId: COMMAND_ID, MaxResults: 10 },
      { CommandId: COMMAND_ID, MaxResults: 10 },
    ]);
    expect(ssmMock.commandCalls(GetCommandInvocationCommand)[0]?.args[0].input).toEqual({
      CommandId: COMMAND_ID,
      InstanceId: 'i-0fed98765432abc10',
    });
    expect(clock.sleeps).toEqual([100, 200, 100]);
  });

  it('cancels the command and fails naming the instances when the tag matches two', async () => {
    // Arrange
    ssmMock.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [{ InstanceId: 'i-0aaaaaaaaaaaaaaa1' }, { InstanceId: 'i-0aaaaaaaaaaaaaaa2' }],
    });
    ssmMock.on(CancelCommandCommand).resolves({});
    const { ops } = nodeOps();

    // Act
    const run = ops.run(updateHaproxy({ tag: { key: 'role', value: 'haproxy' } }));

    // Assert
    await expect(run).rejects.toThrow(NodeOpsError);
    await expect(run).rejects.toThrow(
      `update-haproxy on proxy p1 (tag role=haproxy): the tag matches 2 instances (i-0aaaaaaaaaaaaaaa1, i-0aaaaaaaaaaaaaaa2), so command ${COMMAND_ID} was cancelled (it may have run on one of them already); tag exactly one instance, or configure its instance id`,
    );
    expect(ssmMock.commandCalls(CancelCommandCommand).map((c) => c.args[0].input)).toEqual([
      { CommandId: COMMAND_ID },
    ]);
    expect(ssmMock.commandCalls(GetCommandInvocationCommand)).toHaveLength(0);
  });

  it('says so when a command sent by tag cannot be cancelled', async () => {
    // Arrange
    ssmMock.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [{ InstanceId: 'i-0aaaaaaaaaaaaaaa1' }],
      NextToken: 'more',
    });
    ssmMock.on(CancelCommandCommand).rejects(awsError('InvalidCommandId', 'no such command'));
    const { ops } = nodeOps();

    // Act
    const run = ops.run(updateHaproxy({ tag: { key: 'role', value: 'haproxy' } }));

    // Assert
    await expect(run).rejects.toThrow(
      'the tag matches 1+ instances (i-0aaaaaaaaaaaaaaa1), so command 0b5f3c1e-1111-2222-3333-444455556666 could not be cancelled (InvalidCommandId: no such command): cancel it by hand',
    );
  });

  it('fails when no instance received a command sent by tag before the deadline', async () => {
    // Arrange
    ssmMock.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [] });
    const { ops, clock } = nodeOps({ deadlineMs: 3000 });

    // Act
    const run = ops.run(updateHaproxy({ tag: { key: 'role', value: 'haproxy' } }));

    // Assert
    await expect(run).rejects.toThrow(
      `update-haproxy on proxy p1 (tag role=haproxy): no instance received command ${COMMAND_ID} within 3 s; check that the tag names exactly one running instance managed by SSM`,
    );
    expect(clock.now()).toBe(START + 3000);
    expect(ssmMock.commandCalls(GetCommandInvocationCommand)).toHaveLength(0);
  });

  it('fails with the status, exit code and bounded stderr of a failed command', async () => {
    // Arrange
    const stderr = `  haproxy: config check failed\n${'x'.repeat(600)}\n`;
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation('Failed', { ResponseCode: 2, StandardErrorContent: stderr }));
    const { ops } = nodeOps();

    // Act
    const error = await rejectionOf(ops.run(updateHaproxy()));

    // Assert
    expect(error).toBeInstanceOf(NodeOpsError);
    expect(error.message).toBe(
      `update-haproxy on proxy p1 (${INSTANCE}) ended Failed (exit code 2): ${stderr.trim().slice(0, 500)}...; command ${COMMAND_ID}: fix the cause on the host, then retry`,
    );
  });

  it('reports a command the host refused for its older epoch (exit 3) as stale, not as a failure', async () => {
    // Arrange
    const output =
      'stale: epoch 4 is older than epoch 5, whose routing of redis_master/master ... holds; nothing changed';
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation('Failed', { ResponseCode: 3, StandardOutputContent: `${output}\n` }));
    const { ops } = nodeOps();

    // Act
    const result = await ops.run(updateHaproxy());

    // Assert
    expect(result).toEqual({ output, stale: true });
  });

  it('fails on exit 3 of a document that records no epoch (maintenance-action)', async () => {
    // Arrange
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation('Failed', { ResponseCode: 3, StandardErrorContent: 'odd' }));
    const { ops } = nodeOps();

    // Act
    const error = await rejectionOf(
      ops.run({ document: 'maintenance-action', node: node({ id: INSTANCE }), action: 'restart' }),
    );

    // Assert
    expect(error).toBeInstanceOf(NodeOpsError);
    expect(error.message).toContain('ended Failed (exit code 3): odd');
  });

  it.each(['TimedOut', 'Cancelled', 'Cancelling'] as const)(
    'fails on status %s, which will not become Success',
    async (status) => {
      // Arrange
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation(status, { ResponseCode: -1 }));
      const { ops } = nodeOps();

      // Act
      const run = ops.run(updateHaproxy());

      // Assert
      await expect(run).rejects.toThrow(
        `update-haproxy on proxy p1 (${INSTANCE}) ended ${status}: (no stderr); command ${COMMAND_ID}`,
      );
      expect(ssmMock.commandCalls(GetCommandInvocationCommand)).toHaveLength(1);
    },
  );

  it('gives up at the deadline with the last status and the command id, polling at most once a second', async () => {
    // Arrange
    ssmMock.on(GetCommandInvocationCommand).resolves(invocation('Delayed'));
    const { ops, clock } = nodeOps({ deadlineMs: 5000 });

    // Act
    const run = ops.run(updateHaproxy());

    // Assert
    await expect(run).rejects.toThrow(
      `update-haproxy on proxy p1 (${INSTANCE}) did not finish within 5 s (last status: Delayed); command ${COMMAND_ID} may still run: check it in Systems Manager Run Command`,
    );
    expect(clock.sleeps).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 500]);
    expect(clock.now()).toBe(START + 5000);
    expect(ssmMock.commandCalls(GetCommandInvocationCommand)).toHaveLength(8);
  });

  it("stops waiting at the caller's deadlineAt when it comes before its own (the Lambda's time left)", async () => {
    // Arrange: the host is unreachable; SSM keeps the command Pending until its delivery timeout (30 s).
    ssmMock.on(GetCommandInvocationCommand).resolves(invocation('Pending'));
    const { ops, clock } = nodeOps({ deadlineMs: 60_000 });

    // Act
    const run = ops.run(updateHaproxy(), { deadlineAt: START + 2500 });

    // Assert
    await expect(run).rejects.toThrow(
      `update-haproxy on proxy p1 (${INSTANCE}) did not finish within 2.5 s (last status: Pending); command ${COMMAND_ID} may still run`,
    );
    expect(clock.now()).toBe(START + 2500);
  });

  it('keeps asking while SSM answers InvocationDoesNotExist, sends the command once, and gives up at the deadline', async () => {
    // Arrange: the invocation never becomes known (the agent on the instance is down).
    ssmMock.on(GetCommandInvocationCommand).rejects(awsError('InvocationDoesNotExist'));
    const { ops, clock } = nodeOps({ deadlineMs: 5000 });

    // Act
    const run = ops.run(updateHaproxy());

    // Assert
    await expect(run).rejects.toThrow(
      `update-haproxy on proxy p1 (${INSTANCE}) did not finish within 5 s (last status: not yet delivered); command ${COMMAND_ID} may still run: check it in Systems Manager Run Command`,
    );
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(1);
    expect(ssmMock.commandCalls(GetCommandInvocationCommand).map((c) => c.args[0].input)).toEqual(
      Array(8).fill({ CommandId: COMMAND_ID, InstanceId: INSTANCE }),
    );
    expect(clock.now()).toBe(START + 5000);
  });

  it('retries a throttled poll (by name or HTTP 429) with jitter within the deadline', async () => {
    // Arrange
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejectsOnce(throttling())
      .rejectsOnce(awsError('TooManyRequestsException', 'slow down'))
      .rejectsOnce(awsError('SomethingElse', 'rate', 429))
      .resolves(invocation('Success', { StandardOutputContent: 'ok' }));
    const { ops, clock } = nodeOps();

    // Act
    const result = await ops.run(updateHaproxy());

    // Assert
    expect(result).toEqual({ output: 'ok' });
    // Each throttled poll doubles the pause and adds half of it (random 0.5); the cap is 1 s before jitter.
    expect(clock.sleeps).toEqual([100, 300, 600, 1200]);
  });

  it('retries a throttled SendCommand with full jitter, then sends once', async () => {
    // Arrange
    ssmMock
      .on(SendCommandCommand)
      .rejectsOnce(throttling())
      .rejectsOnce(throttling())
      .resolves({ Command: { CommandId: COMMAND_ID } });
    ssmMock.on(GetCommandInvocationCommand).resolves(invocation('Success'));
    const { ops, clock } = nodeOps();

    // Act
    const result = await ops.run(updateHaproxy());

    // Assert
    expect(result).toEqual({ output: '' });
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(3);
    expect(clock.sleeps).toEqual([50, 100, 100]);
  });

  it('fails clearly when SendCommand stays throttled', async () => {
    // Arrange
    ssmMock.on(SendCommandCommand).rejects(throttling());
    const { ops } = nodeOps();

    // Act
    const run = ops.run(updateHaproxy());

    // Assert
    await expect(run).rejects.toThrow(
      `could not send update-haproxy on proxy p1 (${INSTANCE}): SSM kept throttling SendCommand (8 attempts); retry later`,
    );
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(8);
  });

  it('does not retry a SendCommand that SSM refuses', async () => {
    // Arrange
    ssmMock.on(SendCommandCommand).rejects(awsError('InvalidInstanceId', 'Instances not in a valid state'));
    const { ops } = nodeOps();

    // Act
    const run = ops.run(updateHaproxy());

    // Assert
    await expect(run).rejects.toThrow(
      `could not send update-haproxy on proxy p1 (${INSTANCE}): InvalidInstanceId: Instances not in a valid state; check the document exists and the instance is running and managed by SSM`,
    );
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('turns an SSM error while waiting into a NodeOpsError naming the command', async () => {
    // Arrange
    ssmMock.on(GetCommandInvocationCommand).rejects(awsError('InvalidCommandId'));
    const { ops } = nodeOps();

    // Act
    const run = ops.run(updateHaproxy());

    // Assert
    await expect(run).rejects.toThrow(NodeOpsError);
    await expect(run).rejects.toThrow(
      `update-haproxy on proxy p1 (${INSTANCE}): could not read command ${COMMAND_ID}: InvalidCommandId; check it in Systems Manager Run Command`,
    );
  });

  it.each([
    ['proxy p1', updateHaproxy(null)],
    ['node n1', { document: 'fence-node', node: node(undefined), master: N1, epoch: 4 } as const],
  ])('refuses %s without an instance, naming it, and sends nothing', async (subject, operation) => {
    // Arrange
    const { ops } = nodeOps();

    // Act
    const error = await rejectionOf(ops.run(operation));

    // Assert
    expect(error).toBeInstanceOf(NodeOpsError);
    expect(error.message).toBe(
      `${subject} has no instance (an EC2 instance id or tag) in the configuration, so ${operation.document} cannot run on its host; add one`,
    );
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it('refuses an operation whose host paths are not configured, and sends nothing', async () => {
    // Arrange
    const { ops } = nodeOps();
    const { configPath: _, ...withoutConfig } = node({ id: INSTANCE });

    // Act
    const run = ops.run({ document: 'fence-node', node: withoutConfig, master: N2, epoch: 4 });

    // Assert
    await expect(run).rejects.toThrow('node n1 has no configPath; cannot persist replicaof');
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it('refuses a command timeout SSM would reject', () => {
    // Act
    const build = () => nodeOps({ commandTimeoutSeconds: 10 });

    // Assert
    expect(build).toThrow(
      'commandTimeoutSeconds 10 is not allowed: SSM takes whole seconds from 30; raise it',
    );
  });
});

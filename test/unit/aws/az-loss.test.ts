/**
 * "AZ-a lost" under the AWS adapters, on a real clock: the old master n1 and HAProxy p2 live on hosts that are gone.
 * The AWS side is the adapters compose/aws.ts wires: SsmNodeOps, Route53Dns and SnsNotifier on mocked SDK clients.
 * The SSM fake models what SSM documents for a managed node whose agent does not answer ("Understanding command
 * statuses", AWS Systems Manager User Guide): its invocation stays Pending until the delivery timeout and the
 * execution timeout together have passed (here: for the whole test), then Delivery Timed Out. A live host's command
 * is InProgress, then Success. Redis, Sentinel and HAProxy are the core's fakes; a call to the lost host waits out
 * its timeout before it fails, as ioredis and the Runtime API adapter do (1 s).
 * Expected: DNS, history and the notification within 10 s, though SSM never answers for the lost host; the epoch
 * done; and a reconcile after it repeats nothing.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeResourceRecordSetsCommand,
  type ChangeResourceRecordSetsCommandInput,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  type SendCommandCommandInput,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Route53Dns } from '../../../adapters/aws/route53-dns.ts';
import { SnsNotifier } from '../../../adapters/aws/sns-notifier.ts';
import { SsmNodeOps } from '../../../adapters/aws/ssm-node-ops.ts';
import { reconcile } from '../../../core/failover/handle-event.ts';
import { reactToFailover } from '../../../core/failover/react.ts';
import { type ClusterConfig, formatEndpoint } from '../../../core/model/cluster.ts';
import type { Clock, CorePorts } from '../../../core/ports.ts';
import { N1, N2, testCluster } from '../../support/fixtures.ts';
import { failedOverWorld } from '../../support/world.ts';

const ssm = mockClient(SSMClient);
const route53 = mockClient(Route53Client);
const sns = mockClient(SNSClient);
afterAll(() => {
  ssm.restore();
  route53.restore();
  sns.restore();
});

const realClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms).then(() => undefined) };
/** Each host's instance; n1's and p2's are in the lost AZ. */
const INSTANCE: Record<string, string> = {
  n1: 'i-0aaa0000000000a1',
  p2: 'i-0aaa0000000000a2',
  n2: 'i-0bbb0000000000b1',
  n3: 'i-0ccc0000000000c1',
  p1: 'i-0bbb0000000000b2',
};
const LOST = new Set([INSTANCE.n1, INSTANCE.p2]);
const TIMEOUT_MS = 1000;
/** A live host's script runs this long. */
const SCRIPT_MS = 300;

/** The AWS deployment of the test cluster: an instance per host, the host paths, 1-s timeouts, a hosted zone. */
function awsCluster(): ClusterConfig {
  const base = testCluster();
  return testCluster({
    nodes: base.nodes.map((n) => ({
      ...n,
      instance: { id: INSTANCE[n.id] },
      configPath: '/etc/redis/redis.conf',
    })),
    proxies: base.proxies.map((p) => ({
      ...p,
      instance: { id: INSTANCE[p.id] },
      configPath: '/etc/haproxy/haproxy.cfg',
      stateFilePath: '/var/lib/haproxy/server-state',
      reload: 'systemd:haproxy',
    })),
    dns: { recordName: 'master.orders.redis.internal', ttl: 5, hostedZoneId: 'Z0123456789ABCDEFGHIJ' },
    timing: { ...base.timing, nodeTimeoutMs: TIMEOUT_MS, sentinelTimeoutMs: TIMEOUT_MS },
  });
}

/** Every method of `target` waits `ms` before it runs when `lost(args)`: a call to a host that does not answer. */
function waitingWhenLost<T extends object>(target: T, lost: (args: unknown[]) => boolean, ms: number): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if (lost(args)) await sleep(ms);
        return value.apply(t, args);
      };
    },
  });
}

/** SSM as documented: Pending for a lost host's agent; InProgress, then Success, for a live one. */
function ssmAsDocumented(): SendCommandCommandInput[] {
  const sent = new Map<string, { instance: string; at: number }>();
  const inputs: SendCommandCommandInput[] = [];
  ssm.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
    const id = `cmd-${inputs.length + 1}`;
    inputs.push(input);
    sent.set(id, { instance: input.InstanceIds?.[0] ?? '', at: Date.now() });
    return { Command: { CommandId: id } };
  });
  ssm.on(GetCommandInvocationCommand).callsFake(({ CommandId }): GetCommandInvocationCommandOutput => {
    const command = sent.get(CommandId ?? '');
    if (!command) throw Object.assign(new Error('no such invocation'), { name: 'InvocationDoesNotExist' });
    const base = { $metadata: {}, CommandId, InstanceId: command.instance };
    if (LOST.has(command.instance)) return { ...base, Status: 'Pending', StatusDetails: 'Pending' };
    if (Date.now() - command.at < SCRIPT_MS)
      return { ...base, Status: 'InProgress', StatusDetails: 'InProgress' };
    return {
      ...base,
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      StandardOutputContent: 'ok',
    };
  });
  return inputs;
}

/** The world after n1 -> n2 at epoch 7, with AZ-a lost, under the AWS adapters and a real clock. */
function azLostUnderAws(lambdaMs: number) {
  const w = failedOverWorld();
  const cluster = awsCluster();
  w.redis.set(N1, { reachable: false });
  w.router.unreachable.add('p2');
  const lostNode = (args: unknown[]) => formatEndpoint(args[0] as typeof N1) === formatEndpoint(N1);
  const lostProxy = (args: unknown[]) => (args[0] as { id?: string } | undefined)?.id === 'p2';
  const started = Date.now();
  const deps: CorePorts = {
    ...w.deps,
    clock: realClock,
    redis: waitingWhenLost(w.redis, lostNode, TIMEOUT_MS),
    router: waitingWhenLost(w.router, lostProxy, TIMEOUT_MS),
    nodeOps: new SsmNodeOps({
      client: new SSMClient({}),
      documentName: (d) => `ha-redis-prod-${d}`,
      clock: realClock,
    }),
    dns: new Route53Dns({ client: new Route53Client({}), clock: realClock }),
    notifier: new SnsNotifier(new SNSClient({}), 'arn:aws:sns:eu-west-1:123456789012:ha-redis-notify'),
    endsAt: started + lambdaMs,
  };
  return { w, cluster, deps, started };
}

describe('AZ-a lost, under the AWS adapters', () => {
  beforeEach(() => {
    ssm.reset();
    route53.reset();
    sns.reset();
    // Route53 as it keeps the records: a TXT written is what the next read finds.
    let txt: ResourceRecordSet | undefined;
    route53.on(ListResourceRecordSetsCommand).callsFake(() => ({ ResourceRecordSets: txt ? [txt] : [] }));
    route53.on(ChangeResourceRecordSetsCommand).callsFake((input: ChangeResourceRecordSetsCommandInput) => {
      const written = input.ChangeBatch?.Changes?.find((c) => c.ResourceRecordSet?.Type === 'TXT');
      if (written?.ResourceRecordSet)
        txt = { ...written.ResourceRecordSet, Name: `${written.ResourceRecordSet.Name}.` };
      return { ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date() } };
    });
  });

  it('moves DNS, records history and tells within 10 s, though SSM never answers for the lost hosts', async () => {
    // Arrange: a 60-s Lambda (the sentinel-event function's timeout).
    const inputs = ssmAsDocumented();
    const publishedAt: number[] = [];
    sns.on(PublishCommand).callsFake(() => {
      publishedAt.push(Date.now());
      return { MessageId: 'm1' };
    });
    const changedAt: number[] = [];
    route53.on(ChangeResourceRecordSetsCommand).callsFake(() => {
      changedAt.push(Date.now());
      return { ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date() } };
    });
    const { w, cluster, deps, started } = azLostUnderAws(60_000);

    // Act
    const result = await reactToFailover(
      cluster,
      { type: '+switch-master', seenAt: started, oldMaster: N1 },
      deps,
    );
    const ended = Date.now();

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(ended - started).toBeLessThan(10_000);
    expect(changedAt).toHaveLength(1);
    expect((changedAt[0] ?? Number.POSITIVE_INFINITY) - started).toBeLessThan(10_000);
    expect(publishedAt).toHaveLength(1);
    expect(w.state.history).toHaveLength(1);
    expect(w.router.routes.get('p1')).toEqual(N2);
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, status: 'done' });
    expect(w.state.fences.get('orders')).toEqual([
      expect.objectContaining({ node: N1, master: N2, epoch: 7 }),
    ]);
    // The persist went to p1's host only; fence-node to n1's host was sent (SSM delivers it if the host comes back
    // before its delivery timeout; the epoch fences it), and not waited for past 3 node timeouts.
    expect(inputs.map((i) => [i.DocumentName, i.InstanceIds?.[0]])).toEqual(
      expect.arrayContaining([
        ['ha-redis-prod-update-haproxy', INSTANCE.p1],
        ['ha-redis-prod-fence-node', INSTANCE.n1],
      ]),
    );
    expect(inputs.some((i) => i.InstanceIds?.[0] === INSTANCE.p2)).toBe(false);
    const fenced = w.state.history[0]?.timeline.find((s) => s.step === 'fenced');
    expect(fenced?.detail).toContain('n1 unreachable');
  }, 20_000);

  it('leaves nothing for the reconcile to repeat while the hosts stay lost', async () => {
    // Arrange
    ssmAsDocumented();
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    const { w, cluster, deps, started } = azLostUnderAws(60_000);
    await reactToFailover(cluster, { type: '+switch-master', seenAt: started, oldMaster: N1 }, deps);
    const before = {
      commands: ssm.commandCalls(SendCommandCommand).length,
      changes: route53.commandCalls(ChangeResourceRecordSetsCommand).length,
      reroutes: w.router.calls.length,
    };

    // Act: the next reconcile (a 50-s Lambda).
    await reconcile(cluster, { ...deps, endsAt: Date.now() + 50_000 });

    // Assert: no command, no DNS change, no reroute, no entry, no message.
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(before.commands);
    expect(route53.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(before.changes);
    expect(w.router.calls).toHaveLength(before.reroutes);
    expect(w.state.history).toHaveLength(1);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
  }, 20_000);
});

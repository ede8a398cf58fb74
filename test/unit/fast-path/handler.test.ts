/**
 * The sentinel-event handler takes node agents' `node-event` envelopes too: a valid one reaches the fast path
 * (outside the cluster's queue), a malformed one is rejected naming its field, and touches nothing.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClusterRegistry } from '../../../core/model/cluster.ts';
import { type NodeEnvelope, NodeEnvelopeSchema } from '../../../events/node-events.ts';
import { makeSentinelEventHandler } from '../../../functions/sentinel-event/handler.ts';
import { N2, N3 } from '../../support/fixtures.ts';
import { loadEnvelope, loadSample, snsEventWith } from '../../support/samples.ts';
import { type FakeWorld, rejectingSentinelEventHandler } from '../../support/world.ts';
import { AGENT_HOST, EXITED_AT, masterExitWorld, promoteOnFailover } from './fixtures.ts';

const nodeSample = (name = 'node-exited') => loadSample<NodeEnvelope>(`node/${name}`);
const handlerOf = (w: FakeWorld) =>
  makeSentinelEventHandler(() => ({ clusters: new ClusterRegistry([w.cluster]), failover: w.deps }));

/** Resolves with `promise`'s value if it settles before the event loop turns once more, else with 'pending'. */
const settledNow = <T>(promise: Promise<T>): Promise<T | 'pending'> =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);

describe('makeSentinelEventHandler: node-event envelopes', () => {
  it("hands the node-exited sample to the fast path: n1's exit fails over to n2", async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);

    // Act
    const results = await handlerOf(w)(snsEventWith(JSON.stringify(nodeSample())));

    // Assert
    expect(results).toEqual([expect.objectContaining({ action: 'fast-failover', promoted: N2 })]);
    expect(w.sentinels.failoverCalls).toHaveLength(1);
    expect(w.state.history[0]).toMatchObject({
      kind: 'failover',
      trigger: 'node-exited',
      startedAt: EXITED_AT,
    });
    expect(w.state.history[0]?.startedBy).toContain(`seen by ${AGENT_HOST}`);
  });

  it("reads the envelope's node, time and evidence as the core's NodeExit", async () => {
    // Arrange: a replica's exit, so the entry carries the envelope's fields back.
    const w = masterExitWorld();
    const envelope = nodeSample();
    envelope.node = { host: N3.host, port: N3.port };
    envelope.exitedAt = EXITED_AT - 5;
    envelope.agent.host = 'ip-10-0-1-23';
    envelope.evidence.pid = 777;
    envelope.evidence.lastRole = 'slave';

    // Act
    const results = await handlerOf(w)(snsEventWith(JSON.stringify(envelope)));

    // Assert
    expect(results.map((r) => r.action)).toEqual(['replica-exited']);
    expect(w.state.history[0]).toMatchObject({ id: `exit-n3-${EXITED_AT - 5}`, startedAt: EXITED_AT - 5 });
    expect(w.state.history[0]?.timeline[0]?.detail).toBe('pid 777, seen by ip-10-0-1-23');
  });

  it("does not wait behind the cluster's queue: a node event is handled while a Sentinel event is stuck", async () => {
    // Arrange: the +switch-master reaction hangs on its first read of the store.
    const w = masterExitWorld();
    let unblock: () => void = () => undefined;
    const appliedEpoch = w.state.appliedEpoch.bind(w.state);
    let stuck = true;
    w.state.appliedEpoch = async (cluster) => {
      if (stuck) {
        stuck = false;
        await new Promise<void>((resolve) => {
          unblock = resolve;
        });
      }
      return appliedEpoch(cluster);
    };
    const handler = handlerOf(w);
    const sentinelEvent = handler(snsEventWith(JSON.stringify(loadEnvelope('switch-master'))));
    const sample = nodeSample();
    const replicaExit = {
      ...sample,
      node: { host: N3.host, port: N3.port },
      evidence: { ...sample.evidence, lastRole: 'slave' },
    };

    // Act
    const nodeEvent = await settledNow(handler(snsEventWith(JSON.stringify(replicaExit))));

    // Assert
    expect(nodeEvent).not.toBe('pending');
    expect(nodeEvent !== 'pending' && nodeEvent.map((r) => r.action)).toEqual(['replica-exited']);
    expect(await settledNow(sentinelEvent)).toBe('pending');
    unblock();
    await sentinelEvent;
  });

  it('rejects a node event of a cluster it does not know, touching nothing', async () => {
    // Arrange
    const { handler, touched } = rejectingSentinelEventHandler();

    // Act
    const results = await handler(snsEventWith(JSON.stringify({ ...nodeSample(), cluster: 'payments' })));

    // Assert
    expect(results).toEqual([{ action: 'rejected', error: expect.stringContaining('payments') }]);
    expect(touched).toEqual([]);
  });

  it.each([
    [
      'a port out of range',
      (e: Record<string, unknown>) => ({ ...e, node: { host: '10.0.1.21', port: 70000 } }),
      'node.port: ',
    ],
    [
      'a port that is no number',
      (e: Record<string, unknown>) => ({ ...e, node: { host: '10.0.1.21', port: 'redis' } }),
      'node.port: ',
    ],
    ['no evidence', ({ evidence: _evidence, ...e }: Record<string, unknown>) => e, 'evidence: '],
    [
      'evidence without processGone',
      (e: Record<string, unknown>) => ({
        ...e,
        evidence: { ...(e.evidence as object), processGone: undefined },
      }),
      'evidence.processGone: ',
    ],
    [
      'an unknown connect result',
      (e: Record<string, unknown>) => ({ ...e, evidence: { ...(e.evidence as object), connect: 'reset' } }),
      'evidence.connect: ',
    ],
    ['an extra field', (e: Record<string, unknown>) => ({ ...e, extra: true }), 'Unrecognized key: "extra"'],
    [
      'an extra field in the evidence',
      (e: Record<string, unknown>) => ({ ...e, evidence: { ...(e.evidence as object), signal: 9 } }),
      'evidence: Unrecognized key: "signal"',
    ],
    ['version 2', (e: Record<string, unknown>) => ({ ...e, version: 2 }), 'version: '],
    ['an unknown type', (e: Record<string, unknown>) => ({ ...e, type: 'node-started' }), 'type: '],
  ])('rejects a node event with %s, naming the field, touching nothing', async (_case, spoil, field) => {
    // Arrange
    const { handler, touched } = rejectingSentinelEventHandler();
    const envelope = spoil(nodeSample() as unknown as Record<string, unknown>);

    // Act
    const results = await handler(snsEventWith(JSON.stringify(envelope)));

    // Assert
    expect(results).toEqual([{ action: 'rejected', error: expect.stringContaining(field) }]);
    expect(results[0]?.action === 'rejected' && results[0].error).toMatch(
      /^SNS Message is not a node-event v1 envelope: /,
    );
    expect(touched).toEqual([]);
  });
});

describe('the node-event samples under events/samples/node', () => {
  const names = readdirSync(new URL('../../../events/samples/node/', import.meta.url))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''));

  it('has a valid sample and a malformed one', () => {
    expect(names).toContain('node-exited');
    expect(names.filter((n) => n.startsWith('malformed-')).length).toBeGreaterThan(0);
  });

  it.each(names)('%s parses, or is refused, as its name says', (name) => {
    // Act
    const parsed = NodeEnvelopeSchema.safeParse(nodeSample(name));

    // Assert
    expect(parsed.success).toBe(!name.startsWith('malformed-'));
  });

  it.each(names.filter((n) => n.startsWith('malformed-')))(
    'the handler rejects %s, touching nothing',
    async (name) => {
      // Arrange
      const { handler, touched } = rejectingSentinelEventHandler();

      // Act
      const results = await handler(snsEventWith(JSON.stringify(nodeSample(name))));

      // Assert
      expect(results.map((r) => r.action)).toEqual(['rejected']);
      expect(touched).toEqual([]);
    },
  );

  it('says which field malformed-no-evidence lacks', async () => {
    // Arrange
    const { handler } = rejectingSentinelEventHandler();

    // Act
    const results = await handler(snsEventWith(JSON.stringify(nodeSample('malformed-no-evidence'))));

    // Assert
    expect(results).toEqual([{ action: 'rejected', error: expect.stringMatching(/evidence: /) }]);
  });
});

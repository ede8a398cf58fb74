import { describe, expect, it } from 'vitest';
import {
  epochOf,
  masterNameOf,
  parseSentinelMessage,
  type SentinelEvent,
} from '../../core/failover/sentinel-event.ts';
import { SentinelEnvelopeSchema } from '../../events/sentinel-events.ts';
import { loadEnvelope, loadEvent, SAMPLE_CASES } from '../support/samples.ts';

const OLD = { host: '10.0.1.21', port: 6379 };
const NEW = { host: '10.0.1.22', port: 6379 };
const masterOld = { kind: 'master', name: 'mymaster', ...OLD } as const;
const refOld = { name: 'mymaster', ...OLD };
const refNew = { name: 'mymaster', ...NEW };
const slave = (e: { host: string; port: number }) =>
  ({ kind: 'slave', name: `${e.host}:${e.port}`, ...e }) as const;

/** What each sample must parse to. */
const EXPECTED: Record<(typeof SAMPLE_CASES)[number], SentinelEvent> = {
  'sdown-master': { type: '+sdown', instance: masterOld, master: refOld },
  'sdown-slave': { type: '+sdown', instance: slave({ host: '10.0.1.23', port: 6379 }), master: refOld },
  'sdown-sentinel': {
    type: '+sdown',
    instance: {
      kind: 'sentinel',
      name: '4bd5f3c7a1e2096f8d3b5c2e7a9f1d0c6b8e4a23',
      host: '10.0.1.13',
      port: 26379,
    },
    master: refOld,
  },
  odown: { type: '+odown', instance: masterOld, master: refOld, extra: '#quorum 2/2' },
  'new-epoch': { type: '+new-epoch', epoch: 7 },
  'try-failover': { type: '+try-failover', instance: masterOld, master: refOld },
  'vote-for-leader': {
    type: '+vote-for-leader',
    leaderRunId: '9c2e0f5d7b3a41e68f0d2c5b7a9e3f1d8c6b4a20',
    epoch: 7,
  },
  'elected-leader': { type: '+elected-leader', instance: masterOld, master: refOld },
  'failover-state-select-slave': {
    type: '+failover-state-select-slave',
    instance: masterOld,
    master: refOld,
  },
  'selected-slave': { type: '+selected-slave', instance: slave(NEW), master: refOld },
  'failover-state-send-slaveof-noone': {
    type: '+failover-state-send-slaveof-noone',
    instance: slave(NEW),
    master: refOld,
  },
  'failover-state-wait-promotion': {
    type: '+failover-state-wait-promotion',
    instance: slave(NEW),
    master: refOld,
  },
  'promoted-slave': { type: '+promoted-slave', instance: slave(NEW), master: refOld },
  'failover-state-reconf-slaves': {
    type: '+failover-state-reconf-slaves',
    instance: masterOld,
    master: refOld,
  },
  'failover-end': { type: '+failover-end', instance: masterOld, master: refOld },
  'switch-master': { type: '+switch-master', masterName: 'mymaster', from: OLD, to: NEW },
  'odown-cleared': { type: '-odown', instance: masterOld, master: refOld },
  'sdown-cleared': { type: '-sdown', instance: slave(OLD), master: refNew },
  'convert-to-slave': { type: '+convert-to-slave', instance: slave(OLD), master: refNew },
  reboot: { type: '+reboot', instance: slave(OLD), master: refNew },
  tilt: { type: '+tilt', extra: '#tilt mode entered' },
  'tilt-exited': { type: '-tilt', extra: '#tilt mode exited' },
};

describe('sentinel event samples', () => {
  it.each(SAMPLE_CASES)('%s is a valid sentinel-event v1 envelope', (name) => {
    // Arrange
    const envelope = loadEnvelope(name);

    // Act
    const result = SentinelEnvelopeSchema.safeParse(envelope);

    // Assert
    expect(result.success).toBe(true);
    expect(envelope.channel).toBe(EXPECTED[name].type);
  });

  it.each(SAMPLE_CASES)('%s parses to the expected typed event', (name) => {
    // Arrange
    const { channel, payload } = loadEnvelope(name);

    // Act
    const result = parseSentinelMessage(channel, payload);

    // Assert
    expect(result).toEqual({ ok: true, event: EXPECTED[name] });
  });

  it('hands out a fresh clone of a sample on every load', () => {
    // Arrange
    const first = loadEnvelope('switch-master');

    // Act
    first.payload = 'changed';
    const second = loadEnvelope('switch-master');

    // Assert
    expect(second.payload).toBe('mymaster 10.0.1.21 6379 10.0.1.22 6379');
  });
});

describe('parseSentinelMessage', () => {
  it('gives +switch-master its old and new endpoints as numbers', () => {
    // Act
    const event = loadEvent('switch-master');

    // Assert
    expect(event.type).toBe('+switch-master');
    if (event.type !== '+switch-master') return;
    expect(event.from).toEqual({ host: '10.0.1.21', port: 6379 });
    expect(event.to).toEqual({ host: '10.0.1.22', port: 6379 });
    expect(typeof event.to.port).toBe('number');
  });

  it('keeps the #quorum text of +odown as extra', () => {
    // Act
    const event = loadEvent('odown');

    // Assert
    expect('extra' in event && event.extra).toBe('#quorum 2/2');
  });

  it('names a slave instance by host:port and points it at its master', () => {
    // Act
    const event = loadEvent('promoted-slave');

    // Assert
    expect('instance' in event && event.instance).toEqual({
      kind: 'slave',
      name: '10.0.1.22:6379',
      host: '10.0.1.22',
      port: 6379,
    });
    expect('master' in event && event.master).toEqual({ name: 'mymaster', host: '10.0.1.21', port: 6379 });
  });

  it('names a sentinel instance by its 40-hex run id', () => {
    // Act
    const event = loadEvent('sdown-sentinel');

    // Assert
    expect('instance' in event && event.instance.kind).toBe('sentinel');
    expect('instance' in event && event.instance.name).toMatch(/^[0-9a-f]{40}$/);
  });

  it('tolerates surrounding whitespace and repeated spaces in a payload', () => {
    // Act
    const result = parseSentinelMessage('+switch-master', '  mymaster  10.0.1.21 6379 10.0.1.22   6379 \n');

    // Assert
    expect(result).toEqual({
      ok: true,
      event: { type: '+switch-master', masterName: 'mymaster', from: OLD, to: NEW },
    });
  });

  it.each([
    ['malformed-switch-master-four-words', '+switch-master'],
    ['malformed-port-not-a-number', '+sdown'],
    ['malformed-slave-without-master', '+sdown'],
    ['malformed-new-epoch-not-a-number', '+new-epoch'],
  ])('rejects the %s sample as malformed, naming its channel', (name, channel) => {
    // Arrange
    const envelope = loadEnvelope(name);

    // Act
    const result = parseSentinelMessage(envelope.channel, envelope.payload);

    // Assert
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toBe('malformed');
    expect(result.message).toContain(`malformed ${channel} payload`);
    expect(result.message).toContain(envelope.payload);
  });

  it('says a slave event lacks its "@ master ip port" part', () => {
    // Arrange
    const { channel, payload } = loadEnvelope('malformed-slave-without-master');

    // Act
    const result = parseSentinelMessage(channel, payload);

    // Assert
    expect(result).toMatchObject({
      ok: false,
      reason: 'malformed',
      message: expect.stringContaining("'@ <master>"),
    });
  });

  it.each([
    ['+switch-master', 'mymaster 10.0.1.21 6379 10.0.1.22 6379 extra'],
    ['+switch-master', 'mymaster 10.0.1.21 6379 10.0.1.22 70000'],
    ['+switch-master', ''],
    ['+new-epoch', '7 8'],
    ['+new-epoch', '-1'],
    ['+vote-for-leader', '9c2e0f5d7b3a41e68f0d2c5b7a9e3f1d8c6b4a20'],
    ['+sdown', 'master mymaster 10.0.1.21'],
    ['+sdown', 'replica 10.0.1.23:6379 10.0.1.23 6379 @ mymaster 10.0.1.21 6379'],
    ['+sdown', 'slave 10.0.1.23:6379 10.0.1.23 6379 @ mymaster 10.0.1.21 port'],
    ['+promoted-slave', ''],
  ])('rejects %s %j as malformed', (channel, payload) => {
    // Act
    const result = parseSentinelMessage(channel, payload);

    // Assert
    expect(result).toMatchObject({
      ok: false,
      reason: 'malformed',
      message: expect.stringContaining(channel),
    });
  });

  it('reports an unknown channel as unknown-channel, naming it', () => {
    // Arrange
    const { channel, payload } = loadEnvelope('unknown-channel');

    // Act
    const result = parseSentinelMessage(channel, payload);

    // Assert
    expect(result).toEqual({
      ok: false,
      reason: 'unknown-channel',
      message: expect.stringContaining('__sentinel__:hello'),
    });
  });

  it('reports a failover state it does not know as unknown-channel', () => {
    // Act
    const result = parseSentinelMessage('+failover-state-teleport', 'master mymaster 10.0.1.21 6379');

    // Assert
    expect(result).toMatchObject({ ok: false, reason: 'unknown-channel' });
  });
});

describe('SentinelEnvelopeSchema', () => {
  it.each(['contract', 'version', 'cluster', 'sentinel', 'channel', 'payload', 'seenAt'])(
    'rejects an envelope without %s',
    (field) => {
      // Arrange
      const envelope: Record<string, unknown> = { ...loadEnvelope('switch-master') };
      delete envelope[field];

      // Act
      const result = SentinelEnvelopeSchema.safeParse(envelope);

      // Assert
      expect(result.success).toBe(false);
      expect(result.error?.issues.map((i) => i.path.join('.'))).toContain(field);
    },
  );

  it('rejects another contract name and another version', () => {
    // Arrange
    const otherContract = { ...loadEnvelope('switch-master'), contract: 'notification' };
    const otherVersion = { ...loadEnvelope('switch-master'), version: 2 };

    // Act
    const results = [otherContract, otherVersion].map((e) => SentinelEnvelopeSchema.safeParse(e).success);

    // Assert
    expect(results).toEqual([false, false]);
  });

  it('rejects a sentinel port out of range', () => {
    // Arrange
    const envelope = loadEnvelope('switch-master');
    envelope.sentinel.port = 0;

    // Act
    const result = SentinelEnvelopeSchema.safeParse(envelope);

    // Assert
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['sentinel.port']);
  });
});

describe('masterNameOf and epochOf', () => {
  it('takes the master name from +switch-master, a master event and a slave event', () => {
    // Act
    const names = ['switch-master', 'odown', 'sdown-slave', 'sdown-sentinel'].map((n) =>
      masterNameOf(loadEvent(n)),
    );

    // Assert
    expect(names).toEqual(['mymaster', 'mymaster', 'mymaster', 'mymaster']);
  });

  it('has no master name for +new-epoch and +tilt', () => {
    // Act
    const names = ['new-epoch', 'tilt', 'tilt-exited'].map((n) => masterNameOf(loadEvent(n)));

    // Assert
    expect(names).toEqual([undefined, undefined, undefined]);
  });

  it('reads the epoch of +new-epoch and +vote-for-leader and of nothing else', () => {
    // Act
    const epochs = ['new-epoch', 'vote-for-leader', 'switch-master', 'failover-end'].map((n) =>
      epochOf(loadEvent(n)),
    );

    // Assert
    expect(epochs).toEqual([7, 7, undefined, undefined]);
  });
});

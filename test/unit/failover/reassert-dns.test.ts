import { describe, expect, it } from 'vitest';
import { DNS_REASSERT_MS, reassertDns } from '../../../core/failover/handle-event.ts';
import type { Dns } from '../../../core/ports.ts';
import { N1, START } from '../../support/fixtures.ts';
import { failedOverWorld } from '../../support/world.ts';

/**
 * The reconcile asserts the applied epoch's DNS record again while the epoch is fresh: in AWS the write is queued
 * to the zone's writer, which may give a record up (dead-letter); the reconcile queues it again.
 */
describe('reassertDns', () => {
  const applied = (leaseUntil: number) => ({
    epoch: 6,
    master: N1,
    status: 'done' as const,
    token: 'previous',
    leaseUntil,
  });

  it('writes the record of an epoch claimed within the last 20 minutes', async () => {
    const w = failedOverWorld({ applied: applied(START - DNS_REASSERT_MS + 1000) });

    const outcome = await reassertDns(w.cluster, w.deps);

    expect(outcome).toEqual({ action: 'dns-checked', result: 'updated' });
    expect(w.dns.calls).toEqual([{ master: N1, epoch: 6 }]);
  });

  it('leaves alone an older epoch, an epoch not done, and a cluster a switchover holds', async () => {
    const old = failedOverWorld({ applied: applied(START - DNS_REASSERT_MS - 1000) });
    const claimed = failedOverWorld({ applied: { ...applied(START), status: 'claimed' } });
    const held = failedOverWorld({ applied: applied(START) });
    held.state.leaseHeld = { owner: 'switchover-1', purpose: 'switchover', until: START + 30_000 };

    for (const w of [old, claimed, held]) {
      expect(await reassertDns(w.cluster, w.deps)).toBeUndefined();
      expect(w.dns.calls).toEqual([]);
    }
  });

  it('says what failed and does not throw, so the rest of the reconcile goes on', async () => {
    const w = failedOverWorld({ applied: applied(START) });
    const failing: Dns = {
      upsertMaster: async () => {
        throw new Error('could not queue master.orders: AccessDenied');
      },
      currentMaster: async () => undefined,
    };

    const outcome = await reassertDns(w.cluster, { ...w.deps, dns: failing });

    expect(outcome).toEqual({ action: 'dns-checked', error: 'could not queue master.orders: AccessDenied' });
    expect(
      w.logger.lines.some(
        (l) => l.level === 'error' && l.message.includes('could not assert the DNS record'),
      ),
    ).toBe(true);
  });
});

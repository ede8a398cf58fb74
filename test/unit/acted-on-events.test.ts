/**
 * The event types the core acts on are listed once (ACTED_ON_EVENT_TYPES); AWS's subscription filter is derived
 * from that list, so an event type left out of it must be one the core does nothing with.
 */

import { describe, expect, it } from 'vitest';
import { ACTED_ON_EVENT_TYPES, handleSentinelEvent } from '../../core/failover/handle-event.ts';
import { INSTANCE_EVENT_TYPES, parseSentinelMessage } from '../../core/failover/sentinel-event.ts';
import { START } from '../support/fixtures.ts';
import { failedOverWorld, untouchableDeps } from '../support/world.ts';

/** A well-formed payload for each channel that is not filtered in. */
const payloadOf = (channel: string): string =>
  channel === '+new-epoch'
    ? '8'
    : channel === '-tilt'
      ? '#tilt mode exited'
      : 'master mymaster 10.0.1.21 6379';

const filteredOut = [...INSTANCE_EVENT_TYPES, '+new-epoch', '-tilt'].filter(
  (t) => !(ACTED_ON_EVENT_TYPES as readonly string[]).includes(t),
);

describe('ACTED_ON_EVENT_TYPES', () => {
  it('lists the promotion, the switch, the returns, the votes, the aborted failover and TILT, each once', () => {
    expect(new Set(ACTED_ON_EVENT_TYPES).size).toBe(ACTED_ON_EVENT_TYPES.length);
    expect(ACTED_ON_EVENT_TYPES).toEqual(
      expect.arrayContaining([
        '+failover-state-wait-promotion',
        '+promoted-slave',
        '+switch-master',
        '+vote-for-leader',
        '-sdown',
        '+reboot',
        '-failover-abort-no-good-slave',
      ]),
    );
    expect(filteredOut).toEqual(
      expect.arrayContaining(['+sdown', '+odown', '+new-epoch', '+slave', '+sentinel']),
    );
  });

  it.each(filteredOut)('%s, left out of the filter, is one the core does nothing with', async (channel) => {
    // Arrange
    const parsed = parseSentinelMessage(channel, payloadOf(channel));
    if (!parsed.ok) throw new Error(parsed.message);
    const touched: string[] = [];

    // Act
    const outcome = await handleSentinelEvent(
      failedOverWorld().cluster,
      parsed.event,
      START,
      untouchableDeps(touched),
    );

    // Assert
    expect(outcome).toEqual({ action: 'ignored', reason: `${channel} needs no action` });
    expect(touched).toEqual([]);
  });
});

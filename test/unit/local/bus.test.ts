/** The in-process bus filters as the SNS subscription does: by the envelope's eventType, from the same list. */

import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../../adapters/host/bus.ts';
import { SUBSCRIBED_EVENT_TYPES } from '../../../events/subscription.ts';
import { loadEnvelope } from '../../support/samples.ts';

describe('InProcessBus', () => {
  it('delivers only the subscribed event types to a filtered subscriber, and every one to an unfiltered one', async () => {
    // Arrange
    const bus = new InProcessBus();
    const filtered: string[] = [];
    const all: string[] = [];
    bus.subscribe(
      async (_m, e) => filtered.push('channel' in e ? e.channel : e.type),
      SUBSCRIBED_EVENT_TYPES,
    );
    bus.subscribe(async (_m, e) => all.push('channel' in e ? e.channel : e.type));

    // Act
    for (const name of ['sdown-slave', 'promoted-slave', 'try-failover', 'failover-abort-not-elected']) {
      await bus.publish(loadEnvelope(name));
    }
    await new Promise((resolve) => setImmediate(resolve));

    // Assert
    expect(filtered).toEqual(['+promoted-slave', '-failover-abort-not-elected']);
    expect(all).toEqual(['+sdown', '+promoted-slave', '+try-failover', '-failover-abort-not-elected']);
  });
});

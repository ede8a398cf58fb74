/** The maintenance step handler: input rejected before any port is touched. */

import { describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../../core/model/errors.ts';
import { makeMaintenanceStepHandler } from '../../../functions/maintenance-step/handler.ts';
import { untouchableDeps } from '../../support/world.ts';
import { healthyWorld, planned, rejectionOf } from './fixtures.ts';

describe('makeMaintenanceStepHandler', () => {
  it('rejects an unknown action with InvalidInputError before it touches any port', async () => {
    // Arrange
    const touched: string[] = [];
    const w = healthyWorld();
    const handle = makeMaintenanceStepHandler(() => ({
      clusters: { get: () => w.cluster } as never,
      failover: untouchableDeps(touched),
    }));

    // Act
    const error = await rejectionOf(handle({ action: 'reboot-everything', state: planned() }));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(touched).toEqual([]);
  });
});

/** The contract of MaintenanceModes: absent means never set; the last mode set wins. */
import { expect } from 'vitest';
import type { MaintenanceMode } from '../../core/model/records.ts';
import type { MaintenanceModes } from '../../core/ports.ts';
import { START } from '../support/fixtures.ts';
import type { ContractCase } from './contract.ts';

const PAUSED: MaintenanceMode = { paused: true, by: 'cli:ops', at: START, reason: 'quarter-end freeze' };
const RUNNING: MaintenanceMode = { paused: false, by: 'slack:U024BE7LH', at: START + 1, reason: '' };

export const maintenanceModesContract: ContractCase<MaintenanceModes>[] = [
  {
    name: 'has no mode (undefined) before one is set',
    async run(modes, { cluster }) {
      // Act
      const mode = await modes.maintenanceMode(cluster);

      // Assert
      expect(mode).toBeUndefined();
    },
  },
  {
    name: 'keeps the mode last set',
    async run(modes, { cluster }) {
      // Arrange
      await modes.setMaintenanceMode(cluster, PAUSED);
      const paused = await modes.maintenanceMode(cluster);

      // Act
      await modes.setMaintenanceMode(cluster, RUNNING);

      // Assert
      expect(paused).toEqual(PAUSED);
      expect(await modes.maintenanceMode(cluster)).toEqual(RUNNING);
    },
  },
  {
    name: 'keeps clusters apart',
    async run(modes, { cluster, other }) {
      // Act
      await modes.setMaintenanceMode(cluster, PAUSED);

      // Assert
      expect(await modes.maintenanceMode(other)).toBeUndefined();
    },
  },
];

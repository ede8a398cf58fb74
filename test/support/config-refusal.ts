import { expect } from 'vitest';
import { parseDeploymentConfig } from '../../config/load.ts';

/** The lines of the refusal of a deployment config, each `field: message` (throws if it is accepted). */
export function refusal(json: unknown): string[] {
  try {
    parseDeploymentConfig(json, 'ha-redis.config.json');
  } catch (error) {
    expect((error as Error).name).toBe('ConfigurationError');
    const [first, ...lines] = (error as Error).message.split('\n');
    expect(first).toBe('ha-redis.config.json is invalid:');
    return lines.map((l) => l.trim());
  }
  throw new Error('expected the config to be refused');
}

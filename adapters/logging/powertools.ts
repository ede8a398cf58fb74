import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, LogLevel } from '@aws-lambda-powertools/logger/types';
import type { Logger } from '../../core/ports.ts';

const LEVELS = new Set(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']);

/** The core's Logger port on Powertools: one JSON line per call, attributes merged in. */
export function powertoolsLogger(
  serviceName: string,
  level = process.env.HA_REDIS_LOG_LEVEL ?? 'INFO',
): Logger & {
  powertools: PowertoolsLogger;
} {
  const upper = level.toUpperCase();
  const powertools = new PowertoolsLogger({
    serviceName,
    logLevel: (LEVELS.has(upper) ? upper : 'INFO') as LogLevel,
  });
  const at =
    (fn: (message: string, ...extra: LogAttributes[]) => void) =>
    (message: string, attributes?: Record<string, unknown>) =>
      attributes ? fn.call(powertools, message, attributes as LogAttributes) : fn.call(powertools, message);
  return {
    powertools,
    debug: at(powertools.debug),
    info: at(powertools.info),
    warn: at(powertools.warn),
    error: at(powertools.error),
  };
}

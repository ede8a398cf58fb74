import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigurationError } from '../core/model/errors.ts';
import { type DeploymentConfig, DeploymentConfigSchema } from './schema.ts';

/** `clusters[0].dns.hostedZoneId`: the path of a zod issue, the way a reader finds it in the file. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return (
    path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') ||
    '(top level)'
  );
}

/** Every issue of a failed parse, one per line, each naming its field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `  ${fieldPath(issue.path)}: ${issue.message}`).join('\n');
}

/** Validate a parsed config; `source` names the file in the error. */
export function parseDeploymentConfig(json: unknown, source: string): DeploymentConfig {
  const parsed = DeploymentConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigurationError(`${source} is invalid:\n${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

/** Read and validate the deployment config file. */
export function loadDeploymentConfig(path: string): DeploymentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`cannot read config file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(`${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseDeploymentConfig(json, path);
}

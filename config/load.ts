import { readFileSync } from 'node:fs';
import { ConfigurationError, issuesText } from '../core/model/errors.ts';
import { crossEntryIssues, expandHostSets } from './host-sets.ts';
import { operatorIssues } from './operators.ts';
import { redisTlsIssues } from './redis-tls.ts';
import { type DeploymentConfig, DeploymentConfigSchema } from './schema.ts';

/**
 * Validate a parsed config and expand its host sets into clusters; `source` names the file in the error.
 * 1. each entry's fields 2. the rules across entries (ports, HAProxy names, service names, operators' clusters)
 * and of TLS 3. the expansion.
 */
export function parseDeploymentConfig(json: unknown, source: string): DeploymentConfig {
  const invalid = (issues: Parameters<typeof issuesText>[0]) =>
    new ConfigurationError(`${source} is invalid:\n  ${issuesText(issues, '(top level)', '\n  ')}`);
  const parsed = DeploymentConfigSchema.safeParse(json);
  if (!parsed.success) throw invalid(parsed.error);
  const issues = [
    ...crossEntryIssues(parsed.data),
    ...redisTlsIssues(parsed.data),
    ...operatorIssues(parsed.data),
  ];
  if (issues.length > 0) throw invalid({ issues });
  return expandHostSets(parsed.data);
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

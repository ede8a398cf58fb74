import { readFileSync } from 'node:fs';
import { ConfigurationError, issuesText } from '../core/model/errors.ts';
import { type DeploymentConfig, DeploymentConfigSchema } from './schema.ts';

/** Validate a parsed config; `source` names the file in the error. */
export function parseDeploymentConfig(json: unknown, source: string): DeploymentConfig {
  const parsed = DeploymentConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigurationError(
      `${source} is invalid:\n  ${issuesText(parsed.error, '(top level)', '\n  ')}`,
    );
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

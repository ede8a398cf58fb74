import * as cdk from 'aws-cdk-lib';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ConfigurationError } from '../../core/model/errors.ts';

/** ARNs the stack's policies name that no construct of the stack exposes. */

/** The ARN of an SSM parameter, by name (with or without its leading slash). */
export function parameterArn(stack: cdk.Stack, name: string): string {
  return `arn:${stack.partition}:ssm:${stack.region}:${stack.account}:parameter/${name.replace(/^\//, '')}`;
}

/**
 * Up to this many secrets are granted one by one; beyond, by the path they share. IAM caps a role's inline
 * policies at 10 240 characters and a managed policy at 6 144: one ARN per secret stops deploying at about 100
 * clusters, a path does not grow with them.
 */
export const EXACT_GRANT_LIMIT = 20;

/** The longest directory (ending in `/`) that every name starts with; '' when they share none. */
export function commonDirectory(names: readonly string[]): string {
  const [first = '', ...rest] = names;
  let prefix = first;
  for (const name of rest) {
    while (!name.startsWith(prefix)) prefix = prefix.slice(0, -1);
  }
  return prefix.slice(0, prefix.lastIndexOf('/') + 1);
}

/**
 * The grants made by path in a stack (for cdk-nag's review): `ssm` and `parameter/<dir>*`, or `secretsmanager` and
 * `secret:<dir>*`.
 */
const pathGrants = new WeakMap<cdk.Stack, Map<string, { service: string; resource: string }>>();

/** The grants parameterArnsFor and secretArnsFor made by path in `stack`. */
export function pathGrantsOf(stack: cdk.Stack): { service: string; resource: string }[] {
  return [...(pathGrants.get(stack)?.values() ?? [])];
}

function recordPathGrant(stack: cdk.Stack, service: string, resource: string): void {
  const grants = pathGrants.get(stack) ?? new Map<string, { service: string; resource: string }>();
  grants.set(`${service}:${resource}`, { service, resource });
  pathGrants.set(stack, grants);
}

/** A directory that grants more than ha-redis' own secrets: the root, or nothing. */
const tooWide = (dir: string) => dir === '' || dir === '/' || dir === '/aws/reference/secretsmanager/';

/** Where SSM exposes Secrets Manager secrets as parameters (a host that reads its secrets through SSM). */
const SECRETS_MANAGER_REFERENCE = '/aws/reference/secretsmanager/';

/**
 * The ARNs that grant reading these SSM parameters: each one's, or (more than EXACT_GRANT_LIMIT) the path they
 * share, `parameter/<dir>*`; references to Secrets Manager secrets (`/aws/reference/secretsmanager/<name>`) by
 * the path their secrets share, apart from the parameters of SSM's own. Refused when a group shares no path.
 */
export function parameterArnsFor(stack: cdk.Stack, names: readonly string[]): string[] {
  const unique = [...new Set(names.map((n) => (n.startsWith('/') ? n : `/${n}`)))];
  if (unique.length <= EXACT_GRANT_LIMIT) return unique.map((n) => parameterArn(stack, n));
  const references = unique.filter((n) => n.startsWith(SECRETS_MANAGER_REFERENCE));
  const own = unique.filter((n) => !n.startsWith(SECRETS_MANAGER_REFERENCE));
  return [own, references]
    .filter((group) => group.length > 0)
    .map((group) => {
      const dir = commonDirectory(group);
      if (tooWide(dir))
        throw new ConfigurationError(
          `the ${group.length} SSM parameters of the clusters' secrets share no path, so they cannot be granted by path (one ARN each does not fit IAM's policy size): keep them under one path, e.g. /ha-redis/<cluster>/...`,
        );
      recordPathGrant(stack, 'ssm', `parameter${dir}*`);
      return parameterArn(stack, `${dir}*`);
    });
}

/** The same for Secrets Manager secrets, by name: `secret:<dir>*` beyond EXACT_GRANT_LIMIT. */
export function secretArnsFor(stack: cdk.Stack, names: readonly string[]): string[] {
  const unique = [...new Set(names)];
  if (unique.length <= EXACT_GRANT_LIMIT) return unique.map((n) => secretArn(stack, n));
  const dir = commonDirectory(unique);
  if (tooWide(dir))
    throw new ConfigurationError(
      `the ${unique.length} Secrets Manager secrets of the clusters share no path, so they cannot be granted by path (one ARN each does not fit IAM's policy size): name them under one path, e.g. ha-redis/<cluster>/...`,
    );
  recordPathGrant(stack, 'secretsmanager', `secret:${dir}*`);
  return [`arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:${dir}*`];
}

/** A Secrets Manager secret's ARNs: its name plus the 6-character suffix Secrets Manager appends. */
export function secretArn(stack: cdk.Stack, name: string): string {
  return `arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:${name}-??????`;
}

/** `arn:...:execution:<state machine name>:*`, the executions of one state machine. */
export function executionArnsOf(stack: cdk.Stack, machine: sfn.StateMachine): string {
  return stack.formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${machine.stateMachineName}:*`,
    arnFormat: cdk.ArnFormat.COLON_RESOURCE_NAME,
  });
}

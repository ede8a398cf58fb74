import { z } from 'zod';

/**
 * Operators per cluster (`operators` in the deployment config): which IAM roles or users may start switchovers
 * and maintenance runs of which clusters, through the operator-start function (an IAM-authenticated Function
 * URL). Step Functions cannot condition StartExecution on its input, so that function is where the cluster is
 * checked; the whole-deployment OperatorPolicy still starts executions directly.
 */

/** An IAM role or user, by ARN (a role's path is ignored when matching: a session's ARN does not carry it). */
const PrincipalArnSchema = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/,
    'an IAM role or user ARN, e.g. arn:aws:iam::123456789012:role/orders-oncall',
  );

/** One group of operators and the clusters they may act on. */
export const OperatorSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'lower-case letters, digits and dashes'),
  principals: z.array(PrincipalArnSchema).min(1),
  /** Cluster (or host-set service) names; every one must be configured. */
  clusters: z.array(z.string().min(1)).min(1),
});
export type Operator = z.infer<typeof OperatorSchema>;

/** An operator group that names a cluster the file does not configure, or a duplicate group name. */
export function operatorIssues(file: {
  clusters: readonly { name: string }[];
  hostSets: readonly { services: readonly { name: string }[] }[];
  operators: readonly Operator[];
}): { path: (string | number)[]; message: string }[] {
  const clusters = new Set([
    ...file.clusters.map((c) => c.name),
    ...file.hostSets.flatMap((s) => s.services.map((service) => service.name)),
  ]);
  const names = new Set<string>();
  const issues: { path: (string | number)[]; message: string }[] = [];
  file.operators.forEach((operator, i) => {
    if (names.has(operator.name)) {
      issues.push({ path: ['operators', i, 'name'], message: `duplicate operator group '${operator.name}'` });
    }
    names.add(operator.name);
    operator.clusters.forEach((cluster, k) => {
      if (!clusters.has(cluster)) {
        issues.push({
          path: ['operators', i, 'clusters', k],
          message: `operator group '${operator.name}' names cluster '${cluster}', which is not configured`,
        });
      }
    });
  });
  return issues;
}

/**
 * For each cluster, the other clusters whose Redis nodes share one of its nodes' hosts (every service of a host
 * set, and clusters placed on common hosts by hand): a maintenance node action (restart, upgrade, reboot) acts on
 * a host, so an operator needs every cluster on it, not just the one asked for.
 */
export function hostNeighbours(clusters: readonly { name: string; nodes: readonly { host: string }[] }[]) {
  const byHost = new Map<string, Set<string>>();
  for (const c of clusters) {
    for (const n of c.nodes) byHost.set(n.host, (byHost.get(n.host) ?? new Set()).add(c.name));
  }
  return new Map(
    clusters.map((c) => [
      c.name,
      [...new Set(c.nodes.flatMap((n) => [...(byHost.get(n.host) ?? [])]))]
        .filter((name) => name !== c.name)
        .sort(),
    ]),
  );
}

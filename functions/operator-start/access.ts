import type { Operator } from '../../config/operators.ts';

/**
 * Which clusters an IAM caller may act on: the operator groups whose principals include it. A role is matched by
 * account and name (an assumed-role session's ARN, `arn:aws:sts::<account>:assumed-role/<name>/<session>`, does
 * not carry the role's path), a user by account and name.
 */

/** `<account>:role:<name>` or `<account>:user:<name>`; undefined for any other ARN (a federated user, root). */
export function principalKey(arn: string): string | undefined {
  const session = /^arn:aws[a-z-]*:sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(arn);
  if (session) return `${session[1]}:role:${session[2]}`;
  const entity = /^arn:aws[a-z-]*:iam::(\d{12}):(role|user)\/(?:[^/]+\/)*([^/]+)$/.exec(arn);
  return entity ? `${entity[1]}:${entity[2]}:${entity[3]}` : undefined;
}

/** The clusters `callerArn` may start switchovers and maintenance of, and the groups that allow them. */
export function clustersOf(
  operators: readonly Operator[],
  callerArn: string,
): { clusters: Set<string>; groups: string[] } {
  const caller = principalKey(callerArn);
  const groups = operators.filter(
    (o) => caller !== undefined && o.principals.some((p) => principalKey(p) === caller),
  );
  return { clusters: new Set(groups.flatMap((g) => g.clusters)), groups: groups.map((g) => g.name) };
}

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { loadDeploymentConfig } from '../../config/load.ts';
import { HaRedisStack } from '../../infra/stack.ts';

/** The stack the infra tests assert on: HaRedisStack for config/example.json, in a fixed account and region. */

export const EXAMPLE = resolve('config/example.json');
export const config = loadDeploymentConfig(EXAMPLE);

/** How long synthesizing may take: bundling eight Lambdas with esbuild takes a while on a busy machine. */
export const SYNTH_TIMEOUT_MS = 120_000;

/**
 * Synthesizes the stack. bundle: the Lambdas are really bundled (local esbuild, no Docker), as `make synth`
 * does; without it CDK skips the Lambda bundling (the template is the same but for the code's asset keys).
 * configFile: another config than the example (loaded and validated as `make synth` does).
 */
export function synthesize({ bundle, configFile = EXAMPLE }: { bundle: boolean; configFile?: string }): {
  stack: HaRedisStack;
  template: Template;
} {
  const app = new cdk.App({
    outdir: mkdtempSync(join(tmpdir(), 'ha-redis-cdk-test-')),
    ...(bundle ? {} : { context: { 'aws:cdk:bundling-stacks': [] } }),
  });
  const stack = new HaRedisStack(app, 'HaRedisTest', {
    config: configFile === EXAMPLE ? config : loadDeploymentConfig(configFile),
    configFile,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  return { stack, template: Template.fromStack(stack) };
}

/** One IAM policy statement, as the template has it. */
export interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Every IAM policy statement of the template, flattened (inline policies and managed policies). */
export function statementsOf(template: Template): Statement[] {
  const policies = {
    ...template.findResources('AWS::IAM::Policy'),
    ...template.findResources('AWS::IAM::ManagedPolicy'),
  };
  return Object.values(policies).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: never[] } } }).Properties.PolicyDocument.Statement,
  );
}

/** A statement's actions, as a list. */
export const actionsOf = (s: { Action: string | string[] }) =>
  Array.isArray(s.Action) ? s.Action : [s.Action];

/**
 * The cdk-nag acknowledgements no finding needed: each as `construct path: rule id`. cdk-nag looks a finding's
 * acknowledgement up on the resource, then on each of its ancestors; this records which one answered (by
 * wrapping that lookup, a private method of cdk-nag 3), so an acknowledgement placed wider than its finding,
 * or left behind when its finding went, shows here.
 */
export function unusedAcknowledgements(stack: cdk.Stack): string[] {
  const key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY;
  const idsOf = (c: IConstruct) =>
    c.node.metadata
      .filter((m) => m.type === key && m.data)
      .flatMap((m) =>
        Object.keys(m.data as Record<string, string>).map((k) => k.replace(/^annotation::/i, '')),
      );
  const used = new Set<string>();
  const checks = new AwsSolutionsChecks();
  (checks as unknown as { isAcknowledged: (r: IConstruct, id: string) => boolean }).isAcknowledged = (
    resource,
    ruleId,
  ) => {
    for (let c: IConstruct | undefined = resource; c; c = c.node.scope) {
      if (idsOf(c).includes(ruleId)) {
        used.add(`${c.node.path}: ${ruleId}`);
        return true;
      }
    }
    return false;
  };
  checks.validateScope(stack);
  return (
    stack.node
      .findAll()
      .flatMap((c) => idsOf(c).map((id) => `${c.node.path}: ${id}`))
      // (CDK's own warnings, acknowledged the same way, are not cdk-nag's)
      .filter((a) => a.includes(': AwsSolutions-') && !used.has(a))
  );
}

/** The logical id of the one Lambda function whose id is `name` followed by CDK's 8-digit hash. */
export function functionId(template: Template, name: string): string {
  const ids = Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) =>
    new RegExp(`^${name}[0-9A-F]{8}$`).test(id),
  );
  if (ids.length !== 1) throw new Error(`expected one function ${name}, found ${ids.join(', ') || 'none'}`);
  return ids[0] as string;
}

/** Every IAM policy statement on the role of the Lambda `name` (its inline policies; managed ones by ARN). */
export function statementsOfFunction(
  template: Template,
  name: string,
): { statements: Statement[]; managedPolicyArns: unknown[] } {
  const fn = template.toJSON().Resources[functionId(template, name)] as {
    Properties: { Role: { 'Fn::GetAtt': [string, string] } };
  };
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  const role = template.toJSON().Resources[roleId] as { Properties: { ManagedPolicyArns?: unknown[] } };
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as {
    Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } };
  }[];
  return {
    statements: policies
      .filter((p) => p.Properties.Roles.some((r) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement),
    managedPolicyArns: role.Properties.ManagedPolicyArns ?? [],
  };
}

/** The reconcile schedules: each one's input, by logical id. */
export function reconcileSchedules(t: Template): Record<string, unknown> {
  const schedules = t.findResources('AWS::Scheduler::Schedule', {
    Properties: { Target: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Reconcile'), 'Arn'] } } },
  }) as Record<string, { Properties: { Target: { Input: string } } }>;
  return Object.fromEntries(
    Object.entries(schedules).map(([id, s]) => [id, JSON.parse(s.Properties.Target.Input)]),
  );
}

/** Each function's ReservedConcurrentExecutions, by function name. */
export function reservations(t: Template, names: string[]): Record<string, unknown> {
  const resources = t.toJSON().Resources as Record<string, { Properties: Record<string, unknown> }>;
  return Object.fromEntries(
    names.map((n) => [n, resources[functionId(t, n)]?.Properties.ReservedConcurrentExecutions]),
  );
}

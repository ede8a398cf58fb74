/**
 * Secrets under customer-managed KMS keys (`secretKeyArns`): whoever reads a secret may decrypt with those keys,
 * through SSM or Secrets Manager only; without keys configured, no KMS grant beyond the stack's own key. And the
 * Slack function (a public Function URL) has concurrency of its own.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SLACK_RESERVED_CONCURRENCY } from '../../infra/constructs/slack-front-door.ts';
import { EXAMPLE, type Statement, SYNTH_TIMEOUT_MS, statementsOf, synthesize } from './stack-fixture.ts';

const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

let withKeys: Statement[];
let withoutKeys: Statement[];
let slackConcurrency: unknown;

beforeAll(() => {
  const config = { ...JSON.parse(readFileSync(EXAMPLE, 'utf8')), secretKeyArns: [KEY] };
  const file = join(mkdtempSync(join(tmpdir(), 'ha-redis-keys-')), 'config.json');
  writeFileSync(file, JSON.stringify(config));
  withKeys = statementsOf(synthesize({ bundle: false, configFile: file }).template);
  const plain = synthesize({ bundle: false }).template;
  withoutKeys = statementsOf(plain);
  const [slack] = Object.values(plain.findResources('AWS::Lambda::Function')).filter((f) =>
    JSON.stringify(f).includes('Slack /redis commands'),
  ) as { Properties: { ReservedConcurrentExecutions?: number } }[];
  slackConcurrency = slack?.Properties.ReservedConcurrentExecutions;
}, SYNTH_TIMEOUT_MS * 2);

const decrypts = (statements: Statement[]) =>
  statements.filter(
    (s) =>
      JSON.stringify(s.Action) === JSON.stringify('kms:Decrypt') && JSON.stringify(s.Resource).includes(KEY),
  );

describe('secrets under customer-managed keys', () => {
  it('lets every reader of a secret decrypt with the configured keys, through SSM or Secrets Manager only', () => {
    const grants = decrypts(withKeys);
    // The Lambdas that read secrets, and the bridge's and the agent's host policies.
    expect(grants.length).toBeGreaterThanOrEqual(3);
    for (const g of grants) {
      expect(g.Condition).toEqual({
        StringEquals: {
          'kms:ViaService': ['ssm.eu-west-1.amazonaws.com', 'secretsmanager.eu-west-1.amazonaws.com'],
        },
      });
    }
  });

  it('grants no decrypt with a key that is not configured', () => {
    expect(decrypts(withoutKeys)).toEqual([]);
  });

  it('reserves the Slack function its own concurrency, which also caps it', () => {
    expect(slackConcurrency).toBe(SLACK_RESERVED_CONCURRENCY);
  });
});

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AwsSecrets, type SecretSource } from '../adapters/aws/secrets.ts';
import type { DeliverySettings, NotificationTarget } from '../adapters/notify/delivery.ts';
import { JsonWebhookTarget } from '../adapters/notify/json-webhook.ts';
import { SlackBotTarget } from '../adapters/notify/slack-bot.ts';
import { SlackWebhookTarget } from '../adapters/notify/slack-webhook.ts';
import type { DeploymentConfig, SecretRef } from '../config/schema.ts';
import { UnknownClusterError } from '../core/model/errors.ts';
import type { Logger } from '../core/ports.ts';
import type { NotifyDeps } from '../functions/notify/handler.ts';
import { DeliveryLedger } from '../functions/notify/ledger.ts';
import { type AwsDeps, awsDeps } from './aws.ts';
import { systemClock } from './clock.ts';

/** A secret reference as a target name part: the parameter or secret name, never the value. */
const refName = (ref: SecretRef): string =>
  'ssmParameter' in ref ? ref.ssmParameter : `${ref.secretsManager}${ref.jsonKey ? `#${ref.jsonKey}` : ''}`;

/**
 * Each cluster's notification targets, from the deployment config: its Slack channel with the deployment's
 * bot token (when both exist), its Slack incoming webhook, its JSON webhook. Secrets are read at delivery.
 * Targets are named by what they point at, so that two clusters sharing one are told apart from two that do not.
 */
export function notifyTargets(
  config: DeploymentConfig,
  secrets: SecretSource,
  settings: DeliverySettings & { slackApiUrl?: string } = {},
): (cluster: string | undefined) => NotificationTarget[] {
  const byCluster = new Map<string, NotificationTarget[]>();
  for (const cluster of config.clusters) {
    const targets: NotificationTarget[] = [];
    const botToken = config.slack?.botToken;
    if (cluster.slack && botToken) {
      targets.push(
        new SlackBotTarget({
          ...settings,
          channel: cluster.slack.channel,
          token: () => secrets.get(botToken),
        }),
      );
    }
    const { slackWebhookUrl, webhookUrl } = cluster.notifications;
    if (slackWebhookUrl) {
      targets.push(
        new SlackWebhookTarget({
          ...settings,
          name: `slack-webhook:${refName(slackWebhookUrl)}`,
          url: () => secrets.get(slackWebhookUrl),
        }),
      );
    }
    if (webhookUrl) {
      targets.push(
        new JsonWebhookTarget({
          ...settings,
          name: `webhook:${refName(webhookUrl)}`,
          url: () => secrets.get(webhookUrl),
        }),
      );
    }
    byCluster.set(cluster.name, targets);
  }
  return (cluster) => {
    if (cluster === undefined) {
      const unique = new Map<string, NotificationTarget>();
      for (const t of [...byCluster.values()].flat()) if (!unique.has(t.name)) unique.set(t.name, t);
      return [...unique.values()];
    }
    const targets = byCluster.get(cluster);
    if (!targets) throw new UnknownClusterError(cluster, [...byCluster.keys()]);
    return targets;
  };
}

/** Built once per AwsDeps: again only when the deployment config changed. */
let cached: { base: AwsDeps; deps: NotifyDeps } | undefined;

/** The notify Lambda's composition root: the bundled deployment config, secrets through Powertools Parameters. */
export async function notifyAwsDeps(logger: Logger): Promise<NotifyDeps> {
  const base = await awsDeps(logger);
  if (cached?.base === base) return cached.deps;
  const { config } = base;
  const secrets = new AwsSecrets({ ssm: new SSMClient({}), secretsManager: new SecretsManagerClient({}) });
  const deps: NotifyDeps = {
    logger,
    targets: notifyTargets(config, secrets, { clock: systemClock }),
    ledger: new DeliveryLedger(),
  };
  cached = { base, deps };
  return deps;
}

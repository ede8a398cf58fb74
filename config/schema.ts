import { z } from 'zod';
import {
  ClusterSchema,
  InstanceTargetSchema,
  NodeSchema,
  ProxySchema,
  SentinelSchema,
} from '../core/model/cluster.ts';
import { MAINTENANCE_ACTIONS } from '../core/model/maintenance.ts';

/**
 * The deployment configuration file (`ha-redis.config.json`): every cluster one AWS deployment manages,
 * with its hosts, secrets (by name only), DNS, Slack and maintenance settings. Validated at synth time by
 * the CDK app and at run time by the Lambdas; an error names the field.
 */

/** A secret, by name: an SSM SecureString parameter or a Secrets Manager secret. Never the value. */
export const SecretRefSchema = z.union([
  z.strictObject({
    ssmParameter: z
      .string()
      .regex(
        /^\/[A-Za-z0-9_.\-/]{1,1010}$/,
        'an SSM parameter name starting with /, e.g. /ha-redis/prod/redis',
      ),
  }),
  z.strictObject({
    secretsManager: z
      .string()
      .regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'a Secrets Manager secret name, e.g. ha-redis/prod/redis'),
    /** For a JSON secret: the key that holds the value. */
    jsonKey: z.string().min(1).optional(),
  }),
]);
export type SecretRef = z.infer<typeof SecretRefSchema>;

const ipv4 = z.ipv4({ message: 'an IPv4 address (the security group allows exactly these hosts)' });

/** The secrets of one cluster. Absent means "none" (a cluster without passwords; doctor warns). */
export const ClusterSecretsSchema = z.strictObject({
  redisPassword: SecretRefSchema.optional(),
  sentinelPassword: SecretRefSchema.optional(),
  /** PEM of the CA that signed the TLS listeners (HAProxy TLS frontends, Runtime API over TLS). */
  tlsCa: SecretRefSchema.optional(),
  /** PEM client certificate and key for the HAProxy Runtime API over TLS (one secret holding both). */
  haproxyApiClientCert: SecretRefSchema.optional(),
});

const slackId = (prefix: string, what: string) =>
  z
    .string()
    .regex(new RegExp(`^[${prefix}][A-Z0-9]{2,}$`), `a Slack ${what} id such as ${prefix[0]}0123ABCD`);

/** Who may run `/redis` commands against this cluster. */
export const ClusterSlackSchema = z.strictObject({
  channel: slackId('CG', 'channel'),
  allowedUsers: z.array(slackId('UW', 'user')).min(1),
  allowedGroups: z.array(slackId('S', 'user group')).default([]),
  allowedChannels: z.array(slackId('CG', 'channel')).default([]),
});

/** A time zone the IANA database knows (EventBridge Scheduler uses the same names). */
const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'an IANA time zone such as Europe/Berlin or UTC' },
);

export const MaintenanceSchema = z.strictObject({
  schedules: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'lower-case letters, digits and dashes'),
        /** EventBridge Scheduler cron body, six fields: `minutes hours day-of-month month day-of-week year`. */
        cron: z
          .string()
          .regex(/^\S+( \S+){5}$/, "six cron fields, e.g. '0 3 ? * SUN *' (EventBridge Scheduler syntax)"),
        timezone: timeZone,
        action: z.enum(MAINTENANCE_ACTIONS),
        switchback: z.boolean().default(false),
      }),
    )
    .default([]),
  freezeWindows: z
    .array(
      z
        .strictObject({
          start: z.iso.datetime({ offset: true }),
          end: z.iso.datetime({ offset: true }),
          reason: z.string().min(1),
        })
        .refine((w) => Date.parse(w.start) < Date.parse(w.end), {
          message: 'start must be before end',
          path: ['end'],
        }),
    )
    .default([]),
});

/** One cluster as deployed on EC2: the core's cluster, with hosts addressed by IP and instance. */
export const DeployedClusterSchema = ClusterSchema.extend({
  nodes: z
    .array(NodeSchema.extend({ host: ipv4, instance: InstanceTargetSchema, configPath: z.string().min(1) }))
    .min(1),
  sentinels: z
    .array(SentinelSchema.extend({ host: ipv4 }))
    .min(3, 'at least 3 Sentinels (an odd number) for a majority'),
  proxies: z
    .array(
      ProxySchema.extend({
        host: ipv4,
        instance: InstanceTargetSchema,
        configPath: z.string().min(1),
        stateFilePath: z.string().min(1),
        hostSocketPath: z.string().min(1).default('/run/haproxy/admin.sock'),
        reload: ProxySchema.shape.reload.default('systemd:haproxy'),
      }),
    )
    .min(1),
  dns: ClusterSchema.shape.dns.extend({
    hostedZoneId: z
      .string()
      .regex(/^Z[A-Z0-9]{4,32}$/, 'a Route53 hosted zone id such as Z0123456789ABCDEFGHIJ'),
  }),
  secrets: ClusterSecretsSchema.default({}),
  slack: ClusterSlackSchema.optional(),
  /**
   * Where outcomes are delivered besides the cluster's Slack channel (which needs `slack` here and the
   * deployment's bot token): a Slack incoming webhook and/or a generic JSON webhook. URLs are secrets.
   */
  notifications: z
    .strictObject({ slackWebhookUrl: SecretRefSchema.optional(), webhookUrl: SecretRefSchema.optional() })
    .default({}),
  maintenance: MaintenanceSchema.default({ schedules: [], freezeWindows: [] }),
});
export type DeployedCluster = z.infer<typeof DeployedClusterSchema>;

export const DeploymentConfigSchema = z
  .strictObject({
    version: z.literal(1),
    /** Prefix of the stack and its resource names. */
    name: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,30}$/, 'letters, digits and dashes, starting with a letter'),
    /** Where to deploy. Both optional: the CDK CLI's account and region are used when absent. */
    account: z
      .string()
      .regex(/^\d{12}$/, 'a 12-digit AWS account id')
      .optional(),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-1')
      .optional(),
    /** The VPC of the Redis hosts, by id: synth needs no lookup. */
    network: z
      .strictObject({
        vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'a VPC id such as vpc-0abc1234'),
        availabilityZones: z.array(z.string().min(1)).min(1),
        /** Private subnets for the Lambdas, one per availability zone, in the same order. */
        subnetIds: z
          .array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id such as subnet-0abc1234'))
          .min(1),
      })
      .refine((n) => n.availabilityZones.length === n.subnetIds.length, {
        message: 'one subnet per availability zone, in the same order',
        path: ['subnetIds'],
      }),
    /** The Slack app of this deployment. Required when any cluster has a `slack` block. */
    slack: z.strictObject({ signingSecret: SecretRefSchema, botToken: SecretRefSchema }).optional(),
    clusters: z.array(DeployedClusterSchema).min(1),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.clusters.forEach((cluster, i) => {
      if (seen.has(cluster.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['clusters', i, 'name'],
          message: `duplicate cluster name '${cluster.name}'`,
        });
      }
      seen.add(cluster.name);
      if (cluster.sentinels.length % 2 === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['clusters', i, 'sentinels'],
          message: `${cluster.sentinels.length} Sentinels: use an odd number, so a partition always leaves one side a majority`,
        });
      }
      if (cluster.slack && !config.slack) {
        ctx.addIssue({
          code: 'custom',
          path: ['slack'],
          message: `cluster '${cluster.name}' has a slack block, so the deployment needs slack.signingSecret and slack.botToken`,
        });
      }
      cluster.proxies.forEach((proxy, j) => {
        if (proxy.runtimeApi.kind === 'unix') {
          ctx.addIssue({
            code: 'custom',
            path: ['clusters', i, 'proxies', j, 'runtimeApi'],
            message:
              'a Lambda reaches HAProxy over the network: runtimeApi must be { kind: "tcp", host, port, tls: true }',
          });
        }
      });
    });
  });
export type DeploymentConfig = z.infer<typeof DeploymentConfigSchema>;

import { z } from 'zod';
import {
  ClusterSchema,
  InstanceTargetSchema,
  NodeSchema,
  ProxySchema,
  SentinelSchema,
} from '../core/model/cluster.ts';
import { MAINTENANCE_ACTIONS } from '../core/model/maintenance.ts';
import { OperatorSchema } from './operators.ts';
import { RedisTlsSchema } from './redis-tls.ts';
import { ClusterSecretsSchema, SecretRefSchema } from './secrets-schema.ts';

export { ClusterSecretsSchema, type SecretRef, SecretRefSchema } from './secrets-schema.ts';

/**
 * The deployment configuration file (`ha-redis.config.json`): every cluster one AWS deployment manages,
 * with its hosts, secrets (by name only), DNS, Slack and maintenance settings, given one by one (`clusters`)
 * or as host sets (`hostSets`). Validated at synth time by the CDK app and at run time by the Lambdas; an
 * error names the field. The rules that span entries, and the expansion of host sets, are in host-sets.ts.
 */

/** `sentinelEvent.provisionedConcurrency` sized for the loss of one availability zone (infra/constructs/concurrency.ts). */
export const PROVISIONED_FOR_AZ_LOSS = 'az-loss';

const ipv4 = z.ipv4({ message: 'an IPv4 address (the security group allows exactly these hosts)' });

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

/** The host a node, Sentinel or proxy runs on, by the id its host set gives it (set by the host-set expansion). */
const hostId = z.string().min(1).optional();

/** One cluster as deployed on EC2: the core's cluster, with hosts addressed by IP and instance. */
export const DeployedClusterSchema = ClusterSchema.extend({
  /**
   * The host set the cluster is a service of (set by the host-set expansion): its instances may carry the
   * set's name as their `ha-redis:cluster` tag, since an instance has one value per tag key.
   */
  hostSet: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes')
    .optional(),
  nodes: z
    .array(
      NodeSchema.extend({
        host: ipv4,
        instance: InstanceTargetSchema,
        configPath: z.string().min(1),
        hostId,
      }),
    )
    .min(1),
  sentinels: z
    .array(SentinelSchema.extend({ host: ipv4, hostId }))
    .min(3, 'at least 3 Sentinels (an odd number) for a majority'),
  proxies: z
    .array(
      ProxySchema.extend({
        hostId,
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
  /** TLS to the nodes and/or Sentinels (config/redis-tls.ts); absent: plain TCP with AUTH. */
  tls: RedisTlsSchema.optional(),
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

const port = z.number().int().min(1).max(65535);

/** Refuses a field that the set gives once for all its services, saying where it belongs instead. */
const setLevelOnly = (message: string) => z.undefined({ message }).optional();

/** One host of a host set: every service of the set runs its redis-server (and Sentinel) here, behind its HAProxy. */
export const SetHostSchema = z.strictObject({
  /** Names the host in node and proxy ids (`redis-<id>`, `haproxy-<id>`). */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, 'lower-case letters, digits and dashes'),
  address: ipv4,
  instance: InstanceTargetSchema,
});

/** The one HAProxy of each host: its Runtime API over TLS, on the host's address, and its files on the host. */
export const SetHaproxySchema = z.strictObject({
  runtimeApiPort: port,
  configPath: z.string().min(1),
  stateFilePath: z.string().min(1),
  hostSocketPath: z.string().min(1).default('/run/haproxy/admin.sock'),
  reload: ProxySchema.shape.reload.default('systemd:haproxy'),
});

/** A service's own secrets; the set's secrets are the defaults. */
const ServiceSecretsSchema = z.strictObject({
  redisPassword: SecretRefSchema.optional(),
  sentinelPassword: SecretRefSchema.optional(),
  tlsCa: setLevelOnly("every service of a set is behind the same HAProxy: give tlsCa in the set's secrets"),
  haproxyApiClientCert: setLevelOnly(
    "every service of a set is behind the same HAProxy: give haproxyApiClientCert in the set's secrets",
  ),
  redisClientCert: setLevelOnly("TLS to Redis is the set's (tls): give redisClientCert in the set's secrets"),
});

/** What one service (one Redis database and its Sentinel master) of a host set has of its own. */
const SetServiceSchema = z.strictObject({
  name: ClusterSchema.shape.name,
  /** The name Sentinel monitors; the service's name when absent. */
  masterName: z.string().min(1).optional(),
  redisPort: port,
  /** Its redis.conf on every host, for fencing. */
  redisConfigPath: z.string().min(1),
  plainPort: port,
  tlsPort: port.optional(),
  /** Its backend on each host's HAProxy (default `redis_<name>`); its frontends are `<backend>_plain` and `_tls`. */
  backend: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'an HAProxy name: letters, digits and . _ : - (at most 64)')
    .optional(),
  dns: DeployedClusterSchema.shape.dns,
  secrets: ServiceSecretsSchema.default({}),
  tls: setLevelOnly("a service's nodes and Sentinels share the set's hosts: give tls on the host set"),
  slack: ClusterSlackSchema.optional(),
  notifications: DeployedClusterSchema.shape.notifications,
  maintenance: DeployedClusterSchema.shape.maintenance,
  timing: ClusterSchema.shape.timing,
  onMasterExit: ClusterSchema.shape.onMasterExit,
});

/** An odd number of hosts, at least 3: each service gets one Sentinel per host. */
const SetHostsSchema = z
  .array(SetHostSchema)
  .min(1)
  .superRefine((hosts, ctx) => {
    if (hosts.length < 3 || hosts.length % 2 === 0) {
      ctx.addIssue({
        code: 'custom',
        message: `${hosts.length} hosts give each service ${hosts.length} Sentinels: use an odd number of hosts, at least 3, so a partition always leaves one side a majority`,
      });
    }
    for (const key of ['id', 'address'] as const) {
      hosts.forEach((host, j) => {
        const first = hosts.findIndex((h) => h[key] === host[key]);
        if (first < j) {
          ctx.addIssue({
            code: 'custom',
            path: [j, key],
            message: `duplicate host ${key} '${host[key]}' (also hosts[${first}] of this set)`,
          });
        }
      });
    }
  });

const SetBaseSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
  hosts: SetHostsSchema,
  haproxy: SetHaproxySchema,
  /** Defaults for every service; `tlsCa`, `haproxyApiClientCert` and `redisClientCert` belong here only. */
  secrets: ClusterSecretsSchema.default({}),
  /** TLS to every service's nodes and Sentinels (one setting: the services share hosts and may share Sentinels). */
  tls: RedisTlsSchema.optional(),
});

/**
 * Several services on the same hosts, described once (the seed's layout): on each host, per service, a
 * redis-server and a Sentinel on the service's ports (or one shared Sentinel for every service), and one HAProxy
 * with a plain and a TLS frontend per service. parseDeploymentConfig expands each service into a cluster.
 */
export const HostSetSchema = z.discriminatedUnion('sentinels', [
  SetBaseSchema.extend({
    /** One Sentinel per service on each host, on the service's sentinelPort. */
    sentinels: z.literal('per-service'),
    sharedSentinelPort: setLevelOnly("per-service Sentinels listen on each service's sentinelPort"),
    services: z.array(SetServiceSchema.extend({ sentinelPort: port })).min(1),
  }),
  SetBaseSchema.extend({
    /** One Sentinel on each host, on sharedSentinelPort, monitoring every service's master. */
    sentinels: z.literal('shared'),
    sharedSentinelPort: port,
    services: z
      .array(
        SetServiceSchema.extend({
          sentinelPort: setLevelOnly(
            'the Sentinels of this set are shared: they listen on sharedSentinelPort',
          ),
          secrets: ServiceSecretsSchema.extend({
            sentinelPassword: setLevelOnly(
              "a shared Sentinel has one password for every service: give sentinelPassword in the set's secrets",
            ),
          }).default({}),
        }),
      )
      .min(1),
  }),
]);
export type HostSet = z.infer<typeof HostSetSchema>;

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
        /**
         * The Redis hosts' security groups. Given, the Lambdas' egress goes to them (one rule per group and port
         * range) rather than to each host's address, which the rule quota (60) caps at 59 hosts; the hosts' groups
         * must then allow ingress from the Lambdas' security group (output LambdaSecurityGroupId).
         */
        hostSecurityGroupIds: z
          .array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id such as sg-0abc1234'))
          .min(1)
          .optional(),
      })
      .refine((n) => n.availabilityZones.length === n.subnetIds.length, {
        message: 'one subnet per availability zone, in the same order',
        path: ['subnetIds'],
      }),
    /** The Slack app of this deployment. Required when any cluster has a `slack` block. */
    slack: z.strictObject({ signingSecret: SecretRefSchema, botToken: SecretRefSchema }).optional(),
    /**
     * The sentinel-event Lambda, which every Sentinel and node event reaches. Provisioned concurrency keeps that
     * many environments initialized on a `live` alias (the topic invokes the alias): the event of a crash or a
     * promotion then meets no cold start. 0: none (each failover after a quiet spell pays one, about a second).
     * `az-loss`: as many as the loss of one availability zone needs at once (its third of the clusters, with
     * room for their duplicate events), so that every one of those failovers meets a warm environment; the
     * fleet simulation measured what that buys ("Running many clusters" in the README).
     */
    sentinelEvent: z
      .strictObject({
        provisionedConcurrency: z
          .union([z.number().int().min(0).max(1000), z.literal(PROVISIONED_FOR_AZ_LOSS)])
          .default(1),
      })
      .default({ provisionedConcurrency: 1 }),
    /**
     * The account's Lambda concurrency quota in the region ("Concurrent executions", 1000 by default). The
     * stack's reservations (sentinel-event, reconcile, notify, Slack) may take at most half of it: synth refuses
     * a config that would take more (infra/constructs/concurrency.ts).
     */
    accountConcurrency: z.number().int().min(100).default(1000),
    /**
     * Customer-managed KMS keys that encrypt the clusters' secrets (SecureString parameters, Secrets Manager
     * secrets), by ARN: every function and host policy that reads a secret may decrypt with them, through SSM or
     * Secrets Manager only (kms:ViaService). Secrets under the AWS-managed keys need nothing here.
     */
    secretKeyArns: z
      .array(z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/, 'a KMS key ARN'))
      .default([]),
    /**
     * How long history entries are kept, in days: DynamoDB's TTL deletes an entry that long after it started
     * (within a few days of it, as TTL does). Failover claims, leases and pending fences never expire.
     */
    history: z
      .strictObject({ retentionDays: z.number().int().min(1).max(3650).default(400) })
      .default({ retentionDays: 400 }),
    clusters: z.array(DeployedClusterSchema).default([]),
    /** Services that share their hosts, described once per set (config/host-sets.ts expands them into clusters). */
    hostSets: z.array(HostSetSchema).default([]),
    /** Who may start switchovers and maintenance of which clusters (config/operators.ts). */
    operators: z.array(OperatorSchema).default([]),
  })
  .superRefine((config, ctx) => {
    if (config.clusters.length === 0 && config.hostSets.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['clusters'],
        message: 'give at least one cluster (clusters) or host set (hostSets)',
      });
    }
    config.hostSets.forEach((set, i) => {
      set.services.forEach((service, k) => {
        if (service.slack && !config.slack) {
          ctx.addIssue({
            code: 'custom',
            path: ['slack'],
            message: `service '${service.name}' (hostSets[${i}].services[${k}]) has a slack block, so the deployment needs slack.signingSecret and slack.botToken`,
          });
        }
      });
    });
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
        // The Runtime API moves the master: in plain TCP anyone in the VPC who reaches it could, and could read it.
        if (proxy.runtimeApi.kind === 'unix' || !proxy.runtimeApi.tls) {
          ctx.addIssue({
            code: 'custom',
            path: ['clusters', i, 'proxies', j, 'runtimeApi'],
            message:
              proxy.runtimeApi.kind === 'unix'
                ? 'a Lambda reaches HAProxy over the network: runtimeApi must be { kind: "tcp", host, port, tls: true }'
                : 'a Runtime API in plain TCP lets anyone in the VPC move the master: set tls: true (HAProxy `stats socket ipv4@<host>:<port> ssl crt ... ca-file ... verify required`)',
          });
        }
      });
    });
  });
/** The config file as written: clusters one by one and host sets. */
export type DeploymentFile = z.infer<typeof DeploymentConfigSchema>;
/** The config the code works with (parseDeploymentConfig): every host set expanded into clusters. */
export type DeploymentConfig = Omit<DeploymentFile, 'hostSets'>;

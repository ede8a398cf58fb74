import { z } from 'zod';

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

/** The secrets of one cluster. Absent means "none" (a cluster without passwords; doctor warns). */
export const ClusterSecretsSchema = z.strictObject({
  redisPassword: SecretRefSchema.optional(),
  sentinelPassword: SecretRefSchema.optional(),
  /** PEM of the CA that signed the TLS listeners (HAProxy TLS frontends, Runtime API, Redis and Sentinel with `tls`). */
  tlsCa: SecretRefSchema.optional(),
  /** PEM client certificate and key for the HAProxy Runtime API over TLS (one secret holding both). */
  haproxyApiClientCert: SecretRefSchema.optional(),
  /** PEM client certificate and key presented to Redis nodes and Sentinels over TLS (`tls`; one secret). */
  redisClientCert: SecretRefSchema.optional(),
});

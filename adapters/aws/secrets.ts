import { ParameterNotFoundError } from '@aws-lambda-powertools/parameters/errors';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { SecretRef } from '../../config/schema.ts';
import { AwsServiceError, ConfigurationError } from '../../core/model/errors.ts';
import { awsErrorName, describeAwsError } from './retry.ts';

/** Five minutes: a rotated password reaches every warm Lambda within that, at one read per container. */
export const DEFAULT_SECRET_MAX_AGE_S = 300;

/** Error names of a reference that points at nothing. */
const MISSING = new Set(['ParameterNotFound', 'ResourceNotFoundException']);
/** Error names that mean the role may not read or decrypt it. */
const NOT_ALLOWED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'DecryptionFailure',
  'KMSAccessDeniedException',
]);

/** Resolves a secret reference of the configuration to its value. */
export interface SecretSource {
  get(ref: SecretRef): Promise<string>;
}

/** The reference as people write it, for messages: never the value. */
export const describeSecretRef = (ref: SecretRef): string =>
  'ssmParameter' in ref
    ? `SSM parameter ${ref.ssmParameter}`
    : `Secrets Manager secret ${ref.secretsManager}${ref.jsonKey ? ` (key ${ref.jsonKey})` : ''}`;

export interface AwsSecretsOptions {
  ssm?: SSMClient;
  secretsManager?: SecretsManagerClient;
  /** Seconds a value is reused before it is read again (Powertools' maxAge); 300 by default. */
  maxAge?: number;
}

/**
 * Secrets read at run time through Powertools Parameters: SSM SecureString parameters (decrypted) and
 * Secrets Manager secrets, each cached for `maxAge` seconds. Errors name the reference, never the value.
 */
export class AwsSecrets implements SecretSource {
  private readonly ssm: SSMProvider;
  private readonly secretsManager: SecretsProvider;
  private readonly maxAge: number;

  constructor(options: AwsSecretsOptions = {}) {
    this.ssm = new SSMProvider(options.ssm ? { awsSdkV3Client: options.ssm } : {});
    this.secretsManager = new SecretsProvider(
      options.secretsManager ? { awsSdkV3Client: options.secretsManager } : {},
    );
    this.maxAge = options.maxAge ?? DEFAULT_SECRET_MAX_AGE_S;
  }

  async get(ref: SecretRef): Promise<string> {
    const raw = await this.read(ref).catch((error: unknown) => {
      throw readFailure(error, ref);
    });
    if ('ssmParameter' in ref || !ref.jsonKey) return raw;
    return valueAtKey(raw, ref.secretsManager, ref.jsonKey);
  }

  private async read(ref: SecretRef): Promise<string> {
    const options = { maxAge: this.maxAge, throwOnMissing: true } as const;
    if ('ssmParameter' in ref) return this.ssm.get(ref.ssmParameter, { ...options, decrypt: true });
    const value = await this.secretsManager.get(ref.secretsManager, options);
    return typeof value === 'string' ? value : new TextDecoder().decode(value);
  }
}

/** The ha-redis error for a read that failed; the SDK's message names the resource, never its value. */
function readFailure(error: unknown, ref: SecretRef): Error {
  const what = describeSecretRef(ref);
  // Powertools wraps the SDK error in a GetParameterError; its cause says what happened.
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const name = awsErrorName(cause);
  if (error instanceof ParameterNotFoundError || MISSING.has(name)) {
    return new ConfigurationError(
      `${what} does not exist (or is empty); create it, or fix the reference in the configuration`,
      { cause: error },
    );
  }
  if (NOT_ALLOWED.has(name)) {
    return new ConfigurationError(
      `${what} cannot be read by this role (${name}); grant it read and kms:Decrypt on the key that encrypts it`,
      { cause: error },
    );
  }
  return new AwsServiceError(`could not read ${what}: ${describeAwsError(cause)}; retry later`, {
    cause: error,
  });
}

/** The string at `key` of a JSON secret. Parse errors are not passed on: their text quotes the value. */
function valueAtKey(raw: string, secret: string, key: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigurationError(
      `Secrets Manager secret ${secret} is not JSON, but the configuration reads key ${key} of it; store a JSON object, or drop jsonKey`,
    );
  }
  const value =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)[key]
      : undefined;
  if (value === undefined) {
    throw new ConfigurationError(
      `Secrets Manager secret ${secret} has no key ${key}; add it, or fix jsonKey in the configuration`,
    );
  }
  if (typeof value !== 'string') {
    throw new ConfigurationError(
      `key ${key} of Secrets Manager secret ${secret} is not a string; store the value as a JSON string`,
    );
  }
  return value;
}

import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AwsSecrets, describeSecretRef } from '../../../adapters/aws/secrets.ts';
import type { SecretRef } from '../../../config/schema.ts';
import { AwsServiceError, ConfigurationError } from '../../../core/model/errors.ts';
import { START } from '../../support/fixtures.ts';
import { awsError, rejectionOf, throttling } from './sdk-errors.ts';

const ssmMock = mockClient(SSMClient);
const secretsMock = mockClient(SecretsManagerClient);
const PASSWORD = 'correct-horse-battery-staple';
const PARAMETER: SecretRef = { ssmParameter: '/ha-redis/prod/redis-password' };
const SECRET: SecretRef = { secretsManager: 'ha-redis/prod/sentinel' };

function secrets(maxAge?: number): AwsSecrets {
  return new AwsSecrets({
    ssm: new SSMClient({ region: 'eu-west-1' }),
    secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
    ...(maxAge === undefined ? {} : { maxAge }),
  });
}

/** The rejection of `get`, with a check that its message and its cause chain never carry the value. */
async function failureOf(source: AwsSecrets, ref: SecretRef, value = PASSWORD): Promise<Error> {
  const error = await rejectionOf(source.get(ref));
  for (let e: unknown = error; e instanceof Error; e = e.cause) expect(e.message).not.toContain(value);
  return error;
}

beforeEach(() => {
  ssmMock.reset();
  secretsMock.reset();
  // Powertools measures a value's age with Date.now(); only Date is faked.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(START);
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(() => {
  ssmMock.restore();
  secretsMock.restore();
});

describe('AwsSecrets.get', () => {
  it('reads an SSM parameter with decryption', async () => {
    // Arrange
    ssmMock
      .on(GetParameterCommand)
      .resolves({ Parameter: { Name: PARAMETER.ssmParameter, Value: PASSWORD } });

    // Act
    const value = await secrets().get(PARAMETER);

    // Assert
    expect(value).toBe(PASSWORD);
    expect(ssmMock.commandCalls(GetParameterCommand).map((c) => c.args[0].input)).toEqual([
      { Name: '/ha-redis/prod/redis-password', WithDecryption: true },
    ]);
  });

  it('reuses a value for maxAge seconds (300 by default), then reads it again', async () => {
    // Arrange
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: PASSWORD } });
    const source = secrets();

    // Act
    await source.get(PARAMETER);
    vi.setSystemTime(START + 300_000);
    await source.get(PARAMETER);
    const callsWithinMaxAge = ssmMock.commandCalls(GetParameterCommand).length;
    vi.setSystemTime(START + 300_001);
    await source.get(PARAMETER);

    // Assert
    expect(callsWithinMaxAge).toBe(1);
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(2);
  });

  it('honours a shorter maxAge', async () => {
    // Arrange
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: PASSWORD });
    const source = secrets(5);

    // Act
    await source.get(SECRET);
    vi.setSystemTime(START + 4_000);
    await source.get(SECRET);
    vi.setSystemTime(START + 5_001);
    await source.get(SECRET);

    // Assert
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('reads a Secrets Manager secret string', async () => {
    // Arrange
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: PASSWORD });

    // Act
    const value = await secrets().get(SECRET);

    // Assert
    expect(value).toBe(PASSWORD);
    expect(secretsMock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([
      { SecretId: 'ha-redis/prod/sentinel' },
    ]);
  });

  it('decodes a binary secret as UTF-8', async () => {
    // Arrange
    secretsMock
      .on(GetSecretValueCommand)
      .resolves({ SecretBinary: new TextEncoder().encode('-----BEGIN CERT') });

    // Act
    const value = await secrets().get(SECRET);

    // Assert
    expect(value).toBe('-----BEGIN CERT');
  });

  it('reads the key of a JSON secret, and one read serves every key of it', async () => {
    // Arrange
    secretsMock
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ password: PASSWORD, username: 'ha-redis' }) });
    const source = secrets();

    // Act
    const password = await source.get({ ...SECRET, jsonKey: 'password' });
    const username = await source.get({ ...SECRET, jsonKey: 'username' });

    // Assert
    expect([password, username]).toEqual([PASSWORD, 'ha-redis']);
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('names the missing key of a JSON secret, never its values', async () => {
    // Arrange
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ pass: PASSWORD }) });

    // Act
    const error = await failureOf(secrets(), { ...SECRET, jsonKey: 'password' });

    // Assert
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      'Secrets Manager secret ha-redis/prod/sentinel has no key password; add it, or fix jsonKey in the configuration',
    );
  });

  it('refuses a jsonKey on a secret that is not JSON, without quoting it', async () => {
    // Arrange
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: PASSWORD });

    // Act
    const error = await failureOf(secrets(), { ...SECRET, jsonKey: 'password' });

    // Assert
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      'Secrets Manager secret ha-redis/prod/sentinel is not JSON, but the configuration reads key password of it; store a JSON object, or drop jsonKey',
    );
    expect(error.cause).toBeUndefined();
  });

  it('refuses a key whose value is not a string', async () => {
    // Arrange
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ password: 12345 }) });

    // Act
    const error = await failureOf(secrets(), { ...SECRET, jsonKey: 'password' }, '12345');

    // Assert
    expect(error.message).toBe(
      'key password of Secrets Manager secret ha-redis/prod/sentinel is not a string; store the value as a JSON string',
    );
  });

  it.each([
    {
      ref: PARAMETER,
      arrange: () =>
        ssmMock
          .on(GetParameterCommand)
          .rejects(new ParameterNotFound({ message: 'not found', $metadata: {} })),
      named: 'SSM parameter /ha-redis/prod/redis-password',
    },
    {
      ref: { ...SECRET, jsonKey: 'password' },
      arrange: () =>
        secretsMock.on(GetSecretValueCommand).rejects(
          new ResourceNotFoundException({
            message: "Secrets Manager can't find the secret",
            $metadata: {},
          }),
        ),
      named: 'Secrets Manager secret ha-redis/prod/sentinel (key password)',
    },
  ])('names a missing $named as configuration', async ({ ref, arrange, named }) => {
    // Arrange
    arrange();

    // Act
    const error = await failureOf(secrets(), ref);

    // Assert
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      `${named} does not exist (or is empty); create it, or fix the reference in the configuration`,
    );
  });

  it('reports a denied read or decryption as configuration', async () => {
    // Arrange
    ssmMock
      .on(GetParameterCommand)
      .rejects(awsError('AccessDeniedException', 'not authorized to perform ssm:GetParameter', 403));
    secretsMock.on(GetSecretValueCommand).rejects(awsError('DecryptionFailure', 'KMS key access denied'));

    // Act
    const ssmError = await failureOf(secrets(), PARAMETER);
    const secretError = await failureOf(secrets(), SECRET);

    // Assert
    expect(ssmError).toBeInstanceOf(ConfigurationError);
    expect(ssmError.message).toBe(
      'SSM parameter /ha-redis/prod/redis-password cannot be read by this role (AccessDeniedException); grant it read and kms:Decrypt on the key that encrypts it',
    );
    expect(secretError.message).toBe(
      'Secrets Manager secret ha-redis/prod/sentinel cannot be read by this role (DecryptionFailure); grant it read and kms:Decrypt on the key that encrypts it',
    );
  });

  it('reports any other failure as a passing AWS error to retry, and caches nothing', async () => {
    // Arrange
    ssmMock
      .on(GetParameterCommand)
      .rejectsOnce(throttling())
      .resolves({ Parameter: { Value: PASSWORD } });
    const source = secrets();

    // Act
    const error = await failureOf(source, PARAMETER);
    const retried = await source.get(PARAMETER);

    // Assert
    expect(error).toBeInstanceOf(AwsServiceError);
    expect(error.message).toBe(
      'could not read SSM parameter /ha-redis/prod/redis-password: ThrottlingException: Rate exceeded; retry later',
    );
    expect(retried).toBe(PASSWORD);
  });
});

describe('describeSecretRef', () => {
  it('names the reference as the configuration does', () => {
    // Act
    const names = [PARAMETER, SECRET, { ...SECRET, jsonKey: 'password' }].map(describeSecretRef);

    // Assert
    expect(names).toEqual([
      'SSM parameter /ha-redis/prod/redis-password',
      'Secrets Manager secret ha-redis/prod/sentinel',
      'Secrets Manager secret ha-redis/prod/sentinel (key password)',
    ]);
  });
});

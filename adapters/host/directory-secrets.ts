import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import type { SecretRef } from '../../config/schema.ts';
import { ConfigurationError } from '../../core/model/errors.ts';
import { describeSecretRef, type SecretSource } from '../aws/secrets.ts';

/**
 * Secrets from files under one directory, named like the references (`/ha-redis/orders/redis-password` ->
 * `<dir>/ha-redis/orders/redis-password`): for a cluster outside AWS, or to run without AWS credentials.
 * Errors name the reference and the file, never the value.
 */
export class DirectorySecrets implements SecretSource {
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  async get(ref: SecretRef): Promise<string> {
    const name = 'ssmParameter' in ref ? ref.ssmParameter : ref.secretsManager;
    const path = normalize(join(this.dir, name));
    if (!path.startsWith(normalize(this.dir))) {
      throw new ConfigurationError(`${describeSecretRef(ref)} points outside the secrets directory`);
    }
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new ConfigurationError(
        `${describeSecretRef(ref)} is not in the secrets directory (${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
    }
    if ('secretsManager' in ref && ref.jsonKey) {
      const value = (() => {
        try {
          return (JSON.parse(text) as Record<string, unknown>)[ref.jsonKey];
        } catch {
          return undefined;
        }
      })();
      if (typeof value !== 'string') {
        throw new ConfigurationError(`${describeSecretRef(ref)}: ${path} has no string key ${ref.jsonKey}`);
      }
      return value;
    }
    // A PEM keeps its trailing newline; a password file's newline is not part of the password.
    return text.includes('-----BEGIN') ? text : text.trim();
  }
}

import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseDeploymentConfig } from '../../config/load.ts';
import type { DeploymentConfig } from '../../config/schema.ts';
import { ConfigurationError, errorMessage } from '../../core/model/errors.ts';
import type { Clock, Logger } from '../../core/ports.ts';

/** Where the deployment config lives: the object the stack deploys (one fixed key, so no Lambda changes with it). */
export interface ConfigObject {
  bucket: string;
  key: string;
}

export interface S3ConfigSourceOptions extends ConfigObject {
  client: S3Client;
  clock: Clock;
  logger: Logger;
  /** How long a read config is used before S3 is asked again whether it changed (a conditional GET). */
  refreshMs?: number;
}

/** How often a warm container asks whether the config changed: a new cluster is picked up within a minute. */
export const CONFIG_REFRESH_MS = 60_000;

interface Read {
  config: DeploymentConfig;
  etag: string | undefined;
  checkedAt: number;
}

/**
 * The deployment config, read from S3 at the first use and cached; after `refreshMs` a conditional GET
 * (If-None-Match: the ETag read) asks whether it changed, which costs no body when it did not.
 *
 * Only the first read is waited for: without a config nothing can be acted on, and its error says which object.
 * After that the config in use is served at once, and a due refresh runs beside it (stale while revalidating):
 * a failover never waits on S3. A refresh that fails, or a changed object that is invalid, keeps the config in
 * use (a bad push is never half applied): it is logged, and asked again after `refreshMs`.
 */
export class S3ConfigSource {
  private readonly o: S3ConfigSourceOptions;
  private read: Read | undefined;
  private pending: Promise<DeploymentConfig> | undefined;

  constructor(options: S3ConfigSourceOptions) {
    this.o = options;
  }

  /** `s3://bucket/key`, as errors and logs name the object. */
  get location(): string {
    return `s3://${this.o.bucket}/${this.o.key}`;
  }

  /**
   * The config to act on now: the one in use (a due refresh starts beside it, one request at a time), or, at the
   * first use, what S3 has.
   */
  async current(): Promise<DeploymentConfig> {
    const { read } = this;
    const due = !read || this.o.clock.now() - read.checkedAt >= (this.o.refreshMs ?? CONFIG_REFRESH_MS);
    if (due) {
      this.pending ??= this.fetch(read).finally(() => {
        this.pending = undefined;
      });
    }
    if (read) {
      // A refresh never rejects once a config is in use (it keeps that one), but nothing may go unhandled.
      this.pending?.catch(() => undefined);
      return read.config;
    }
    return this.pending as Promise<DeploymentConfig>;
  }

  /** Resolves once no refresh is under way (the next `current()` then serves its result). */
  async settled(): Promise<void> {
    await this.pending?.catch(() => undefined);
  }

  private async fetch(previous: Read | undefined): Promise<DeploymentConfig> {
    const checkedAt = this.o.clock.now();
    let text: string;
    let etag: string | undefined;
    try {
      const out = await this.o.client.send(
        new GetObjectCommand({
          Bucket: this.o.bucket,
          Key: this.o.key,
          ...(previous?.etag ? { IfNoneMatch: previous.etag } : {}),
        }),
      );
      text = (await out.Body?.transformToString('utf8')) ?? '';
      etag = out.ETag;
    } catch (error) {
      // S3 answers 304 to If-None-Match as an error (aws-sdk-js-v3 #5860: its name is not even stable).
      if (previous && statusOf(error) === 304) return this.keep(previous, checkedAt);
      if (!previous) {
        throw new ConfigurationError(
          `cannot read the deployment config ${this.location}: ${errorMessage(error)}`,
          {
            cause: error,
          },
        );
      }
      this.o.logger.warn('cannot read the deployment config; keeping the one in use', {
        location: this.location,
        error: errorMessage(error),
      });
      return this.keep(previous, checkedAt);
    }
    return this.accept(text, etag, previous, checkedAt);
  }

  /** A new body: validated whole, then used; an invalid one is refused, keeping the previous config if any. */
  private accept(text: string, etag: string | undefined, previous: Read | undefined, checkedAt: number) {
    let config: DeploymentConfig;
    try {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        throw new ConfigurationError(`${this.location} is not valid JSON: ${errorMessage(error)}`);
      }
      config = parseDeploymentConfig(json, this.location);
    } catch (error) {
      if (!previous) throw error;
      this.o.logger.error('the deployment config changed but is invalid; keeping the one in use', {
        location: this.location,
        error: errorMessage(error),
      });
      return this.keep(previous, checkedAt);
    }
    if (previous) {
      this.o.logger.info('the deployment config changed', {
        location: this.location,
        clusters: config.clusters.length,
      });
    }
    this.read = { config, etag, checkedAt };
    return config;
  }

  private keep(previous: Read, checkedAt: number): DeploymentConfig {
    this.read = { ...previous, checkedAt };
    return previous.config;
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

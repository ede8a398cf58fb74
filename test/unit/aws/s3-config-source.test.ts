import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_REFRESH_MS, S3ConfigSource } from '../../../adapters/aws/s3-config-source.ts';
import { ConfigurationError } from '../../../core/model/errors.ts';
import type { Logger } from '../../../core/ports.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { CONFIG_OBJECT, EXAMPLE_CONFIG_TEXT, serveObject } from './s3-config-object.ts';
import { awsError, rejectionOf } from './sdk-errors.ts';

const s3 = mockClient(S3Client);
beforeEach(() => s3.reset());
afterAll(() => s3.restore());

/** The example config with one cluster fewer: what a push that adds or removes a cluster looks like. */
const withoutSessions = (() => {
  const json = JSON.parse(EXAMPLE_CONFIG_TEXT) as { clusters: { name: string }[] };
  return JSON.stringify({ ...json, clusters: json.clusters.filter((c) => c.name !== 'sessions') });
})();

/** Every log line with its attributes (the error text the config source gives is in them). */
class AttributeLogger implements Logger {
  readonly lines: { level: string; message: string; attributes?: Record<string, unknown> }[] = [];
  debug = (message: string, attributes?: Record<string, unknown>) => this.push('debug', message, attributes);
  info = (message: string, attributes?: Record<string, unknown>) => this.push('info', message, attributes);
  warn = (message: string, attributes?: Record<string, unknown>) => this.push('warn', message, attributes);
  error = (message: string, attributes?: Record<string, unknown>) => this.push('error', message, attributes);
  private push(level: string, message: string, attributes?: Record<string, unknown>): void {
    this.lines.push({ level, message, ...(attributes ? { attributes } : {}) });
  }
}

function source() {
  const clock = new FakeClock();
  const logger = new AttributeLogger();
  const config = new S3ConfigSource({ client: new S3Client({}), ...CONFIG_OBJECT, clock, logger });
  return { config, clock, logger };
}

const requests = () => s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input);

describe('S3ConfigSource: the deployment config read at run time', () => {
  it('reads and validates the object once, then serves it from memory until the refresh is due', async () => {
    // Arrange
    serveObject(s3, { text: EXAMPLE_CONFIG_TEXT, etag: '"v1"' });
    const { config, clock } = source();

    // Act
    const first = await config.current();
    clock.advance(CONFIG_REFRESH_MS - 1);
    const second = await config.current();

    // Assert
    expect(first.clusters.map((c) => c.name)).toEqual(['orders', 'sessions']);
    expect(second).toBe(first);
    expect(requests()).toEqual([{ Bucket: CONFIG_OBJECT.bucket, Key: CONFIG_OBJECT.key }]);
  });

  it('asks with If-None-Match after the refresh interval and keeps the same object when S3 says 304', async () => {
    // Arrange
    serveObject(s3, { text: EXAMPLE_CONFIG_TEXT, etag: '"v1"' });
    const { config, clock } = source();
    const first = await config.current();

    // Act
    clock.advance(CONFIG_REFRESH_MS);
    const second = await config.current();
    await config.settled();
    const third = await config.current();

    // Assert: one conditional GET; the same object, so nothing built on it is rebuilt.
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(requests()).toEqual([
      { Bucket: CONFIG_OBJECT.bucket, Key: CONFIG_OBJECT.key },
      { Bucket: CONFIG_OBJECT.bucket, Key: CONFIG_OBJECT.key, IfNoneMatch: '"v1"' },
    ]);
  });

  it('picks up a changed object (a cluster removed) at the next refresh, and says so', async () => {
    // Arrange
    serveObject(s3, { text: EXAMPLE_CONFIG_TEXT, etag: '"v1"' });
    const { config, clock, logger } = source();
    await config.current();
    serveObject(s3, { text: withoutSessions, etag: '"v2"' });

    // Act: the call that finds the refresh due is served the config in use; the next one, the new object.
    clock.advance(CONFIG_REFRESH_MS);
    const during = await config.current();
    await config.settled();
    const changed = await config.current();

    // Assert
    expect(during.clusters.map((c) => c.name)).toEqual(['orders', 'sessions']);
    expect(changed.clusters.map((c) => c.name)).toEqual(['orders']);
    expect(logger.lines.map((e) => e.message)).toContain('the deployment config changed');
  });

  it('keeps the config in use when a changed object is invalid: a bad push is never half applied', async () => {
    // Arrange
    serveObject(s3, { text: EXAMPLE_CONFIG_TEXT, etag: '"v1"' });
    const { config, clock, logger } = source();
    const first = await config.current();
    serveObject(s3, { text: JSON.stringify({ name: 'ha-redis', clusters: 'none' }), etag: '"v2"' });

    // Act
    clock.advance(CONFIG_REFRESH_MS);
    await config.current();
    await config.settled();
    const kept = await config.current();

    // Assert
    expect(kept).toBe(first);
    const error = logger.lines.find((e) => e.level === 'error');
    expect(error?.message).toBe('the deployment config changed but is invalid; keeping the one in use');
    expect(String(error?.attributes?.error)).toContain(
      `s3://${CONFIG_OBJECT.bucket}/${CONFIG_OBJECT.key} is invalid`,
    );
  });

  it('keeps the config in use when S3 cannot be reached after the first read, and asks again later', async () => {
    // Arrange
    serveObject(s3, { text: EXAMPLE_CONFIG_TEXT, etag: '"v1"' });
    const { config, clock, logger } = source();
    const first = await config.current();
    s3.on(GetObjectCommand).rejects(awsError('InternalError', 'We encountered an internal error', 500));

    // Act
    clock.advance(CONFIG_REFRESH_MS);
    const kept = await config.current();
    await config.settled();
    const again = await config.current();

    // Assert: one failed request, not one per call.
    expect(kept).toBe(first);
    expect(again).toBe(first);
    expect(requests()).toHaveLength(2);
    expect(logger.lines.find((e) => e.level === 'warn')?.message).toBe(
      'cannot read the deployment config; keeping the one in use',
    );
  });

  it('fails the first read with an error that names the object, when S3 refuses it', async () => {
    // Arrange
    s3.on(GetObjectCommand).rejects(awsError('AccessDenied', 'Access Denied', 403));
    const { config } = source();

    // Act
    const error = await rejectionOf(config.current());

    // Assert
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      `cannot read the deployment config s3://${CONFIG_OBJECT.bucket}/${CONFIG_OBJECT.key}: Access Denied`,
    );
  });

  it('fails the first read when the object is not JSON, naming it', async () => {
    // Arrange
    serveObject(s3, { text: '{ not json', etag: '"v1"' });
    const { config } = source();

    // Act
    const error = await rejectionOf(config.current());

    // Assert
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(
      /^s3:\/\/ha-redis-config-bucket\/deployment-config\.json is not valid JSON/,
    );
  });

  it('shares one request among callers that arrive together', async () => {
    // Arrange
    serveObject(s3, { text: EXAMPLE_CONFIG_TEXT, etag: '"v1"' });
    const { config } = source();

    // Act
    const [a, b, c] = await Promise.all([config.current(), config.current(), config.current()]);

    // Assert
    expect(requests()).toHaveLength(1);
    expect(b).toBe(a);
    expect(c).toBe(a);
  });

  it('never makes a caller wait on a refresh once a config is in use, even when S3 does not answer', async () => {
    // Arrange
    serveObject(s3, { text: EXAMPLE_CONFIG_TEXT, etag: '"v1"' });
    const { config, clock } = source();
    const first = await config.current();
    s3.on(GetObjectCommand).callsFake(() => new Promise(() => undefined));

    // Act
    clock.advance(CONFIG_REFRESH_MS);
    const served = await Promise.race([
      config.current(),
      new Promise((resolve) => setTimeout(() => resolve('waited'), 1000)),
    ]);

    // Assert
    expect(served).toBe(first);
    expect(requests()).toHaveLength(2);
  });
});

import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CONFIG_REFRESH_MS } from '../../../adapters/aws/s3-config-source.ts';
import { awsDeps } from '../../../compose/aws.ts';
import { silentLogger } from '../../fakes/reporting.ts';
import { EXAMPLE_CONFIG_TEXT, LAMBDA_TEST_ENV, serveObject } from './s3-config-object.ts';

/** The AWS composition root on a config read from S3: built once, rebuilt around a changed config only. */

const s3 = mockClient(S3Client);
const env = LAMBDA_TEST_ENV;
beforeEach(() => {
  s3.reset();
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(() => vi.useRealTimers());
afterAll(() => s3.restore());

describe('awsDeps: the deployment config at run time', () => {
  it('keeps one composition while the config is unchanged, and rebuilds around a changed one, keeping the clients', async () => {
    // Arrange
    serveObject(s3, { text: EXAMPLE_CONFIG_TEXT, etag: '"v1"' });
    const first = await awsDeps(silentLogger, env);

    // Act 1: within the refresh interval, and after it when S3 says 304.
    const same = await awsDeps(silentLogger, env);
    vi.advanceTimersByTime(CONFIG_REFRESH_MS);
    const unchanged = await awsDeps(silentLogger, env);

    // Act 2: a push that removes a cluster.
    const json = JSON.parse(EXAMPLE_CONFIG_TEXT) as { clusters: { name: string }[] };
    const text = JSON.stringify({ ...json, clusters: json.clusters.filter((c) => c.name === 'orders') });
    serveObject(s3, { text, etag: '"v2"' });
    vi.advanceTimersByTime(CONFIG_REFRESH_MS);
    // (served the config in use while the refresh runs beside it; then the new one)
    const during = await awsDeps(silentLogger, env);
    let changed = during;
    for (let i = 0; i < 50 && changed === during; i += 1) {
      await new Promise((resolve) => setImmediate(resolve));
      changed = await awsDeps(silentLogger, env);
    }

    // Assert
    expect(first.clusters.names()).toEqual(['orders', 'sessions']);
    expect(same).toBe(first);
    expect(unchanged).toBe(first);
    expect(during).toBe(first);
    expect(changed).not.toBe(first);
    expect(changed.clusters.names()).toEqual(['orders']);
    expect(() => changed.clusters.get('sessions')).toThrow(/unknown cluster 'sessions'/);
    // The connection pool and the AWS clients stay: only what depends on the config is new.
    expect(changed.failover.sentinels).toBe(first.failover.sentinels);
    expect(changed.failover.router).toBe(first.failover.router);
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.IfNoneMatch)).toEqual([
      undefined,
      '"v1"',
      '"v1"',
    ]);
  });
});

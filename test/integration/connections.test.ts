/**
 * The connection pool against a real redis-server: a pooled connection the server closed (a restarted node, or
 * Sentinel's CLIENT KILL TYPE normal after a promotion) is replaced at once, and the command answers; a node that
 * is gone is still reported unreachable.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnections } from '../../adapters/redis/connections.ts';
import { freePorts, startDetached, waitForPort } from '../../local/processes.ts';

let port = 0;
let pid = 0;
const noSecrets = { redisPassword: async () => undefined, sentinelPassword: async () => undefined };

beforeAll(async () => {
  [port = 0] = await freePorts(1);
  const dir = mkdtempSync(join(tmpdir(), 'ha-redis-connections-'));
  pid = startDetached(
    'redis-server',
    ['--port', String(port), '--save', '', '--dir', dir],
    join(dir, 'redis.log'),
  );
  await waitForPort(port, 10_000, 'redis-server');
});

afterAll(() => {
  if (pid) process.kill(pid, 'SIGKILL');
});

describe('RedisConnections', () => {
  it('replaces a pooled connection that the server closed, and answers on a fresh one', async () => {
    // Arrange: a pooled connection, then every normal client killed, as Sentinel does after a promotion.
    const pool = new RedisConnections(noSecrets);
    const node = { host: '127.0.0.1', port };
    const role = () => pool.run('redis', node, 1000, (c) => c.call('ROLE')).then((r) => (r as unknown[])[0]);
    expect(await role()).toBe('master');
    const admin = new Redis({ port, lazyConnect: true });
    await admin.connect();
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    admin.disconnect();
    // And the race itself: a command sent on a pooled connection whose socket just closed.
    let first = true;
    const onClosedSocket = () =>
      pool.run('redis', node, 1000, (c) => {
        if (first) {
          first = false;
          c.stream.destroy();
        }
        return c.call('ROLE').then((r) => (r as unknown[])[0]);
      });

    // Act
    const afterKill = await role();
    const afterClose = await onClosedSocket();

    // Assert
    expect(afterKill).toBe('master');
    expect(afterClose).toBe('master');
    await pool.close();
  });

  it('still reports a node that does not answer as unreachable', async () => {
    // Arrange: nothing listens on the port any more.
    const [closed = 0] = await freePorts(1);
    const pool = new RedisConnections(noSecrets);

    // Act
    const error = await pool
      .run('redis', { host: '127.0.0.1', port: closed }, 500, (c) => c.call('ROLE'))
      .catch((e: Error) => e);

    // Assert
    expect(error).toMatchObject({ name: 'UnreachableError' });
    await pool.close();
  });
});

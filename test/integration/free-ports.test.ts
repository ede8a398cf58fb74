import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePorts } from '../../local/processes.ts';

const ephemeralLow = async () =>
  Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/)[0]);

describe('freePorts', () => {
  it('hands concurrent callers distinct ports below the ephemeral range, and skips a port in use', async () => {
    // Arrange: the next port the shared counter will hand out is taken by a listener on every address. (The
    // counter is not rewound: other test processes share it.)
    await freePorts(1);
    const taken = Number(await readFile(join(tmpdir(), 'ha-redis-next-port'), 'utf8'));
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(taken, '0.0.0.0', resolve));

    // Act
    const batches = await Promise.all([freePorts(4), freePorts(4), freePorts(4)]);
    await new Promise((resolve) => blocker.close(resolve));

    // Assert
    const all = batches.flat();
    expect(new Set(all).size).toBe(12);
    expect(all).not.toContain(taken);
    const low = await ephemeralLow();
    for (const port of all) expect(port).toBeLessThan(low);
  });
});

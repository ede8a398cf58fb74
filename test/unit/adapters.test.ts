import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseServersState } from '../../adapters/haproxy/runtime-api.ts';
import { readZone, renderZone, ZoneFileDns } from '../../adapters/host/zone-file-dns.ts';
import { parseInfo } from '../../adapters/redis/redis-nodes.ts';
import { fieldsOf } from '../../adapters/redis/sentinel-view.ts';
import { N1, N2, N3, testCluster } from '../support/fixtures.ts';

describe('parseServersState', () => {
  // `show servers state redis_master` as HAProxy 2.6 answers it: version line, header, one row, blank line.
  const ANSWER = [
    '1',
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port',
    '4 redis_master 1 master 127.0.0.1 2 0 1 1 0 1 0 0 0 0 0 0 - 45353 - 0 0 - - 0',
    '',
    '',
  ].join('\n');

  it('keys the server row by the header columns', () => {
    // Act
    const rows = parseServersState(ANSWER);

    // Assert: the format version line before the header is not a row.
    expect(rows).toHaveLength(1);
    const master = rows.find((r) => r.srv_name === 'master');
    expect(master).toMatchObject({
      be_id: '4',
      be_name: 'redis_master',
      srv_id: '1',
      srv_name: 'master',
      srv_addr: '127.0.0.1',
      srv_op_state: '2',
      srv_admin_state: '0',
      srv_fqdn: '-',
      srv_port: '45353',
      srv_use_ssl: '0',
      srv_agent_port: '0',
    });
    expect(Object.keys(master ?? {})).toHaveLength(25);
  });

  it('reads one row per server of the backend', () => {
    // Arrange
    const answer = `${ANSWER.trimEnd()}\n4 redis_master 2 replica 127.0.0.1 0 1 1 1 12 1 0 0 0 0 0 0 - 45354 - 0 0 - - 0\n`;

    // Act
    const rows = parseServersState(answer);

    // Assert
    expect(rows.filter((r) => r.be_name === 'redis_master').map((r) => [r.srv_name, r.srv_port])).toEqual([
      ['master', '45353'],
      ['replica', '45354'],
    ]);
  });

  it('returns no rows for an answer without a header (e.g. an error message)', () => {
    // Act
    const rows = parseServersState("Can't find backend.\n");

    // Assert
    expect(rows).toEqual([]);
  });
});

describe('fieldsOf', () => {
  it('turns a SENTINEL MASTER reply into a map of its fields', () => {
    // Arrange
    const reply = [
      'name',
      'mymaster',
      'ip',
      '10.0.1.22',
      'port',
      '6379',
      'flags',
      'master',
      'config-epoch',
      '7',
      'num-other-sentinels',
      '2',
      'quorum',
      '2',
      'failover-state',
      'none',
    ];

    // Act
    const fields = fieldsOf(reply);

    // Assert
    expect(fields.get('ip')).toBe('10.0.1.22');
    expect(fields.get('config-epoch')).toBe('7');
    expect(fields.get('failover-state')).toBe('none');
    expect(fields.size).toBe(8);
  });

  it('stringifies values and drops a trailing field without a value', () => {
    // Act
    const fields = fieldsOf(['port', 6379, 'dangling']);

    // Assert
    expect([...fields]).toEqual([['port', '6379']]);
  });

  it('gives an empty map for a reply that is not an array', () => {
    // Act
    const fields = [fieldsOf(null), fieldsOf('ERR No such master with that name'), fieldsOf(undefined)];

    // Assert
    expect(fields.map((f) => f.size)).toEqual([0, 0, 0]);
  });
});

describe('parseInfo', () => {
  it('reads the fields of INFO replication of a master, skipping the section header', () => {
    // Arrange
    const text = [
      '# Replication',
      'role:master',
      'connected_slaves:2',
      'slave0:ip=10.0.1.21,port=6379,state=online,offset=1200,lag=0',
      'slave1:ip=10.0.1.23,port=6379,state=online,offset=1200,lag=1',
      'master_failover_state:no-failover',
      'master_replid:8e1f0c4f5a4c0a6f3d2b1e9d7c6b5a4f3e2d1c0b',
      'master_repl_offset:1200',
      '',
    ].join('\r\n');

    // Act
    const info = parseInfo(text);

    // Assert
    expect(info.get('role')).toBe('master');
    expect(info.get('master_repl_offset')).toBe('1200');
    expect(info.get('slave0')).toBe('ip=10.0.1.21,port=6379,state=online,offset=1200,lag=0');
    expect(info.has('# Replication')).toBe(false);
    expect(info.size).toBe(7);
  });

  it('reads the master link of a replica', () => {
    // Arrange
    const text =
      '# Replication\nrole:slave\nmaster_host:10.0.1.22\nmaster_port:6379\nmaster_link_status:up\nslave_repl_offset:1187\n';

    // Act
    const info = parseInfo(text);

    // Assert
    expect(Object.fromEntries(info)).toEqual({
      role: 'slave',
      master_host: '10.0.1.22',
      master_port: '6379',
      master_link_status: 'up',
      slave_repl_offset: '1187',
    });
  });
});

describe('zone file DNS', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ha-redis-zone-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('renders an A and an SRV record under a fully qualified name', () => {
    // Act
    const text = renderZone(testCluster(), N2, 7, new Date('2024-11-24T16:00:00.000Z'));

    // Assert
    expect(text).toBe(
      [
        '; ha-redis epoch 7 updated 2024-11-24T16:00:00.000Z',
        'master.orders.redis.internal. 5 IN A 10.0.1.22',
        '_redis._tcp.master.orders.redis.internal. 5 IN SRV 0 0 6379 master.orders.redis.internal.',
        '',
      ].join('\n'),
    );
  });

  it('reads back what it renders', () => {
    // Arrange
    const text = renderZone(testCluster(), { host: '10.0.1.23', port: 6390 }, 12, new Date());

    // Act
    const zone = readZone(text);

    // Assert
    expect(zone).toEqual({ epoch: 12, master: { host: '10.0.1.23', port: 6390 } });
  });

  it('reads nothing from text that is not its zone file', () => {
    // Act
    const zones = [readZone(''), readZone('master 5 IN A 10.0.1.22\n')];

    // Assert
    expect(zones).toEqual([undefined, undefined]);
  });

  it('creates the zone file and moves it forward in epoch', async () => {
    // Arrange
    const cluster = testCluster();
    const path = join(dir, 'orders.zone');
    const dns = new ZoneFileDns(path);

    // Act
    const first = await dns.upsertMaster(cluster, N1, 6);
    const second = await dns.upsertMaster(cluster, N2, 7);

    // Assert
    expect([first, second]).toEqual(['updated', 'updated']);
    expect(readZone(await readFile(path, 'utf8'))).toEqual({ epoch: 7, master: N2 });
    expect(await readdir(dir)).toEqual(['orders.zone']);
  });

  it('never moves back to an older epoch', async () => {
    // Arrange
    const cluster = testCluster();
    const path = join(dir, 'orders.zone');
    const dns = new ZoneFileDns(path);
    await dns.upsertMaster(cluster, N2, 7);

    // Act
    const result = await dns.upsertMaster(cluster, N1, 6);

    // Assert
    expect(result).toBe('stale');
    expect(readZone(await readFile(path, 'utf8'))).toEqual({ epoch: 7, master: N2 });
  });

  it('never ends at an older epoch when two writers race', async () => {
    // Arrange
    const cluster = testCluster();
    const path = join(dir, 'orders.zone');
    const a = new ZoneFileDns(path);
    const b = new ZoneFileDns(path);

    // Act
    const results = await Promise.all([a.upsertMaster(cluster, N3, 8), b.upsertMaster(cluster, N2, 7)]);

    // Assert
    expect(results[0]).toBe('updated');
    expect(readZone(await readFile(path, 'utf8'))).toEqual({ epoch: 8, master: N3 });
    expect(await readdir(dir)).toEqual(['orders.zone']);
  });

  it('leaves the same master at the same epoch unchanged', async () => {
    // Arrange
    const cluster = testCluster();
    const path = join(dir, 'orders.zone');
    const dns = new ZoneFileDns(path);
    await dns.upsertMaster(cluster, N2, 7);
    const before = await readFile(path, 'utf8');

    // Act
    const result = await dns.upsertMaster(cluster, N2, 7);

    // Assert
    expect(result).toBe('unchanged');
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  it('takes over the lock of a writer that died holding it, and waits for a live one', async () => {
    // Arrange: a lock left by a process that has exited, then one held by this (live) process.
    const path = join(dir, 'orders.zone');
    const dead = spawnSync('true').pid;
    await writeFile(`${path}.lock`, String(dead));

    // Act
    const started = Date.now();
    const result = await new ZoneFileDns(path).upsertMaster(testCluster(), N2, 1);
    const tookMs = Date.now() - started;
    await writeFile(`${path}.lock`, String(process.pid));
    const held = await new ZoneFileDns(path)
      .upsertMaster(testCluster(), N3, 2)
      .catch((e: Error) => e.message);

    // Assert
    expect(result).toBe('updated');
    expect(tookMs).toBeLessThan(1000);
    expect(held).toMatch(/is locked by another writer/);
  });

  it('serializes concurrent writers through a lock that always names its holder, and leaves no lock file behind', async () => {
    // Arrange: 8 writers at once; a watcher reads the lock whenever it exists.
    const path = join(dir, 'orders.zone');
    const seen: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const content = await readFile(`${path}.lock`, 'utf8').catch(() => undefined);
        if (content !== undefined) seen.push(content);
        await new Promise((r) => setImmediate(r));
      }
    })();

    // Act
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => new ZoneFileDns(path).upsertMaster(testCluster(), N2, i + 1)),
    );
    watching = false;
    await watcher;

    // Assert: each lock read named this process (never empty), and only the zone file is left.
    expect(results.filter((r) => r === 'updated').length).toBeGreaterThanOrEqual(1);
    expect(seen.every((c) => c === String(process.pid))).toBe(true);
    expect(await readdir(dir)).toEqual(['orders.zone']);
    expect(await readFile(path, 'utf8')).toMatch(/^; ha-redis epoch 8 /);
  });

  it('overwrites a file that holds no zone of its own', async () => {
    // Arrange
    const path = join(dir, 'orders.zone');
    await writeFile(path, 'garbage\n');

    // Act
    const result = await new ZoneFileDns(path).upsertMaster(testCluster(), N2, 1);

    // Assert
    expect(result).toBe('updated');
    expect(readZone(await readFile(path, 'utf8'))).toEqual({ epoch: 1, master: N2 });
  });
});

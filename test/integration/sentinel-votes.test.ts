import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IoredisSentinelView } from '../../adapters/redis/sentinel-view.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import { waitUntil } from '../../local/processes.ts';
import { sentinelMajority, startTestCluster, type TestCluster } from './cluster.ts';

/**
 * The votes the Sentinels hold for a master's failover leader, read by the master's address
 * (`SENTINEL IS-MASTER-DOWN-BY-ADDR <ip> <port> 0 <runid>`): what confirms a promotion when the vote events say
 * nothing about the master (a Sentinel that monitors many) or are still on their way.
 */
describe("reading the Sentinels' votes (real redis, sentinel)", () => {
  let t: TestCluster;
  let view: IoredisSentinelView;

  beforeAll(async () => {
    t = await startTestCluster({ downAfterMs: 1000 });
    view = new IoredisSentinelView(t.connections);
  });
  afterAll(async () => {
    await t?.down();
  });

  it("reads each Sentinel's vote for the elected leader between the election and its switch, and never casts one", async () => {
    // Arrange
    const initial = t.d.nodes[0];
    if (!initial) throw new Error('no nodes');
    const oldMaster: Endpoint = { host: initial.host, port: initial.port };
    const votesNow = () =>
      Promise.all(t.cluster.sentinels.map((s) => view.vote(s, oldMaster, 500).catch(() => undefined)));
    const ids = await Promise.all(t.cluster.sentinels.map((s) => view.myId(s, 500)));
    const before = await votesNow();

    // Act: kill -9 the master; read the votes every few ms until two Sentinels hold one for the same leader.
    process.kill(initial.pid, 'SIGKILL');
    let held: Awaited<ReturnType<typeof votesNow>> = [];
    await waitUntil(
      async () => {
        held = await votesNow();
        const leaders = held.flatMap((v) => (v ? [`${v.leaderRunId}@${v.epoch}`] : []));
        return leaders.some((l) => leaders.filter((x) => x === l).length >= 2);
      },
      20_000,
      'two Sentinels to hold a vote for the same leader',
      5,
    );
    let agreed: { master: Endpoint; epoch: number } | undefined;
    await waitUntil(
      async () => {
        agreed = await sentinelMajority(t);
        return agreed !== undefined && agreed.epoch >= 1;
      },
      20_000,
      'a majority to adopt the new master',
    );
    await waitUntil(
      async () => (await votesNow()).every((v) => v === undefined),
      20_000,
      'every Sentinel to drop its vote once it switched',
    );

    // Assert: no vote before (reading cast none, or the election would have gone to our run id); then the votes
    // of a majority name one of the Sentinels, in the epoch the majority adopts.
    expect(before).toEqual([undefined, undefined, undefined]);
    const votes = held.filter((v) => v !== undefined);
    const elected = votes.find(
      (v) => votes.filter((w) => w.leaderRunId === v.leaderRunId && w.epoch === v.epoch).length >= 2,
    );
    expect(ids).toContain(elected?.leaderRunId);
    expect(elected?.epoch).toBe(agreed?.epoch);
  });
});

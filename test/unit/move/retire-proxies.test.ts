/** retire-proxies: only after a move has ended, only the proxies outside the set the service lives on, never all. */
import { describe, expect, it } from 'vitest';
import type { MoveHosts, ServiceHome } from '../../../core/move/ports.ts';
import { retireOldProxies } from '../../../core/move/retire-proxies.ts';

function hostsOf(home: ServiceHome, retired: string[] = []): MoveHosts {
  return {
    home: async () => home,
    oldProxies: async () => home.proxies.filter((p) => !p.hostId.startsWith(`${home.set}/`)),
    retireProxy: async (_c, id) => {
      retired.push(id);
      return 'disabled';
    },
  } as Partial<MoveHosts> as MoveHosts;
}

const moved: ServiceHome = {
  set: 'b',
  nodes: [],
  sentinels: [],
  proxies: [
    { id: 'proxy-1', hostId: 'a/host-1' },
    { id: 'proxy-2', hostId: 'a/host-2' },
    { id: 'proxy-4', hostId: 'b/host-1' },
  ],
};

describe('retireOldProxies', () => {
  it("retires each old host's proxy, one after another, and says so", async () => {
    const retired: string[] = [];
    const said = await retireOldProxies('svc', { hosts: hostsOf(moved, retired) });
    expect(retired).toEqual(['proxy-1', 'proxy-2']);
    expect(said).toEqual(['proxy-1 on a/host-1: disabled', 'proxy-2 on a/host-2: disabled']);
  });

  it('a dry run names them and retires nothing', async () => {
    const retired: string[] = [];
    expect(await retireOldProxies('svc', { hosts: hostsOf(moved, retired) }, { dryRun: true })).toEqual([
      'would retire proxy-1 on a/host-1',
      'would retire proxy-2 on a/host-2',
    ]);
    expect(retired).toEqual([]);
  });

  it('refuses while a move is under way, naming how to finish it', async () => {
    const moving = {
      ...moved,
      moving: { toSet: 'b', executionId: 'm1', holderAlive: false, oldNodes: [], oldSentinels: [] },
    };
    await expect(retireOldProxies('svc', { hosts: hostsOf(moving) })).rejects.toThrow(
      /a move of svc to set b is under way; finish it first: ha-redis move --cluster svc --to-set b/,
    );
  });

  it('refuses to retire every proxy the service has', async () => {
    const none = { ...moved, proxies: moved.proxies.slice(0, 2) };
    await expect(retireOldProxies('svc', { hosts: hostsOf(none) })).rejects.toThrow(/would leave it none/);
  });

  it('a service that never moved: nothing to retire', async () => {
    const home = { ...moved, set: 'a', proxies: moved.proxies.slice(0, 2) };
    expect(await retireOldProxies('svc', { hosts: hostsOf(home) })).toEqual([
      'svc has no proxy outside set a: nothing to retire',
    ]);
  });
});

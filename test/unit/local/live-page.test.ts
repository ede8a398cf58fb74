import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../core/model/cluster.ts';
import type { HistoryEntry } from '../../../core/model/records.ts';
import {
  buildStatusReport,
  DEFAULT_MAX_LAG_BYTES,
  type SentinelObservation,
  type StatusObservations,
} from '../../../core/status/report.ts';
import { redactView } from '../../../local/live/live-page.ts';
import { escapeHtml, renderLiveMain, renderLivePage } from '../../../local/live/render.ts';
import { buildLiveView, LIVE_OPERATIONS, type ServiceObservation } from '../../../local/live/view.ts';

// A host set's service: node, Sentinel and proxy i on host-i (address 10.0.0.i).
const at = (host: number, port: number): Endpoint => ({ host: `10.0.0.${host}`, port });
const files = { pid: 1, pidFile: 'p', logPath: 'l', configPath: 'c' };

function descriptor(cluster: string, port: number): ServiceObservation['descriptor'] {
  return {
    cluster,
    hostSet: 'shop',
    nodes: [1, 2, 3].map((h) => ({
      ...files,
      id: `redis-${h}`,
      ...at(h, port),
      dataDir: 'd',
      hostId: `host-${h}`,
    })),
    sentinels: [1, 2, 3].map((h) => ({
      ...files,
      id: `sentinel-${h}`,
      ...at(h, port + 100),
      hostId: `host-${h}`,
    })),
    proxies: [1, 2, 3].map((h) => ({
      ...files,
      id: `proxy-${h}`,
      host: `10.0.0.${h}`,
      plainPort: port + 200,
      tlsPort: port + 201,
      runtimeApi: { kind: 'unix' as const, path: 's' },
      stateFilePath: 'f',
      backend: 'b',
      server: 'master',
      hostId: `host-${h}`,
    })),
  };
}

const sentinel = (h: number, port: number, master: Endpoint, epoch: number): SentinelObservation => ({
  answer: {
    ok: true,
    view: {
      sentinel: at(h, port + 100),
      master,
      configEpoch: epoch,
      flags: ['master'],
      failoverState: 'none',
      numOtherSentinels: 2,
      quorum: 2,
    },
  },
  tilt: false,
});

/** After a failover to host-2: host-1's node is down, host-3's Sentinel has not caught up, proxies follow. */
function observations(cluster: string, port: number, error = 'connection refused'): StatusObservations {
  const master = at(2, port);
  return {
    cluster,
    observedAt: 1_000_000,
    sentinelsConfigured: 3,
    nodes: [
      { id: 'redis-1', address: at(1, port), reachable: false, error },
      { id: 'redis-2', address: master, reachable: true, role: 'master', offset: 900, aofEnabled: true },
      {
        id: 'redis-3',
        address: at(3, port),
        reachable: true,
        role: 'slave',
        offset: 880,
        master,
        linkUp: true,
        aofEnabled: true,
      },
    ],
    sentinels: [
      sentinel(1, port, master, 4),
      sentinel(2, port, master, 4),
      sentinel(3, port, at(1, port), 3),
    ],
    proxies: [1, 2, 3].map((h) => ({ id: `proxy-${h}`, route: { address: master, state: 'ready' } })),
  };
}

function entry(
  cluster: string,
  port: number,
  startedAt: number,
  kind: HistoryEntry['kind'] = 'failover',
): HistoryEntry {
  return {
    id: `${cluster}-${startedAt}`,
    cluster,
    kind,
    epoch: 4,
    oldMaster: at(1, port),
    newMaster: at(2, port),
    outcome: 'succeeded',
    trigger: '+failover-state-wait-promotion',
    startedAt,
    durationMs: 900,
    bytesAtRisk: 0,
    timeline: [
      { step: 'detected', at: startedAt, durationMs: 0, status: 'ok' },
      { step: 'rerouted', at: startedAt + 60, durationMs: 9, status: 'ok', detail: '3 proxies -> redis-2' },
    ],
  };
}

function service(
  cluster: string,
  port: number,
  history: HistoryEntry[] = [],
  error?: string,
): ServiceObservation {
  return {
    descriptor: descriptor(cluster, port),
    report: buildStatusReport(observations(cluster, port, error), { maxLagBytes: DEFAULT_MAX_LAG_BYTES }),
    history,
  };
}

describe('the live page of a host set', () => {
  it('puts hosts in columns, each service in a row, every process in the cell of its host', () => {
    // Arrange / Act
    const view = buildLiveView([service('shop-1', 7000), service('shop-2', 8000)], 1_000_000);

    // Assert
    expect(view.title).toBe('shop');
    expect(view.hosts).toEqual([
      { id: 'host-1', address: '10.0.0.1' },
      { id: 'host-2', address: '10.0.0.2' },
      { id: 'host-3', address: '10.0.0.3' },
    ]);
    const [shop1] = view.services;
    expect(shop1?.masterId).toBe('redis-2');
    expect(shop1?.master).toBe('redis-2 on host-2 (epoch 4)');
    expect(shop1?.agreement).toBe('2 of 3 Sentinels agree on redis-2 on host-2 at epoch 4 (2 needed)');
    expect(shop1?.cells[0]?.nodes).toEqual([{ id: 'redis-1', text: 'DOWN: connection refused', ok: false }]);
    expect(shop1?.cells[1]?.nodes).toEqual([{ id: 'redis-2', text: 'MASTER', ok: true, master: true }]);
    expect(shop1?.cells[2]?.nodes[0]?.text).toBe('replica of redis-2 on host-2, 20 B behind');
    expect(shop1?.cells[0]?.proxies).toEqual([
      { id: 'proxy-1', text: 'routes to redis-2 on host-2 (ready)', ok: true },
    ]);
    expect(shop1?.cells[2]?.sentinels).toEqual([
      { id: 'sentinel-3', text: 'names redis-1 on host-1 at epoch 3: DISAGREES', ok: false },
    ]);
    expect(view.healthy).toBe(false);
  });

  it('shows the newest failovers and switchovers of every service, newest first, with their steps', () => {
    // Arrange
    const many = Array.from({ length: LIVE_OPERATIONS + 2 }, (_, i) => entry('shop-1', 7000, 1000 + i));
    const services = [
      service('shop-1', 7000, [...many, entry('shop-1', 7000, 5000, 'maintenance')]),
      service('shop-2', 8000, [entry('shop-2', 8000, 3000, 'switchover')]),
    ];

    // Act
    const { operations } = buildLiveView(services, 1_000_000);

    // Assert
    expect(operations).toHaveLength(LIVE_OPERATIONS);
    expect(operations.map((o) => o.startedAt)).toEqual([3000, 1006, 1005, 1004, 1003]);
    expect(operations[0]).toMatchObject({ cluster: 'shop-2', kind: 'switchover', from: 'redis-1 on host-1' });
    expect(operations[1]?.steps).toEqual([
      { step: 'detected', offsetMs: 0, durationMs: 0, status: 'ok' },
      { step: 'rerouted', offsetMs: 60, durationMs: 9, status: 'ok', detail: '3 proxies -> redis-2' },
    ]);
  });

  it('escapes every value it renders, in text and in attributes', () => {
    // Arrange: a node's error text and a history detail that would be markup if not escaped.
    const evil = '<img src=x onerror="alert(1)">';
    const hostile = entry('shop-1', 7000, 1000);
    hostile.timeline[1] = { step: 'rerouted', at: 1060, durationMs: 9, status: 'ok', detail: evil };
    const view = buildLiveView([service('shop-1', 7000, [hostile], evil)], 1_000_000);

    // Act
    const html = renderLivePage(view);

    // Assert
    expect(html).not.toContain('<img');
    expect(html).toContain(escapeHtml(evil));
    expect(escapeHtml(`a"b'c<d>&`)).toBe('a&quot;b&#39;c&lt;d&gt;&amp;');
    expect(renderLiveMain(view)).toContain('data-master="redis-2"');
  });
});

describe('the live page redaction', () => {
  it('replaces a password in every string of the view before encoding, even one that encoding would change', () => {
    const password = 'p&<"w';
    const view = {
      error: `AUTH failed for ${password}`,
      nested: [{ detail: `x${password}y` }, 7],
      count: 3,
    };

    const redacted = redactView(view, [password]);

    expect(redacted).toEqual({
      error: 'AUTH failed for (redacted)',
      nested: [{ detail: 'x(redacted)y' }, 7],
      count: 3,
    });
    // Encoded afterwards, nothing of the password is left to find.
    expect(escapeHtml(JSON.stringify(redacted))).not.toContain(escapeHtml(password));
  });
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // CDK assertions and the local state machine: no network, no processes.
      {
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        // Real redis-server, redis-sentinel and haproxy processes: one file at a time on 2 cores.
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          exclude: ['test/integration/host-set.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Network namespaces (root only; skipped with the reason otherwise): 3 clusters, each cut off for 20 s.
        // A group of its own (groupOrder): no other test file runs beside it to take the cores its timings need.
        test: {
          name: 'partition',
          // The host-set tests too: 3 network namespaces and up to ~40 processes per set.
          include: ['test/partition/**/*.test.ts', 'test/integration/host-set.test.ts'],
          fileParallelism: false,
          testTimeout: 150_000,
          hookTimeout: 60_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

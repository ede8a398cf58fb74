/**
 * Reconcile schedules and reserved concurrency of the example (2 clusters): one schedule naming shard 0 of 1, and
 * reservations that keep the reaction, the reconcile, notify and Slack from starving each other. The fleet of
 * 500 clusters is asserted in stack-fleet.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DeploymentConfig, DeploymentConfigSchema } from '../../config/schema.ts';
import {
  NOTIFY_RESERVED_CONCURRENCY,
  provisionedEnvironments,
  reservedConcurrency,
  SENTINEL_EVENT_RESERVED_MIN,
} from '../../infra/constructs/concurrency.ts';
import {
  SLACK_RESERVED_CONCURRENCY,
  SLACK_WORKER_RESERVED_CONCURRENCY,
} from '../../infra/constructs/slack-front-door.ts';
import {
  config,
  EXAMPLE,
  reconcileSchedules,
  reservations,
  SYNTH_TIMEOUT_MS,
  synthesize,
} from './stack-fixture.ts';

let template: Template;

beforeAll(() => {
  ({ template } = synthesize({ bundle: false }));
}, SYNTH_TIMEOUT_MS);

describe('the reconcile of 2 clusters', () => {
  it('has one schedule, which names shard 0 of 1 and keeps the id it was deployed with', () => {
    // Act
    const schedules = reconcileSchedules(template);

    // Assert
    expect(Object.keys(schedules)).toEqual([expect.stringMatching(/^ReconcileSchedule[0-9A-F]{8}$/)]);
    expect(Object.values(schedules)).toEqual([{ shard: 0, shards: 1 }]);
  });
});

describe('reserved concurrency', () => {
  it('reserves for the reaction, the reconcile, notify and Slack; the other functions share the rest', () => {
    expect(
      reservations(template, [
        'SentinelEvent',
        'Reconcile',
        'Notify',
        'Slack',
        'SlackWorker',
        'SwitchoverStep',
        'MaintenanceStep',
        'MaintenanceTrigger',
        'DnsWriter',
        'RoutingPersist',
      ]),
    ).toEqual({
      SentinelEvent: SENTINEL_EVENT_RESERVED_MIN,
      Reconcile: 3,
      Notify: NOTIFY_RESERVED_CONCURRENCY,
      Slack: SLACK_RESERVED_CONCURRENCY,
      SlackWorker: SLACK_WORKER_RESERVED_CONCURRENCY,
      SwitchoverStep: undefined,
      MaintenanceStep: undefined,
      MaintenanceTrigger: undefined,
      // One batch per hosted zone at a time (FIFO), capped by its event source's MaximumConcurrency instead.
      DnsWriter: undefined,
      RoutingPersist: undefined,
    });
  });

  it('states what the account keeps: 1000 by default, minus 63 reserved', () => {
    expect(reservedConcurrency(config)).toEqual({
      sentinelEvent: 20,
      reconcile: 3,
      notify: 20,
      slack: 10,
      slackWorker: 10,
      total: 63,
      left: 937,
    });
  });

  it('sizes the reaction for a third of the clusters failing over at once (a zone), with room for duplicates', () => {
    // Arrange
    const fleet = (n: number): DeploymentConfig => ({
      ...config,
      clusters: Array.from({ length: n }, () => config.clusters[0] as DeploymentConfig['clusters'][number]),
    });

    // Act
    const at500 = reservedConcurrency(fleet(500));
    const at1000 = reservedConcurrency(fleet(1000));

    // Assert
    expect(at500).toMatchObject({ sentinelEvent: 200, reconcile: 12, total: 252, left: 748 });
    expect(at1000).toMatchObject({ sentinelEvent: 400, reconcile: 22, total: 462, left: 538 });
  });

  it('provisions for a zone loss on request (at least 1), and reserves at least what it provisions', () => {
    // Arrange
    const fleet = (n: number, provisionedConcurrency: number | 'az-loss'): DeploymentConfig => ({
      ...config,
      sentinelEvent: { provisionedConcurrency },
      clusters: Array.from({ length: n }, () => config.clusters[0] as DeploymentConfig['clusters'][number]),
    });

    // Act
    const provisioned = [1, 2, 500, 2000].map((n) => provisionedEnvironments(fleet(n, 'az-loss')));

    // Assert
    expect(provisioned).toEqual([1, 1, 200, 800]);
    expect(provisionedEnvironments(fleet(500, 7))).toBe(7);
    expect(reservedConcurrency(fleet(2, 60))).toMatchObject({ sentinelEvent: 60 });
    expect(reservedConcurrency(fleet(500, 'az-loss'))).toMatchObject({ sentinelEvent: 200 });
  });

  it('refuses a provisioned concurrency that is neither a count nor az-loss, naming the field', () => {
    // Act
    const parsed = DeploymentConfigSchema.safeParse({
      ...JSON.parse(readFileSync(EXAMPLE, 'utf8')),
      sentinelEvent: { provisionedConcurrency: 'lots' },
    });

    // Assert
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues.map((i) => i.path))).toContain(
      '["sentinelEvent","provisionedConcurrency"]',
    );
  });

  it('refuses a fleet whose reservations would take more than half the account, saying what to do', () => {
    // Arrange
    const fleet = {
      ...config,
      clusters: Array.from(
        { length: 1200 },
        () => config.clusters[0] as DeploymentConfig['clusters'][number],
      ),
    };

    // Act
    const reserve = () => reservedConcurrency(fleet);

    // Assert
    expect(reserve).toThrow(
      "the Lambdas of ha-redis would reserve 546 of the account's concurrency of 1000 (sentinel-event 480 for 1200 clusters, reconcile 26, notify 20, Slack 20), more than the 500 (50%) ha-redis may take",
    );
    expect(reserve).toThrow('raise the account\'s "Concurrent executions" quota');
    expect(reservedConcurrency({ ...fleet, accountConcurrency: 2000 })).toMatchObject({
      total: 546,
      left: 1454,
    });
  });

  it(
    'stops synth of a config whose account quota is too small for its reservations',
    () => {
      // Arrange
      const file = join(mkdtempSync(join(tmpdir(), 'ha-redis-config-')), 'config.json');
      const raw = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
      writeFileSync(file, JSON.stringify({ ...raw, accountConcurrency: 100 }));

      // Act
      const synth = () => synthesize({ bundle: false, configFile: file });

      // Assert
      expect(synth).toThrow(
        expect.objectContaining({
          name: 'ConfigurationError',
          message: expect.stringContaining("would reserve 63 of the account's concurrency of 100"),
        }),
      );
    },
    SYNTH_TIMEOUT_MS,
  );
});

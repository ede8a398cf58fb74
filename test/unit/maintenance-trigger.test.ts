import { describe, expect, it } from 'vitest';
import type { DeployedCluster } from '../../config/schema.ts';
import type { WorkflowStarter } from '../../core/ports.ts';
import {
  type MaintenanceTriggerDeps,
  makeMaintenanceTriggerHandler,
} from '../../functions/maintenance-trigger/handler.ts';
import { FakeClock } from '../fakes/clock.ts';
import { FakeNotifier, RecordingLogger } from '../fakes/reporting.ts';
import { InMemoryStateStore } from '../fakes/state-store.ts';

const SCHEDULED = '2025-03-02T03:00:00.000Z';

/** The parts of a deployed cluster the trigger reads: its name and maintenance block. */
const cluster = (freezeWindows: DeployedCluster['maintenance']['freezeWindows'] = []) =>
  ({
    name: 'orders',
    maintenance: {
      schedules: [
        {
          name: 'weekly',
          cron: '0 3 ? * SUN *',
          timezone: 'Europe/Berlin',
          action: 'restart',
          switchback: true,
        },
      ],
      freezeWindows,
    },
  }) as unknown as DeployedCluster;

/** Remembers every start; a name starts once, as Step Functions does. */
class FakeStarter implements Pick<WorkflowStarter, 'start'> {
  readonly requests: Parameters<WorkflowStarter['start']>[0][] = [];
  async start(request: Parameters<WorkflowStarter['start']>[0]) {
    const started = !this.requests.some((r) => r.name === request.name);
    this.requests.push(request);
    return { executionId: `arn:execution:${request.name}`, started };
  }
}

function world(clusters = [cluster()]) {
  const state = new InMemoryStateStore();
  const workflows = new FakeStarter();
  const notifier = new FakeNotifier();
  const clock = new FakeClock(Date.parse(SCHEDULED) + 200);
  const deps: MaintenanceTriggerDeps = {
    config: { clusters },
    state,
    workflows,
    notifier,
    clock,
    logger: new RecordingLogger(),
  };
  return { deps, state, workflows, notifier, trigger: makeMaintenanceTriggerHandler(() => deps) };
}

const event = { cluster: 'orders', schedule: 'weekly', scheduledTime: SCHEDULED };

describe('maintenance trigger', () => {
  it('starts the maintenance workflow once, under the name derived from the scheduled time', async () => {
    // Arrange
    const w = world();

    // Act
    const result = await w.trigger(structuredClone(event));

    // Assert
    expect(result).toEqual({
      outcome: 'started',
      executionName: 'sched-orders-weekly-20250302T0300Z',
      executionId: 'arn:execution:sched-orders-weekly-20250302T0300Z',
    });
    expect(w.workflows.requests).toEqual([
      {
        workflow: 'maintenance',
        name: 'sched-orders-weekly-20250302T0300Z',
        input: {
          cluster: 'orders',
          action: 'restart',
          switchback: true,
          requestedBy: 'schedule:weekly',
          reason: "scheduled maintenance 'weekly' (0 3 ? * SUN * Europe/Berlin)",
          scheduledAt: Date.parse(SCHEDULED),
        },
      },
    ]);
    expect(w.notifier.published).toEqual([]);
  });

  it('starts nothing new on a retry of the same scheduled time', async () => {
    const w = world();
    await w.trigger(structuredClone(event));
    const retry = await w.trigger(structuredClone(event));
    expect(retry.outcome).toBe('already-started');
    expect(new Set(w.workflows.requests.map((r) => r.name)).size).toBe(1);
  });

  it('skips a run inside a freeze window: notifies why and starts nothing', async () => {
    // Arrange
    const w = world([
      cluster([{ start: '2025-03-01T00:00:00Z', end: '2025-03-03T00:00:00Z', reason: 'quarter-end close' }]),
    ]);

    // Act
    const result = await w.trigger(structuredClone(event));

    // Assert
    expect(result.outcome).toBe('skipped');
    expect(w.workflows.requests).toEqual([]);
    expect(w.notifier.published).toEqual([
      {
        cluster: 'orders',
        kind: 'maintenance',
        outcome: 'partial',
        summary: expect.stringContaining(
          "scheduled maintenance 'weekly' of orders at 2025-03-02T03:00:00.000Z skipped: it falls inside the freeze window 2025-03-01T00:00:00Z - 2025-03-03T00:00:00Z (quarter-end close)",
        ),
      },
    ]);
  });

  it('skips a run while the cluster is paused, naming who paused it', async () => {
    const w = world();
    await w.state.setMaintenanceMode('orders', {
      paused: true,
      by: 'slack:U0123ABCD',
      at: Date.parse('2025-03-01T09:00:00Z'),
      reason: 'incident 42',
    });
    const result = await w.trigger(structuredClone(event));
    expect(result.outcome).toBe('skipped');
    expect(w.workflows.requests).toEqual([]);
    expect(w.notifier.published[0]?.summary).toContain(
      'maintenance is paused since 2025-03-01T09:00:00.000Z by slack:U0123ABCD (incident 42)',
    );
  });

  it('still reports the skip when the notification fails', async () => {
    const w = world();
    await w.state.setMaintenanceMode('orders', { paused: true, by: 'cli:bob', at: 0, reason: 'x' });
    w.notifier.failWith = new Error('topic unreachable');
    expect((await w.trigger(structuredClone(event))).outcome).toBe('skipped');
  });

  it('refuses an unknown cluster, naming the known ones', async () => {
    const w = world();
    await expect(w.trigger({ ...event, cluster: 'payments' })).rejects.toThrow(
      "unknown cluster 'payments'; known clusters: orders",
    );
    expect(w.workflows.requests).toEqual([]);
  });

  it('refuses an unknown schedule, naming the configured ones', async () => {
    const w = world();
    await expect(w.trigger({ ...event, schedule: 'nightly' })).rejects.toThrow(
      "cluster orders has no maintenance schedule 'nightly'; known: weekly",
    );
    expect(w.workflows.requests).toEqual([]);
  });

  it.each([
    [{ cluster: 'orders', schedule: 'weekly' }],
    [{ ...event, scheduledTime: 'yesterday' }],
    [{ ...event, extra: 1 }],
    [null],
  ])('refuses malformed input %j and starts nothing', async (input) => {
    const w = world();
    await expect(w.trigger(input)).rejects.toThrow('invalid maintenance trigger input');
    expect(w.workflows.requests).toEqual([]);
  });

  it('fails (to be retried) when the maintenance mode cannot be read, starting nothing', async () => {
    const w = world();
    w.state.maintenanceMode = async () => {
      throw new Error('throttled');
    };
    await expect(w.trigger(structuredClone(event))).rejects.toThrow('throttled');
    expect(w.workflows.requests).toEqual([]);
  });
});

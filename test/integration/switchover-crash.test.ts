import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IoredisNodes } from '../../adapters/redis/redis-nodes.ts';
import { composeLocal, type LocalRuntime } from '../../compose/local.ts';
import { sameEndpoint } from '../../core/model/cluster.ts';
import type { Logger } from '../../core/ports.ts';
import { SWITCHOVER_FAILURES, SwitchoverInputSchema } from '../../core/switchover/state.ts';
import { dryRunPlan } from '../../core/switchover/steps.ts';
import { waitUntil } from '../../local/processes.ts';
import type { RunWorkflowOptions } from '../../local/stepfunctions.ts';
import { runLocalSwitchover } from '../../local/switchover-runner.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';
import { startLoads, stopAndCountLost, writableThroughProxies } from './writes.ts';

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** The Task states of the switchover definition, in order (Recover is their Catch). */
const STEPS = ['Plan', 'Prepare', 'Switch', 'Fence', 'Verify', 'Finish'] as const;
type Step = (typeof STEPS)[number];
type Fault = 'throws' | 'times out';
const FAULTS: Fault[] = ['throws', 'times out'];

/** What the Lambda runtime reports when the function's process dies (out of memory, killed). */
function runtimeExit(): Error {
  const error = new Error('Runtime exited with error: signal: killed');
  error.name = 'Runtime.ExitError';
  return error;
}

/**
 * The Task of `step` crashes or hangs:
 * - `throws`: the step does its work, then the process dies before it answers (the state machine never gets
 *   the new state);
 * - `times out`: the step hangs before doing anything and never answers; the Task's TimeoutSeconds ends it.
 */
const faultAt =
  (step: Step, fault: Fault) =>
  (real: RunWorkflowOptions['step']): RunWorkflowOptions['step'] =>
  async (event, context) => {
    if (context.stateName !== step) return real(event, context);
    if (fault === 'throws') {
      await real(event, context);
      throw runtimeExit();
    }
    return new Promise<never>(() => {});
  };

/** Where the failed execution ends, and where Recover takes the cluster. */
function expectedEnding(step: Step, fault: Fault): { ending: string; recovered?: string } {
  if (step === 'Plan') return { ending: SWITCHOVER_FAILURES.refused };
  // Writes move to the target in Switch: from then on recovery goes forward.
  const forward = step === 'Switch' ? fault === 'throws' : step !== 'Prepare';
  return forward
    ? { ending: SWITCHOVER_FAILURES.completedForward, recovered: 'completed-forward' }
    : { ending: SWITCHOVER_FAILURES.rolledBack, recovered: 'rolled-back' };
}

describe('a switchover Task that crashes or hangs, at each step in turn (real processes, the CDK definition run locally)', () => {
  let t: TestCluster;
  let runtime: LocalRuntime;
  const nodes = () => new IoredisNodes(t.connections);

  /**
   * Wait until the cluster is ready for the next run: a plan is possible (Sentinels agree, no failover under
   * way, every replica online, no lease) and the orchestrator has applied the epoch the Sentinels name.
   */
  async function settled(): Promise<void> {
    const input = SwitchoverInputSchema.parse({ cluster: t.name });
    await waitUntil(
      async () => {
        const plan = await dryRunPlan(runtime.cluster, input, runtime.deps).catch(() => undefined);
        const applied = await t.state.appliedEpoch(t.name);
        return (
          plan !== undefined &&
          applied?.status === 'done' &&
          applied.epoch === plan.epoch &&
          sameEndpoint(applied.master, plan.master)
        );
      },
      30_000,
      'the cluster to settle (a plan is possible; the applied epoch is the one the Sentinels name)',
      200,
    );
  }

  /** The summaries of the notifications about one execution. */
  async function notificationsOf(executionName: string): Promise<string[]> {
    const path = t.d.orchestrator?.notificationsPath;
    if (!path) throw new Error('the test cluster has no orchestrator, so no notifications file');
    const lines = (await readFile(path, 'utf8')).split('\n').filter(Boolean);
    return lines
      .map((line) => JSON.parse(line) as { summary: string; entry?: { id?: string } })
      .filter((n) => n.entry?.id === executionName)
      .map((n) => n.summary);
  }

  beforeAll(async () => {
    // down-after 5000: no automatic failover of a master paused by the Switch step interferes.
    t = await startTestCluster({ downAfterMs: 5000 });
    runtime = composeLocal(t.d, silent);
  });
  afterAll(async () => {
    await runtime?.close();
    await t?.down();
  });

  it.each(STEPS.flatMap((step) => FAULTS.map((fault) => [step, fault] as const)))(
    'when the %s Task %s: the cluster takes writes, no acknowledged write is lost, the lease is free, and history says where it failed',
    async (step, fault) => {
      // Arrange
      await settled();
      const masterBefore = await t.soleMaster();
      const loads = startLoads(t);
      await Promise.all(loads.map((l) => l.waitForAcks(100)));
      const expected = expectedEnding(step, fault);

      // Act: a real Plan may refuse on a loaded machine before the fault is reached (a Sentinel slow to answer,
      // a replica link not yet online): a refusal changes nothing, so the run is tried again, at most 3 times,
      // and the refusal is printed. The Plan's own faults are the Plan tests.
      let executionName = '';
      let result: Awaited<ReturnType<typeof runLocalSwitchover>> | undefined;
      for (let attempt = 1; attempt <= 3; attempt += 1) {
        executionName = `crash-${step}-${fault === 'throws' ? 'throws' : 'hangs'}-${Date.now()}`;
        result = await runLocalSwitchover(
          t.d,
          { reason: `${step} ${fault}`, requestedBy: 'test' },
          {
            logger: silent,
            executionName,
            wrapStep: faultAt(step, fault),
            ...(fault === 'times out' ? { taskTimeoutSeconds: { [step]: 1 } } : {}),
          },
        );
        if (step === 'Plan' || result.ending !== SWITCHOVER_FAILURES.refused) break;
        console.warn(
          `attempt ${attempt}: the Plan refused before the ${step} fault (${result.cause}); again`,
        );
        await settled();
      }
      if (!result) throw new Error('no switchover ran');

      // Assert
      const why = `${result.error}: ${result.cause}`;
      expect(result.status, why).toBe('FAILED');
      expect(result.ending, why).toBe(expected.ending);
      expect(result.error, why).toBe(fault === 'throws' ? 'Runtime.ExitError' : 'States.Timeout');
      const { lost, acked } = await stopAndCountLost(t, loads);
      expect(acked).toBeGreaterThan(300);
      expect(lost).toEqual([]);
      await writableThroughProxies(t);
      expect(await t.state.lease(t.name)).toBeUndefined();
      expect(await Promise.all(t.cluster.nodes.map((n) => nodes().replicaPriority(n, 1000)))).toEqual([
        100, 100, 100,
      ]);
      const entry = (await t.history()).find((e) => e.id === executionName);
      if (step === 'Plan') {
        // Refused: nothing was changed, so there is nothing to recover and nothing to record.
        expect(entry).toBeUndefined();
        expect(await t.soleMaster()).toEqual(masterBefore);
        return;
      }
      const action = step.toLowerCase();
      if (step === 'Finish' && fault === 'throws') {
        // Finish recorded the switchover before its answer was lost: history appends once, that record stands.
        expect(entry?.outcome).toBe('succeeded');
      } else {
        expect(entry?.outcome).toBe('failed');
        expect(entry?.error).toMatch(new RegExp(`^${result.error} in ${action}\\b`));
        expect(entry?.timeline.find((s) => s.step === 'recovered')?.detail).toBe(expected.recovered);
      }
      expect(await notificationsOf(executionName)).toContainEqual(
        expect.stringContaining(`FAILED in ${action} (${result.error}); ${expected.recovered}`),
      );
      const masterAfter = await t.soleMaster();
      expect(sameEndpoint(masterAfter, masterBefore)).toBe(expected.recovered === 'rolled-back');
      if (expected.recovered === 'completed-forward') {
        const old = await nodes().replication(masterBefore, 1000);
        expect(old.role).toBe('slave');
        expect(old.master).toEqual(masterAfter);
        expect(await nodes().probeWrite(masterBefore, 1000)).toBe('readonly');
      }
    },
  );
});

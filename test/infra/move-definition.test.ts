/**
 * The move workflow as CDK renders it: every step a Task of the one step function, each (after Plan) caught into
 * Recover and MoveStopped, Plan's failure into MoveRefused, a dry run ending at Planned; run here by the local
 * runner with a scripted step function to prove each route.
 */
import { describe, expect, it } from 'vitest';
import { MOVE_FAILURES, type MoveAction } from '../../core/move/state.ts';
import {
  LOCAL_MOVE_STEP_FUNCTION_ARN,
  MOVE_STATE_NAMES,
  renderMoveAsl,
} from '../../infra/move-definition.ts';
import { LOCAL_WORKFLOWS, runWorkflow, type StepEvent } from '../../local/stepfunctions.ts';

type AslState = {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  Next?: string;
};
type Asl = { StartAt: string; States: Record<string, AslState> };

const asl = renderMoveAsl() as Asl;

/** Runs the workflow; `step` answers each Task. Returns the actions in the order the Tasks ran, and the result. */
async function runWith(step: (e: StepEvent) => Promise<unknown>, input: Record<string, unknown> = {}) {
  const actions: string[] = [];
  const result = await runWorkflow(
    LOCAL_WORKFLOWS.move,
    { cluster: 'svc', toSet: 'b', ...input },
    {
      executionName: `t-${Date.now()}`,
      retryIntervalMs: 1,
      step: async (event) => {
        actions.push(event.action);
        return step(event);
      },
    },
  );
  return { actions, result };
}

describe('the move workflow (rendered ASL)', () => {
  it('has the six steps and Recover as Tasks of the one move step function, with a timeout each', () => {
    const tasks = Object.entries(asl.States).filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(Object.keys(MOVE_STATE_NAMES).sort());
    for (const [name, state] of tasks) {
      expect(state.Resource, name).toBe(LOCAL_MOVE_STEP_FUNCTION_ARN);
      expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
    }
    expect(asl.StartAt).toBe('Plan');
  });

  it('every step after Plan is caught into Recover, which ends in MoveStopped; Plan into MoveRefused', () => {
    for (const name of ['Nodes', 'Sentinels', 'Switchover', 'Proxies', 'Retire']) {
      expect(asl.States[name]?.Catch?.[0]).toMatchObject({ ErrorEquals: ['States.ALL'], Next: 'Recover' });
    }
    expect(asl.States.Plan?.Catch?.[0]?.Next).toBe(MOVE_FAILURES.refused);
    expect(asl.States.Recover?.Next).toBe(MOVE_FAILURES.stopped);
    expect(asl.States.Recover?.Catch?.[0]?.Next).toBe(MOVE_FAILURES.recoveryFailed);
  });

  it('runs the steps in order and succeeds; a dry run stops after Plan', async () => {
    const all = await runWith(async (e) => ({ ...(e.state as object), done: [] }));
    expect(all.result.status).toBe('SUCCEEDED');
    expect(all.actions).toEqual(['plan', 'nodes', 'sentinels', 'switchover', 'proxies', 'retire']);
    const dry = await runWith(async (e) => e.state, { dryRun: true });
    expect(dry.result.status).toBe('SUCCEEDED');
    expect(dry.actions).toEqual(['plan']);
  });

  it.each(['nodes', 'sentinels', 'switchover', 'proxies', 'retire'] as MoveAction[])(
    'a failure of %s goes to Recover, and the execution ends MoveStopped with the error kept in the state',
    async (failing) => {
      const { actions, result } = await runWith(async (e) => {
        if (e.action === failing)
          throw Object.assign(new Error(`${failing} broke`), { name: 'HaRedisError' });
        return e.state;
      });
      expect(actions.at(-2)).toBe(failing);
      expect(actions.at(-1)).toBe('recover');
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe(MOVE_FAILURES.stopped);
      expect(JSON.stringify(result.lastState)).toContain(`${failing} broke`);
    },
  );

  it('a refused Plan ends MoveRefused with nothing else run', async () => {
    const { actions, result } = await runWith(async (e) => {
      if (e.action === 'plan') throw Object.assign(new Error('no host set'), { name: 'MoveRefusedError' });
      return e.state;
    });
    expect(actions).toEqual(['plan']);
    expect(result.error).toBe(MOVE_FAILURES.refused);
  });
});

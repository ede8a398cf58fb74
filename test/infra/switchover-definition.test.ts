import * as cdk from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../core/model/errors.ts';
import {
  LOCAL_STEP_FUNCTION_ARN,
  renderSwitchoverAsl,
  SWITCHOVER_FAILURES,
  SWITCHOVER_STATE_NAMES,
  switchoverDefinition,
} from '../../infra/switchover-definition.ts';
import { runSwitchoverWorkflow, type StepEvent, type WorkflowTransition } from '../../local/stepfunctions.ts';

type AslState = {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  TimeoutSeconds?: number;
  ResultPath?: string;
  Retry?: { ErrorEquals: string[]; MaxAttempts?: number }[];
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
};
type Asl = { StartAt: string; States: Record<string, AslState> };

const STEP_ARN_PLACEHOLDER = 'STEP_FUNCTION_ARN';
const ALL_STATES = [
  'Plan',
  'DryRun?',
  'Planned',
  'Prepare',
  'Switch',
  'Fence',
  'Verify',
  'Finish',
  'Done',
  'Recover',
  'Recovered?',
  'SwitchoverRolledBack',
  'SwitchoverCompletedForward',
  'SwitchoverFailed',
  'SwitchoverRefused',
];

/** The synthesized definition, its `Fn::Join` parts that are not strings (the function ARN) replaced. */
function definitionOf(template: Template): Asl {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  const join = machines[0]?.Properties.DefinitionString['Fn::Join'] as [string, unknown[]];
  const text = join[1].map((part) => (typeof part === 'string' ? part : STEP_ARN_PLACEHOLDER)).join(join[0]);
  return JSON.parse(text) as Asl;
}

function taskNames(asl: Asl): string[] {
  return Object.entries(asl.States)
    .filter(([, state]) => state.Type === 'Task')
    .map(([name]) => name);
}

describe('switchoverDefinition in a stack', () => {
  let template: Template;
  let asl: Asl;

  beforeAll(() => {
    const app = new cdk.App();
    const stack = new cdk.Stack(app, 'Switchover');
    const step = new lambda.Function(stack, 'SwitchoverStep', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async (event) => event.state;'),
    });
    new sfn.StateMachine(stack, 'SwitchoverMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(switchoverDefinition(stack, step)),
    });
    template = Template.fromStack(stack);
    asl = definitionOf(template);
  });

  it('synthesizes one Standard state machine with every state of the workflow', () => {
    // Assert
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineType: 'STANDARD' });
    expect(Object.keys(asl.States).sort()).toEqual([...ALL_STATES].sort());
    expect(asl.StartAt).toBe('Plan');
  });

  it('invokes the step function directly from every Task with its action and the whole state', () => {
    // Assert
    expect(taskNames(asl).sort()).toEqual(Object.keys(SWITCHOVER_STATE_NAMES).sort());
    for (const [name, action] of Object.entries(SWITCHOVER_STATE_NAMES)) {
      expect(asl.States[name]?.Resource).toBe(STEP_ARN_PLACEHOLDER);
      expect(asl.States[name]?.Parameters).toEqual(
        name === 'Plan'
          ? // The execution input is the request; Plan builds the state from it and the context object.
            {
              action,
              state: {
                'input.$': '$',
                'executionId.$': '$$.Execution.Name',
                'startedAt.$': '$$.Execution.StartTime',
                timeline: [],
              },
            }
          : { action, 'state.$': '$' },
      );
      // No ResultPath: the result replaces the state (and aws-local-stepfunctions misreads an explicit "$").
      expect(asl.States[name]).not.toHaveProperty('ResultPath');
    }
  });

  it('catches every error of every Task but Plan into Recover, keeping the state', () => {
    // Assert
    for (const name of ['Prepare', 'Switch', 'Fence', 'Verify', 'Finish']) {
      expect(asl.States[name]?.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Recover' },
      ]);
    }
    expect(asl.States.Plan?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: SWITCHOVER_FAILURES.refused },
    ]);
    expect(asl.States.Recover?.Catch?.[0]?.Next).toBe(SWITCHOVER_FAILURES.recoveryFailed);
  });

  it('retries Plan on the unreachable error only, of the errors ha-redis raises', () => {
    // Arrange
    const ours = new Set<string>(Object.values(ERROR_NAMES));

    // Act
    const retried = (asl.States.Plan?.Retry ?? []).flatMap((retrier) => retrier.ErrorEquals);

    // Assert
    expect(retried.filter((name) => ours.has(name))).toEqual([ERROR_NAMES.unreachable]);
    expect(retried).not.toContain('States.ALL');
    expect(asl.States.Plan?.Retry?.[0]).toMatchObject({
      ErrorEquals: [ERROR_NAMES.unreachable],
      MaxAttempts: 2,
    });
  });

  it('never retries the write-blocked Switch step', () => {
    // Assert
    expect(asl.States.Switch).not.toHaveProperty('Retry');
  });

  it('bounds every step with its own timeout', () => {
    // Assert
    const timeouts = Object.fromEntries(
      taskNames(asl).map((name) => [name, asl.States[name]?.TimeoutSeconds]),
    );
    expect(timeouts).toEqual({
      Plan: 30,
      Prepare: 60,
      Switch: 30,
      Fence: 30,
      Verify: 30,
      Finish: 30,
      Recover: 60,
    });
  });
});

describe('renderSwitchoverAsl', () => {
  it('returns plain ASL JSON whose Tasks all call the local step function ARN', () => {
    // Act
    const asl = renderSwitchoverAsl() as Asl;

    // Assert
    const text = JSON.stringify(asl);
    expect(text).not.toContain('Fn::');
    expect(text).not.toContain('"Ref"');
    expect(text).not.toContain('${Token');
    expect(asl.StartAt).toBe('Plan');
    const tasks = taskNames(asl);
    expect(tasks.sort()).toEqual(Object.keys(SWITCHOVER_STATE_NAMES).sort());
    for (const name of tasks) expect(asl.States[name]?.Resource).toBe(LOCAL_STEP_FUNCTION_ARN);
  });
});

/** A step handler that records the actions and appends each to the timeline. */
function fakeStep(failures: Partial<Record<string, (event: StepEvent) => unknown>> = {}) {
  const calls: StepEvent[] = [];
  const step = async (event: StepEvent, _context?: { signal: AbortSignal }): Promise<unknown> => {
    calls.push(event);
    const fail = failures[event.action];
    if (fail) {
      const answer = fail(event);
      if (answer !== undefined) return answer;
    }
    const state = event.state as { timeline: unknown[] };
    return { ...state, timeline: [...state.timeline, { step: event.action }] };
  };
  return { calls, step, actions: () => calls.map((call) => call.action) };
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

const INPUT = { cluster: 'local', target: 'redis-2', dryRun: false };

describe('runSwitchoverWorkflow', () => {
  it('runs every step in order and succeeds with the last step output', async () => {
    // Arrange
    const fake = fakeStep();
    const transitions: WorkflowTransition[] = [];

    // Act
    const result = await runSwitchoverWorkflow(INPUT, {
      executionName: 'happy-1',
      step: fake.step,
      onTransition: (t) => transitions.push(t),
    });

    // Assert
    expect(fake.actions()).toEqual(['plan', 'prepare', 'switch', 'fence', 'verify', 'finish']);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      input: INPUT,
      executionId: 'happy-1',
      timeline: ['plan', 'prepare', 'switch', 'fence', 'verify', 'finish'].map((step) => ({ step })),
    });
    expect(fake.calls[0]?.state).toMatchObject({ input: INPUT, executionId: 'happy-1', timeline: [] });
    expect(transitions.filter((t) => t.type === 'entered').map((t) => t.state)).toEqual([
      'Plan',
      'DryRun?',
      'Prepare',
      'Switch',
      'Fence',
      'Verify',
      'Finish',
      'Done',
    ]);
    expect(transitions.at(-1)).toMatchObject({ state: 'Done', type: 'succeeded' });
  });

  it('stops after plan on a dry run', async () => {
    // Arrange
    const fake = fakeStep();

    // Act
    const result = await runSwitchoverWorkflow(
      { ...INPUT, dryRun: true },
      { executionName: 'dry-1', step: fake.step },
    );

    // Assert
    expect(fake.actions()).toEqual(['plan']);
    expect(result).toMatchObject({ status: 'SUCCEEDED', output: { timeline: [{ step: 'plan' }] } });
  });

  it('catches a failed switch by its error name, recovers, and fails as rolled back', async () => {
    // Arrange
    const fake = fakeStep({
      switch: () => {
        throw namedError(ERROR_NAMES.verification, 'canary landed on redis-1; expected redis-2');
      },
    });
    const transitions: WorkflowTransition[] = [];

    // Act
    const result = await runSwitchoverWorkflow(INPUT, {
      executionName: 'switch-fails-1',
      step: fake.step,
      onTransition: (t) => transitions.push(t),
    });

    // Assert
    expect(fake.actions()).toEqual(['plan', 'prepare', 'switch', 'recover']);
    const recovered = fake.calls[3]?.state as {
      error: { Error: string; Cause: string };
      timeline: unknown[];
    };
    expect(recovered.error.Error).toBe('VerificationError');
    // Cause as the Lambda Node.js runtime reports it to Step Functions.
    expect(JSON.parse(recovered.error.Cause)).toMatchObject({
      errorType: 'VerificationError',
      errorMessage: 'canary landed on redis-1; expected redis-2',
    });
    expect(recovered.timeline).toEqual([{ step: 'plan' }, { step: 'prepare' }]);
    expect(result).toMatchObject({ status: 'FAILED', error: SWITCHOVER_FAILURES.rolledBack });
    expect(result.lastState).toMatchObject({ error: { Error: 'VerificationError' } });
    expect(transitions).toContainEqual(
      expect.objectContaining({ state: 'Switch', type: 'failed', error: 'VerificationError' }),
    );
    expect(transitions).not.toContainEqual(expect.objectContaining({ state: 'Switch', type: 'succeeded' }));
  });

  it('fails as refused without recovering when plan fails', async () => {
    // Arrange
    const fake = fakeStep({
      plan: () => {
        throw namedError(ERROR_NAMES.invalidInput, 'target redis-9 is not a replica of local');
      },
    });

    // Act
    const result = await runSwitchoverWorkflow(INPUT, { executionName: 'refused-1', step: fake.step });

    // Assert
    expect(fake.actions()).toEqual(['plan']);
    expect(result).toMatchObject({ status: 'FAILED', error: SWITCHOVER_FAILURES.refused });
    expect(result.lastState).toMatchObject({ error: { Error: ERROR_NAMES.invalidInput } });
  });

  it('retries plan when a node is unreachable, then goes on', async () => {
    // Arrange
    let unreachableOnce = true;
    const fake = fakeStep({
      plan: () => {
        if (!unreachableOnce) return undefined;
        unreachableOnce = false;
        throw namedError(ERROR_NAMES.unreachable, 'sentinel 127.0.0.1:26381 did not answer in 1000 ms');
      },
    });

    // Act
    const result = await runSwitchoverWorkflow(INPUT, {
      executionName: 'retry-1',
      step: fake.step,
      retryIntervalMs: 0,
    });

    // Assert
    expect(fake.actions()).toEqual(['plan', 'plan', 'prepare', 'switch', 'fence', 'verify', 'finish']);
    expect(result.status).toBe('SUCCEEDED');
  });

  it('fails as completed forward when recovery finishes the switchover', async () => {
    // Arrange
    const fake = fakeStep({
      verify: () => {
        throw namedError(ERROR_NAMES.verification, 'proxy haproxy-2 still routes to redis-1');
      },
      recover: (event) => ({ ...(event.state as object), outcome: 'completed-forward' }),
    });

    // Act
    const result = await runSwitchoverWorkflow(INPUT, { executionName: 'forward-1', step: fake.step });

    // Assert
    expect(fake.actions()).toEqual(['plan', 'prepare', 'switch', 'fence', 'verify', 'recover']);
    expect(result).toMatchObject({ status: 'FAILED', error: SWITCHOVER_FAILURES.completedForward });
  });

  it('retries recover, then fails as failed when recovery keeps failing', async () => {
    // Arrange
    const fake = fakeStep({
      fence: () => {
        throw namedError(ERROR_NAMES.fencing, 'redis-1 still accepts writes');
      },
      recover: () => {
        throw namedError(ERROR_NAMES.unreachable, 'redis-1 did not answer');
      },
    });

    // Act
    const result = await runSwitchoverWorkflow(INPUT, {
      executionName: 'recover-fails-1',
      step: fake.step,
      retryIntervalMs: 0,
    });

    // Assert: the first attempt and 3 retries.
    expect(fake.actions().filter((action) => action === 'recover')).toHaveLength(4);
    expect(result).toMatchObject({
      status: 'FAILED',
      error: SWITCHOVER_FAILURES.recoveryFailed,
      lastState: { error: { Error: ERROR_NAMES.fencing }, recoveryError: { Error: ERROR_NAMES.unreachable } },
    });
  });

  it('fails without Catch or Retry when a step result exceeds the 256 KiB payload quota', async () => {
    // Arrange
    const fake = fakeStep({
      prepare: (event) => ({ ...(event.state as object), padding: 'x'.repeat(300_000) }),
    });

    // Act
    const result = await runSwitchoverWorkflow(INPUT, { executionName: 'too-big-1', step: fake.step });

    // Assert
    expect(fake.actions()).toEqual(['plan', 'prepare']);
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
  });

  it('fails a Task that outlives its TimeoutSeconds with States.Timeout, which Recover catches, and aborts its signal', async () => {
    // Arrange: Fence never answers; its TimeoutSeconds is 1 here instead of 30.
    const fake = fakeStep({ fence: () => new Promise<never>(() => {}) });
    let fenceSignal: AbortSignal | undefined;
    const step: typeof fake.step = (event, context) => {
      if (event.action === 'fence') fenceSignal = context?.signal;
      return fake.step(event);
    };

    // Act
    const result = await runSwitchoverWorkflow(INPUT, {
      executionName: 'timeout-1',
      step,
      taskTimeoutSeconds: { Fence: 1 },
    });

    // Assert
    expect(fake.actions()).toEqual(['plan', 'prepare', 'switch', 'fence', 'recover']);
    expect(fake.calls[4]?.state).toMatchObject({ error: { Error: 'States.Timeout' } });
    expect(result).toMatchObject({ status: 'FAILED', error: SWITCHOVER_FAILURES.rolledBack });
    expect(fenceSignal?.aborted).toBe(true);
  });

  it('refuses a timeout for a Task state the workflow does not have', async () => {
    // Act
    const run = runSwitchoverWorkflow(INPUT, {
      executionName: 'timeout-2',
      step: fakeStep().step,
      taskTimeoutSeconds: { Fencing: 1 },
    });

    // Assert
    await expect(run).rejects.toThrow('no Task state Fencing in the switchover workflow');
  });

  it('aborts the execution when the signal aborts', async () => {
    // Arrange
    const controller = new AbortController();
    const fake = fakeStep({
      prepare: (event) => {
        controller.abort();
        return event.state;
      },
    });

    // Act
    const result = await runSwitchoverWorkflow(INPUT, {
      executionName: 'abort-1',
      step: fake.step,
      signal: controller.signal,
    });

    // Assert
    expect(result.status).toBe('ABORTED');
    expect(fake.actions()).not.toContain('switch');
  });
});

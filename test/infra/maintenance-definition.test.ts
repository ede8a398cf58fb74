import * as cdk from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../core/model/errors.ts';
import {
  LOCAL_MAINTENANCE_STEP_FUNCTION_ARN,
  MAINTENANCE_FAILURES,
  MAINTENANCE_ROUTE,
  MAINTENANCE_STATE_NAMES,
  MAINTENANCE_TASK_TIMEOUT_SECONDS,
  maintenanceDefinition,
  renderMaintenanceAsl,
  WAIT_UNTIL_BACK_RETRY,
} from '../../infra/maintenance-definition.ts';
import { runMaintenanceWorkflow, type StepEvent } from '../../local/stepfunctions.ts';

type AslState = {
  Type: string;
  Resource?: string;
  Next?: string;
  TimeoutSeconds?: number;
  Retry?: { ErrorEquals: string[]; MaxAttempts?: number; IntervalSeconds?: number; BackoffRate?: number }[];
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  Choices?: { Variable: string; StringEquals: string; Next: string }[];
  Default?: string;
};
type Asl = { StartAt: string; States: Record<string, AslState> };

function definitionOf(template: Template): Asl {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  const join = machines[0]?.Properties.DefinitionString['Fn::Join'] as [string, unknown[]];
  return JSON.parse(join[1].map((part) => (typeof part === 'string' ? part : 'STEP')).join(join[0])) as Asl;
}

describe('maintenanceDefinition in a stack', () => {
  let asl: Asl;

  beforeAll(() => {
    const app = new cdk.App();
    const stack = new cdk.Stack(app, 'Maintenance');
    const step = new lambda.Function(stack, 'MaintenanceStep', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async (event) => event.state;'),
    });
    new sfn.StateMachine(stack, 'MaintenanceMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(maintenanceDefinition(stack, step)),
    });
    asl = definitionOf(Template.fromStack(stack));
  });

  it('catches every error of every Task after Plan into Recover, keeping the state', () => {
    // Assert
    const tasks = Object.entries(asl.States).filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(Object.keys(MAINTENANCE_STATE_NAMES).sort());
    for (const [name, state] of tasks) {
      if (name === 'Plan' || name === 'Recover') continue;
      expect(state.Catch, name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Recover' },
      ]);
    }
    expect(asl.States.Plan?.Catch?.[0]?.Next).toBe(MAINTENANCE_FAILURES.refused);
    expect(asl.States.Recover?.Next).toBe(MAINTENANCE_FAILURES.failed);
    expect(asl.States.Recover?.Catch?.[0]?.Next).toBe(MAINTENANCE_FAILURES.recoveryFailed);
  });

  it('loops ChooseNext -> Route -> Act -> Wait -> ChooseNext, and routes the switchovers back to ChooseNext', () => {
    // Assert
    expect(asl.StartAt).toBe('Plan');
    expect(asl.States.Plan?.Next).toBe('ChooseNext');
    expect(asl.States.ChooseNext?.Next).toBe(MAINTENANCE_ROUTE.name);
    const route = asl.States[MAINTENANCE_ROUTE.name];
    expect(route?.Type).toBe('Choice');
    expect(Object.fromEntries((route?.Choices ?? []).map((c) => [c.StringEquals, c.Next]))).toEqual(
      MAINTENANCE_ROUTE.phases,
    );
    expect(route?.Choices?.every((c) => c.Variable === '$.phase')).toBe(true);
    expect(asl.States.Act?.Next).toBe('Wait');
    expect(asl.States.Wait?.Next).toBe('ChooseNext');
    expect(asl.States.Switchover?.Next).toBe('ChooseNext');
    expect(asl.States.Switchback?.Next).toBe('ChooseNext');
    expect(asl.States.Finish?.Next).toBe('Done');
  });

  it('retries Wait on NodeNotBackYetError by its named policy, never Act', () => {
    // Assert
    expect(asl.States.Wait?.Retry?.[0]).toEqual({
      ErrorEquals: [ERROR_NAMES.nodeNotBackYet],
      MaxAttempts: WAIT_UNTIL_BACK_RETRY.maxAttempts,
      IntervalSeconds: WAIT_UNTIL_BACK_RETRY.interval?.toSeconds(),
      BackoffRate: WAIT_UNTIL_BACK_RETRY.backoffRate,
    });
    expect(asl.States.Wait?.Retry?.flatMap((r) => r.ErrorEquals)).not.toContain(ERROR_NAMES.nodeNotBack);
    expect(asl.States.Act).not.toHaveProperty('Retry');
  });

  it('bounds every step with its own timeout', () => {
    // Assert
    for (const [name, seconds] of Object.entries(MAINTENANCE_TASK_TIMEOUT_SECONDS)) {
      expect(asl.States[name]?.TimeoutSeconds, name).toBe(seconds);
    }
  });
});

describe('renderMaintenanceAsl', () => {
  it('returns plain ASL whose Tasks all call the local maintenance step function', () => {
    // Act
    const asl = renderMaintenanceAsl() as Asl;

    // Assert
    expect(JSON.stringify(asl)).not.toContain('Fn::');
    for (const state of Object.values(asl.States).filter((s) => s.Type === 'Task')) {
      expect(state.Resource).toBe(LOCAL_MAINTENANCE_STEP_FUNCTION_ARN);
    }
  });
});

type FakeState = { phase?: string; timeline: unknown[]; left?: string[] };

/** A step function that walks n2, n3, switchover, n1 and records every action. */
function fakeStep(fail: Partial<Record<string, (event: StepEvent) => unknown>> = {}) {
  const calls: StepEvent[] = [];
  const step = async (event: StepEvent): Promise<unknown> => {
    calls.push(event);
    const failure = fail[event.action]?.(event);
    if (failure !== undefined) return failure;
    const state = event.state as FakeState;
    const timeline = [...state.timeline, { step: event.action }];
    if (event.action === 'plan') return { ...state, timeline, left: ['node', 'node', 'switchover', 'node'] };
    if (event.action === 'next') {
      const [phase = 'done', ...left] = state.left ?? [];
      return { ...state, timeline, phase, left };
    }
    return { ...state, timeline };
  };
  return { calls, step, actions: () => calls.map((c) => c.action) };
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

const INPUT = { cluster: 'local', action: 'restart' };

describe('runMaintenanceWorkflow', () => {
  it('runs the whole loop from the rendered ASL: each node acted on and waited for, the switchover, finish', async () => {
    // Arrange
    const fake = fakeStep();

    // Act
    const result = await runMaintenanceWorkflow(INPUT, { executionName: 'maint-1', step: fake.step });

    // Assert
    expect(fake.actions()).toEqual([
      'plan',
      'next',
      'act',
      'wait',
      'next',
      'act',
      'wait',
      'next',
      'switchover',
      'next',
      'act',
      'wait',
      'next',
      'finish',
    ]);
    expect(fake.calls[0]?.state).toMatchObject({ input: INPUT, executionId: 'maint-1', timeline: [] });
    expect(result.status).toBe('SUCCEEDED');
  });

  it('retries Wait while the node is not back yet, then goes on', async () => {
    // Arrange
    let notBack = 2;
    const fake = fakeStep({
      wait: () => {
        if (notBack <= 0) return undefined;
        notBack -= 1;
        throw namedError(ERROR_NAMES.nodeNotBackYet, 'n2 is not back yet');
      },
    });

    // Act
    const result = await runMaintenanceWorkflow(INPUT, {
      executionName: 'maint-2',
      step: fake.step,
      retryIntervalMs: 0,
    });

    // Assert
    expect(fake.actions().slice(0, 6)).toEqual(['plan', 'next', 'act', 'wait', 'wait', 'wait']);
    expect(result.status).toBe('SUCCEEDED');
  });

  it('ends in MaintenanceFailed with Recover called when Act fails', async () => {
    // Arrange
    const fake = fakeStep({
      act: () => {
        throw namedError(ERROR_NAMES.nodeOps, 'maintenance-action failed on n2');
      },
    });

    // Act
    const result = await runMaintenanceWorkflow(INPUT, { executionName: 'maint-3', step: fake.step });

    // Assert
    expect(fake.actions()).toEqual(['plan', 'next', 'act', 'recover']);
    expect(fake.calls[3]?.state).toMatchObject({ error: { Error: ERROR_NAMES.nodeOps } });
    expect(result).toMatchObject({ status: 'FAILED', error: MAINTENANCE_FAILURES.failed });
  });

  it('ends in MaintenanceRefused without any other step when Plan refuses', async () => {
    // Arrange
    const fake = fakeStep({
      plan: () => {
        throw namedError(ERROR_NAMES.maintenanceRefused, 'maintenance of local is paused');
      },
    });

    // Act
    const result = await runMaintenanceWorkflow(INPUT, { executionName: 'maint-4', step: fake.step });

    // Assert
    expect(fake.actions()).toEqual(['plan']);
    expect(result).toMatchObject({ status: 'FAILED', error: MAINTENANCE_FAILURES.refused });
  });
});

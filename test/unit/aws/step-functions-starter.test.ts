import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { executionArn, StepFunctionsStarter } from '../../../adapters/aws/step-functions-starter.ts';
import { AwsServiceError, ConfigurationError, InvalidInputError } from '../../../core/model/errors.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { START } from '../../support/fixtures.ts';
import { awsError, fixedRandom, rejectionOf, throttling } from './sdk-errors.ts';

const sfnMock = mockClient(SFNClient);
const SWITCHOVER_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:ha-redis-prod-switchover';
const MAINTENANCE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:ha-redis-prod-maintenance';
const NAME = 'switchover-orders-1732467600000-U0123ABCD';
const STARTED_ARN = `arn:aws:states:eu-west-1:123456789012:execution:ha-redis-prod-switchover:${NAME}`;
const INPUT = { cluster: 'orders', target: 'n2', requestedBy: 'U0123ABCD' };

function starter(arns: { switchover: string; maintenance?: string } = { switchover: SWITCHOVER_ARN }) {
  const clock = new FakeClock();
  const workflows = new StepFunctionsStarter({
    client: new SFNClient({ region: 'eu-west-1' }),
    stateMachineArns: arns,
    clock,
    random: fixedRandom(0.5),
  });
  return { workflows, clock };
}

const startInputs = () => sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);

beforeEach(() => {
  sfnMock.reset();
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: STARTED_ARN, startDate: new Date(START) });
});
afterAll(() => {
  sfnMock.restore();
});

describe('StepFunctionsStarter.start', () => {
  it('starts an execution with the name and the input as JSON', async () => {
    // Arrange
    const { workflows, clock } = starter();

    // Act
    const result = await workflows.start({ workflow: 'switchover', name: NAME, input: INPUT });

    // Assert
    expect(result).toEqual({ executionId: STARTED_ARN, started: true });
    expect(startInputs()).toEqual([
      { stateMachineArn: SWITCHOVER_ARN, name: NAME, input: JSON.stringify(INPUT) },
    ]);
    expect(clock.sleeps).toEqual([]);
  });

  it('starts maintenance on its own state machine', async () => {
    // Arrange
    const { workflows } = starter({ switchover: SWITCHOVER_ARN, maintenance: MAINTENANCE_ARN });

    // Act
    await workflows.start({ workflow: 'maintenance', name: 'maint-orders-weekly', input: undefined });

    // Assert
    expect(startInputs()).toEqual([
      { stateMachineArn: MAINTENANCE_ARN, name: 'maint-orders-weekly', input: '{}' },
    ]);
  });

  it('answers started: false with the execution ARN when the name was used already', async () => {
    // Arrange
    sfnMock
      .on(StartExecutionCommand)
      .rejects(awsError('ExecutionAlreadyExists', `Execution Already Exists: '${STARTED_ARN}'`));
    const { workflows } = starter();

    // Act
    const result = await workflows.start({ workflow: 'switchover', name: NAME, input: INPUT });

    // Assert: asked once, with the name that makes it idempotent.
    expect(result).toEqual({ executionId: STARTED_ARN, started: false });
    expect(startInputs()).toEqual([
      { stateMachineArn: SWITCHOVER_ARN, name: NAME, input: JSON.stringify(INPUT) },
    ]);
  });

  it('refuses a workflow with no state machine configured, and calls nothing', async () => {
    // Arrange
    const { workflows } = starter();

    // Act
    const start = workflows.start({ workflow: 'maintenance', name: 'maint-1', input: {} });

    // Assert
    await expect(start).rejects.toThrow(ConfigurationError);
    await expect(start).rejects.toThrow(
      'no state machine is configured for the maintenance workflow; deploy it and pass its ARN',
    );
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('refuses a move, saying it runs in the local runtime only, and calls nothing', async () => {
    // Arrange
    const { workflows } = starter({ switchover: SWITCHOVER_ARN, maintenance: MAINTENANCE_ARN });

    // Act
    const start = workflows.start({ workflow: 'move', name: 'slack-orders-1', input: { cluster: 'orders' } });

    // Assert
    await expect(start).rejects.toThrow(ConfigurationError);
    await expect(start).rejects.toThrow(
      'the move workflow runs in the local runtime only for now (`ha-redis move`, or /redis move served by a local orchestrator)',
    );
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it.each([
    ['empty', ''],
    ['with a space', 'switchover orders'],
    ['with a colon', 'switchover:orders'],
    ['81 characters long', 'x'.repeat(81)],
  ])('refuses an execution name %s, and calls nothing', async (_case, name) => {
    // Arrange
    const { workflows } = starter();

    // Act
    const start = workflows.start({ workflow: 'switchover', name, input: {} });

    // Assert
    await expect(start).rejects.toThrow(InvalidInputError);
    await expect(start).rejects.toThrow("use 1 to 80 letters, digits, '-' and '_'");
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('accepts a name of exactly 80 characters', async () => {
    // Arrange
    const { workflows } = starter();

    // Act
    const result = await workflows.start({ workflow: 'switchover', name: 'a'.repeat(80), input: {} });

    // Assert
    expect(result.started).toBe(true);
  });

  it('refuses an input JSON cannot carry', async () => {
    // Arrange
    const { workflows } = starter();

    // Act
    const start = workflows.start({ workflow: 'switchover', name: NAME, input: { offset: 10n } });

    // Assert
    await expect(start).rejects.toThrow(InvalidInputError);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('retries a throttled start with full jitter', async () => {
    // Arrange
    sfnMock
      .on(StartExecutionCommand)
      .rejectsOnce(throttling())
      .rejectsOnce(awsError('TooManyRequestsException', 'slow down', 429))
      .resolves({ executionArn: STARTED_ARN, startDate: new Date(START) });
    const { workflows, clock } = starter();

    // Act
    const result = await workflows.start({ workflow: 'switchover', name: NAME, input: INPUT });

    // Assert: every attempt with the same name, so that a start that went through is not started twice.
    expect(result).toEqual({ executionId: STARTED_ARN, started: true });
    expect(startInputs()).toEqual(
      Array(3).fill({ stateMachineArn: SWITCHOVER_ARN, name: NAME, input: JSON.stringify(INPUT) }),
    );
    expect(clock.sleeps).toEqual([50, 100]);
  });

  it('gives up after 4 throttled attempts, telling to retry with the same name', async () => {
    // Arrange
    sfnMock.on(StartExecutionCommand).rejects(throttling());
    const { workflows, clock } = starter();

    // Act
    const start = workflows.start({ workflow: 'switchover', name: NAME, input: INPUT });

    // Assert
    await expect(start).rejects.toThrow(AwsServiceError);
    await expect(start).rejects.toThrow(
      `could not start the switchover workflow as execution ${NAME}: Step Functions kept throttling StartExecution (4 attempts); retry with the same name`,
    );
    expect(startInputs()).toHaveLength(4);
    expect(clock.sleeps).toEqual([50, 100, 200]);
  });

  it('reports a missing state machine as configuration, without retrying', async () => {
    // Arrange
    sfnMock
      .on(StartExecutionCommand)
      .rejects(awsError('StateMachineDoesNotExist', 'State Machine Does Not Exist'));
    const { workflows } = starter();

    // Act
    const start = workflows.start({ workflow: 'switchover', name: NAME, input: INPUT });

    // Assert
    await expect(start).rejects.toThrow(ConfigurationError);
    await expect(start).rejects.toThrow(
      `could not start the switchover workflow as execution ${NAME}: StateMachineDoesNotExist: State Machine Does Not Exist; check the state machine ARN and this role's states:StartExecution permission`,
    );
    expect(startInputs()).toHaveLength(1);
  });

  it('maps a rejected input to InvalidInputError and a full account to AwsServiceError', async () => {
    // Arrange
    sfnMock
      .on(StartExecutionCommand)
      .rejectsOnce(awsError('InvalidExecutionInput', 'input too large'))
      .rejectsOnce(awsError('ExecutionLimitExceeded', 'limit'));
    const { workflows } = starter();

    // Act
    const tooLarge = await rejectionOf(workflows.start({ workflow: 'switchover', name: NAME, input: INPUT }));
    const full = await rejectionOf(workflows.start({ workflow: 'switchover', name: NAME, input: INPUT }));

    // Assert
    expect(tooLarge).toBeInstanceOf(InvalidInputError);
    expect(full).toBeInstanceOf(AwsServiceError);
    expect(full.message).toBe(
      `could not start the switchover workflow as execution ${NAME}: too many executions are running; retry with the same name when some have ended`,
    );
    expect(startInputs()).toHaveLength(2);
  });

  it('refuses a state machine ARN that is not one', () => {
    // Act
    const build = () => starter({ switchover: 'arn:aws:lambda:eu-west-1:123456789012:function:switchover' });

    // Assert
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow(
      "the switchover state machine ARN 'arn:aws:lambda:eu-west-1:123456789012:function:switchover'",
    );
  });
});

describe('executionArn', () => {
  it('names the execution under the state machine, without a version or alias qualifier', () => {
    // Act
    const plain = executionArn(SWITCHOVER_ARN, 'run-1');
    const qualified = executionArn(`${SWITCHOVER_ARN}:prod`, 'run-1');
    const china = executionArn('arn:aws-cn:states:cn-north-1:123456789012:stateMachine:sm', 'run-1');

    // Assert
    expect(plain).toBe('arn:aws:states:eu-west-1:123456789012:execution:ha-redis-prod-switchover:run-1');
    expect(qualified).toBe(plain);
    expect(china).toBe('arn:aws-cn:states:cn-north-1:123456789012:execution:sm:run-1');
  });
});

describe('StepFunctionsStarter.describe', () => {
  const STATE = { input: INPUT, executionId: NAME, startedAt: START, timeline: [] };
  const describeInputs = () => sfnMock.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input);
  const historyInputs = () => sfnMock.commandCalls(GetExecutionHistoryCommand).map((c) => c.args[0].input);
  const entered = (id: number, type: string, name: string, input: unknown): HistoryEvent => ({
    id,
    timestamp: new Date(START + id),
    type: type as HistoryEvent['type'],
    stateEnteredEventDetails: { name, input: JSON.stringify(input), inputDetails: { truncated: false } },
  });
  /** DescribeExecution answers the execution in `status`, with `extra` fields. */
  const describedAs = (status: string, extra: Record<string, unknown> = {}) => ({
    executionArn: STARTED_ARN,
    stateMachineArn: SWITCHOVER_ARN,
    status: status as 'RUNNING',
    startDate: new Date(START),
    ...extra,
  });
  const plain = (id: number, type: string): HistoryEvent => ({
    id,
    timestamp: new Date(START + id),
    type: type as HistoryEvent['type'],
  });

  it('answers a succeeded execution with its output, reading no history', async () => {
    // Arrange
    const output = { ...STATE, outcome: 'succeeded', writeGapMs: 312 };
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves(describedAs('SUCCEEDED', { output: JSON.stringify(output) }));
    const { workflows } = starter();

    // Act
    const execution = await workflows.describe(STARTED_ARN);

    // Assert
    expect(execution).toEqual({ executionId: STARTED_ARN, status: 'SUCCEEDED', output });
    expect(describeInputs()).toEqual([{ executionArn: STARTED_ARN }]);
    expect(historyInputs()).toEqual([]);
  });

  it('answers a running execution with the newest state entered and its input', async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves(describedAs('RUNNING'));
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        plain(9, 'LambdaFunctionStarted'),
        plain(8, 'LambdaFunctionScheduled'),
        entered(7, 'TaskStateEntered', 'Fence', { ...STATE, writeGapMs: 301 }),
        plain(6, 'TaskStateExited'),
      ],
    });
    const { workflows } = starter();

    // Act
    const execution = await workflows.describe(STARTED_ARN);

    // Assert
    expect(execution).toEqual({
      executionId: STARTED_ARN,
      status: 'RUNNING',
      currentState: 'Fence',
      output: { ...STATE, writeGapMs: 301 },
    });
    expect(historyInputs()).toEqual([
      { executionArn: STARTED_ARN, reverseOrder: true, maxResults: 25, includeExecutionData: true },
    ]);
  });

  it('answers a failed execution with its error, cause, Fail state and the state it failed with', async () => {
    // Arrange
    const failedState = {
      ...STATE,
      error: { Error: 'CatchUpTimeoutError', Cause: '{"errorMessage":"behind"}' },
    };
    sfnMock.on(DescribeExecutionCommand).resolves(
      describedAs('FAILED', {
        error: 'SwitchoverRolledBack',
        cause: 'a step failed and the switchover was rolled back',
      }),
    );
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        plain(30, 'ExecutionFailed'),
        entered(29, 'FailStateEntered', 'SwitchoverRolledBack', failedState),
      ],
    });
    const { workflows } = starter();

    // Act
    const execution = await workflows.describe(STARTED_ARN);

    // Assert
    expect(execution).toEqual({
      executionId: STARTED_ARN,
      status: 'FAILED',
      currentState: 'SwitchoverRolledBack',
      output: failedState,
      error: 'SwitchoverRolledBack',
      cause: 'a step failed and the switchover was rolled back',
    });
  });

  it('reads older pages until it finds a state entered, and counts a pending redrive as running', async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves(describedAs('PENDING_REDRIVE'));
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [plain(40, 'LambdaFunctionFailed')], nextToken: 'page-2' })
      .resolvesOnce({ events: [entered(39, 'TaskStateEntered', 'Recover', STATE)] });
    const { workflows } = starter();

    // Act
    const execution = await workflows.describe(STARTED_ARN);

    // Assert
    expect(execution).toMatchObject({ status: 'RUNNING', currentState: 'Recover' });
    expect(historyInputs().map((i) => i?.nextToken)).toEqual([undefined, 'page-2']);
  });

  it('leaves the output out when the state input is truncated or not JSON', async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves(describedAs('TIMED_OUT'));
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          id: 3,
          timestamp: new Date(START),
          type: 'TaskStateEntered',
          stateEnteredEventDetails: {
            name: 'Prepare',
            input: '{"input":',
            inputDetails: { truncated: true },
          },
        },
      ],
    });
    const { workflows } = starter();

    // Act
    const execution = await workflows.describe(STARTED_ARN);

    // Assert
    expect(execution).toEqual({ executionId: STARTED_ARN, status: 'TIMED_OUT', currentState: 'Prepare' });
  });

  it('retries a throttled describe with full jitter', async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).rejectsOnce(throttling()).resolves(describedAs('ABORTED'));
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const { workflows, clock } = starter();

    // Act
    const execution = await workflows.describe(STARTED_ARN);

    // Assert
    expect(execution).toEqual({ executionId: STARTED_ARN, status: 'ABORTED' });
    expect(describeInputs()).toHaveLength(2);
    expect(clock.sleeps).toEqual([50]);
  });

  it('gives up after 3 throttled attempts with a retry-later error', async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).rejects(throttling());
    const { workflows, clock } = starter();

    // Act
    const error = await rejectionOf(workflows.describe(STARTED_ARN));

    // Assert
    expect(error).toBeInstanceOf(AwsServiceError);
    expect(error.message).toBe(
      `could not describe execution ${STARTED_ARN}: Step Functions kept throttling (3 attempts); retry later`,
    );
    expect(clock.sleeps).toEqual([50, 100]);
  });

  it('maps a missing execution to InvalidInputError and a denied one to ConfigurationError, without retrying', async () => {
    // Arrange
    sfnMock
      .on(DescribeExecutionCommand)
      .rejectsOnce(awsError('ExecutionDoesNotExist', 'Execution Does Not Exist'))
      .rejectsOnce(awsError('AccessDeniedException', 'not authorized'));
    const { workflows } = starter();

    // Act
    const missing = await rejectionOf(workflows.describe(STARTED_ARN));
    const denied = await rejectionOf(workflows.describe(STARTED_ARN));

    // Assert
    expect(missing).toBeInstanceOf(InvalidInputError);
    expect(missing.message).toContain(
      'ExecutionDoesNotExist: Execution Does Not Exist; check the execution id',
    );
    expect(denied).toBeInstanceOf(ConfigurationError);
    expect(denied.message).toContain(
      'grant this role states:DescribeExecution and states:GetExecutionHistory',
    );
    expect(describeInputs()).toHaveLength(2);
  });

  it('refuses an id that is not an execution ARN, and calls nothing', async () => {
    // Arrange
    const { workflows } = starter();

    // Act
    const error = await rejectionOf(workflows.describe(NAME));

    // Assert
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

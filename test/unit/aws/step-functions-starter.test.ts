import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { executionArn, StepFunctionsStarter } from '../../../adapters/aws/step-functions-starter.ts';
import { AwsServiceError, ConfigurationError, InvalidInputError } from '../../../functions/core/errors.ts';
import { FakeClock, START } from '../helpers.ts';
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

    // Assert
    expect(result).toEqual({ executionId: STARTED_ARN, started: false });
    expect(startInputs()).toHaveLength(1);
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

    // Assert
    expect(result).toEqual({ executionId: STARTED_ARN, started: true });
    expect(startInputs()).toHaveLength(3);
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

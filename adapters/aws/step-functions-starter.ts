import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { AwsServiceError, ConfigurationError, InvalidInputError } from '../../functions/core/errors.ts';
import type { Clock, WorkflowStarter } from '../../functions/core/ports.ts';
import {
  awsErrorName,
  Backoff,
  describeAwsError,
  isThrottling,
  type RetryPolicy,
  wallClock,
} from './retry.ts';

/** A start is a user waiting (Slack, a schedule): a few quick retries, then a clear "retry later". */
export const START_RETRY: RetryPolicy = { maxAttempts: 4, baseMs: 100, capMs: 1000 };

/** Step Functions' execution name rule, narrowed to what our names use. */
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;
/** `arn:<partition>:states:<region>:<account>:stateMachine:<name>[:<version or alias>]` */
const STATE_MACHINE_ARN = /^(arn:[a-z-]+:states:[a-z0-9-]+:\d{12}):stateMachine:([^:/\s]{1,80})(?::[^:]+)?$/;
const NOT_CONFIGURED = new Set(['StateMachineDoesNotExist', 'StateMachineDeleting', 'AccessDeniedException']);

type Workflow = 'switchover' | 'maintenance';

export interface StepFunctionsStarterOptions {
  client: SFNClient;
  stateMachineArns: { switchover: string; maintenance?: string };
  /** For the pauses between throttled attempts; the wall clock by default. */
  clock?: Clock;
  /** Jitter of throttled attempts; Math.random by default. */
  random?: () => number;
}

/** The ARN of execution `name` of a state machine (a version or alias qualifier does not appear in it). */
export function executionArn(stateMachineArn: string, name: string): string {
  const match = STATE_MACHINE_ARN.exec(stateMachineArn);
  if (!match) throw new ConfigurationError(`${stateMachineArn} is not a state machine ARN`);
  return `${match[1]}:execution:${match[2]}:${name}`;
}

/** Starts switchover and maintenance workflows as Step Functions executions; the name is the idempotency key. */
export class StepFunctionsStarter implements WorkflowStarter {
  private readonly client: SFNClient;
  private readonly arns: Partial<Record<Workflow, string>>;
  private readonly backoff: Backoff;

  constructor(options: StepFunctionsStarterOptions) {
    this.client = options.client;
    this.arns = options.stateMachineArns;
    this.backoff = new Backoff(options.clock ?? wallClock, options.random);
    for (const [workflow, arn] of Object.entries(this.arns)) {
      if (arn !== undefined && !STATE_MACHINE_ARN.test(arn)) {
        throw new ConfigurationError(
          `the ${workflow} state machine ARN '${arn}' is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>); fix the stack's output`,
        );
      }
    }
  }

  /** Starts the execution; `started: false` when one of that name exists already (nothing new started). */
  async start(request: {
    workflow: Workflow;
    name: string;
    input: unknown;
  }): Promise<{ executionId: string; started: boolean }> {
    const { workflow, name } = request;
    const stateMachineArn = this.arns[workflow];
    if (!stateMachineArn) {
      throw new ConfigurationError(
        `no state machine is configured for the ${workflow} workflow; deploy it and pass its ARN`,
      );
    }
    if (!EXECUTION_NAME.test(name)) {
      throw new InvalidInputError(
        `execution name '${name.slice(0, 100)}' is not allowed: use 1 to 80 letters, digits, '-' and '_'`,
      );
    }
    const input = serialize(request.input, name);
    try {
      const { executionArn: arn } = await this.backoff.retry(
        () => this.client.send(new StartExecutionCommand({ stateMachineArn, name, input })),
        START_RETRY,
      );
      return { executionId: arn ?? executionArn(stateMachineArn, name), started: true };
    } catch (error) {
      const errorName = awsErrorName(error);
      // The name is taken: by this very request earlier (a retry), or by another; either way none starts.
      if (errorName === 'ExecutionAlreadyExists') {
        return { executionId: executionArn(stateMachineArn, name), started: false };
      }
      throw startFailure(error, workflow, name);
    }
  }
}

/** The execution input as JSON; a value JSON cannot carry is the caller's mistake. */
function serialize(input: unknown, name: string): string {
  try {
    return JSON.stringify(input ?? {});
  } catch (error) {
    throw new InvalidInputError(`the input of execution ${name} cannot be written as JSON; pass plain data`, {
      cause: error,
    });
  }
}

/** The ha-redis error for a StartExecution that failed, saying what to do. */
function startFailure(error: unknown, workflow: Workflow, name: string): Error {
  const what = `could not start the ${workflow} workflow as execution ${name}`;
  const errorName = awsErrorName(error);
  const options = { cause: error };
  if (NOT_CONFIGURED.has(errorName)) {
    return new ConfigurationError(
      `${what}: ${describeAwsError(error)}; check the state machine ARN and this role's states:StartExecution permission`,
      options,
    );
  }
  if (errorName === 'InvalidExecutionInput' || errorName === 'InvalidName') {
    return new InvalidInputError(`${what}: ${describeAwsError(error)}`, options);
  }
  if (isThrottling(error)) {
    return new AwsServiceError(
      `${what}: Step Functions kept throttling StartExecution (${START_RETRY.maxAttempts} attempts); retry with the same name`,
      options,
    );
  }
  if (errorName === 'ExecutionLimitExceeded') {
    return new AwsServiceError(
      `${what}: too many executions are running; retry with the same name when some have ended`,
      options,
    );
  }
  return new AwsServiceError(`${what}: ${describeAwsError(error)}; retry with the same name`, options);
}

import {
  DescribeExecutionCommand,
  type DescribeExecutionOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  AwsServiceError,
  ConfigurationError,
  HaRedisError,
  InvalidInputError,
} from '../../core/model/errors.ts';
import type { Clock, WorkflowExecution, WorkflowName, WorkflowStarter } from '../../core/ports.ts';
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

/** A describe is polled (a Slack watch, once a second): a few quick retries, then the next poll tries again. */
export const DESCRIBE_RETRY: RetryPolicy = { maxAttempts: 3, baseMs: 100, capMs: 500 };

/** Newest history events read per page, and pages read at most, to find the newest state entered. */
const HISTORY_PAGE_SIZE = 25;
const HISTORY_MAX_PAGES = 4;

/** Step Functions' execution name rule, narrowed to what our names use. */
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;
/** `arn:<partition>:states:<region>:<account>:stateMachine:<name>[:<version or alias>]` */
const STATE_MACHINE_ARN = /^(arn:[a-z-]+:states:[a-z0-9-]+:\d{12}):stateMachine:([^:/\s]{1,80})(?::[^:]+)?$/;
const NOT_CONFIGURED = new Set(['StateMachineDoesNotExist', 'StateMachineDeleting', 'AccessDeniedException']);
/** `arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>` */
const EXECUTION_ARN = /^arn:[a-z-]+:states:[a-z0-9-]+:\d{12}:execution:[^:/\s]{1,80}:[A-Za-z0-9_-]{1,80}$/;

/** The workflows with a state machine on AWS; `move` has none yet. */
type Workflow = Exclude<WorkflowName, 'move'>;

/** Why a move cannot start on AWS: no move state machine is deployed; the local runtime runs it. */
export const MOVE_LOCAL_ONLY =
  'the move workflow runs in the local runtime only for now (`ha-redis move`, or /redis move served by a local orchestrator): no move state machine is deployed on AWS; nothing was started';

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

  /**
   * Starts the execution; `started: false` when one of that name exists already (nothing new started). A move
   * is refused (ConfigurationError): it has no state machine on AWS.
   */
  async start(request: {
    workflow: WorkflowName;
    name: string;
    input: unknown;
  }): Promise<{ executionId: string; started: boolean }> {
    const { workflow, name } = request;
    if (workflow === 'move') throw new ConfigurationError(MOVE_LOCAL_ONLY);
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

  /**
   * Where the execution is (DescribeExecution). For one that has not succeeded, the newest state it entered
   * (GetExecutionHistory, newest first) gives the current state, or the Fail state it ended in, and that
   * state's input: the last state document known, which holds the error a Catch added.
   */
  async describe(executionId: string): Promise<WorkflowExecution> {
    if (!EXECUTION_ARN.test(executionId)) {
      throw new InvalidInputError(
        `'${executionId.slice(0, 200)}' is not a Step Functions execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)`,
      );
    }
    try {
      const described = await this.backoff.retry(
        () => this.client.send(new DescribeExecutionCommand({ executionArn: executionId })),
        DESCRIBE_RETRY,
      );
      const status = statusOf(described, executionId);
      const base: WorkflowExecution = {
        executionId,
        status,
        ...(described.error ? { error: described.error } : {}),
        ...(described.cause ? { cause: described.cause } : {}),
      };
      if (status === 'SUCCEEDED') {
        const output = parseJson(described.output);
        return output === undefined ? base : { ...base, output };
      }
      const entered = await this.newestStateEntered(executionId);
      if (!entered) return base;
      const output = entered.inputDetails?.truncated ? undefined : parseJson(entered.input);
      return { ...base, currentState: entered.name, ...(output === undefined ? {} : { output }) };
    } catch (error) {
      throw describeFailure(error, executionId);
    }
  }

  /** The details of the newest *StateEntered event, reading a few pages of history at most. */
  private async newestStateEntered(
    executionArn: string,
  ): Promise<{ name: string; input?: string; inputDetails?: { truncated?: boolean } } | undefined> {
    let nextToken: string | undefined;
    for (let page = 0; page < HISTORY_MAX_PAGES; page += 1) {
      const token = nextToken;
      const history = await this.backoff.retry(
        () =>
          this.client.send(
            new GetExecutionHistoryCommand({
              executionArn,
              reverseOrder: true,
              maxResults: HISTORY_PAGE_SIZE,
              includeExecutionData: true,
              ...(token ? { nextToken: token } : {}),
            }),
          ),
        DESCRIBE_RETRY,
      );
      const entered = (history.events ?? []).find(isStateEntered)?.stateEnteredEventDetails;
      if (entered?.name) {
        return {
          name: entered.name,
          ...(entered.input === undefined ? {} : { input: entered.input }),
          ...(entered.inputDetails ? { inputDetails: entered.inputDetails } : {}),
        };
      }
      nextToken = history.nextToken;
      if (!nextToken) return undefined;
    }
    return undefined;
  }
}

const isStateEntered = (event: HistoryEvent): boolean =>
  event.type?.endsWith('StateEntered') === true && event.stateEnteredEventDetails !== undefined;

/** The port's status; a redrive that is pending will run again, so it counts as running. */
function statusOf(described: DescribeExecutionOutput, executionArn: string): WorkflowExecution['status'] {
  switch (described.status) {
    case 'RUNNING':
    case 'PENDING_REDRIVE':
      return 'RUNNING';
    case 'SUCCEEDED':
    case 'FAILED':
    case 'TIMED_OUT':
    case 'ABORTED':
      return described.status;
    default:
      throw new AwsServiceError(
        `DescribeExecution of ${executionArn} answered status '${String(described.status)}'; retry later`,
      );
  }
}

/** A JSON document of the execution, or undefined when there is none or it is not JSON. */
function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The ha-redis error for a DescribeExecution or GetExecutionHistory that failed, saying what to do. */
function describeFailure(error: unknown, executionArn: string): Error {
  if (error instanceof HaRedisError) return error;
  const what = `could not describe execution ${executionArn}`;
  const errorName = awsErrorName(error);
  const options = { cause: error };
  if (errorName === 'ExecutionDoesNotExist' || errorName === 'InvalidArn') {
    return new InvalidInputError(
      `${what}: ${describeAwsError(error)}; check the execution id (it is in the state machine's region and account)`,
      options,
    );
  }
  if (errorName === 'AccessDeniedException') {
    return new ConfigurationError(
      `${what}: ${describeAwsError(error)}; grant this role states:DescribeExecution and states:GetExecutionHistory on the state machine's executions`,
      options,
    );
  }
  if (isThrottling(error)) {
    return new AwsServiceError(
      `${what}: Step Functions kept throttling (${DESCRIBE_RETRY.maxAttempts} attempts); retry later`,
      options,
    );
  }
  return new AwsServiceError(`${what}: ${describeAwsError(error)}; retry later`, options);
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

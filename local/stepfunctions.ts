import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { z } from 'zod';
import { causeMessage } from '../core/model/errors.ts';
import type { TimelineStep } from '../core/model/timeline.ts';
import {
  LOCAL_MAINTENANCE_STEP_FUNCTION_ARN,
  renderMaintenanceAsl,
} from '../infra/maintenance-definition.ts';
import { LOCAL_MOVE_STEP_FUNCTION_ARN, renderMoveAsl } from '../infra/move-definition.ts';
import { LOCAL_STEP_FUNCTION_ARN, renderSwitchoverAsl } from '../infra/switchover-definition.ts';

/**
 * Runs a workflow (the switchover, the maintenance) locally: the ASL that CDK renders, executed by aws-local-stepfunctions, with every
 * Task state answered by an in-process step function instead of a Lambda.
 *
 * Parity with AWS, so that what works here works there:
 * - a thrown error is reported as the Lambda Node.js runtime reports it: `Error` is the error's `name` (what
 *   Retry and Catch match) and `Cause` is the JSON `{"errorType","errorMessage","trace"}`;
 * - a Task result is JSON (a round trip drops what Step Functions would drop); over 256 KiB it fails the
 *   execution with `States.DataLimitExceeded`, which, as on AWS, no Catch or Retry matches;
 * - a Task's `TimeoutSeconds` aborts the signal given to the step; as on AWS, the step is not stopped.
 */

/** What a Task state sends: its resolved Parameters. */
export type StepEvent = { action: string; state: unknown };

/** One state transition of the execution. */
export type WorkflowTransition = {
  state: string;
  type: 'entered' | 'succeeded' | 'failed';
  at: number;
  /** The state's output, on `succeeded`. */
  output?: unknown;
  /** The error name, on `failed`. */
  error?: string;
};

export type RunWorkflowOptions = {
  /** The execution name: the execution id in the state, and on AWS the idempotency key. */
  executionName: string;
  /** Answers every Task state; its result replaces the execution state. */
  step: (event: StepEvent, context: { stateName: string; signal: AbortSignal }) => Promise<unknown>;
  /** Called for every state transition, in order, before the run resolves. If it throws, the run rejects at the end. */
  onTransition?: (transition: WorkflowTransition) => void;
  /** Aborting it aborts the execution (status ABORTED). */
  signal?: AbortSignal;
  /** Replaces every Retry interval, in milliseconds (tests). */
  retryIntervalMs?: number;
  /** Replaces the TimeoutSeconds of the named Task states (tests: a hung step times out in 1 s, not 30). */
  taskTimeoutSeconds?: Readonly<Record<string, number>>;
};

/** The end of an execution, shaped like DescribeExecution. */
export type WorkflowResult = {
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  output?: unknown;
  error?: string;
  cause?: string;
  /** The last state that a state emitted (on failure: what the Fail state received; AWS keeps it in the history). */
  lastState?: unknown;
};

/** The options of a switchover run (the same as any workflow's). */
export type RunSwitchoverOptions = RunWorkflowOptions;

/** JSON, as the library types it (it does not export the type). */
type ExecutionInput = Parameters<StateMachine['run']>[0];

/** Step Functions' payload quota (state input, output and task result), in UTF-8 bytes. */
const PAYLOAD_LIMIT_BYTES = 256 * 1024;

type AslState = {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  Branches?: AslMachine[];
  ItemProcessor?: AslMachine;
  Iterator?: AslMachine;
};
type AslMachine = { States: Record<string, AslState> };

/** Every Task state, nested machines (Parallel branches, Map processors) included. */
function findTaskStates(machine: AslMachine): Map<string, AslState> {
  const found = new Map<string, AslState>();
  const walk = (states: Record<string, AslState>): void => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Task') found.set(name, state);
      for (const nested of [...(state.Branches ?? []), state.ItemProcessor, state.Iterator]) {
        if (nested) walk(nested.States);
      }
    }
  };
  walk(machine.States);
  return found;
}

/** A step's failure as the Lambda runtime reports it to Step Functions. */
class LambdaFunctionError extends Error {
  constructor(thrown: unknown) {
    const isError = thrown instanceof Error;
    const errorType = isError ? thrown.name : typeof thrown;
    const errorMessage = isError ? thrown.message : String(thrown);
    const trace = isError ? (thrown.stack?.split('\n') ?? []) : [];
    super(JSON.stringify({ errorType, errorMessage, trace }), { cause: thrown });
    this.name = errorType;
  }
}

/** A terminal error: aws-local-stepfunctions reads `isRetryable` and `isCatchable` (States.ALL must not match it). */
class DataLimitExceededError extends Error {
  constructor(stateName: string, bytes: number) {
    super(
      `the result of ${stateName} is ${bytes} bytes (limit ${PAYLOAD_LIMIT_BYTES}); keep the execution state small`,
    );
    this.name = 'States.DataLimitExceeded';
  }
  get isRetryable(): boolean {
    return false;
  }
  get isCatchable(): boolean {
    return false;
  }
}

function isStepEvent(value: unknown): value is StepEvent {
  return (
    typeof value === 'object' && value !== null && typeof (value as { action?: unknown }).action === 'string'
  );
}

/** A workflow that runs locally: its rendered ASL, and the step function ARN every Task must call. */
export type LocalWorkflow = { name: string; render: () => object; stepFunctionArn: string };

/** The workflows CDK defines, by name. */
export const LOCAL_WORKFLOWS = {
  switchover: { name: 'switchover', render: renderSwitchoverAsl, stepFunctionArn: LOCAL_STEP_FUNCTION_ARN },
  maintenance: {
    name: 'maintenance',
    render: renderMaintenanceAsl,
    stepFunctionArn: LOCAL_MAINTENANCE_STEP_FUNCTION_ARN,
  },
  move: { name: 'move', render: renderMoveAsl, stepFunctionArn: LOCAL_MOVE_STEP_FUNCTION_ARN },
} as const satisfies Record<string, LocalWorkflow>;

type LocalMachine = { machine: StateMachine; tasks: Map<string, AslState> };

const cached = new Map<string, LocalMachine>();

/** A state machine of `definition`, whose Tasks must all call the workflow's step function. */
function buildMachine(workflow: LocalWorkflow, definition: object): LocalMachine {
  const tasks = findTaskStates(definition as AslMachine);
  for (const [name, state] of tasks) {
    if (state.Resource !== workflow.stepFunctionArn) {
      throw new Error(
        `Task state ${name} calls ${state.Resource}, not the ${workflow.name} step function; fix infra`,
      );
    }
  }
  return { machine: new StateMachine(definition as StateMachineDefinition), tasks };
}

/**
 * A workflow's state machine, rendered and validated once per process; with `timeouts`, a machine of its own
 * whose named Task states time out after the given seconds.
 */
function machineOf(workflow: LocalWorkflow, timeouts?: Readonly<Record<string, number>>): LocalMachine {
  if (timeouts) {
    const definition = structuredClone(workflow.render()) as AslMachine;
    const tasks = findTaskStates(definition);
    for (const [name, seconds] of Object.entries(timeouts)) {
      const task = tasks.get(name);
      if (!task) throw new Error(`no Task state ${name} in the ${workflow.name} workflow`);
      task.TimeoutSeconds = seconds;
    }
    return buildMachine(workflow, definition);
  }
  let found = cached.get(workflow.name);
  if (!found) {
    found = buildMachine(workflow, workflow.render());
    cached.set(workflow.name, found);
  }
  return found;
}

/** Runs one planned switchover locally, from the person's `input` to the end of the workflow. */
export function runSwitchoverWorkflow(
  input: unknown,
  options: RunSwitchoverOptions,
): Promise<WorkflowResult> {
  return runWorkflow(LOCAL_WORKFLOWS.switchover, input, options);
}

/** Runs one rolling maintenance locally, from the request (`input`) to the end of the workflow. */
export function runMaintenanceWorkflow(input: unknown, options: RunWorkflowOptions): Promise<WorkflowResult> {
  return runWorkflow(LOCAL_WORKFLOWS.maintenance, input, options);
}

/** Runs one execution of `workflow` locally, from its `input` to its end. */
export async function runWorkflow(
  workflow: LocalWorkflow,
  input: unknown,
  options: RunWorkflowOptions,
): Promise<WorkflowResult> {
  const { machine, tasks } = machineOf(workflow, options.taskTimeoutSeconds);
  // StartExecution takes JSON text: what is not JSON does not reach the steps on AWS either.
  // The execution input is the person's request, as on AWS; Plan builds the state from it and the context.
  const initialState = JSON.parse(JSON.stringify(input)) as ExecutionInput;

  const taskResourceLocalHandlers = Object.fromEntries(
    [...tasks].map(([stateName, state]) => [
      stateName,
      async (payload: unknown) => {
        if (!isStepEvent(payload)) {
          throw new Error(`Task state ${stateName} sent no { action, state }; its Parameters are wrong`);
        }
        const timeout = AbortSignal.timeout((state.TimeoutSeconds ?? 60) * 1000);
        const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
        let result: unknown;
        try {
          result = await options.step(
            { action: payload.action, state: payload.state },
            { stateName, signal },
          );
        } catch (thrown) {
          throw new LambdaFunctionError(thrown);
        }
        const json = JSON.stringify(result ?? null);
        const bytes = Buffer.byteLength(json);
        if (bytes > PAYLOAD_LIMIT_BYTES) throw new DataLimitExceededError(stateName, bytes);
        return JSON.parse(json);
      },
    ]),
  );
  const { retryIntervalMs } = options;
  const retryIntervalOverrides =
    retryIntervalMs === undefined
      ? undefined
      : Object.fromEntries([...tasks.keys()].map((n) => [n, retryIntervalMs]));

  const execution = machine.run(initialState, {
    overrides: { taskResourceLocalHandlers, ...(retryIntervalOverrides ? { retryIntervalOverrides } : {}) },
    context: { Execution: { Name: options.executionName, StartTime: new Date().toISOString() } },
  });
  const onAbort = (): void => execution.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) execution.abort();

  // The event log ends when the execution ends: drain it so every transition is reported before returning.
  let lastState: unknown;
  let transitionError: unknown;
  const transitions = (async () => {
    const caught = new Set<string>();
    for await (const event of execution.eventLogs) {
      let transition: WorkflowTransition | undefined;
      switch (event.type) {
        case 'StateEntered':
          caught.delete(event.state.name);
          transition = { state: event.state.name, type: 'entered', at: event.timestamp };
          break;
        case 'StateExited':
          lastState = event.state.output;
          // A caught state exits with the error merged into its input: it was reported as failed already.
          if (!caught.has(event.state.name)) {
            transition = {
              state: event.state.name,
              type: 'succeeded',
              at: event.timestamp,
              output: event.state.output,
            };
          }
          break;
        case 'StateFailed':
          transition = { state: event.state.name, type: 'failed', at: event.timestamp, error: event.Error };
          break;
        case 'StateCaught':
          caught.add(event.state.name);
          break;
        default:
          break;
      }
      try {
        if (transition) options.onTransition?.(transition);
      } catch (error) {
        transitionError ??= error;
      }
    }
  })();

  let result: WorkflowResult;
  try {
    const output = await execution.result;
    result = { status: 'SUCCEEDED', output };
  } catch (error) {
    if (error instanceof ExecutionError && error.cause instanceof Error) {
      result = { status: 'FAILED', error: error.cause.name, cause: error.cause.message };
    } else if (error instanceof ExecutionAbortedError) {
      result = { status: 'ABORTED' };
    } else if (error instanceof ExecutionTimeoutError) {
      result = { status: 'TIMED_OUT' };
    } else {
      throw error;
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  await transitions;
  if (transitionError !== undefined) throw transitionError;
  return result.status === 'SUCCEEDED' ? result : { ...result, lastState };
}

/** How an execution ended, read for a person: the Fail state, the error that caused it, the final state. */
export type WorkflowEnding<S> = {
  status: WorkflowResult['status'];
  /** The Fail state the execution ended in. */
  ending?: string;
  error?: string;
  cause?: string;
  state?: S;
};

/** What a Catch adds to the state it passes on: Step Functions' `{ Error, Cause }` at `$.error`. */
const CaughtErrorSchema = z.object({ error: z.object({ Error: z.string(), Cause: z.string().optional() }) });

/**
 * The ending of a run: the Fail state names the ending; the error that caused it travels in the state. A
 * refused Plan never built the state: its Catch put the error next to the request itself.
 */
export function endingOf<S extends { error?: { Error: string; Cause?: string | undefined } | undefined }>(
  result: WorkflowResult,
  parseState: (value: unknown) => S | undefined,
): WorkflowEnding<S> {
  const state = parseState(result.status === 'SUCCEEDED' ? result.output : result.lastState);
  const caught = state?.error ?? CaughtErrorSchema.safeParse(result.lastState).data?.error;
  const error = caught?.Error ?? result.error;
  const cause = caught?.Cause ? causeMessage(caught.Cause) : result.cause;
  return {
    status: result.status,
    ...(result.error ? { ending: result.error } : {}),
    ...(error ? { error } : {}),
    ...(cause ? { cause } : {}),
    ...(state ? { state } : {}),
  };
}

/**
 * An `onTransition` that passes every transition on, and tells each timeline step once, as the Task that
 * recorded it succeeds (the state a Task answers carries the whole timeline so far).
 */
export function stepByStep<S extends { timeline: TimelineStep[] }>(
  parseState: (value: unknown) => S | undefined,
  listeners: {
    onTransition?: (transition: WorkflowTransition) => void;
    onStep?: (step: TimelineStep) => void;
  },
): (transition: WorkflowTransition) => void {
  let told = 0;
  return (t) => {
    listeners.onTransition?.(t);
    if (t.type !== 'succeeded') return;
    const steps = parseState(t.output)?.timeline ?? [];
    for (const step of steps.slice(told)) listeners.onStep?.(step);
    told = Math.max(told, steps.length);
  };
}

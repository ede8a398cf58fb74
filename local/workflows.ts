import type { Descriptor } from '../config/local-descriptor.ts';
import { type MaintenanceInput, MaintenanceInputSchema } from '../core/maintenance/state.ts';
import { errorMessage, InvalidInputError } from '../core/model/errors.ts';
import type { Logger, WorkflowExecution, WorkflowStarter } from '../core/ports.ts';
import { type SwitchoverInput, SwitchoverInputSchema } from '../core/switchover/state.ts';
import { runLocalMaintenance } from './maintenance-runner.ts';
import type { WorkflowTransition } from './stepfunctions.ts';
import { runLocalSwitchover } from './switchover-runner.ts';

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * The local stand-in for Step Functions' StartExecution and DescribeExecution: runs the switchover
 * definition in this process (aws-local-stepfunctions), once per execution name, as the service does:
 * a second start with a name already used starts nothing.
 */
export class LocalWorkflowStarter implements WorkflowStarter {
  private readonly executions = new Map<string, { record: WorkflowExecution; done: Promise<void> }>();
  /** The cluster's descriptor now (a move changes its members while this runs). */
  private readonly descriptor: () => Descriptor;
  private readonly logger: Logger;
  constructor(descriptor: Descriptor | (() => Descriptor), logger: Logger) {
    this.descriptor = typeof descriptor === 'function' ? descriptor : () => descriptor;
    this.logger = logger;
  }

  async start(request: { workflow: 'switchover' | 'maintenance'; name: string; input: unknown }) {
    if (!EXECUTION_NAME.test(request.name)) {
      throw new InvalidInputError(`execution name '${request.name}' must be 1-80 of [A-Za-z0-9_-]`);
    }
    if (this.executions.has(request.name)) return { executionId: request.name, started: false };
    const parsed = (
      request.workflow === 'switchover' ? SwitchoverInputSchema : MaintenanceInputSchema
    ).safeParse(request.input);
    if (!parsed.success) {
      throw new InvalidInputError(`invalid ${request.workflow} input: ${parsed.error.message}`);
    }
    const { cluster, ...rest } = parsed.data;
    const descriptor = this.descriptor();
    if (cluster !== descriptor.cluster) {
      throw new InvalidInputError(`this runtime runs cluster ${descriptor.cluster}, not ${cluster}`);
    }
    const record: WorkflowExecution = { executionId: request.name, status: 'RUNNING' };
    const options = {
      logger: this.logger,
      executionName: request.name,
      onTransition: (t: WorkflowTransition) => {
        if (t.type === 'entered') record.currentState = t.state;
        if (t.type === 'succeeded') record.output = t.output;
      },
    };
    const run: Promise<{
      status: WorkflowExecution['status'];
      ending?: string;
      error?: string;
      cause?: string;
      state?: unknown;
    }> =
      request.workflow === 'switchover'
        ? runLocalSwitchover(descriptor, rest as Omit<SwitchoverInput, 'cluster'>, options)
        : runLocalMaintenance(descriptor, rest as Omit<MaintenanceInput, 'cluster'>, options);
    const done = run.then(
      (result) => {
        record.status = result.status;
        if (result.ending) record.currentState = result.ending;
        if (result.state) record.output = result.state;
        if (result.error) record.error = result.error;
        if (result.cause) record.cause = result.cause;
      },
      (error: unknown) => {
        record.status = 'FAILED';
        record.error = 'LocalRunnerError';
        record.cause = errorMessage(error);
        this.logger.error('local switchover execution failed to run', {
          execution: request.name,
          error: errorMessage(error),
        });
      },
    );
    this.executions.set(request.name, { record, done });
    return { executionId: request.name, started: true };
  }

  async describe(executionId: string): Promise<WorkflowExecution> {
    const execution = this.executions.get(executionId);
    if (!execution) throw new InvalidInputError(`no execution named ${executionId} in this runtime`);
    return { ...execution.record };
  }

  /** Every execution started so far has ended (stop waits for them: writes are never left blocked). */
  async settled(): Promise<void> {
    await Promise.all([...this.executions.values()].map((e) => e.done));
  }
}

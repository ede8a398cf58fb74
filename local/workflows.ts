import { dirname } from 'node:path';
import type { z } from 'zod';
import type { Descriptor } from '../config/local-descriptor.ts';
import { MaintenanceInputSchema } from '../core/maintenance/state.ts';
import { errorMessage, InvalidInputError, issuesText, MoveRefusedError } from '../core/model/errors.ts';
import { type MoveInput, MoveInputSchema, type MovePlan, type MoveState } from '../core/move/state.ts';
import type { Logger, WorkflowExecution, WorkflowName, WorkflowStarter } from '../core/ports.ts';
import { SwitchoverInputSchema } from '../core/switchover/state.ts';
import { runLocalMaintenance } from './maintenance-runner.ts';
import { runLocalMove } from './move-runner.ts';
import type { WorkflowEnding, WorkflowTransition } from './stepfunctions.ts';
import { runLocalSwitchover } from './switchover-runner.ts';

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** What every local runner is given: where to log, the execution's name, and where its transitions go. */
type RunOptions = {
  logger: Logger;
  executionName: string;
  onTransition: (t: WorkflowTransition) => void;
};

/**
 * The local root the descriptor lives under: a cluster's `dir` is `<root>/<cluster>` (config/local-descriptor.ts
 * clusterDir), so its parent. Not `localRoot()`: the orchestrator may serve clusters of another root than the
 * `$HA_REDIS_HOME` or working directory it happens to run with (tests pass a root of their own).
 */
export const rootOfDescriptor = (d: Descriptor): string => dirname(d.dir);

/**
 * The local stand-in for Step Functions' StartExecution and DescribeExecution: runs the switchover, maintenance
 * and move definitions in this process (aws-local-stepfunctions), once per execution name, as the service does:
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

  async start(request: { workflow: WorkflowName; name: string; input: unknown }) {
    if (!EXECUTION_NAME.test(request.name)) {
      throw new InvalidInputError(`execution name '${request.name}' must be 1-80 of [A-Za-z0-9_-]`);
    }
    if (this.executions.has(request.name)) return { executionId: request.name, started: false };
    const record: WorkflowExecution = { executionId: request.name, status: 'RUNNING' };
    const run = this.runnerOf(
      request.workflow,
      request.input,
    )({
      logger: this.logger,
      executionName: request.name,
      onTransition: (t: WorkflowTransition) => {
        if (t.type === 'entered') record.currentState = t.state;
        if (t.type === 'succeeded') record.output = t.output;
      },
    });
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
        this.logger.error(`local ${request.workflow} execution failed to run`, {
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

  /**
   * The dry-run plan of a move: the move workflow run to its end with dryRun set (its Plan step reads the service
   * and the target hosts, changes nothing). A refused plan throws MoveRefusedError with the Plan's reason.
   */
  async planMove(input: MoveInput): Promise<MovePlan> {
    const run = this.runnerOf('move', { ...input, dryRun: true });
    const result = await run({
      logger: this.logger,
      executionName: `plan-move-${input.cluster.slice(0, 48)}-${Date.now()}`,
      onTransition: () => undefined,
    });
    // The move runner's ending: its state is a MoveState.
    const plan = (result.state as MoveState | undefined)?.plan;
    if (result.status === 'SUCCEEDED' && plan) return plan;
    throw new MoveRefusedError(
      result.cause ?? result.error ?? `the move plan ended ${result.status} with no reason given`,
    );
  }

  /** Every execution started so far has ended (stop waits for them: writes are never left blocked). */
  async settled(): Promise<void> {
    await Promise.all([...this.executions.values()].map((e) => e.done));
  }

  /** The input checked against the workflow's and this runtime's cluster (throws at once), and its local runner. */
  private runnerOf(
    workflow: WorkflowName,
    input: unknown,
  ): (options: RunOptions) => Promise<WorkflowEnding<unknown>> {
    const descriptor = this.descriptor();
    const request = <T extends { cluster: string }>(schema: z.ZodType<T>): Omit<T, 'cluster'> => {
      const parsed = schema.safeParse(input);
      if (!parsed.success)
        throw new InvalidInputError(`invalid ${workflow} input: ${issuesText(parsed.error)}`);
      const { cluster, ...rest } = parsed.data;
      if (cluster !== descriptor.cluster) {
        throw new InvalidInputError(`this runtime runs cluster ${descriptor.cluster}, not ${cluster}`);
      }
      return rest;
    };
    switch (workflow) {
      case 'switchover': {
        const switchover = request(SwitchoverInputSchema);
        return (options) => runLocalSwitchover(descriptor, switchover, options);
      }
      case 'maintenance': {
        const maintenance = request(MaintenanceInputSchema);
        return (options) => runLocalMaintenance(descriptor, maintenance, options);
      }
      case 'move': {
        const move = request(MoveInputSchema);
        // The move starts and stops processes under the root this cluster lives in.
        const root = rootOfDescriptor(descriptor);
        return (options) => runLocalMove(descriptor, move, { ...options, root });
      }
    }
  }
}

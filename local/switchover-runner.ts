import { composeLocal } from '../compose/local.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import { ClusterRegistry } from '../core/model/cluster.ts';
import { InvalidInputError, issuesText } from '../core/model/errors.ts';
import type { TimelineStep } from '../core/model/timeline.ts';
import type { CorePorts, Logger } from '../core/ports.ts';
import {
  SwitchoverInputSchema,
  type SwitchoverState,
  SwitchoverStateSchema,
} from '../core/switchover/state.ts';
import { makeSwitchoverStepHandler } from '../functions/switchover-step/handler.ts';
import {
  endingOf,
  type RunWorkflowOptions,
  runSwitchoverWorkflow,
  stepByStep,
  type WorkflowEnding,
  type WorkflowTransition,
} from './stepfunctions.ts';

/** How a local switchover ended: status, the Fail state (SwitchoverRefused, SwitchoverRolledBack, ...), the state. */
export type LocalSwitchoverResult = WorkflowEnding<SwitchoverState>;

/**
 * Run the planned switchover on a local cluster: the state machine that CDK defines, executed by
 * aws-local-stepfunctions, each Task answered by the switchover-step handler through the local composition.
 */
export async function runLocalSwitchover(
  d: Descriptor,
  request: { target?: string; dryRun?: boolean; reason?: string; requestedBy?: string; maxLagBytes?: number },
  options: {
    logger: Logger;
    onStep?: (step: TimelineStep) => void;
    /** Every state transition of the execution (a watcher's view of where it is). */
    onTransition?: (transition: WorkflowTransition) => void;
    executionName?: string;
    /** Tests: wrap the real adapters, e.g. to inject a failure at one step. */
    wrapDeps?: (deps: CorePorts) => CorePorts;
    /** Tests: wrap the step function that answers every Task, e.g. to make one Task crash or hang. */
    wrapStep?: (step: RunWorkflowOptions['step']) => RunWorkflowOptions['step'];
    /** Tests: replace the TimeoutSeconds of the named Task states. */
    taskTimeoutSeconds?: RunWorkflowOptions['taskTimeoutSeconds'];
  },
): Promise<LocalSwitchoverResult> {
  const parsed = SwitchoverInputSchema.safeParse({ cluster: d.cluster, ...request });
  if (!parsed.success) throw new InvalidInputError(issuesText(parsed.error));
  const runtime = composeLocal(d, options.logger);
  const failover = options.wrapDeps ? options.wrapDeps(runtime.deps) : runtime.deps;
  const handle = makeSwitchoverStepHandler(() => ({
    clusters: new ClusterRegistry([runtime.cluster]),
    failover,
  }));
  const stateOf = (value: unknown): SwitchoverState | undefined => {
    const state = SwitchoverStateSchema.safeParse(value);
    return state.success ? state.data : undefined;
  };
  const step: RunWorkflowOptions['step'] = (event) => handle(event);
  try {
    const result = await runSwitchoverWorkflow(parsed.data, {
      executionName: options.executionName ?? `switchover-${d.cluster}-${Date.now()}`,
      step: options.wrapStep ? options.wrapStep(step) : step,
      ...(options.taskTimeoutSeconds ? { taskTimeoutSeconds: options.taskTimeoutSeconds } : {}),
      onTransition: stepByStep(stateOf, options),
    });
    return endingOf(result, stateOf);
  } finally {
    await runtime.close();
  }
}

import { IoredisSentinelAdmin } from '../adapters/redis/sentinel-admin.ts';
import { composeLocal, localAccess } from '../compose/local.ts';
import { type Descriptor, descriptorPath, readDescriptor } from '../config/local-descriptor.ts';
import { ClusterRegistry } from '../core/model/cluster.ts';
import { InvalidInputError, issuesText } from '../core/model/errors.ts';
import type { TimelineStep } from '../core/model/timeline.ts';
import type { MovePorts } from '../core/move/ports.ts';
import { MoveInputSchema, type MoveState, MoveStateSchema } from '../core/move/state.ts';
import type { CorePorts, Logger } from '../core/ports.ts';
import { makeMoveStepHandler } from '../functions/move-step/handler.ts';
import { LocalMoveHosts } from './move-hosts.ts';
import {
  endingOf,
  LOCAL_WORKFLOWS,
  type RunWorkflowOptions,
  runWorkflow,
  stepByStep,
  type WorkflowEnding,
  type WorkflowTransition,
} from './stepfunctions.ts';

/** The moves this process runs now, by service: one at a time per service (another process's is in its descriptor). */
const running = new Set<string>();

/** How a local move ended: status, the Fail state (MoveRefused, MoveStopped, MoveFailed), the state. */
export type LocalMoveResult = WorkflowEnding<MoveState>;

export interface LocalMoveOptions {
  logger: Logger;
  /** Where local clusters live (tests); default `$HA_REDIS_HOME` or `./.ha-redis`. */
  root?: string;
  onStep?: (step: TimelineStep) => void;
  onTransition?: (transition: WorkflowTransition) => void;
  executionName?: string;
  /** Tests: wrap the real adapters of each Task, e.g. to fail one of them. */
  wrapDeps?: (deps: CorePorts) => CorePorts;
  /** Tests: wrap the step function that answers every Task, e.g. to make one Task crash. */
  wrapStep?: (step: RunWorkflowOptions['step']) => RunWorkflowOptions['step'];
}

/**
 * Run the move of a host set's service to another set locally: the state machine CDK defines, executed by
 * aws-local-stepfunctions. Each Task reads the service's descriptor again (the move changes its members between
 * Tasks) and composes the local runtime around it, as a Lambda would read its config.
 */
export async function runLocalMove(
  d: Descriptor,
  request: { toSet: string; dryRun?: boolean; reason?: string; requestedBy?: string },
  options: LocalMoveOptions,
): Promise<LocalMoveResult> {
  const parsed = MoveInputSchema.safeParse({ cluster: d.cluster, ...request });
  if (!parsed.success) throw new InvalidInputError(issuesText(parsed.error));
  if (running.has(d.cluster)) {
    throw new InvalidInputError(`a move of ${d.cluster} is running in this process; wait for it to end`);
  }
  const path = descriptorPath(d.cluster, options.root);
  const hosts = new LocalMoveHosts(options.root ? { root: options.root } : {});
  const step: RunWorkflowOptions['step'] = async (event, context) => {
    const now = await readDescriptor(path);
    const runtime = composeLocal(now, options.logger);
    const move: MovePorts = {
      hosts,
      sentinelAdmin: new IoredisSentinelAdmin(runtime.connections, localAccess(now).sentinelPassword),
      sentinelSettings: now.sentinelSettings,
      signal: context.signal,
    };
    const failover = options.wrapDeps ? options.wrapDeps(runtime.deps) : runtime.deps;
    const handle = makeMoveStepHandler(() => ({
      clusters: new ClusterRegistry([runtime.cluster]),
      failover,
      move,
    }));
    try {
      return await handle(event);
    } finally {
      await runtime.close();
    }
  };
  const stateOf = (value: unknown): MoveState | undefined => {
    const state = MoveStateSchema.safeParse(value);
    return state.success ? state.data : undefined;
  };
  running.add(d.cluster);
  try {
    const result = await runWorkflow(LOCAL_WORKFLOWS.move, parsed.data, {
      executionName: options.executionName ?? `move-${d.cluster}-${Date.now()}`,
      step: options.wrapStep ? options.wrapStep(step) : step,
      onTransition: stepByStep(stateOf, options),
    });
    return endingOf(result, stateOf);
  } finally {
    running.delete(d.cluster);
  }
}

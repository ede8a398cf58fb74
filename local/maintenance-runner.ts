import { composeLocal } from '../compose/local.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import {
  MaintenanceInputSchema,
  type MaintenanceState,
  MaintenanceStateSchema,
} from '../core/maintenance/state.ts';
import { ClusterRegistry } from '../core/model/cluster.ts';
import { InvalidInputError, issuesText } from '../core/model/errors.ts';
import type { MaintenanceAction } from '../core/model/maintenance.ts';
import type { TimelineStep } from '../core/model/timeline.ts';
import type { CorePorts, Logger } from '../core/ports.ts';
import { makeMaintenanceStepHandler } from '../functions/maintenance-step/handler.ts';
import {
  endingOf,
  runMaintenanceWorkflow,
  stepByStep,
  type WorkflowEnding,
  type WorkflowTransition,
} from './stepfunctions.ts';

/** How a local maintenance run ended: status, the Fail state (MaintenanceRefused, MaintenanceFailed, ...), the state. */
export type LocalMaintenanceResult = WorkflowEnding<MaintenanceState>;

/** What a person asks of a local maintenance run; unset fields take the contract's defaults. */
export interface LocalMaintenanceRequest {
  action?: MaintenanceAction;
  switchback?: boolean;
  reason?: string;
  requestedBy?: string;
  scheduledAt?: number;
  maxLagBytes?: number;
  nodeBackTimeoutMs?: number;
  /** Drain: move the master off this host (IP) or node (host:port), acting on no node. */
  drainHost?: string;
}

export interface LocalMaintenanceOptions {
  logger: Logger;
  /** Every timeline step, as the run records it. */
  onStep?: (step: TimelineStep) => void;
  /** Every state transition of the execution (a watcher's view of where it is). */
  onTransition?: (transition: WorkflowTransition) => void;
  executionName?: string;
  /** Tests: wrap the real adapters, e.g. to inject a failure at one step. */
  wrapDeps?: (deps: CorePorts) => CorePorts;
  /** Tests: replaces every Retry interval (the Wait state's pause between two bounded waits), in milliseconds. */
  retryIntervalMs?: number;
}

/**
 * Run the rolling maintenance on a local cluster: the state machine that CDK defines, executed by
 * aws-local-stepfunctions, each Task answered by the maintenance-step handler through the local composition.
 */
export async function runLocalMaintenance(
  d: Descriptor,
  request: LocalMaintenanceRequest,
  options: LocalMaintenanceOptions,
): Promise<LocalMaintenanceResult> {
  const parsed = MaintenanceInputSchema.safeParse({ cluster: d.cluster, ...request });
  if (!parsed.success) {
    throw new InvalidInputError(issuesText(parsed.error));
  }
  const runtime = composeLocal(d, options.logger);
  const failover = options.wrapDeps ? options.wrapDeps(runtime.deps) : runtime.deps;
  const handle = makeMaintenanceStepHandler(() => ({
    clusters: new ClusterRegistry([runtime.cluster]),
    failover,
  }));
  const stateOf = (value: unknown): MaintenanceState | undefined => {
    const state = MaintenanceStateSchema.safeParse(value);
    return state.success ? state.data : undefined;
  };
  try {
    const result = await runMaintenanceWorkflow(parsed.data, {
      executionName: options.executionName ?? `maintenance-${d.cluster}-${Date.now()}`,
      step: (event) => handle(event),
      ...(options.retryIntervalMs === undefined ? {} : { retryIntervalMs: options.retryIntervalMs }),
      onTransition: stepByStep(stateOf, options),
    });
    return endingOf(result, stateOf);
  } finally {
    await runtime.close();
  }
}

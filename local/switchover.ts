import { z } from 'zod';
import { composeLocal } from '../compose/local.ts';
import { ClusterRegistry } from '../functions/core/cluster.ts';
import { InvalidInputError } from '../functions/core/errors.ts';
import type { FailoverDeps, Logger } from '../functions/core/ports.ts';
import type { TimelineStep } from '../functions/core/timeline.ts';
import {
  SwitchoverInputSchema,
  type SwitchoverState,
  SwitchoverStateSchema,
} from '../functions/switchover-step/contract.ts';
import { makeSwitchoverStepHandler } from '../functions/switchover-step/handler.ts';
import type { Descriptor } from './descriptor.ts';
import { runSwitchoverWorkflow, type WorkflowResult, type WorkflowTransition } from './stepfunctions.ts';

/** Lambda's `{"errorType","errorMessage"}` cause, or the text as it is. */
function errorMessageOf(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : cause;
  } catch {
    return cause;
  }
}

export interface LocalSwitchoverResult {
  status: WorkflowResult['status'];
  /** The Fail state the execution ended in (SwitchoverRefused, SwitchoverRolledBack, ...). */
  ending?: string;
  error?: string;
  cause?: string;
  state?: SwitchoverState;
}

/** What a Catch adds to the state it passes on: Step Functions' `{ Error, Cause }` at `$.error`. */
const CaughtErrorSchema = z.object({ error: z.object({ Error: z.string(), Cause: z.string().optional() }) });

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
    wrapDeps?: (deps: FailoverDeps) => FailoverDeps;
  },
): Promise<LocalSwitchoverResult> {
  const parsed = SwitchoverInputSchema.safeParse({ cluster: d.cluster, ...request });
  if (!parsed.success)
    throw new InvalidInputError(
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  const runtime = composeLocal(d, options.logger);
  const failover = options.wrapDeps ? options.wrapDeps(runtime.deps) : runtime.deps;
  const handle = makeSwitchoverStepHandler(() => ({
    clusters: new ClusterRegistry([runtime.cluster]),
    failover,
  }));
  let printed = 0;
  const stepsOf = (output: unknown): TimelineStep[] => {
    const state = SwitchoverStateSchema.safeParse(output);
    return state.success ? state.data.timeline : [];
  };
  try {
    const result = await runSwitchoverWorkflow(parsed.data, {
      executionName: options.executionName ?? `switchover-${d.cluster}-${Date.now()}`,
      step: (event) => handle(event),
      onTransition: (t) => {
        options.onTransition?.(t);
        if (t.type !== 'succeeded') return;
        const steps = stepsOf(t.output);
        for (const step of steps.slice(printed)) options.onStep?.(step);
        printed = Math.max(printed, steps.length);
      },
    });
    const final = SwitchoverStateSchema.safeParse(
      result.status === 'SUCCEEDED' ? result.output : result.lastState,
    );
    const state = final.success ? final.data : undefined;
    // The Fail state names the ending; the error that caused it travels in the state. A refused Plan never
    // built the state: its Catch put the error next to the request itself.
    const caught = state?.error ?? CaughtErrorSchema.safeParse(result.lastState).data?.error;
    const error = caught?.Error ?? result.error;
    const cause = caught?.Cause ? errorMessageOf(caught.Cause) : result.cause;
    return {
      status: result.status,
      ...(result.error ? { ending: result.error } : {}),
      ...(error ? { error } : {}),
      ...(cause ? { cause } : {}),
      ...(state ? { state } : {}),
    };
  } finally {
    await runtime.close();
  }
}

import {
  CancelCommandCommand,
  type CommandInvocationStatus,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { formatEndpoint, type InstanceTarget } from '../../core/model/cluster.ts';
import { NodeOpsError } from '../../core/model/errors.ts';
import type { Clock, NodeOperation, NodeOperationResult, NodeOps } from '../../core/ports.ts';
import { type DocumentName, isStaleEpochExit, operationParameters } from '../node-ops/operations.ts';
import { awsErrorName, Backoff, describeAwsError, isThrottling, type RetryPolicy } from './retry.ts';

/** SSM refuses a delivery timeout under 30 s; it bounds how long a command may wait for an offline agent. */
export const MIN_COMMAND_TIMEOUT_S = 30;
const DEFAULT_DEADLINE_MS = 60_000;
/** A node operation takes about a second: poll soon, then at most once a second. */
const RESULT_POLLING = { firstMs: 100, maxMs: 1000 };
/**
 * SendCommand is throttled before it runs anything, so a throttled send is safe to repeat: 8 attempts within
 * ~2-4 s, inside the 3 node timeouts a reaction waits for the fence of a node that does not answer (with an AZ's
 * failovers at once, 5 attempts in ~0.8 s left most of those fences unsent: the fleet simulation).
 */
const SEND_RETRY: RetryPolicy = { maxAttempts: 8, baseMs: 100, capMs: 1000 };
/**
 * For a caller off the failover path (the routing-persist Lambda): a throttled send waits up to ~25 s, inside
 * its 60-s timeout, rather than give the batch back to SQS for the queue's visibility timeout (6 minutes).
 */
export const PATIENT_SEND_RETRY: RetryPolicy = { maxAttempts: 10, baseMs: 500, capMs: 5000 };
/** SSM's limits on a command's comment, and what of stderr an error message carries. */
const COMMENT_MAX = 100;
const STDERR_MAX = 500;

/** Statuses that may still end in Success; every other one but Success is a failure (Cancelling too). */
const WAITING: ReadonlySet<CommandInvocationStatus> = new Set(['Pending', 'InProgress', 'Delayed']);

export interface SsmNodeOpsOptions {
  client: SSMClient;
  /** The SSM document (name or ARN) that implements an operation, e.g. `ha-redis-prod-update-haproxy`. */
  documentName: (document: DocumentName) => string;
  clock: Clock;
  /** Jitter of throttled calls; Math.random by default. */
  random?: () => number;
  /** How long SSM may wait for the host's agent to pick the command up (SendCommand TimeoutSeconds); 30 s by default. */
  commandTimeoutSeconds?: number;
  /** How long `run` waits in all, from sending to the result; 60 s by default. */
  deadlineMs?: number;
  /** Retries of a throttled SendCommand; 5 attempts within ~2.5 s by default. */
  sendRetry?: RetryPolicy;
}

/** Where a command goes, and how to name it in messages. */
interface Destination {
  subject: string;
  target: InstanceTarget;
  label: string;
}

/** NodeOps on AWS: each operation runs its SSM document (Run Command) on the host of the proxy or node. */
export class SsmNodeOps implements NodeOps {
  private readonly client: SSMClient;
  private readonly documentName: (document: DocumentName) => string;
  private readonly backoff: Backoff;
  private readonly commandTimeoutSeconds: number;
  private readonly deadlineMs: number;
  private readonly sendRetry: RetryPolicy;

  constructor(options: SsmNodeOpsOptions) {
    this.client = options.client;
    this.documentName = options.documentName;
    this.backoff = new Backoff(options.clock, options.random);
    this.commandTimeoutSeconds = options.commandTimeoutSeconds ?? MIN_COMMAND_TIMEOUT_S;
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.sendRetry = options.sendRetry ?? SEND_RETRY;
    if (!Number.isInteger(this.commandTimeoutSeconds) || this.commandTimeoutSeconds < MIN_COMMAND_TIMEOUT_S) {
      throw new NodeOpsError(
        `commandTimeoutSeconds ${this.commandTimeoutSeconds} is not allowed: SSM takes whole seconds from ${MIN_COMMAND_TIMEOUT_S}; raise it`,
      );
    }
  }

  /**
   * 1. send the command 2. for a tag target, find its one instance 3. wait for the result, until the adapter's
   * deadline or the caller's `deadlineAt`, whichever comes first.
   */
  async run(operation: NodeOperation, options: { deadlineAt?: number } = {}): Promise<NodeOperationResult> {
    const deadline = Math.min(
      this.backoff.deadlineIn(this.deadlineMs),
      options.deadlineAt ?? Number.POSITIVE_INFINITY,
    );
    // For messages: `within 60 s`, or what was left of the caller's time.
    const seconds = Math.max(0, deadline - this.backoff.deadlineIn(0)) / 1000;
    const within = `within ${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
    const destination = destinationOf(operation);
    const parameters = Object.fromEntries(
      Object.entries(operationParameters(operation)).map(([name, value]) => [name, [value]]),
    );
    const what = `${operation.document} on ${destination.subject} (${destination.label})`;
    const commandId = await this.send(operation, destination, parameters, what);
    const instanceId =
      'id' in destination.target
        ? destination.target.id
        : await this.instanceOfTagCommand(commandId, { deadline, within }, what);
    return this.result(operation, { commandId, instanceId, deadline, within, what });
  }

  private async send(
    operation: NodeOperation,
    destination: Destination,
    parameters: Record<string, string[]>,
    what: string,
  ): Promise<string> {
    const { target } = destination;
    const towards =
      'master' in operation
        ? formatEndpoint(operation.master)
        : 'action' in operation
          ? operation.action
          : 'no hold';
    const comment = `ha-redis ${operation.document} ${destination.subject} -> ${towards}`;
    const input: SendCommandCommandInput = {
      DocumentName: this.documentName(operation.document),
      ...('id' in target
        ? { InstanceIds: [target.id] }
        : {
            Targets: [{ Key: `tag:${target.tag.key}`, Values: [target.tag.value] }],
            // One instance at a time, stop at the first error: a second match never runs in parallel.
            MaxConcurrency: '1',
            MaxErrors: '0',
          }),
      Parameters: parameters,
      TimeoutSeconds: this.commandTimeoutSeconds,
      Comment: comment.slice(0, COMMENT_MAX),
    };
    try {
      const { Command } = await this.backoff.retry(
        () => this.client.send(new SendCommandCommand(input)),
        this.sendRetry,
      );
      if (!Command?.CommandId) throw new Error('SendCommand returned no command id');
      return Command.CommandId;
    } catch (error) {
      const reason = isThrottling(error)
        ? `SSM kept throttling SendCommand (${this.sendRetry.maxAttempts} attempts); retry later`
        : `${describeAwsError(error)}; check the document exists and the instance is running and managed by SSM`;
      throw new NodeOpsError(`could not send ${what}: ${reason}`, { cause: error });
    }
  }

  /** The instance a tag-targeted command went to; it must be exactly one, else the command is cancelled. */
  private async instanceOfTagCommand(
    commandId: string,
    { deadline, within }: { deadline: number; within: string },
    what: string,
  ): Promise<string> {
    const instances = await this.poll(what, commandId, deadline, async () => {
      const { CommandInvocations = [], NextToken } = await this.client.send(
        new ListCommandInvocationsCommand({ CommandId: commandId, MaxResults: 10 }),
      );
      const ids = CommandInvocations.flatMap((i) => (i.InstanceId ? [i.InstanceId] : []));
      // SSM resolves a tag after SendCommand returns: no invocation yet means "not yet".
      return ids.length > 0 ? { ids, more: NextToken !== undefined } : undefined;
    });
    if (!instances) {
      throw new NodeOpsError(
        `${what}: no instance received command ${commandId} ${within}; check that the tag names exactly one running instance managed by SSM`,
      );
    }
    const [only] = instances.ids;
    if (only !== undefined && instances.ids.length === 1 && !instances.more) return only;
    const cancelled = await this.client.send(new CancelCommandCommand({ CommandId: commandId })).then(
      () => 'was cancelled (it may have run on one of them already)',
      (error: unknown) => `could not be cancelled (${describeAwsError(error)}): cancel it by hand`,
    );
    throw new NodeOpsError(
      `${what}: the tag matches ${instances.ids.length}${instances.more ? '+' : ''} instances (${instances.ids.join(', ')}), so command ${commandId} ${cancelled}; tag exactly one instance, or configure its instance id`,
    );
  }

  /** Waits for the command's invocation on the instance to finish, within the deadline. */
  private async result(
    operation: NodeOperation,
    {
      commandId,
      instanceId,
      deadline,
      within,
      what,
    }: { commandId: string; instanceId: string; deadline: number; within: string; what: string },
  ): Promise<NodeOperationResult> {
    let last = 'not yet delivered';
    const done = await this.poll(what, commandId, deadline, async () => {
      let invocation: GetCommandInvocationCommandOutput;
      try {
        invocation = await this.client.send(
          new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
        );
      } catch (error) {
        // Right after SendCommand, SSM may not know the invocation yet.
        if (awsErrorName(error) === 'InvocationDoesNotExist') return undefined;
        throw error;
      }
      const status = invocation.Status;
      if (status !== undefined && WAITING.has(status)) {
        last = status;
        return undefined;
      }
      return invocation;
    });
    if (!done) {
      throw new NodeOpsError(
        `${what} did not finish ${within} (last status: ${last}); command ${commandId} may still run: check it in Systems Manager Run Command`,
      );
    }
    if (done.Status === 'Success') return { output: (done.StandardOutputContent ?? '').trim() };
    // The script refused an older epoch than the host recorded: it ran, and changed nothing.
    if (done.Status === 'Failed' && isStaleEpochExit(operation, done.ResponseCode)) {
      return { output: (done.StandardOutputContent ?? '').trim(), stale: true };
    }
    const stderr = (done.StandardErrorContent ?? '').trim();
    const shown = stderr.length > STDERR_MAX ? `${stderr.slice(0, STDERR_MAX)}...` : stderr;
    const status = done.Status ?? 'with no status';
    throw new NodeOpsError(
      `${what} ended ${status}${done.ResponseCode !== undefined && done.ResponseCode >= 0 ? ` (exit code ${done.ResponseCode})` : ''}: ${shown || '(no stderr)'}; command ${commandId}: fix the cause on the host, then retry`,
    );
  }

  /** Backoff.poll at this adapter's pace; an SSM error other than throttling ends the wait as a NodeOpsError. */
  private async poll<T>(
    what: string,
    commandId: string,
    deadline: number,
    check: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    try {
      return await this.backoff.poll(check, RESULT_POLLING, deadline);
    } catch (error) {
      throw new NodeOpsError(
        `${what}: could not read command ${commandId}: ${describeAwsError(error)}; check it in Systems Manager Run Command`,
        { cause: error },
      );
    }
  }
}

/** The host an operation runs on, or a NodeOpsError naming the proxy or node without one. */
function destinationOf(operation: NodeOperation): Destination {
  const [subject, target] =
    operation.document === 'update-haproxy'
      ? [`proxy ${operation.proxy.id}`, operation.proxy.instance]
      : [`node ${operation.node.id}`, operation.node.instance];
  if (!target) {
    throw new NodeOpsError(
      `${subject} has no instance (an EC2 instance id or tag) in the configuration, so ${operation.document} cannot run on its host; add one`,
    );
  }
  const label = 'id' in target ? target.id : `tag ${target.tag.key}=${target.tag.value}`;
  return { subject, target, label };
}

/** Base class of every error ha-redis raises on purpose. */
export class HaRedisError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HaRedisError';
  }
}

/** Error names that Step Functions catches; state machines use these same constants. */
export const ERROR_NAMES = {
  invalidInput: 'InvalidInputError',
  unknownCluster: 'UnknownClusterError',
  configuration: 'ConfigurationError',
  unreachable: 'UnreachableError',
  notConfirmed: 'NotConfirmedError',
  routing: 'RoutingError',
  fencing: 'FencingError',
  verification: 'VerificationError',
  nodeOps: 'NodeOpsError',
  switchoverRefused: 'SwitchoverRefusedError',
  leaseHeld: 'LeaseHeldError',
  catchUpTimeout: 'CatchUpTimeoutError',
  promotion: 'PromotionError',
  awsService: 'AwsServiceError',
  maintenanceRefused: 'MaintenanceRefusedError',
  nodeNotBackYet: 'NodeNotBackYetError',
  nodeNotBack: 'NodeNotBackError',
  historyEntryExists: 'HistoryEntryExistsError',
  stateStore: 'StateStoreError',
  moveRefused: 'MoveRefusedError',
} as const;

/** Input (an event, a CLI argument, a request) that does not match its contract. */
export class InvalidInputError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.invalidInput;
  }
}

/** A cluster name that no configuration describes. */
export class UnknownClusterError extends HaRedisError {
  readonly cluster: string;
  constructor(cluster: string, known: readonly string[]) {
    super(
      `unknown cluster '${cluster}'; known clusters: ${known.length ? known.join(', ') : '(none)'}. Check the cluster name or the configuration`,
    );
    this.name = ERROR_NAMES.unknownCluster;
    this.cluster = cluster;
  }
}

/** Missing or invalid configuration (environment, descriptor, config file). */
export class ConfigurationError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.configuration;
  }
}

/** A Redis node, Sentinel or proxy that did not answer in time. */
export class UnreachableError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.unreachable;
  }
}

/** A HAProxy Runtime API command that failed or was refused. */
export class RoutingError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.routing;
  }
}

/** The old master could not be made a replica, or still accepts writes. */
export class FencingError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.fencing;
  }
}

/** A canary write did not land on the expected master. */
export class VerificationError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.verification;
  }
}

/** A node operation (an SSM document, or its local bash run) failed. */
export class NodeOpsError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.nodeOps;
  }
}

/** A switchover's precheck failed; nothing was changed. */
export class SwitchoverRefusedError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.switchoverRefused;
  }
}

/** Another planned operation holds the cluster. */
export class LeaseHeldError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.leaseHeld;
  }
}

/** The target did not reach the master's replication offset in time. */
export class CatchUpTimeoutError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.catchUpTimeout;
  }
}

/** Sentinel refused the failover, or the target never answered ROLE master. */
export class PromotionError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.promotion;
  }
}

/** An AWS API rejected a call, or kept throttling it after bounded retries; the message names the call. */
export class AwsServiceError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.awsService;
  }
}

/** A maintenance run's precheck failed (paused, unhealthy, lease held); nothing was changed. */
export class MaintenanceRefusedError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.maintenanceRefused;
  }
}

/** A maintained node is not back yet at the end of one bounded wait; the state machine retries the wait. */
export class NodeNotBackYetError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.nodeNotBackYet;
  }
}

/** A maintained node did not come back (replica, in sync, healthy for every Sentinel) within its deadline. */
export class NodeNotBackError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.nodeNotBack;
  }
}

/** The message of any thrown value, for logs and history. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** History is append-only: an entry with this id and start time is recorded already. */
export class HistoryEntryExistsError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.historyEntryExists;
  }
}

/**
 * The message of a Step Functions Catch's `Cause`: the Lambda runtime's `{"errorType","errorMessage","trace"}`
 * reduced to its `errorMessage` (no stack trace in history or notifications), or the text as it is.
 */
export function causeMessage(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : cause;
  } catch {
    return cause;
  }
}

/** `clusters[0].dns.hostedZoneId`: the path of a zod issue, the way a reader finds it in the input; `''` for the root. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

/**
 * Every issue of a failed zod parse, each naming its field: `path: message; ...` on one line, or one per line with
 * `separator` '\n'. `root` names an issue with an empty path (the value as a whole). The one printer of zod errors.
 */
export function issuesText(
  error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] },
  root = '',
  separator = '; ',
): string {
  return error.issues.map((i) => `${fieldPath(i.path) || root}: ${i.message}`).join(separator);
}

/**
 * The state store did not answer (no response, a timeout, a server error, or throttling past the SDK's retries):
 * no failover can be claimed until it does. A refused conditional write is an answer, not this error.
 */
export class StateStoreError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.stateStore;
  }
}

/** A move's plan refused it (unknown set, a port in use, no Sentinel majority, ...); nothing was changed. */
export class MoveRefusedError extends HaRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ERROR_NAMES.moveRefused;
  }
}

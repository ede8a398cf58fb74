import type { CorePorts } from '../ports.ts';

/**
 * What an invocation keeps, after its waits on hosts, to record history, finish the epoch and notify: a Lambda
 * that runs out of time before that leaves its epoch claimed and nobody told.
 */
export const RECORD_RESERVE_MS = 5000;

/** Until when a command on a host may be waited for: the invocation's end less RECORD_RESERVE_MS (none locally). */
export const hostDeadline = (deps: Pick<CorePorts, 'endsAt'>): { deadlineAt?: number } =>
  deps.endsAt === undefined ? {} : { deadlineAt: deps.endsAt - RECORD_RESERVE_MS };

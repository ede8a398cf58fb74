import { fileURLToPath } from 'node:url';
import { NodeOpsError } from '../../core/model/errors.ts';
import type { NodeOperation, NodeOperationResult, NodeOps } from '../../core/ports.ts';
import { type DocumentName, isStaleEpochExit, scriptArgs } from '../node-ops/operations.ts';
import { ScriptRunner } from './script-runner.ts';

/** One runner per process, shared by every cluster's NodeOps here. */
const SHARED_RUNNER = new ScriptRunner();

/** The same scripts the SSM documents run, here run with bash on this host. */
export const SSM_SCRIPTS_DIR = fileURLToPath(new URL('../../infra/ssm/scripts/', import.meta.url));

/** The script a document runs. */
export const scriptPath = (document: DocumentName): string => `${SSM_SCRIPTS_DIR}${document}.sh`;

/** How long each script may run locally, with room to say why it failed. */
const DEFAULT_TIMEOUT_MS: Record<NodeOperation['document'], number> = {
  // Waits up to 10 s for HAProxy to come back after a reload.
  'update-haproxy': 20_000,
  'fence-node': 20_000,
  'release-node': 20_000,
  // A restart waits up to 30 s for the node to exit after SHUTDOWN (AOF fsync, RDB) and 10 s for it to answer.
  'maintenance-action': 60_000,
};

/** NodeOps that runs `infra/ssm/scripts/<document>.sh` with bash, locally. */
export class BashNodeOps implements NodeOps {
  /** One bound for every script, or undefined for each script's own. */
  private readonly timeoutOverrideMs: number | undefined;
  private readonly runner: ScriptRunner;
  constructor(timeoutMs?: number, runner: ScriptRunner = SHARED_RUNNER) {
    this.timeoutOverrideMs = timeoutMs;
    this.runner = runner;
  }

  async run(operation: NodeOperation): Promise<NodeOperationResult> {
    const args = scriptArgs(operation);
    const timeoutMs = this.timeoutOverrideMs ?? DEFAULT_TIMEOUT_MS[operation.document];
    const fail = (reason: string, cause?: unknown) =>
      new NodeOpsError(
        `${operation.document} failed: ${reason}`,
        cause === undefined ? undefined : { cause },
      );
    const ran = await this.runner
      .run('bash', [scriptPath(operation.document), ...args], timeoutMs)
      .catch((error: unknown) => {
        throw fail(error instanceof Error ? error.message : String(error), error);
      });
    const { stdout, stderr, error } = ran;
    if (!error) return { output: stdout.trim() };
    if (!error.killed && error.code !== undefined && isStaleEpochExit(operation, error.code)) {
      return { output: stdout.trim(), stale: true };
    }
    throw fail(error.killed ? `did not finish within ${timeoutMs} ms` : (stderr || error.message).trim());
  }
}

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NodeOpsError } from '../../core/model/errors.ts';
import type { NodeOperation, NodeOperationResult, NodeOps } from '../../core/ports.ts';
import { type DocumentName, isStaleEpochExit, scriptArgs } from '../node-ops/operations.ts';

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
  constructor(timeoutMs?: number) {
    this.timeoutOverrideMs = timeoutMs;
  }

  run(operation: NodeOperation): Promise<NodeOperationResult> {
    const args = scriptArgs(operation);
    const timeoutMs = this.timeoutOverrideMs ?? DEFAULT_TIMEOUT_MS[operation.document];
    return new Promise((resolve, reject) => {
      execFile(
        'bash',
        [scriptPath(operation.document), ...args],
        { timeout: timeoutMs },
        (error, stdout, stderr) => {
          if (!error) {
            resolve({ output: stdout.trim() });
            return;
          }
          if (!error.killed && typeof error.code === 'number' && isStaleEpochExit(operation, error.code)) {
            resolve({ output: stdout.trim(), stale: true });
            return;
          }
          const reason = error.killed
            ? `did not finish within ${timeoutMs} ms`
            : (stderr || error.message).trim();
          reject(new NodeOpsError(`${operation.document} failed: ${reason}`, { cause: error }));
        },
      );
    });
  }
}

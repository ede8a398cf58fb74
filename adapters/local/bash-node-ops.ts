import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NodeOpsError } from '../../functions/core/errors.ts';
import type { NodeOperation, NodeOps } from '../../functions/core/ports.ts';
import { type DocumentName, scriptArgs } from '../node-ops/operations.ts';

/** The same scripts the SSM documents run, here run with bash on this host. */
export const SSM_SCRIPTS_DIR = fileURLToPath(new URL('../../infra/ssm/scripts/', import.meta.url));

/** The script a document runs. */
export const scriptPath = (document: DocumentName): string => `${SSM_SCRIPTS_DIR}${document}.sh`;

/** update-haproxy waits up to 10 s for HAProxy to come back after a reload; leave it room to say why. */
const DEFAULT_TIMEOUT_MS = 20_000;

/** NodeOps that runs `infra/ssm/scripts/<document>.sh` with bash, locally. */
export class BashNodeOps implements NodeOps {
  private readonly timeoutMs: number;
  constructor(timeoutMs = DEFAULT_TIMEOUT_MS) {
    this.timeoutMs = timeoutMs;
  }

  run(operation: NodeOperation): Promise<{ output: string }> {
    const args = scriptArgs(operation);
    return new Promise((resolve, reject) => {
      execFile(
        'bash',
        [scriptPath(operation.document), ...args],
        { timeout: this.timeoutMs },
        (error, stdout, stderr) => {
          if (!error) {
            resolve({ output: stdout.trim() });
            return;
          }
          const reason = error.killed
            ? `did not finish within ${this.timeoutMs} ms`
            : (stderr || error.message).trim();
          reject(new NodeOpsError(`${operation.document} failed: ${reason}`, { cause: error }));
        },
      );
    });
  }
}

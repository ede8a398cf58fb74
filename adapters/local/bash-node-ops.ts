import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NodeOpsError } from '../../functions/core/errors.ts';
import type { NodeOperation, NodeOps } from '../../functions/core/ports.ts';
import { scriptArgs } from '../node-ops/operations.ts';

/** The same scripts the SSM documents run, here run with bash on this host. */
export const SSM_SCRIPTS_DIR = fileURLToPath(new URL('../../infra/ssm/scripts/', import.meta.url));

/** NodeOps that runs `infra/ssm/scripts/<document>.sh` with bash, locally. */
export class BashNodeOps implements NodeOps {
  private readonly timeoutMs: number;
  constructor(timeoutMs = 10_000) {
    this.timeoutMs = timeoutMs;
  }

  run(operation: NodeOperation): Promise<{ output: string }> {
    const script = `${SSM_SCRIPTS_DIR}${operation.document}.sh`;
    const args = scriptArgs(operation);
    return new Promise((resolve, reject) => {
      execFile('bash', [script, ...args], { timeout: this.timeoutMs }, (error, stdout, stderr) => {
        if (error) {
          reject(
            new NodeOpsError(`${operation.document} failed: ${(stderr || error.message).trim()}`, {
              cause: error,
            }),
          );
        } else {
          resolve({ output: stdout.trim() });
        }
      });
    });
  }
}

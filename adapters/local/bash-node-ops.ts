import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NodeOpsError } from '../../functions/core/errors.ts';
import type { NodeOperation, NodeOps } from '../../functions/core/ports.ts';

/** The same scripts the SSM documents run, here run with bash on this host. */
export const SSM_SCRIPTS_DIR = fileURLToPath(new URL('../../infra/ssm/scripts/', import.meta.url));

/** Command line arguments of a node operation's script. */
export function scriptArgs(op: NodeOperation): string[] {
  switch (op.document) {
    case 'persist-haproxy-routing': {
      const { proxy, master } = op;
      if (proxy.runtimeApi.kind !== 'unix' || !proxy.configPath || !proxy.stateFilePath) {
        throw new NodeOpsError(
          `proxy ${proxy.id} needs a unix Runtime API socket, configPath and stateFilePath to persist routing`,
        );
      }
      return [
        '--config',
        proxy.configPath,
        '--state-file',
        proxy.stateFilePath,
        '--socket',
        proxy.runtimeApi.path,
        '--backend',
        proxy.backend,
        '--server',
        proxy.server,
        '--addr',
        master.host,
        '--port',
        String(master.port),
      ];
    }
    case 'fence-node': {
      if (!op.node.configPath)
        throw new NodeOpsError(`node ${op.node.id} has no configPath; cannot persist replicaof`);
      return [
        '--config',
        op.node.configPath,
        '--master-addr',
        op.master.host,
        '--master-port',
        String(op.master.port),
      ];
    }
  }
}

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

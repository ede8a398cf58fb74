import { NodeOpsError } from '../../functions/core/errors.ts';
import type { NodeOperation } from '../../functions/core/ports.ts';

/**
 * The one mapping from a node operation to its script's named parameters. The SSM document of the same
 * name declares exactly these parameters (camelCase); the script takes them as `--kebab-case value`.
 * Both the SSM NodeOps (AWS) and the bash NodeOps (local) use it, so the two runtimes run the same thing.
 */
export const DOCUMENT_PARAMETERS = {
  'update-haproxy': ['config', 'stateFile', 'socket', 'backend', 'server', 'addr', 'port', 'reload'],
  'fence-node': ['config', 'masterAddr', 'masterPort'],
} as const satisfies Record<NodeOperation['document'], readonly string[]>;

export type DocumentName = keyof typeof DOCUMENT_PARAMETERS;
type Parameters<D extends DocumentName> = Record<(typeof DOCUMENT_PARAMETERS)[D][number], string>;

/** The named parameters of an operation; refuses an operation whose host paths are not configured. */
export function operationParameters(op: NodeOperation): Record<string, string> {
  switch (op.document) {
    case 'update-haproxy': {
      const { proxy, master } = op;
      const socket =
        proxy.hostSocketPath ?? (proxy.runtimeApi.kind === 'unix' ? proxy.runtimeApi.path : undefined);
      if (!socket || !proxy.configPath || !proxy.stateFilePath) {
        throw new NodeOpsError(
          `proxy ${proxy.id} needs configPath, stateFilePath and an admin socket (hostSocketPath, or a unix runtimeApi) to persist routing`,
        );
      }
      const parameters: Parameters<'update-haproxy'> = {
        config: proxy.configPath,
        stateFile: proxy.stateFilePath,
        socket,
        backend: proxy.backend,
        server: proxy.server,
        addr: master.host,
        port: String(master.port),
        reload: proxy.reload,
      };
      return parameters;
    }
    case 'fence-node': {
      if (!op.node.configPath) {
        throw new NodeOpsError(`node ${op.node.id} has no configPath; cannot persist replicaof`);
      }
      const parameters: Parameters<'fence-node'> = {
        config: op.node.configPath,
        masterAddr: op.master.host,
        masterPort: String(op.master.port),
      };
      return parameters;
    }
  }
}

/** `masterAddr` -> `--master-addr`: the script's flag for a document parameter. */
export const flagOf = (parameter: string): string =>
  `--${parameter.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The command line of an operation's script. */
export function scriptArgs(op: NodeOperation): string[] {
  return Object.entries(operationParameters(op)).flatMap(([name, value]) => [flagOf(name), value]);
}

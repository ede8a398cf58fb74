import { connect } from 'node:net';
import type { Endpoint } from '../../core/model/cluster.ts';
import { NodeOpsError } from '../../core/model/errors.ts';
import type { NodeOperation, NodeOperationResult, NodeOps } from '../../core/ports.ts';

/** How long a host may take to answer before it counts as cut off (SSM would not reach it either). */
const HOST_PROBE_TIMEOUT_MS = 1000;

/** The endpoint of the process an operation acts on: its host must answer over the network. */
function endpointOf(operation: NodeOperation): Endpoint {
  return operation.document === 'update-haproxy'
    ? { host: operation.proxy.host, port: operation.proxy.plainPort }
    : { host: operation.node.host, port: operation.node.port };
}

/**
 * Whether a host answers over the network: a connection accepted or refused (the host is up, the process may
 * be down) counts; a timeout or an unreachable network does not.
 */
export function hostAnswers(endpoint: Endpoint, timeoutMs = HOST_PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    const done = (answers: boolean) => {
      socket.destroy();
      resolve(answers);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED'));
  });
}

/**
 * NodeOps for a local cluster whose hosts are network namespaces: the scripts run on this machine and would
 * reach a cut-off host's files and admin socket. SSM Run Command reaches only a host that is connected, so a
 * script runs only when its host answers over the network.
 */
export class ReachableHostNodeOps implements NodeOps {
  private readonly inner: NodeOps;
  constructor(inner: NodeOps) {
    this.inner = inner;
  }

  async run(operation: NodeOperation): Promise<NodeOperationResult> {
    const endpoint = endpointOf(operation);
    if (!(await hostAnswers(endpoint))) {
      throw new NodeOpsError(
        `${operation.document}: host ${endpoint.host} did not answer within ${HOST_PROBE_TIMEOUT_MS} ms (cut off?); nothing ran there, retry when it is back`,
      );
    }
    return this.inner.run(operation);
  }
}

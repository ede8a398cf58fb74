import type { Endpoint, NodeConfig } from '../../core/model/cluster.ts';
import { NodeOpsError } from '../../core/model/errors.ts';
import type { NodeOperation } from '../../core/ports.ts';

/**
 * The one mapping from an operation to its script's named parameters. The SSM document of the same name
 * declares exactly these parameters (camelCase); the script takes them as `--kebab-case value`.
 * Both the SSM NodeOps (AWS) and the bash NodeOps (local) use it, so the two runtimes run the same thing.
 * The INSTALL_DOCUMENTS are no NodeOperation: the deployment runs install-bridge once per Sentinel, and
 * install-agent once per Redis host.
 */
export const DOCUMENT_PARAMETERS = {
  'update-haproxy': ['config', 'stateFile', 'socket', 'backend', 'server', 'addr', 'port', 'reload', 'epoch'],
  'fence-node': ['config', 'masterAddr', 'masterPort', 'nodePort', 'epoch'],
  'release-node': ['config', 'nodePort'],
  'maintenance-action': ['config', 'nodePort', 'action', 'service'],
  'install-bridge': [
    'bundle',
    'topicArn',
    'cluster',
    'sentinelHost',
    'sentinelPort',
    'passwordParameter',
    'tlsCaParameter',
    'tlsClientCertParameter',
  ],
  'install-agent': [
    'bundle',
    'topicArn',
    'nodes',
    'passwordParameter',
    'tlsCaParameter',
    'tlsClientCertParameter',
  ],
} as const satisfies Record<NodeOperation['document'] | InstallDocument, readonly string[]>;

/**
 * The exit code of update-haproxy and fence-node for a command of an older epoch than the host recorded: nothing
 * changed, and the adapters report the operation `stale`, not failed.
 */
export const STALE_EPOCH_EXIT_CODE = 3;

/** Whether a script's exit code says it refused the operation for its epoch (only the epoch-fenced documents do). */
export const isStaleEpochExit = (op: NodeOperation, exitCode: number | null | undefined): boolean =>
  (op.document === 'update-haproxy' || op.document === 'fence-node') && exitCode === STALE_EPOCH_EXIT_CODE;

/** The documents that install a service on a host: run by the deployment, never by a Lambda. */
export const INSTALL_DOCUMENTS = ['install-bridge', 'install-agent'] as const;
export type InstallDocument = (typeof INSTALL_DOCUMENTS)[number];

export type DocumentName = keyof typeof DOCUMENT_PARAMETERS;
/** The parameter values of a document, by name. */
export type DocumentParameters<D extends DocumentName> = Record<
  (typeof DOCUMENT_PARAMETERS)[D][number],
  string
>;

/** The systemd unit of redis-server on an AWS host (the Debian/Ubuntu package's unit name). */
export const REDIS_SYSTEMD_UNIT = 'redis-server';

/**
 * How a node runs, for `maintenance-action --service`: a node with an `instance` is an AWS host whose
 * redis-server is the systemd unit `redis-server`; a node without one belongs to the local runtime
 * (`redis-server <config>` on this machine).
 */
export const serviceModeOf = (node: NodeConfig): string =>
  node.instance ? `systemd:${REDIS_SYSTEMD_UNIT}` : 'local';

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
      const parameters: DocumentParameters<'update-haproxy'> = {
        config: proxy.configPath,
        stateFile: proxy.stateFilePath,
        socket,
        backend: proxy.backend,
        server: proxy.server,
        addr: master.host,
        port: String(master.port),
        reload: proxy.reload,
        epoch: String(op.epoch),
      };
      return parameters;
    }
    case 'fence-node': {
      if (!op.node.configPath) {
        throw new NodeOpsError(`node ${op.node.id} has no configPath; cannot persist replicaof`);
      }
      const parameters: DocumentParameters<'fence-node'> = {
        config: op.node.configPath,
        masterAddr: op.master.host,
        masterPort: String(op.master.port),
        nodePort: String(op.node.port),
        epoch: String(op.epoch),
      };
      return parameters;
    }
    case 'release-node': {
      if (!op.node.configPath) {
        throw new NodeOpsError(`node ${op.node.id} has no configPath; cannot lift the fast path's hold`);
      }
      const parameters: DocumentParameters<'release-node'> = {
        config: op.node.configPath,
        nodePort: String(op.node.port),
      };
      return parameters;
    }
    case 'maintenance-action': {
      if (!op.node.configPath) {
        throw new NodeOpsError(
          `node ${op.node.id} has no configPath; maintenance-action needs its redis.conf (pidfile, password)`,
        );
      }
      const parameters: DocumentParameters<'maintenance-action'> = {
        config: op.node.configPath,
        nodePort: String(op.node.port),
        action: op.action,
        service: serviceModeOf(op.node),
      };
      return parameters;
    }
  }
}

/** What installing the Sentinel event bridge on one Sentinel host needs. */
export interface BridgeInstall {
  /** The bundled bridge (one JS file): an `s3://bucket/key` URL or an absolute path on the host. */
  bundle: string;
  topicArn: string;
  cluster: string;
  /** The Sentinel on that host, as the bridge reaches it. */
  sentinel: Endpoint;
  /** The SSM parameter (SecureString) holding the Sentinel password; the bridge reads it at start. */
  passwordParameter: string;
  /** A TLS-only Sentinel: where the service reads its TLS material at each start (absent: plain TCP). */
  tls?: HostTlsParameters;
}

/**
 * Where a host service reads its TLS material at each start: SSM parameter names (a SecureString, or a Secrets
 * Manager secret through `/aws/reference/secretsmanager/<name>`), never the PEMs themselves.
 */
export interface HostTlsParameters {
  /** The CA the server's certificate chains to (config `secrets.tlsCa`). */
  caParameter: string;
  /** The client certificate and its key, one PEM (config `secrets.redisClientCert`), for `tls-auth-clients`. */
  clientCertParameter?: string;
}

/** `tlsCaParameter` and `tlsClientCertParameter` of an install document: empty for plain TCP. */
const tlsParameters = (tls: HostTlsParameters | undefined) => ({
  tlsCaParameter: tls?.caParameter ?? '',
  tlsClientCertParameter: tls?.clientCertParameter ?? '',
});

/** The named parameters of `install-bridge`. */
export function bridgeInstallParameters(install: BridgeInstall): DocumentParameters<'install-bridge'> {
  return {
    bundle: install.bundle,
    topicArn: install.topicArn,
    cluster: install.cluster,
    sentinelHost: install.sentinel.host,
    sentinelPort: String(install.sentinel.port),
    passwordParameter: install.passwordParameter,
    ...tlsParameters(install.tls),
  };
}

/** One node the agent of a host watches, and the cluster it belongs to. */
export interface AgentNode {
  cluster: string;
  node: Endpoint;
}

/** What installing the node agent on one Redis host needs. */
export interface AgentInstall {
  /** The bundled agent (one JS file): an `s3://bucket/key` URL or an absolute path on the host. */
  bundle: string;
  topicArn: string;
  /** Every Redis node on that host, as the cluster config names it (host and port). */
  nodes: readonly AgentNode[];
  /** The SSM parameter (SecureString) holding the nodes' password; the agent reads it at start. */
  passwordParameter: string;
  /** TLS-only nodes: where the service reads its TLS material at each start (absent: plain TCP). */
  tls?: HostTlsParameters;
}

/** The named parameters of `install-agent`: `nodes` as `cluster=host:port,...` (HA_REDIS_AGENT_NODES). */
export function agentInstallParameters(install: AgentInstall): DocumentParameters<'install-agent'> {
  if (install.nodes.length === 0) {
    throw new NodeOpsError('install-agent needs at least one node to watch on the host');
  }
  return {
    bundle: install.bundle,
    topicArn: install.topicArn,
    nodes: install.nodes.map(({ cluster, node }) => `${cluster}=${node.host}:${node.port}`).join(','),
    passwordParameter: install.passwordParameter,
    ...tlsParameters(install.tls),
  };
}

/** `masterAddr` -> `--master-addr`: the script's flag for a document parameter. */
export const flagOf = (parameter: string): string =>
  `--${parameter.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** A script's command line from named parameters. */
export const argsOf = (parameters: Record<string, string>): string[] =>
  Object.entries(parameters).flatMap(([name, value]) => [flagOf(name), value]);

/** The command line of an operation's script. */
export function scriptArgs(op: NodeOperation): string[] {
  return argsOf(operationParameters(op));
}

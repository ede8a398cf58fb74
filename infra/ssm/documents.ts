import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { scriptPath } from '../../adapters/host/bash-node-ops.ts';
import {
  DOCUMENT_PARAMETERS,
  type DocumentName,
  flagOf,
  INSTALL_DOCUMENTS,
} from '../../adapters/node-ops/operations.ts';

/**
 * The SSM Command documents (schema 2.2) that run `infra/ssm/scripts/<name>.sh` on a host. Each embeds its
 * script byte for byte, writes it to a temporary directory and runs it with bash, every parameter passed as
 * `--flag '{{ param }}'`. Every allowedPattern excludes quotes, `$`, backticks, `;`, `&`, `|`, `<`, `>`,
 * braces, spaces and newlines, so a value can never leave its single quotes. An optional parameter has the
 * default '' (its pattern takes the empty value), which the script reads as "not given".
 */

/** The bridge's systemd template unit: install-bridge runs one instance per Sentinel, named by its port. */
const BRIDGE_UNIT = fileURLToPath(new URL('../../events/bridge/ha-redis-bridge@.service', import.meta.url));
/** The node agent's systemd unit: install-agent runs one per host, watching every Redis node on it. */
const AGENT_UNIT = fileURLToPath(new URL('../../events/agent/ha-redis-agent.service', import.meta.url));

/** One `cluster=host:port` of install-agent's `nodes` (a cluster name, a host or IP address, a port). */
const AGENT_NODE = '[a-z0-9][a-z0-9-]{0,62}=[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}:[0-9]{1,5}';

/** allowedPatterns, also valid as JavaScript regular expressions (the tests use them so). */
export const PATTERNS = {
  absolutePath: '^/[A-Za-z0-9._/@+-]{0,1023}$',
  ipAddress: '^(([0-9]{1,3}[.]){3}[0-9]{1,3}|[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7})$',
  host: '^[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}$',
  port: '^[0-9]{1,5}$',
  epoch: '^[0-9]{1,15}$',
  haproxyName: '^[A-Za-z0-9._:-]{1,64}$',
  reload: '^(none|systemd:[A-Za-z0-9@._-]{1,255}|pidfile:/[A-Za-z0-9._/@+-]{1,1023})$',
  bundle: '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9._/=+-]{1,1024}|/[A-Za-z0-9._/@+-]{1,1023})$',
  snsTopicArn: '^arn:aws[a-z-]{0,16}:sns:[a-z0-9-]{1,32}:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$',
  /** A cluster name, or master=cluster pairs (at most 100) for a Sentinel that monitors several masters. */
  bridgeClusters:
    '^([a-z0-9][a-z0-9-]{0,62}|[A-Za-z0-9._-]{1,64}=[a-z0-9][a-z0-9-]{0,62}(,[A-Za-z0-9._-]{1,64}=[a-z0-9][a-z0-9-]{0,62}){0,99})$',
  /** The nodes a host's agent watches: cluster=host:port items (at most 100), comma-separated. */
  agentNodes: `^${AGENT_NODE}(,${AGENT_NODE}){0,99}$`,
  ssmParameterName: '^/?[A-Za-z0-9_./-]{1,1011}$',
  /** An SSM parameter name, or empty (an optional parameter not given). */
  optionalSsmParameterName: '^(/?[A-Za-z0-9_./-]{1,1011})?$',
  maintenanceAction: '^(restart|upgrade|reboot)$',
  service: '^(local|systemd:[A-Za-z0-9@._-]{1,255})$',
} as const;

/** One document parameter: always a String. */
export interface ParameterDef {
  description: string;
  allowedPattern: string;
  /** An optional parameter's value when not given (it must match allowedPattern). Absent: required. */
  default?: string;
}

/** A Command document as data. */
export interface CommandDocumentDef<D extends DocumentName = DocumentName> {
  name: D;
  description: string;
  /** Exactly DOCUMENT_PARAMETERS[name], in that order. */
  parameters: Record<(typeof DOCUMENT_PARAMETERS)[D][number], ParameterDef>;
  /** The script the document runs. */
  script: string;
  /** Files the script reads from its own directory, embedded too. */
  files: readonly string[];
  /** How long the host may run it (aws:runShellScript timeoutSeconds). */
  timeoutSeconds: number;
}

/** Any one of the documents. */
export type AnyCommandDocumentDef = { [D in DocumentName]: CommandDocumentDef<D> }[DocumentName];

/** A document that runs `scripts/<name>.sh`. */
const define = <D extends DocumentName>(
  name: D,
  timeoutSeconds: number,
  description: string,
  parameters: CommandDocumentDef<D>['parameters'],
  files: readonly string[] = [],
): CommandDocumentDef<D> => ({
  name,
  description,
  parameters,
  script: scriptPath(name),
  files,
  timeoutSeconds,
});

const updateHaproxy = define(
  'update-haproxy',
  60,
  "Persist HAProxy's master routing on this host (config line and server-state file, validated with haproxy -c) and reload without dropping connections.",
  {
    config: { description: 'The HAProxy config file.', allowedPattern: PATTERNS.absolutePath },
    stateFile: {
      description: 'The server-state file (server-state-file in the config).',
      allowedPattern: PATTERNS.absolutePath,
    },
    socket: { description: 'The Runtime API (admin) unix socket.', allowedPattern: PATTERNS.absolutePath },
    backend: { description: 'The backend that routes to the master.', allowedPattern: PATTERNS.haproxyName },
    server: { description: 'The master server of that backend.', allowedPattern: PATTERNS.haproxyName },
    addr: { description: "The master's IP address.", allowedPattern: PATTERNS.ipAddress },
    port: { description: "The master's port.", allowedPattern: PATTERNS.port },
    reload: {
      description: "How to reload: 'none', 'systemd:<unit>' or 'pidfile:<master pid file>'.",
      allowedPattern: PATTERNS.reload,
    },
    epoch: {
      description:
        'The failover epoch of this routing: recorded beside the config; an older one changes nothing (exit 3).',
      allowedPattern: PATTERNS.epoch,
    },
  },
);

const fenceNode = define(
  'fence-node',
  30,
  'Fence a Redis node: persist replicaof in redis.conf, then send REPLICAOF live when the node runs (password read from requirepass).',
  {
    config: { description: "The node's redis.conf.", allowedPattern: PATTERNS.absolutePath },
    masterAddr: { description: "The new master's IP address.", allowedPattern: PATTERNS.ipAddress },
    masterPort: { description: "The new master's port.", allowedPattern: PATTERNS.port },
    nodePort: { description: "The node's own port on this host.", allowedPattern: PATTERNS.port },
    epoch: {
      description:
        'The failover epoch of this fence: recorded beside redis.conf; an older one changes nothing (exit 3).',
      allowedPattern: PATTERNS.epoch,
    },
  },
);

const releaseNode = define(
  'release-node',
  30,
  "Lift the fast path's hold on a Redis node: take `replicaof 127.0.0.1 0` out of redis.conf, and end that replication live when the node runs (password read from requirepass).",
  {
    config: { description: "The node's redis.conf.", allowedPattern: PATTERNS.absolutePath },
    nodePort: { description: "The node's own port on this host.", allowedPattern: PATTERNS.port },
  },
);

/**
 * install-bridge's and install-agent's optional TLS parameters: where the service reads its TLS material at each
 * start, as it reads the password (SSM parameter names; a Secrets Manager secret through
 * /aws/reference/secretsmanager/<name>). Empty: plain TCP.
 */
const hostTlsParameters = (server: string) => ({
  tlsCaParameter: {
    description: `Optional, for TLS-only ${server}: the SSM parameter (or /aws/reference/secretsmanager/<secret>) with the CA PEM their certificates chain to (secrets.tlsCa); read by the service at start. Empty: plain TCP.`,
    allowedPattern: PATTERNS.optionalSsmParameterName,
    default: '',
  },
  tlsClientCertParameter: {
    description: `Optional, with tlsCaParameter: the SSM parameter (or /aws/reference/secretsmanager/<secret>) with the client certificate and its key in one PEM (secrets.redisClientCert), for ${server} with tls-auth-clients; read by the service at start.`,
    allowedPattern: PATTERNS.optionalSsmParameterName,
    default: '',
  },
});

const installBridge = define(
  'install-bridge',
  300,
  'Install or upgrade the Sentinel event bridge (Sentinel pub/sub -> SNS) of one Sentinel as the systemd service ha-redis-bridge@<sentinelPort>: one per Sentinel on the host; the previous release is kept. Migrates the single ha-redis-bridge unit of an older install that bridged the same port.',
  {
    bundle: {
      description: 'The bundled bridge (one JS file): an s3:// URL or an absolute path on the host.',
      allowedPattern: PATTERNS.bundle,
    },
    topicArn: { description: 'The SNS topic for Sentinel events.', allowedPattern: PATTERNS.snsTopicArn },
    cluster: {
      description:
        "The cluster name; for a Sentinel that monitors several masters (a host set's shared Sentinel), the cluster of each master name instead: master=cluster,master=cluster.",
      allowedPattern: PATTERNS.bridgeClusters,
    },
    sentinelHost: {
      description: 'The address of the Sentinel on this host.',
      allowedPattern: PATTERNS.host,
    },
    sentinelPort: {
      description: 'The Sentinel port; it names the service instance, ha-redis-bridge@<sentinelPort>.',
      allowedPattern: PATTERNS.port,
    },
    passwordParameter: {
      description:
        'The SSM parameter (SecureString) with the Sentinel password; read by the service at start.',
      allowedPattern: PATTERNS.ssmParameterName,
    },
    ...hostTlsParameters('Sentinel'),
  },
  [BRIDGE_UNIT],
);

const installAgent = define(
  'install-agent',
  300,
  'Install or upgrade the node agent (each local redis-server -> SNS, for the fast path) as the systemd service ha-redis-agent: one per Redis host, watching every node on it; the previous release is kept.',
  {
    bundle: {
      description: 'The bundled agent (one JS file): an s3:// URL or an absolute path on the host.',
      allowedPattern: PATTERNS.bundle,
    },
    topicArn: {
      description: 'The SNS topic for Sentinel events (node events travel on it too).',
      allowedPattern: PATTERNS.snsTopicArn,
    },
    nodes: {
      description:
        'Every Redis node on this host, with its cluster, as the cluster config names it: cluster=host:port,cluster=host:port.',
      allowedPattern: PATTERNS.agentNodes,
    },
    passwordParameter: {
      description:
        'The SSM parameter (SecureString) with the password of the Redis nodes on this host; read by the service at start.',
      allowedPattern: PATTERNS.ssmParameterName,
    },
    ...hostTlsParameters('Redis nodes'),
  },
  [AGENT_UNIT],
);

const maintenanceAction = define(
  'maintenance-action',
  // An upgrade downloads and installs a package before the restart; a restart may write an RDB first.
  600,
  'Run one allow-listed maintenance action on a Redis node: restart it, upgrade the redis-server package and restart, or reboot the host 5 s after answering.',
  {
    config: { description: "The node's redis.conf.", allowedPattern: PATTERNS.absolutePath },
    nodePort: { description: "The node's own port on this host.", allowedPattern: PATTERNS.port },
    action: { description: "'restart', 'upgrade' or 'reboot'.", allowedPattern: PATTERNS.maintenanceAction },
    service: {
      description: "How the node runs: 'systemd:<unit>' (a host), or 'local' (the local runtime).",
      allowedPattern: PATTERNS.service,
    },
  },
);

/** The documents, by name. */
export const COMMAND_DOCUMENTS: { readonly [D in DocumentName]: CommandDocumentDef<D> } = {
  'update-haproxy': updateHaproxy,
  'fence-node': fenceNode,
  'release-node': releaseNode,
  'install-bridge': installBridge,
  'install-agent': installAgent,
  'maintenance-action': maintenanceAction,
};

/** Ends each embedded file; a line of a script must never equal it. */
export const HEREDOC_END = 'HA_REDIS_EMBEDDED_FILE_END';

/** The content of an SSM Command document (schema 2.2). */
export interface CommandDocumentContent {
  schemaVersion: '2.2';
  description: string;
  parameters: Record<
    string,
    { type: 'String'; description: string; allowedPattern: string; default?: string }
  >;
  mainSteps: {
    action: 'aws:runShellScript';
    name: string;
    inputs: { runCommand: string[]; timeoutSeconds: string };
  }[];
}

/** `cat > "$dir/<name>" <<'END'`, the file's lines, `END`: written byte for byte (no expansion). */
function embed(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const name = basename(path);
  if (!text.endsWith('\n') || text.includes('\r')) {
    throw new Error(`${path} must end with a newline and have no CR: it is embedded line by line`);
  }
  const lines = text.slice(0, -1).split('\n');
  if (lines.includes(HEREDOC_END) || text.includes('{{')) {
    throw new Error(`${path} contains '${HEREDOC_END}' or '{{', which the SSM document cannot embed`);
  }
  return [`cat > "$ha_redis_dir/${name}" <<'${HEREDOC_END}'`, ...lines, HEREDOC_END];
}

/** The document content: writes the embedded script (and its files) to a temporary directory and runs it. */
export function renderCommandDocument(def: AnyCommandDocumentDef): CommandDocumentContent {
  const names = DOCUMENT_PARAMETERS[def.name] as readonly string[];
  const defs = def.parameters as Record<string, ParameterDef>;
  const missing = names.filter((n) => !defs[n]);
  const extra = Object.keys(defs).filter((n) => !names.includes(n));
  if (missing.length || extra.length) {
    throw new Error(
      `document ${def.name}: parameters must be DOCUMENT_PARAMETERS; missing [${missing}], extra [${extra}]`,
    );
  }
  const script = basename(def.script);
  const args = names.map((n) => `${flagOf(n)} '{{ ${n} }}'`).join(' ');
  const runCommand = [
    '#!/bin/sh',
    'set -eu',
    'ha_redis_dir="$(mktemp -d)"',
    `trap 'rm -rf "$ha_redis_dir"' EXIT`,
    ...embed(def.script),
    ...def.files.flatMap(embed),
    `bash "$ha_redis_dir/${script}" ${args}`,
  ];
  return {
    schemaVersion: '2.2',
    description: def.description,
    parameters: Object.fromEntries(
      names.map((n) => {
        const p = defs[n] as ParameterDef;
        return [
          n,
          {
            type: 'String',
            description: p.description,
            allowedPattern: p.allowedPattern,
            ...(p.default === undefined ? {} : { default: p.default }),
          },
        ];
      }),
    ),
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: def.name,
        inputs: { runCommand, timeoutSeconds: String(def.timeoutSeconds) },
      },
    ],
  };
}

export interface SsmCommandDocumentsProps {
  /** Document names are `${prefix}-${document}`, e.g. `ha-redis-prod-update-haproxy`. */
  prefix: string;
}

/** The SSM Command documents of a deployment. */
export class SsmCommandDocuments extends Construct {
  /** The CloudFormation resources, by document. */
  readonly documents: { readonly [D in DocumentName]: ssm.CfnDocument };
  /** The SSM document names, by document (what SendCommand's DocumentName takes). */
  readonly names: { readonly [D in DocumentName]: string };
  /** The document ARNs, by document (for IAM: ssm:SendCommand). */
  readonly arns: { readonly [D in DocumentName]: string };

  constructor(scope: Construct, id: string, props: SsmCommandDocumentsProps) {
    super(scope, id);
    const documents = {} as Record<DocumentName, ssm.CfnDocument>;
    const names = {} as Record<DocumentName, string>;
    const arns = {} as Record<DocumentName, string>;
    for (const def of Object.values(COMMAND_DOCUMENTS) as AnyCommandDocumentDef[]) {
      const name = `${props.prefix}-${def.name}`;
      documents[def.name] = new ssm.CfnDocument(this, def.name, {
        name,
        documentType: 'Command',
        documentFormat: 'JSON',
        targetType: '/AWS::EC2::Instance',
        updateMethod: 'NewVersion',
        content: renderCommandDocument(def),
      });
      names[def.name] = name;
      arns[def.name] = `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:document/${name}`;
    }
    this.documents = documents;
    this.names = names;
    this.arns = arns;
  }

  /** The name of a document (for SsmNodeOps' `documentName`). */
  documentName(document: DocumentName): string {
    return this.names[document];
  }

  /** Every document's ARN. */
  documentArns(): string[] {
    return Object.values(this.arns);
  }

  /** The ARNs of the node operations' documents (what a Lambda may send): every document but the installs. */
  operationDocumentArns(): string[] {
    const installs: readonly string[] = INSTALL_DOCUMENTS;
    return Object.entries(this.arns).flatMap(([name, arn]) => (installs.includes(name) ? [] : [arn]));
  }
}

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as cdk from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  argsOf,
  DOCUMENT_PARAMETERS,
  type DocumentName,
  operationParameters,
  STALE_EPOCH_EXIT_CODE,
} from '../../adapters/node-ops/operations.ts';
import type { NodeConfig } from '../../core/model/cluster.ts';
import {
  COMMAND_DOCUMENTS,
  type CommandDocumentContent,
  HEREDOC_END,
  renderCommandDocument,
  SsmCommandDocuments,
} from '../../infra/ssm/documents.ts';

const run = promisify(execFile);
const NAMES = Object.keys(DOCUMENT_PARAMETERS) as DocumentName[];
const rendered = (name: DocumentName): CommandDocumentContent =>
  renderCommandDocument(COMMAND_DOCUMENTS[name]);
const runCommandOf = (name: DocumentName): string[] => rendered(name).mainSteps[0]?.inputs.runCommand ?? [];

/** Real values each parameter must accept. */
const VALID: Record<string, string[]> = {
  config: ['/etc/haproxy/haproxy.cfg', '/etc/redis/redis-6379.conf'],
  stateFile: ['/var/lib/haproxy/server-state'],
  socket: ['/run/haproxy/admin.sock'],
  backend: ['redis_master', 'be-redis.1'],
  server: ['master', 'redis:1'],
  addr: ['10.0.1.23', '127.0.0.1', '::1', 'fe80::1ff:fe23:4567:890a'],
  port: ['6379', '1'],
  reload: ['none', 'systemd:haproxy.service', 'systemd:haproxy@edge', 'pidfile:/run/haproxy.pid'],
  masterAddr: ['10.0.2.7'],
  masterPort: ['6380'],
  nodePort: ['6379'],
  epoch: ['0', '7', '123456789012345'],
  bundle: ['s3://cdk-hnb659fds-assets-123456789012-eu-west-1/0a1b2c3d4e5f.mjs', '/opt/bundles/bridge.mjs'],
  topicArn: [
    'arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events',
    'arn:aws-us-gov:sns:us-gov-west-1:123456789012:events.fifo',
  ],
  cluster: ['orders', 'orders-eu-1', 'carts=carts,payments-master=payments,queues.v2=queues'],
  sentinelHost: ['10.0.1.10', 'sentinel-1.internal', '::1'],
  sentinelPort: ['26379', '26300'],
  passwordParameter: ['/ha-redis/orders/sentinel-password', 'ha-redis.orders.sentinel'],
  // Optional: empty is plain TCP. A Secrets Manager secret goes through SSM's reference path.
  tlsCaParameter: ['/ha-redis/orders/tls-ca', '/aws/reference/secretsmanager/ha-redis/orders/tls-ca', ''],
  tlsClientCertParameter: [
    '/aws/reference/secretsmanager/ha-redis/orders/redis-client',
    '/ha-redis/x.pem',
    '',
  ],
  nodes: [
    'orders=10.0.1.11:6379',
    'carts=10.0.1.51:6379,payments=10.0.1.51:6380,catalog-eu-1=10.0.1.51:6381',
    'orders=ip-10-0-1-11.eu-west-1.compute.internal:6379,sessions=::1:6380',
  ],
  action: ['restart', 'upgrade', 'reboot'],
  service: ['local', 'systemd:redis-server', 'systemd:redis-server@6380.service'],
};

/** Shell injection attempts: each is refused alone, after a valid value and before one. */
const INJECTIONS = [
  '; rm -rf /',
  '$(id)',
  '`id`',
  "'",
  '"',
  '\n',
  'x\nid',
  '&& id',
  '| id',
  '> /etc/passwd',
  '{{ other }}',
  ' --reload none',
];

describe('SSM Command documents', () => {
  it.each(NAMES)('%s is a schema 2.2 aws:runShellScript document', (name) => {
    const content = rendered(name);
    expect(content.schemaVersion).toBe('2.2');
    expect(content.mainSteps).toHaveLength(1);
    expect(content.mainSteps[0]?.action).toBe('aws:runShellScript');
    // Command documents are limited to 64 KB.
    expect(JSON.stringify(content).length).toBeLessThan(64 * 1024);
  });

  it.each(NAMES)('%s declares exactly the DOCUMENT_PARAMETERS, each a String with a description', (name) => {
    const { parameters } = rendered(name);
    expect(Object.keys(parameters)).toEqual([...DOCUMENT_PARAMETERS[name]]);
    for (const p of Object.values(parameters)) {
      expect(p.type).toBe('String');
      expect(p.description.length).toBeGreaterThan(10);
      expect(p.allowedPattern).toMatch(/^\^.*\$$/);
    }
  });

  it.each(NAMES)('%s gives a default only to its optional parameters, a value its pattern takes', (name) => {
    const { parameters } = rendered(name);
    const optional = Object.entries(parameters).flatMap(([n, p]) => ('default' in p ? [n] : []));
    const tls = ['tlsCaParameter', 'tlsClientCertParameter'];
    expect(optional).toEqual(name === 'install-bridge' || name === 'install-agent' ? tls : []);
    for (const n of optional) {
      expect(parameters[n]?.default).toBe('');
      expect('').toMatch(new RegExp(parameters[n]?.allowedPattern ?? '^x$'));
    }
    // Every other parameter is required: an empty value is refused by its pattern.
    for (const [n, p] of Object.entries(parameters)) {
      if (!optional.includes(n)) expect('', n).not.toMatch(new RegExp(p.allowedPattern));
    }
  });

  it.each(NAMES)('%s embeds its script and files byte for byte', async (name) => {
    const def = COMMAND_DOCUMENTS[name];
    const lines = runCommandOf(name);
    for (const path of [def.script, ...def.files]) {
      const file = path.split('/').pop() as string;
      const start = lines.indexOf(`cat > "$ha_redis_dir/${file}" <<'${HEREDOC_END}'`);
      const end = lines.indexOf(HEREDOC_END, start);
      expect(start).toBeGreaterThanOrEqual(0);
      const embedded = `${lines.slice(start + 1, end).join('\n')}\n`;
      expect(Buffer.from(embedded)).toEqual(await readFile(path));
    }
    // install-bridge and install-agent embed their systemd unit, which their script finds next to itself.
    const units: Partial<Record<DocumentName, string[]>> = {
      'install-bridge': ['ha-redis-bridge@.service'],
      'install-agent': ['ha-redis-agent.service'],
    };
    const files = def.files.map((path) => path.split('/').pop());
    expect(files).toEqual(units[name] ?? []);
  });

  it.each(NAMES)('%s passes every parameter as a single-quoted flag', (name) => {
    const last = runCommandOf(name).at(-1) as string;
    const flags = argsOf(
      Object.fromEntries(DOCUMENT_PARAMETERS[name].map((p) => [p, `'{{ ${p} }}'`])) as Record<string, string>,
    ).join(' ');
    expect(last).toBe(`bash "$ha_redis_dir/${name}.sh" ${flags}`);
  });

  describe('allowedPattern', () => {
    const cases = NAMES.flatMap((name) =>
      Object.entries(rendered(name).parameters).map(([parameter, p]) => ({
        name,
        parameter,
        pattern: new RegExp(p.allowedPattern),
      })),
    );

    it.each(cases)('$name $parameter accepts real values', ({ parameter, pattern }) => {
      const values = VALID[parameter];
      expect(values, `no sample values for ${parameter}`).toBeDefined();
      for (const value of values ?? []) expect(value).toMatch(pattern);
    });

    it('refuses maintenance actions and service modes outside the allow-list', () => {
      const { parameters } = rendered('maintenance-action');
      const action = new RegExp(parameters.action?.allowedPattern ?? '');
      const service = new RegExp(parameters.service?.allowedPattern ?? '');
      for (const value of ['stop', 'flushall', 'restart ', 'RESTART', '']) expect(value).not.toMatch(action);
      for (const value of ['systemd:', 'pidfile:/run/redis.pid', 'Local', 'systemd:a b', 'none'])
        expect(value).not.toMatch(service);
    });

    it.each([
      '',
      'orders',
      'orders=10.0.1.11',
      'orders=10.0.1.11:',
      'orders=10.0.1.11:123456',
      'Orders=10.0.1.11:6379',
      '=10.0.1.11:6379',
      'orders:10.0.1.11:6379',
      'orders=-h:6379',
      'orders=10.0.1.11:6379,',
      ',orders=10.0.1.11:6379',
      'orders=10.0.1.11:6379,,sessions=10.0.1.11:6380',
      'orders=10.0.1.11:6379 sessions=10.0.1.11:6380',
      'orders=10.0.1.11:6379;sessions=10.0.1.11:6380',
      'orders=a=b:6379',
      'orders=10.0.1.11/6379',
    ])('install-agent nodes refuses %j', (value) => {
      const pattern = new RegExp(rendered('install-agent').parameters.nodes?.allowedPattern ?? '^$');
      expect(value).not.toMatch(pattern);
    });

    it('install-agent nodes takes at most 100 nodes', () => {
      const pattern = new RegExp(rendered('install-agent').parameters.nodes?.allowedPattern ?? '^$');
      const nodes = (n: number) =>
        Array.from({ length: n }, (_, i) => `c${i}=10.0.1.11:${6000 + i}`).join(',');
      expect(nodes(100)).toMatch(pattern);
      expect(nodes(101)).not.toMatch(pattern);
    });

    it.each(cases)('$name $parameter rejects shell injection', ({ parameter, pattern }) => {
      const valid = VALID[parameter]?.[0] ?? '';
      for (const attack of INJECTIONS) {
        for (const value of [attack, `${valid}${attack}`, `${attack}${valid}`]) {
          expect(pattern.test(value), JSON.stringify(value)).toBe(false);
        }
      }
    });
  });

  describe('the rendered runCommand, parameters substituted, runs like the script', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'har-ssm-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    /** What the SSM agent runs: the runCommand lines, `{{ p }}` replaced by the values, in one file. */
    const runDocument = async (name: DocumentName, values: Record<string, string>, shell: string) => {
      const text = runCommandOf(name)
        .join('\n')
        .replace(/\{\{ (\w+) \}\}/g, (_, p: string) => values[p] ?? '');
      const file = join(dir, `${name}-document.sh`);
      await writeFile(file, text);
      return outcome(run(shell, [file]));
    };
    const runScript = (name: DocumentName, values: Record<string, string>) =>
      outcome(run('bash', [COMMAND_DOCUMENTS[name].script, ...argsOf(values)]));
    const outcome = (p: Promise<{ stdout: string; stderr: string }>) =>
      p.then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({
          code: e.code,
          stdout: e.stdout,
          stderr: e.stderr,
        }),
      );
    const redisConf = 'port 6390\nrequirepass "not-used"\nreplicaof 10.9.9.9 6379\n';

    it.each(['bash', 'sh'])('fence-node persists replicaof the same way (%s)', async (shell) => {
      // Arrange: two identical configs; port 1 on loopback has no redis, so the live apply reports a stopped node.
      const viaDocument = join(dir, `document-${shell}.conf`);
      const viaScript = join(dir, `script-${shell}.conf`);
      await writeFile(viaDocument, redisConf);
      await writeFile(viaScript, redisConf);
      const values = { masterAddr: '10.0.2.7', masterPort: '6380', nodePort: '1', epoch: '7' };

      // Act
      const document = await runDocument('fence-node', { ...values, config: viaDocument }, shell);
      const script = await runScript('fence-node', { config: viaScript, ...values });

      // Assert
      expect(document.code).toBe(0);
      expect(document.stdout.replaceAll(viaDocument, 'CONF')).toBe(
        script.stdout.replaceAll(viaScript, 'CONF'),
      );
      expect(document.stdout).toContain('is not running; it comes back fenced from its config');
      expect(await readFile(viaDocument, 'utf8')).toBe(
        'port 6390\nrequirepass "not-used"\nreplicaof 10.0.2.7 6380\n',
      );
      expect(await readFile(viaDocument, 'utf8')).toBe(await readFile(viaScript, 'utf8'));
    });

    it.each([
      ['upgrade', 'local', 'upgrade is refused for a local node'],
      ['reboot', 'local', 'reboot is refused for a local node'],
      ['restart', 'pidfile:/x', "--service 'pidfile:/x' is neither systemd:<unit> nor local"],
    ])(
      'maintenance-action refuses %s with service %s through the document as the script does',
      async (action, service, message) => {
        const config = join(dir, 'maintenance.conf');
        await writeFile(config, redisConf);
        const values = { config, nodePort: '6390', action, service };
        const document = await runDocument('maintenance-action', values, 'sh');
        const script = await runScript('maintenance-action', values);
        expect(document.code).toBe(2);
        expect(script.code).toBe(2);
        expect(document.stderr).toBe(script.stderr);
        expect(document.stderr).toContain(message);
        expect(`${document.stdout}${document.stderr}`).not.toContain('not-used');
      },
    );

    it.each([
      ['bash', 'a held node', 'replicaof 127.0.0.1 0\n', 'took replicaof 127.0.0.1 0 out of CONF'],
      ['sh', 'a held node', 'replicaof "127.0.0.1" "0"\n', 'took replicaof 127.0.0.1 0 out of CONF'],
      ['sh', 'a fenced node', 'replicaof 10.0.2.7 6380\n', 'no hold in CONF'],
    ])(
      'release-node lifts the hold the same way through the document (%s, %s)',
      async (shell, what, line, said) => {
        // Arrange: two identical configs; port 1 on loopback has no redis, so the live check finds no node.
        const name = `release-${shell}-${what.replace(/ /g, '-')}`;
        const viaDocument = join(dir, `${name}-document.conf`);
        const viaScript = join(dir, `${name}-script.conf`);
        const text = `port 6390\nrequirepass "not-used"\n${line}`;
        await writeFile(viaDocument, text);
        await writeFile(viaScript, text);

        // Act
        const document = await runDocument('release-node', { config: viaDocument, nodePort: '1' }, shell);
        const script = await runScript('release-node', { config: viaScript, nodePort: '1' });

        // Assert
        expect(document.code).toBe(0);
        expect(document.stdout.replaceAll(viaDocument, 'CONF')).toBe(
          script.stdout.replaceAll(viaScript, 'CONF'),
        );
        expect(document.stdout.replaceAll(viaDocument, 'CONF')).toBe(
          `${said}; 127.0.0.1:1 is not running: it starts as the master it was\n`,
        );
        expect(`${document.stdout}${document.stderr}`).not.toContain('not-used');
        const left = said.startsWith('took') ? 'port 6390\nrequirepass "not-used"\n' : text;
        expect(await readFile(viaDocument, 'utf8')).toBe(left);
        expect(await readFile(viaScript, 'utf8')).toBe(left);
      },
    );

    it('release-node refuses a missing config the same way through the document', async () => {
      const values = { config: join(dir, 'missing-release.conf'), nodePort: '6379' };
      const document = await runDocument('release-node', values, 'sh');
      const script = await runScript('release-node', values);
      expect([document.code, script.code]).toEqual([2, 2]);
      expect(document.stderr).toBe(script.stderr);
      expect(document.stderr).toBe(`release-node: config ${values.config} not found\n`);
    });

    it("fence-node's refusal of an older epoch reaches SSM as exit code 3 through the document, changing nothing", async () => {
      // Arrange: a config fenced at epoch 7.
      const config = join(dir, 'stale.conf');
      await writeFile(config, redisConf);
      const values = { config, masterAddr: '10.0.2.7', masterPort: '6380', nodePort: '1' };
      expect((await runDocument('fence-node', { ...values, epoch: '7' }, 'sh')).code).toBe(0);
      const fenced = await readFile(config, 'utf8');

      // Act: epoch 6's fence, late, to another master.
      const late = await runDocument('fence-node', { ...values, masterAddr: '10.0.3.9', epoch: '6' }, 'sh');

      // Assert
      expect(late).toMatchObject({
        code: STALE_EPOCH_EXIT_CODE,
        stdout: `stale: epoch 6 is older than epoch 7, whose fence ${config} holds; nothing changed\n`,
      });
      expect(await readFile(config, 'utf8')).toBe(fenced);
    });

    it('fence-node fails the same way through the document (exit code and message)', async () => {
      const values = {
        config: join(dir, 'missing.conf'),
        masterAddr: '10.0.2.7',
        masterPort: '6380',
        nodePort: '6379',
        epoch: '7',
      };
      const document = await runDocument('fence-node', values, 'sh');
      const script = await runScript('fence-node', values);
      expect(document.code).toBe(2);
      expect(script.code).toBe(2);
      expect(document.stderr).toBe(script.stderr);
      expect(document.stderr).toContain('missing.conf not found');
    });
  });
});

describe('SsmCommandDocuments', () => {
  const app = new cdk.App();
  const stack = new cdk.Stack(app, 'Documents');
  const documents = new SsmCommandDocuments(stack, 'Ssm', { prefix: 'ha-redis-orders' });
  const template = Template.fromStack(stack);

  it.each(NAMES)('creates %s as a JSON Command document updated as a new version', (name) => {
    template.hasResourceProperties('AWS::SSM::Document', {
      Name: `ha-redis-orders-${name}`,
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      UpdateMethod: 'NewVersion',
      Content: rendered(name),
    });
    expect(documents.documentName(name)).toBe(`ha-redis-orders-${name}`);
  });

  it('exposes each document ARN in the stack partition, region and account', () => {
    template.resourceCountIs('AWS::SSM::Document', NAMES.length);
    expect(stack.resolve(documents.arns['fence-node'])).toEqual({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ssm:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':document/ha-redis-orders-fence-node',
        ],
      ],
    });
    expect(documents.documentArns()).toHaveLength(NAMES.length);
  });
});

describe('maintenance-action parameters', () => {
  const node: NodeConfig = {
    id: 'redis-2',
    host: '10.0.1.22',
    port: 6380,
    configPath: '/etc/redis/redis.conf',
  } as NodeConfig;

  it('runs a node with an instance as the systemd unit redis-server', () => {
    const onHost = { ...node, instance: { id: 'i-0abc12345678def90' } } as NodeConfig;
    expect(operationParameters({ document: 'maintenance-action', node: onHost, action: 'upgrade' })).toEqual({
      config: '/etc/redis/redis.conf',
      nodePort: '6380',
      action: 'upgrade',
      service: 'systemd:redis-server',
    });
  });

  it('runs a node without an instance as a local node', () => {
    expect(operationParameters({ document: 'maintenance-action', node, action: 'restart' }).service).toBe(
      'local',
    );
  });

  it('refuses a node without a configPath, naming it', () => {
    const { configPath: _, ...bare } = node;
    expect(() =>
      operationParameters({ document: 'maintenance-action', node: bare as NodeConfig, action: 'restart' }),
    ).toThrow('node redis-2 has no configPath');
  });
});

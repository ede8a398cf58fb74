/** `ha-redis local ...`: a local cluster, or a host set, of real redis, sentinel and haproxy processes. */
import { type Command, Option } from 'commander';
import { err, httpUrl, positiveInt, slackUserIds } from './options.ts';

export function registerLocalCommands(program: Command): void {
  const local = program
    .command('local')
    .description('a local cluster of real redis, sentinel and haproxy processes');
  addUp(local);
  addLifecycle(local);
}

const NODE_AGENT_HELP =
  'a node agent per node: a master whose process exits fails over at once (the fast path), not after down-after';

/** `local up`: one cluster, or with --services a host set. */
function addUp(local: Command): void {
  local
    .command('up')
    .description(
      'start 3 redis, 3 sentinels, 2 haproxy, dynalite and the orchestrator on free loopback ports; with --services N, a host set: 3 hosts, N services',
    )
    .option('--name <name>', "cluster name (with --services: the host set's name)", 'demo')
    .option('--down-after-ms <ms>', 'Sentinel down-after-milliseconds', positiveInt('--down-after-ms'), 5000)
    .option(
      '--failover-timeout-ms <ms>',
      'Sentinel failover-timeout',
      positiveInt('--failover-timeout-ms'),
      60_000,
    )
    .option(
      '--slack-user <ids>',
      'comma-separated Slack user ids allowed on the local /redis endpoint (default U0LOCALOPS)',
      slackUserIds,
    )
    .option(
      '--notify-webhook <url>',
      'also POST each outcome as JSON to this URL',
      httpUrl('--notify-webhook'),
    )
    .option(
      '--services <n>',
      'a host set of 3 hosts serving N services (databases), every master on host-1',
      positiveInt('--services'),
    )
    .addOption(
      new Option(
        '--sentinels <layout>',
        'with --services: one Sentinel per service per host, or one per host for all',
      )
        .choices(['per-service', 'shared'])
        .default('per-service'),
    )
    .option(
      '--service-names <names>',
      'with --services: comma-separated service names (default <name>-1 ...)',
      (v: string) => v.split(',').map((n) => n.trim()),
    )
    .addOption(
      new Option(
        '--network <kind>',
        'with --services: a network namespace per host (root), or a loopback address per host',
      )
        .choices(['auto', 'netns', 'loopback'])
        .default('auto'),
    )
    .option('--json', 'print the descriptor (with --services: the host set) as JSON on stdout')
    .option('--node-agent', NODE_AGENT_HELP)
    .action(upAction);
}

type UpCliOptions = import('./commands/local.ts').LocalUpOptions & {
  services?: number;
  sentinels: 'per-service' | 'shared';
  serviceNames?: string[];
  network: 'auto' | 'netns' | 'loopback';
};

/** `local up`'s action: one cluster, or a host set (whose options are refused without --services). */
const upAction = async (o: UpCliOptions, command: Command) => {
  if (o.services === undefined) {
    const setOnly = ['sentinels', 'serviceNames', 'network'].filter(
      (k) => command.getOptionValueSource(k) === 'cli',
    );
    if (setOnly.length) {
      err(
        `--${setOnly.map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(', --')} needs --services N`,
      );
      process.exit(2);
    }
    const { localUpCommand } = await import('./commands/local.ts');
    await localUpCommand(o);
    return;
  }
  const unsupported = o.notifyWebhook
    ? '--notify-webhook is not supported with --services yet; each service writes notifications.jsonl'
    : o.nodeAgent
      ? '--node-agent is not supported with --services yet; start a single cluster to use the fast path'
      : undefined;
  if (unsupported) {
    err(unsupported);
    process.exit(2);
  }
  const { hostSetUpCommand } = await import('./commands/host-set.ts');
  await hostSetUpCommand({ ...o, services: o.services });
};

/** What follows `up`: fail a host of a set, config, down, status, logs. */
function addLifecycle(local: Command): void {
  local
    .command('fail-host')
    .description(
      'a host failure in a host set: kill -9 every process on it, cut its link (netns), or restore it',
    )
    .requiredOption('--name <set>', 'host set name')
    .requiredOption('--host <id>', 'host id: host-1, host-2 or host-3')
    .addOption(
      new Option('--mode <mode>', 'what happens to the host')
        .choices(['kill', 'cut', 'restore'])
        .makeOptionMandatory(),
    )
    .action(async (o: { name: string; host: string; mode: 'kill' | 'cut' | 'restore' }) => {
      const { failHostCommand } = await import('./commands/host-set.ts');
      await failHostCommand(o);
    });

  local
    .command('config')
    .description('write a deployment config file for the local cluster, and its secrets as files')
    .option('--name <name>', 'cluster name', 'demo')
    .action(async (o: { name: string }) => {
      const { localConfigCommand } = await import('./commands/local.ts');
      await localConfigCommand(o);
    });

  local
    .command('down')
    .description(
      'stop exactly the processes that `up` started (a cluster, or a whole host set), and remove their directories',
    )
    .option('--name <name>', 'cluster name', 'demo')
    .option('--keep-files', 'keep configs, logs and data')
    .action(async (o: { name: string; keepFiles?: boolean }) => {
      const { localDownCommand } = await import('./commands/local.ts');
      await localDownCommand(o);
    });

  local
    .command('status')
    .description(
      'processes, roles and routing of a local cluster, or of a host set host by host; exit 1 when something is down',
    )
    .option('--name <name>', 'cluster name', 'demo')
    .option('--json', 'print JSON on stdout')
    .action(async (o: { name: string; json?: boolean }) => {
      const { isHostSet } = await import('../config/host-set-descriptor.ts');
      if (isHostSet(o.name)) {
        const { hostSetStatusCommand } = await import('./commands/host-set.ts');
        process.exitCode = await hostSetStatusCommand(o);
        return;
      }
      const { localStatusCommand } = await import('./commands/local.ts');
      process.exitCode = await localStatusCommand(o);
    });

  local
    .command('logs')
    .description("follow the orchestrator's log")
    .option('--name <name>', 'cluster name', 'demo')
    .option('--no-follow', 'print and exit')
    .action(async (o: { name: string; follow: boolean }) => {
      const { localLogsCommand } = await import('./commands/local.ts');
      await localLogsCommand(o);
    });
}

/**
 * The `ha-redis` command. Logs and progress go to stderr; `--json` output goes to stdout.
 *
 * This module loads only commander and two leaf modules: each action imports its command's modules when it
 * runs, so `--help`, `--version` and an argument error answer without loading the launcher, the state
 * machine runner or the AWS SDK (the bench's cli-startup scenario measures it).
 */
import { Command, Option } from 'commander';
import type { RemoteOptions } from '../compose/remote.ts';
import { errorMessage, HaRedisError } from '../core/model/errors.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../core/model/limits.ts';
import { MAINTENANCE_ACTIONS } from '../core/model/maintenance.ts';
import pkg from '../package.json' with { type: 'json' };
import { registerLocalCommands } from './local-program.ts';
import { cliUser, err, httpUrl, nonNegativeInt, positiveInt } from './options.ts';

/** The options that reach a cluster of the deployment config file instead of a local one. */
interface RemoteFlags {
  config?: string;
  secretsDir?: string;
  table?: string;
  dynamodbEndpoint?: string;
  skipDns?: boolean;
}
type RemoteFlag = Exclude<keyof RemoteFlags, 'config'>;
const REMOTE_FLAGS: Record<RemoteFlag, () => Option> = {
  secretsDir: () =>
    new Option('--secrets-dir <dir>', 'with --config: secrets from files named like the references, not AWS'),
  table: () => new Option('--table <name>', 'with --config: the state table (stack output StateTableName)'),
  dynamodbEndpoint: () =>
    new Option('--dynamodb-endpoint <url>', 'with --config: a DynamoDB-compatible endpoint').argParser(
      httpUrl('--dynamodb-endpoint'),
    ),
  skipDns: () => new Option('--skip-dns', 'with --config: do not read the Route53 record'),
};

/** Add `--config <file>` and those of its companion flags that the command uses. */
function withRemoteOptions(command: Command, configHelp: string, flags: readonly RemoteFlag[]): Command {
  command.option('--config <file>', `a deployment config file: ${configHelp}`);
  for (const flag of flags) command.addOption(REMOTE_FLAGS[flag]());
  return command;
}

/**
 * The cluster of the config file that the flags describe, or undefined for a local cluster. A companion
 * flag without --config, or a `required` one missing with it, is a wrong argument (exit 2).
 */
function remoteOf(
  command: string,
  o: RemoteFlags,
  required: readonly RemoteFlag[] = [],
): RemoteOptions | undefined {
  const given = (Object.keys(REMOTE_FLAGS) as RemoteFlag[]).filter((f) => o[f] !== undefined);
  const flagName = (f: RemoteFlag) => REMOTE_FLAGS[f]().long ?? f;
  const flagHelp = (f: RemoteFlag) => {
    const option = REMOTE_FLAGS[f]();
    return `${option.flags}, ${option.description.replace(/^with --config: /, '')}`;
  };
  if (!o.config) {
    if (given.length)
      program.error(
        `error: ${given.map(flagName).join(', ')} ${given.length > 1 ? 'need' : 'needs'} --config <file>`,
        { exitCode: 2 },
      );
    return undefined;
  }
  const missing = required.filter((f) => o[f] === undefined);
  if (missing.length) {
    program.error(`error: ${command} --config also needs ${missing.map(flagHelp).join('; ')}`, {
      exitCode: 2,
    });
  }
  return {
    configPath: o.config,
    ...(o.secretsDir ? { secretsDir: o.secretsDir } : {}),
    ...(o.table ? { table: o.table } : {}),
    ...(o.dynamodbEndpoint ? { dynamodbEndpoint: o.dynamodbEndpoint } : {}),
    skipDns: Boolean(o.skipDns),
  };
}

const program = new Command()
  .name('ha-redis')
  .description('Failover orchestration for Redis Sentinel clusters')
  .version(pkg.version, '-V, --version', 'print the version of ha-redis')
  .showHelpAfterError('(run with --help for usage)')
  // Wrong arguments exit 2 (after commander printed the one-line error); --help and --version exit 0.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

registerLocalCommands(program);

program
  .command('demo')
  .description('start a local cluster, kill -9 its master under load, and show what ha-redis does about it')
  .option('--name <name>', "cluster name (with --services: the host set's)", 'demo')
  .option('--down-after-ms <ms>', 'Sentinel down-after-milliseconds', positiveInt('--down-after-ms'), 5000)
  .option(
    '--services <n>',
    'instead: a host set of N services on 3 hosts, and host-1 killed',
    positiveInt('--services'),
  )
  .option('--keep', 'leave the cluster running afterwards, and print how to connect')
  .option('--json', 'print the summary as one JSON document on stdout')
  .action(
    async (o: { name: string; downAfterMs: number; services?: number; keep?: boolean; json?: boolean }) => {
      if (o.services !== undefined) {
        const { runHostSetDemo } = await import('../local/demo-host-set.ts');
        const rows = await runHostSetDemo({
          name: o.name,
          services: o.services,
          downAfterMs: o.downAfterMs,
          keep: Boolean(o.keep),
          say: err,
        });
        if (o.json) process.stdout.write(`${JSON.stringify({ set: o.name, services: rows }, null, 2)}\n`);
        if (rows.some((r) => r.lost > 0)) process.exitCode = 1;
        return;
      }
      const { runDemo } = await import('../local/demo.ts');
      const summary = await runDemo({
        name: o.name,
        downAfterMs: o.downAfterMs,
        keep: Boolean(o.keep),
        say: err,
      });
      if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      if (summary.events.some((e) => e.lost > 0)) process.exitCode = 1;
    },
  );

program
  .command('switchover')
  .description('move the master to a replica with no lost writes, through the switchover state machine')
  .requiredOption('--cluster <name>', 'cluster name (a local cluster from `local up`)')
  .option('--to <node>', 'target replica: node id (redis-2) or host:port; default: the best replica')
  .option('--dry-run', 'print the plan and change nothing')
  .option('--reason <text>', 'why, for history', 'planned switchover')
  .option(
    '--max-lag-bytes <n>',
    'refuse a target further behind than this (0: fully caught up)',
    nonNegativeInt('--max-lag-bytes'),
  )
  .option('--json', 'print the final state as one JSON document on stdout')
  .action(async (o: Omit<import('./commands/workflow.ts').SwitchoverCommandOptions, 'requestedBy'>) => {
    const { switchoverCommand } = await import('./commands/workflow.ts');
    process.exitCode = await switchoverCommand({ ...o, requestedBy: cliUser() });
  });

program
  .command('move')
  .description(
    "move a host set's service to another set's hosts with no lost write: new nodes, Sentinels handed over, a switchover, frontends, the old nodes retired",
  )
  .requiredOption('--cluster <name>', 'the service (a cluster of a host set from `local up --services N`)')
  .requiredOption('--to-set <set>', 'the host set it moves to')
  .option('--dry-run', 'print the plan and change nothing')
  .option('--reason <text>', 'why, for history', 'move to another set of hosts')
  .option('--json', 'print the final state as one JSON document on stdout')
  .action(async (o: Omit<import('./commands/move.ts').MoveCommandOptions, 'requestedBy'>) => {
    const { moveCommand } = await import('./commands/move.ts');
    process.exitCode = await moveCommand({ ...o, requestedBy: cliUser() });
  });

program
  .command('retire-proxies')
  .description(
    "after a move, the old hosts' HAProxy stops serving the service: out of its definition, its master slot disabled (fail-closed)",
  )
  .requiredOption('--cluster <name>', 'the service that moved')
  .option('--dry-run', 'print which proxies would be retired and change nothing')
  .action(async (o: { cluster: string; dryRun?: boolean }) => {
    const { retireProxiesCommand } = await import('./commands/move.ts');
    process.exitCode = await retireProxiesCommand(o);
  });

const status = program
  .command('status')
  .description('roles, replication, Sentinels, proxies, DNS, last operation and lease; exit 1 when unhealthy')
  .requiredOption('--cluster <name>', 'cluster name (a local cluster from `local up`, or one of --config)')
  .option('--json', 'print the report as one JSON document on stdout')
  .option('--watch', 'refresh every second until Ctrl-C')
  .option(
    '--max-lag-bytes <n>',
    'a replica further behind than this is unhealthy',
    positiveInt('--max-lag-bytes'),
    DEFAULT_MAX_LAG_BYTES,
  )
  .action(
    async (o: RemoteFlags & { cluster: string; json?: boolean; watch?: boolean; maxLagBytes: number }) => {
      const remote = remoteOf('status', o);
      const { statusCommand } = await import('./commands/status.ts');
      process.exitCode = await statusCommand({
        cluster: o.cluster,
        json: Boolean(o.json),
        watch: Boolean(o.watch),
        maxLagBytes: o.maxLagBytes,
        ...(remote ? { remote } : {}),
      });
    },
  );
withRemoteOptions(status, 'reach the cluster directly (TLS, passwords)', [
  'secretsDir',
  'table',
  'dynamodbEndpoint',
  'skipDns',
]);

program
  .command('drain')
  .description(
    'move every master off a host: one planned switchover per cluster whose master is on it, 4 at a time',
  )
  .requiredOption(
    '--host <host>',
    "an IP (every node on it), host:port (one node), or a host set's host id (host-1)",
  )
  .option('--set <name>', 'the host set whose host --host names (when several have it)')
  .option(
    '--parallel <n>',
    'at most this many switchovers at once, after every service is prepared (default 1)',
    positiveInt('--parallel'),
  )
  .option('--cluster <names>', 'comma-separated clusters (default: every local cluster)', (v: string) =>
    v.split(',').map((n) => n.trim()),
  )
  .option('--dry-run', 'say what would move, and move nothing')
  .option('--json', 'print the results as one JSON document on stdout')
  .action(
    async (o: {
      host: string;
      set?: string;
      parallel?: number;
      cluster?: string[];
      dryRun?: boolean;
      json?: boolean;
    }) => {
      const { drainCommand } = await import('./commands/drain.ts');
      process.exitCode = await drainCommand({
        host: o.host,
        ...(o.set ? { set: o.set } : {}),
        ...(o.parallel ? { parallel: o.parallel } : {}),
        ...(o.cluster ? { clusters: o.cluster } : {}),
        dryRun: Boolean(o.dryRun),
        json: Boolean(o.json),
      });
    },
  );

const history = program
  .command('history')
  .description(
    'failovers, switchovers and fences, newest first; `history show <id>` for one with its timeline',
  )
  .requiredOption('--cluster <name>', 'cluster name (a local cluster from `local up`, or one of --config)')
  .option('--json', 'print JSON on stdout')
  .option('--limit <n>', 'how many entries', positiveInt('--limit'), 20)
  .action(async (o: RemoteFlags & { cluster: string; json?: boolean; limit: number }) => {
    const remote = remoteOf('history', o, ['table']);
    const { historyCommand } = await import('./commands/history.ts');
    process.exitCode = await historyCommand({
      cluster: o.cluster,
      json: Boolean(o.json),
      limit: o.limit,
      ...(remote ? { remote } : {}),
    });
  });
withRemoteOptions(history, 'a cluster it describes; history from its state table', [
  'table',
  'dynamodbEndpoint',
]);

history
  .command('show <id>')
  .description('one history entry whole, with its timeline (an id or a unique prefix)')
  .option('--svg <file>', "also draw the entry's timeline as a Gantt chart (SVG), write gap marked")
  .action(async (id: string, show: { svg?: string }) => {
    const o = history.opts<RemoteFlags & { cluster: string; json?: boolean }>();
    const remote = remoteOf('history', o, ['table']);
    const { historyShowCommand } = await import('./commands/history.ts');
    process.exitCode = await historyShowCommand({
      cluster: o.cluster,
      json: Boolean(o.json),
      id,
      ...(show.svg ? { svg: show.svg } : {}),
      ...(remote ? { remote } : {}),
    });
  });

const doctor = program
  .command('doctor')
  .description(
    'configuration checks (Sentinels, quorum, persistence, fencing, HAProxy), each with a fix; exit 1 on a fail',
  )
  .requiredOption('--cluster <name>', 'cluster name (a local cluster from `local up`, or one of --config)')
  .option('--json', 'print the checks as JSON on stdout')
  .action(async (o: RemoteFlags & { cluster: string; json?: boolean }) => {
    const remote = remoteOf('doctor', o);
    const { doctorCommand } = await import('./commands/doctor.ts');
    process.exitCode = await doctorCommand({
      cluster: o.cluster,
      json: Boolean(o.json),
      ...(remote ? { remote } : {}),
    });
  });
withRemoteOptions(doctor, 'check the cluster over the network only (files on its hosts are skipped)', [
  'secretsDir',
]);

const maintenance = program
  .command('maintenance')
  .description('scheduled maintenance: pause or resume it, see the mode, or run a rolling maintenance now');
for (const verb of ['pause', 'resume'] as const) {
  maintenance
    .command(verb)
    .description(
      verb === 'pause'
        ? 'skip scheduled maintenance runs of the cluster (the failover reaction keeps running)'
        : 'let scheduled maintenance runs of the cluster go ahead again',
    )
    .requiredOption('--cluster <name>', 'cluster name (a local cluster from `local up`)')
    .option('--reason <text>', 'why, shown in status and in skipped-run notifications')
    .action(async (o: { cluster: string; reason?: string }) => {
      const { pauseOrResumeMaintenance, withLocalStateStore } = await import('./commands/maintenance.ts');
      process.exitCode = await withLocalStateStore(o.cluster, (store) =>
        pauseOrResumeMaintenance(store, {
          cluster: o.cluster,
          pause: verb === 'pause',
          by: cliUser(),
          now: Date.now(),
          ...(o.reason ? { reason: o.reason } : {}),
        }),
      );
    });
}

maintenance
  .command('status')
  .description('whether scheduled maintenance of the cluster is paused, by whom, since when and why')
  .requiredOption('--cluster <name>', 'cluster name (a local cluster from `local up`)')
  .option('--json', 'print the mode as JSON on stdout')
  .action(async (o: { cluster: string; json?: boolean }) => {
    const { showMaintenanceMode, withLocalStateStore } = await import('./commands/maintenance.ts');
    process.exitCode = await withLocalStateStore(o.cluster, (store) =>
      showMaintenanceMode(store, { cluster: o.cluster, json: Boolean(o.json) }),
    );
  });

maintenance
  .command('run')
  .description(
    'rolling maintenance now: each replica, then a switchover and the old master (local state machine)',
  )
  .requiredOption('--cluster <name>', 'cluster name (a local cluster from `local up`)')
  .addOption(
    new Option('--action <action>', 'what to do on each node')
      .choices(MAINTENANCE_ACTIONS)
      .default('restart'),
  )
  .option('--switchback', 'switch back to the original master at the end')
  .option('--reason <text>', 'why, for history', 'rolling maintenance')
  .option('--json', 'print the final state as one JSON document on stdout')
  .action(async (o: Omit<import('./commands/workflow.ts').MaintenanceRunOptions, 'requestedBy'>) => {
    const { maintenanceRunCommand } = await import('./commands/workflow.ts');
    process.exitCode = await maintenanceRunCommand({ ...o, requestedBy: cliUser() });
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  err(`ha-redis: ${errorMessage(error)}`);
  process.exit(error instanceof HaRedisError ? 2 : 1);
});

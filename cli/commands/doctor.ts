/**
 * `ha-redis doctor`: configuration checks of a cluster, each pass/warn/fail with a one-line fix. A local
 * cluster's config files are read too; a cluster of the deployment config file is checked over the network
 * only, and the checks that need its hosts' files are listed as skipped. The checks are in doctor-checks.ts,
 * the gathering of their facts in doctor-facts.ts.
 */
import type { RemoteOptions } from '../../compose/remote.ts';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { doctorChecks } from './doctor-checks.ts';
import { gatherDoctorFacts, gatherFacts } from './doctor-facts.ts';
import { type Io, processIo } from './status.ts';

export {
  type DoctorCheck,
  type DoctorFacts,
  doctorChecks,
  FAST_DOWN_AFTER_MS,
  MAX_CLOCK_SKEW_MS,
  MAX_REPLICA_LAG_S,
  SLOW_DOWN_AFTER_MS,
} from './doctor-checks.ts';
export { denyScriptsReconfigOf, gatherDoctorFacts } from './doctor-facts.ts';

/** The `doctor` command: one line per check; returns 1 when any check fails. */
export async function doctorCommand(
  options: {
    cluster: string;
    root?: string;
    json?: boolean;
    /** A cluster of the deployment config file, checked over the network only. */
    remote?: Pick<RemoteOptions, 'configPath' | 'secretsDir'>;
  },
  io: Io = processIo,
): Promise<number> {
  const facts = options.remote
    ? await gatherFacts(
        // The AWS composition loads only for --config.
        (await import('../../compose/remote.ts')).composeRemote(options.cluster, {
          ...options.remote,
          skipDns: true,
        }),
        undefined,
      )
    : await gatherDoctorFacts(
        await readDescriptor(
          options.root ? descriptorPath(options.cluster, options.root) : descriptorPath(options.cluster),
        ),
      );
  const checks = doctorChecks(facts);
  if (options.json) io.out(`${JSON.stringify(checks, null, 2)}\n`);
  else {
    for (const c of checks)
      io.err(
        `${c.level.toUpperCase().padEnd(4)}  ${c.check}${c.fix ? `\n      ${c.level === 'skip' ? 'by hand' : 'fix'}: ${c.fix}` : ''}`,
      );
  }
  return checks.some((c) => c.level === 'fail') ? 1 : 0;
}

/** `ha-redis maintenance pause|resume|status`: a local cluster's maintenance mode, in its state store. */
import { composeLocal } from '../../compose/local.ts';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import type { MaintenanceMode } from '../../core/model/records.ts';
import type { StateStore } from '../../core/ports.ts';
import { formatMaintenanceMode, type Io, processIo, silentLogger } from './status.ts';

/** The state store methods the maintenance commands use. */
export type MaintenanceModeStore = Pick<StateStore, 'maintenanceMode' | 'setMaintenanceMode'>;

export interface SetModeOptions {
  cluster: string;
  pause: boolean;
  reason?: string;
  /** Who: `cli:<user>`. */
  by: string;
  now: number;
}

/** `maintenance pause|resume`: pause or resume, through the store; prints the new mode. Returns the exit code. */
export async function pauseOrResumeMaintenance(
  store: MaintenanceModeStore,
  options: SetModeOptions,
  io: Io = processIo,
): Promise<number> {
  const mode: MaintenanceMode = {
    paused: options.pause,
    by: options.by,
    at: options.now,
    reason: options.reason ?? '',
  };
  await store.setMaintenanceMode(options.cluster, mode);
  io.err(
    options.pause
      ? `maintenance of ${options.cluster} paused: scheduled maintenance runs are skipped; the automatic failover reaction keeps running`
      : `maintenance of ${options.cluster} resumed: scheduled maintenance runs go ahead`,
  );
  return 0;
}

/** Print the mode (a line, or JSON on stdout). Returns the exit code. */
export async function showMaintenanceMode(
  store: MaintenanceModeStore,
  options: { cluster: string; json?: boolean },
  io: Io = processIo,
): Promise<number> {
  const mode = await store.maintenanceMode(options.cluster);
  if (options.json) {
    io.out(
      `${JSON.stringify({ cluster: options.cluster, paused: mode?.paused ?? false, mode: mode ?? null }, null, 2)}\n`,
    );
  } else {
    io.err(`maintenance of ${options.cluster}: ${formatMaintenanceMode(mode)}`);
  }
  return 0;
}

/** Run `work` against a local cluster's state store (from its descriptor), closing the clients afterwards. */
export async function withLocalStateStore<T>(
  cluster: string,
  work: (store: MaintenanceModeStore) => Promise<T>,
  root?: string,
): Promise<T> {
  const d = await readDescriptor(root ? descriptorPath(cluster, root) : descriptorPath(cluster));
  const runtime = composeLocal(d, silentLogger);
  try {
    return await work(runtime.deps.state);
  } finally {
    await runtime.close();
  }
}

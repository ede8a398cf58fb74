/**
 * Bundle the Sentinel event bridge (`events/bridge/main.ts` and its dependencies) into one ES module that runs
 * with a bare `node` on a Sentinel host: what install-bridge installs, and what the stack ships as an S3 asset.
 * Run: `node events/bridge/bundle.ts OUTFILE`.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bundleCommand,
  bundleForHost,
  bundleForHostSync,
  HOST_NODE_TARGET,
  type HostBundle,
} from '../host-bundle.ts';

/** The bridge's entry point. */
export const BRIDGE_ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));
/** The oldest Node.js the bundle targets; install-bridge refuses older hosts. */
export const BRIDGE_NODE_TARGET = HOST_NODE_TARGET;

/** Bundle the bridge into `outfile` (conventionally `bridge.mjs`); returns its absolute path and size. */
export const bundleBridge = (outfile: string): Promise<HostBundle> => bundleForHost(BRIDGE_ENTRY, outfile);

/** The same, synchronously: for a CDK construct, which cannot await (e.g. before `new s3assets.Asset`). */
export const bundleBridgeSync = (outfile: string): HostBundle => bundleForHostSync(BRIDGE_ENTRY, outfile);

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCommand('events/bridge/bundle.ts', BRIDGE_ENTRY, 'the bridge');
}

/**
 * Bundle the node agent (`events/agent/main.ts` and its dependencies) into one ES module that runs with a bare
 * `node` on a Redis host: what install-agent installs, and what the stack ships as an S3 asset beside the bridge.
 * Run: `node events/agent/bundle.ts OUTFILE`.
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

/** The agent's entry point. */
export const AGENT_ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));
/** The oldest Node.js the bundle targets; install-agent refuses older hosts. */
export const AGENT_NODE_TARGET = HOST_NODE_TARGET;

/** Bundle the agent into `outfile` (conventionally `agent.mjs`); returns its absolute path and size. */
export const bundleAgent = (outfile: string): Promise<HostBundle> => bundleForHost(AGENT_ENTRY, outfile);

/** The same, synchronously: for a CDK construct, which cannot await (e.g. before `new s3assets.Asset`). */
export const bundleAgentSync = (outfile: string): HostBundle => bundleForHostSync(AGENT_ENTRY, outfile);

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCommand('events/agent/bundle.ts', AGENT_ENTRY, 'the agent');
}

/**
 * One ES module that runs with a bare `node` on a host (no node_modules beside it): how the Sentinel event bridge
 * (bridge/bundle.ts) and the node agent (agent/bundle.ts) are built, for their install documents and the stack's
 * S3 assets.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type BuildOptions, build, buildSync } from 'esbuild';

/** The oldest Node.js a host bundle targets; install-bridge and install-agent refuse older hosts. */
export const HOST_NODE_TARGET = 'node22';

// Dependencies written as CommonJS call `require`, which an ES module does not define.
const REQUIRE_SHIM =
  "import { createRequire as __haRedisCreateRequire } from 'node:module';\nconst require = __haRedisCreateRequire(import.meta.url);";

/** The esbuild options of a host bundle of `entry` written to `outfile`. */
export const hostBundleOptions = (entry: string, outfile: string): BuildOptions => ({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: HOST_NODE_TARGET,
  banner: { js: REQUIRE_SHIM },
  minify: true,
  legalComments: 'eof',
  logLevel: 'silent',
});

/** What a bundle build wrote. */
export interface HostBundle {
  /** Its absolute path. */
  outfile: string;
  bytes: number;
}

/** Bundle `entry` into `outfile`. */
export async function bundleForHost(entry: string, outfile: string): Promise<HostBundle> {
  const path = resolve(outfile);
  await build(hostBundleOptions(entry, path));
  return { outfile: path, bytes: statSync(path).size };
}

/** The same, synchronously: for a CDK construct, which cannot await (e.g. before `new s3assets.Asset`). */
export function bundleForHostSync(entry: string, outfile: string): HostBundle {
  const path = resolve(outfile);
  buildSync(hostBundleOptions(entry, path));
  return { outfile: path, bytes: statSync(path).size };
}

/** The command line of a bundle script: `node <script> OUTFILE` bundles `entry`; `what` names it in messages. */
export async function bundleCommand(script: string, entry: string, what: string): Promise<void> {
  const outfile = process.argv[2];
  if (!outfile) {
    process.stderr.write(`usage: node ${script} OUTFILE\n`);
    process.exit(2);
  }
  const { outfile: written, bytes } = await bundleForHost(entry, outfile);
  process.stderr.write(`bundled ${what}: ${written} (${bytes} bytes)\n`);
}

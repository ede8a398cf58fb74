/**
 * Bundle the Sentinel event bridge (`events/bridge/main.ts` and its dependencies) into one ES module that runs
 * with a bare `node` on a Sentinel host: what install-bridge installs, and what the stack ships as an S3 asset.
 * Run: `node events/bridge/bundle.ts OUTFILE`.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, buildSync } from 'esbuild';

/** The bridge's entry point. */
export const BRIDGE_ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));
/** The oldest Node.js the bundle targets; install-bridge refuses older hosts. */
export const BRIDGE_NODE_TARGET = 'node22';

// Dependencies written as CommonJS call `require`, which an ES module does not define.
const REQUIRE_SHIM =
  "import { createRequire as __haRedisCreateRequire } from 'node:module';\nconst require = __haRedisCreateRequire(import.meta.url);";

const buildOptions = (outfile: string): BuildOptions => ({
  entryPoints: [BRIDGE_ENTRY],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: BRIDGE_NODE_TARGET,
  banner: { js: REQUIRE_SHIM },
  minify: true,
  legalComments: 'eof',
  logLevel: 'silent',
});

/** Bundle the bridge into `outfile` (conventionally `bridge.mjs`); returns its absolute path and size. */
export async function bundleBridge(outfile: string): Promise<{ outfile: string; bytes: number }> {
  const path = resolve(outfile);
  await build(buildOptions(path));
  return { outfile: path, bytes: statSync(path).size };
}

/** The same, synchronously: for a CDK construct, which cannot await (e.g. before `new s3assets.Asset`). */
export function bundleBridgeSync(outfile: string): { outfile: string; bytes: number } {
  const path = resolve(outfile);
  buildSync(buildOptions(path));
  return { outfile: path, bytes: statSync(path).size };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outfile = process.argv[2];
  if (!outfile) {
    process.stderr.write('usage: node events/bridge/bundle.ts OUTFILE\n');
    process.exit(2);
  }
  const { outfile: written, bytes } = await bundleBridge(outfile);
  process.stderr.write(`bundled the bridge: ${written} (${bytes} bytes)\n`);
}

#!/usr/bin/env node
// The `ha-redis` executable (package.json "bin"): checks the Node version, turns on Node's compile cache, and
// loads the TypeScript entry. With the cache, a later start reuses the stripped and compiled modules instead
// of loading the TypeScript stripper again: `ha-redis --help` then costs about what a bare `node` does.
import module from 'node:module';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `ha-redis: needs Node 22.18 or newer to run TypeScript (the project targets Node 24), but this is ${process.version}; ` +
      '`npm ci` installs Node 24 into node_modules/.bin (run it as `npx ha-redis`), or run `make setup`\n',
  );
  process.exit(2);
}
// Best effort: a cache directory that cannot be written only costs speed (NODE_DISABLE_COMPILE_CACHE=1 turns it off).
module.enableCompileCache?.();
await import('../cli/ha-redis.ts');

/**
 * The layer rules of ha-redis (README, "House map"), checked by `make lint` and so by `make test`.
 * core/ is the pure domain; adapters/ implement its ports; functions/ hold Lambda factories and thin entries
 * (lambda.ts); compose/ wires adapters into factories; local/, cli/, infra/, bench/ and test/ sit on top.
 */
const TOP = '^(functions|compose|local|cli|infra|bench|test)/';
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'An import cycle: split the shared part out, or invert the dependency.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-is-pure',
      severity: 'error',
      comment:
        'The core imports only itself and pure libraries (zod): no layer above it, no AWS SDK, no ioredis.',
      from: { path: '^core/' },
      to: { pathNot: ['^core/', '^node_modules/zod/'] },
    },
    {
      name: 'adapters-below-functions',
      severity: 'error',
      comment: 'Adapters implement ports; they never reach up into handlers, composition roots or runtimes.',
      from: { path: '^adapters/' },
      to: { path: TOP },
    },
    {
      name: 'events-below-functions',
      severity: 'error',
      comment: 'The event contract and the bridge stand on the core and adapters only.',
      from: { path: '^events/' },
      to: { path: TOP },
    },
    {
      name: 'only-entries-compose',
      severity: 'error',
      comment:
        'A Lambda folder holds a factory and a thin entry (lambda.ts); only the entry wires a composition root.',
      from: { path: '^functions/', pathNot: '/lambda\\.ts$' },
      to: { path: '^(compose|local|cli|infra|bench|test)/' },
    },
    {
      name: 'entries-are-leaves',
      severity: 'error',
      comment: 'Nothing imports a Lambda entry: composition roots and runtimes import factories.',
      from: {},
      to: { path: '^functions/[^/]+/lambda\\.ts$' },
    },
    {
      name: 'compose-below-runtimes',
      severity: 'error',
      comment:
        'Composition roots wire adapters into factories; the runtimes (local/, cli/) use them, not the reverse.',
      from: { path: '^compose/' },
      to: { path: '^(local|cli|infra|bench|test)/' },
    },
    {
      name: 'vega-only-in-charts',
      severity: 'error',
      comment:
        'vega and vega-lite draw the pictures in adapters/charts/ only (types may be imported anywhere): they stay out of the core, the Lambda bundles and the CLI start-up.',
      from: { pathNot: '^adapters/charts/' },
      to: { path: '^node_modules/(vega|vega-lite)/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    // A worktree may link node_modules to another checkout's: keep its paths under node_modules/ for the rules.
    preserveSymlinks: true,
    combinedDependencies: false,
    exclude: { path: '^(cdk\\.out|\\.ha-redis)/' },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};

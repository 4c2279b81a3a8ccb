// Mutation testing of the pure domain modules (StrykerJS + its jest runner). One module at a
// time (MUTATION_MODULE=orders|routing|gateway|recon-match|recon-format|recon-fast|payouts|
// ledger|splits, or MUTATE=<files> for an ad-hoc set): each
// module's mutants run only against that module's own unit tests, which is both what the
// score should measure (the unit tests, not an integration test that happens to pass through)
// and what keeps a run to minutes on a 2-core machine. `make mutation` runs every module;
// test/mutation/run.sh decides what `make test` runs. Surviving mutants judged equivalent are
// listed with the reason in test/mutation/equivalent.md.

const modules = {
  orders: {
    mutate: ['core/orders/decide.ts', 'core/orders/evolve.ts'],
    tests: ['core/orders/decide*.test.ts', 'core/orders/evolve*.test.ts'],
  },
  routing: {
    mutate: ['core/routing/eligibility.ts', 'core/routing/scoring.ts', 'core/routing/fees.ts', 'core/routing/windows.ts'],
    tests: ['core/routing/eligibility.test.ts', 'core/routing/scoring.test.ts', 'core/routing/fees.test.ts', 'core/routing/windows.test.ts'],
  },
  gateway: {
    mutate: ['core/gateway/validate.ts'],
    tests: ['core/gateway/validate*.test.ts'],
  },
  // Reconciliation, one file at a time (each minutes at concurrency 1; the three together
  // against every recon test were estimated at hours): the matcher and classifier (match.ts),
  // the row formats (format.ts) and the fast path over bytes (fast.ts), all pure (no I/O, no
  // clock; parallel.ts, run.ts and store.ts are not). Each against the pure unit tests of its
  // own file only: fast.test.ts's generated shards cover every line of format.ts and match.ts
  // too, and re-running them for each of those mutants is what made the run hours long.
  'recon-match': {
    mutate: ['core/recon/match.ts'],
    tests: ['core/recon/match*.test.ts'],
  },
  'recon-format': {
    mutate: ['core/recon/format.ts'],
    tests: ['core/recon/format*.test.ts'],
  },
  'recon-fast': {
    mutate: ['core/recon/fast.ts'],
    tests: ['core/recon/fast*.test.ts'],
  },
  payouts: {
    mutate: ['core/payouts/decide.ts', 'core/payouts/evolve.ts'],
    tests: ['core/payouts/decide*.test.ts'],
  },
  // Splits (分账): the state machine, and the shares split rules give and what a refund takes
  // back from them (shares.ts); the actor, its store and the books are not pure.
  splits: {
    mutate: ['core/splits/decide.ts', 'core/splits/shares.ts'],
    tests: ['core/splits/decide.test.ts', 'core/splits/shares.test.ts'],
  },
  // The posting rules (events -> balanced postings); the store and projection are not pure.
  // The posting table and the chart are module-level constants: their mutants are static
  // (every test re-runs per mutant), measured here because the table is the rules — the
  // module's tests take seconds, so this costs minutes, not hours.
  ledger: {
    mutate: ['core/ledger/rules.ts'],
    tests: ['core/ledger/rules*.test.ts'],
    ignoreStatic: false,
  },
};

const name = process.env.MUTATION_MODULE ?? 'orders';
const chosen = modules[name];
if (chosen === undefined) throw new Error(`MUTATION_MODULE=${name}: expected one of ${Object.keys(modules).join(', ')}`);
const mutate = process.env.MUTATE ? process.env.MUTATE.split(',') : chosen.mutate;
// MUTATION_TESTS=<globs>: another set of test files (e.g. to measure a score before new tests).
const tests = process.env.MUTATION_TESTS ? process.env.MUTATION_TESTS.split(',') : chosen.tests;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  coverageAnalysis: 'perTest',
  // The machine is shared: two test processes at most.
  concurrency: 2,
  mutate,
  jest: {
    projectType: 'custom',
    configFile: 'jest.config.js',
    enableFindRelatedTests: false,
    config: {
      testMatch: tests.map((glob) => `<rootDir>/${glob}`),
      reporters: ['default'],
      maxWorkers: 1,
    },
  },
  // Only what the unit tests load is copied into the sandbox (not dist/, bench/, testing/, ops/ ...).
  ignorePatterns: ['dist', 'bench', 'testing', 'ops', '.dev', 'test', 'reports', '!test/mutation'],
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  // Static mutants (module-level constants) need every test re-run per mutant: excluded to
  // keep a module to minutes (the constants they touch are mostly bounds named in
  // core/constants.ts), except in a module that says otherwise (ledger: its posting table).
  ignoreStatic: chosen.ignoreStatic ?? true,
  // Re-runs reuse the previous result of unchanged code and tests (reports/, git-ignored).
  // Not in a module that measures its static mutants (ledger): Stryker records no covering
  // test for a static mutant, so its incremental diff never sees a test added since — a
  // static mutant that once survived stayed "survived" in every later run, killed or not
  // (the chart's normal sides and the default book settings, which rules-table.test.ts
  // kills). Such a module is re-run whole: its tests take seconds.
  incremental: (chosen.ignoreStatic ?? true) && process.env.MUTATION_INCREMENTAL !== '0',
  incrementalFile: `reports/mutation/${name}-incremental.json`,
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  thresholds: { high: 90, low: 85, break: Number(process.env.MUTATION_BREAK ?? 85) },
  // Generous: on a loaded machine a slow run must not pass for a mutant's endless loop.
  timeoutMS: 30000,
  // Stryker rewrites tsconfig.json's relative paths through the TypeScript compiler API, which
  // TypeScript 7 (the native compiler) no longer has; tests run through swc and never read
  // tsconfig.json, so naming no file here skips that step.
  tsconfigFile: 'no-tsconfig-in-the-sandbox.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};

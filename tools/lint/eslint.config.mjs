// paycore's lint rules (docs/style.md, "Rules a machine checks"; the layers are
// docs/architecture.md, "Layers", their table layers.mjs here). The root eslint.config.mjs
// re-exports this file, which lives here so that its packages resolve from
// tools/lint/node_modules (see package.json there).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { layers } from './layers.mjs';

// import-x/no-restricted-paths wants a zone's paths all globs or none: a plain file name becomes
// a one-file glob ('workers/main.ts' -> 'workers/main.t[s]').
const glob = (path) => (/[*?[{!(]/.test(path) ? path : path.replace(/s$/, '[s]'));
const globs = (paths) => paths.map(glob);

const layer_zones = layers.flatMap((layer, index) =>
  layers.slice(0, index).map((above) => ({
    target: globs(layer.files),
    from: globs(above.files),
    message: `the ${layer.name} layer may not import from the ${above.name} layer above it (docs/architecture.md, "Layers")`,
  })),
);

const providers = ['wechatpay', 'alipay', 'unionpay', 'bankgw'];
const boundary_zones = [
  // What ships (tsconfig.build.json) never reaches the test kit or the benchmarks.
  {
    target: ['core/**', 'workers/**', 'channels/**', 'proto/gen/**'],
    from: ['testing/**', 'bench/**', 'test/**'],
    message: 'the product never imports the test kit, the benchmarks or the tests',
  },
  // A provider's adapter reaches the others only through the interface and channels/shared.
  ...providers.map((provider) => ({
    target: [`channels/${provider}/**`],
    from: providers.filter((other) => other !== provider).map((other) => `channels/${other}/**`),
    message: 'a provider never imports another provider; share through channels/shared',
  })),
  // The interface and the shared helpers are below every adapter.
  {
    target: ['channels/channel.ts', 'channels/shared/**'],
    from: ['channels/index.ts', ...providers.map((provider) => `channels/${provider}/**`)],
    message: 'channels/channel.ts and channels/shared are below the adapters',
  },
  // The sandbox PSP implements its side of each protocol from the providers' documentation,
  // never with the adapters' code (their crypto, conversions, GBK, names and rules): a mistake
  // made the same way on both sides would pass every test (issue 20). Its tests, and the
  // helpers they share (testkit.ts), drive the adapters against it and may import them.
  {
    target: ['testing/sandbox/!(testkit).ts', 'testing/sandbox/protocol/**'],
    from: ['channels/**'],
    message: 'the sandbox PSP never imports the adapters (channels/): write its side from the provider\'s documentation (testing/sandbox/protocol/)',
  },
  // Only the composition root picks adapters; the rest of core sees channels/channel.ts.
  {
    target: ['core/*.ts', 'core/*/**', 'workers/!(main|actor-host).ts'],
    from: providers.map((provider) => `channels/${provider}/**`),
    message: 'only the composition root imports a channel adapter; use channels/channel.ts',
  },
];

const test_files = ['**/*.test.ts', '**/*.fixture.ts', '**/fixtures.ts', '**/*.test-helper.ts', 'test/**'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'tools/lint/node_modules/**', 'proto/gen/**', 'bench/k6/**', 'reports/**', '.stryker-tmp/**'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: {
      // A leading underscore marks what a signature or a destructuring must name but does not use.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones: [...layer_zones, ...boundary_zones].map((zone) => ({ ...zone, target: globs(zone.target), from: globs(zone.from) })) }],
      'max-len': ['error', { code: 160, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 700, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // Tests and their fixtures may reach anything they test; a describe block is long by nature.
    files: test_files,
    // They load optional modules lazily (require) and read loosely typed JSON answers (any).
    rules: {
      'import-x/no-restricted-paths': 'off', 'max-lines-per-function': 'off', 'max-lines': 'off',
      '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);

// What ships holds no test kit. The production build (tsconfig.build.json) is compiled here the
// way the Dockerfile compiles it: in a temporary directory holding only what the Dockerfile's
// build stage copies (no testing/, bench/ or test/ at all, so a product file importing one of
// them fails the build). Then the output is checked: no sandbox, stack, dev, demo, client,
// fixture or benchmark file, every relative require resolves inside the output, and every
// package required is a production dependency (the image installs with npm ci --omit=dev).
import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..');

/** Names of compiled files that belong to the test kit, the benchmarks or the tests. */
const test_kit_file = /(^|\/)(testing|bench|test)\/|(^|\/)sandbox\/|(^|\/)(stack|deps|database|dev-setup|dev-certs|demo|client|auth-client|testkit)\.js$|\.fixture\.js$|(^|\/)fixtures\.js$|\.test-helper\.js$|\.test\.js$/;

interface Stage { from: string; copies: { sources: string[]; destination: string; from_stage?: string }[]; runs: string[] }

/** The Dockerfile's stages with their COPY and RUN instructions (one line each in this file). */
function dockerStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [instruction, ...rest] = line.split(/\s+/);
    switch (instruction.toUpperCase()) {
      case 'FROM': stages.push({ from: rest.join(' '), copies: [], runs: [] }); break;
      case 'COPY': {
        const from_flag = rest.find((word) => word.startsWith('--from='));
        const paths = rest.filter((word) => !word.startsWith('--'));
        stages.at(-1)!.copies.push({ sources: paths.slice(0, -1), destination: paths.at(-1)!, from_stage: from_flag?.slice('--from='.length) });
        break;
      }
      case 'RUN': stages.at(-1)!.runs.push(rest.join(' ')); break;
    }
  }
  return stages;
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => entry.isDirectory()
    ? filesUnder(path.join(dir, entry.name), `${prefix}${entry.name}/`)
    : [`${prefix}${entry.name}`]);
}

const stages = dockerStages(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
const [build_stage, runtime_stage] = stages;
let work: string;
let output: string;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'paycore-production-build-'));
  // The build stage's context, exactly: what it copies from the repository, and the packages.
  for (const copy of build_stage.copies) {
    for (const source of copy.sources) cpSync(path.join(root, source), path.join(work, copy.destination.endsWith('/') || copy.sources.length > 1 ? path.join(copy.destination, path.basename(source)) : copy.destination), { recursive: true });
  }
  symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'), 'dir');
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: work, stdio: 'pipe' });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`the production build failed with only the Dockerfile's sources:\n${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`, { cause: error });
  }
  output = path.join(work, 'dist');
}, 300_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

test('production build - the Dockerfile has a build stage and a runtime stage on node:20-slim, the runtime installs without devDependencies', () => {
  expect(stages.map((stage) => stage.from)).toEqual(['node:20-slim AS build', 'node:20-slim']);
  expect(build_stage.runs).toContain('npx tsc -p tsconfig.build.json');
  expect(runtime_stage.runs.some((run) => run.startsWith('npm ci --omit=dev'))).toBe(true);
});

test('production build - the image copies no test kit, benchmark or test source, and the runtime stage only the build output and run-time files', () => {
  const build_sources = build_stage.copies.flatMap((copy) => copy.sources);
  for (const source of build_sources) {
    expect(source).not.toMatch(/^(testing|bench|test|scripts)(\/|$)|sandbox/);
    expect(existsSync(path.join(root, source))).toBe(true);
  }
  // The runtime stage takes the compiled output and the files read at run time from the build stage.
  for (const copy of runtime_stage.copies) {
    if (copy.from_stage === undefined) expect(copy.sources).toEqual(['package.json', 'package-lock.json']);
    else expect(copy.sources.every((source) => /^\/app\/(dist|proto\/[a-z]+|core\/(ledger|recon)\/migrations)$/.test(source))).toBe(true);
  }
  // What paycore reads beside dist/ at run time is there.
  const runtime_sources = runtime_stage.copies.flatMap((copy) => copy.sources);
  expect(runtime_sources).toEqual(expect.arrayContaining(['/app/dist', '/app/proto/paycore', '/app/proto/google', '/app/core/ledger/migrations', '/app/core/recon/migrations']));
});

test('production build - compiles without the test kit and holds none of it', () => {
  const files = filesUnder(output);
  // The product is there: the entry points the image and its deployments run.
  expect(files).toEqual(expect.arrayContaining(['workers/main.js', 'workers/root/gateway.js', 'workers/root/actor-host.js', 'workers/actor-host.js', 'workers/timer-pump.js', 'core/cli/ledger-projection.js', 'channels/index.js']));
  expect(files.filter((file) => test_kit_file.test(file))).toEqual([]);
  expect(files.filter((file) => file.startsWith('channels/sandbox') || file.startsWith('testing') || file.startsWith('bench'))).toEqual([]);
});

test('production build - nothing in it requires a file outside it, the test kit, or a package that is not a production dependency', () => {
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const dependencies = new Set(Object.keys(manifest.dependencies));
  const builtins = new Set(builtinModules);
  const problems: string[] = [];
  for (const file of filesUnder(output).filter((name) => name.endsWith('.js'))) {
    const text = readFileSync(path.join(output, file), 'utf8');
    for (const match of text.matchAll(/\brequire\("([^"]+)"\)|\bimport\("([^"]+)"\)/g)) {
      const specifier = match[1] ?? match[2];
      if (specifier.startsWith('.')) {
        const target = path.resolve(path.dirname(path.join(output, file)), specifier);
        const relative = path.relative(output, target);
        const found = [target, `${target}.js`, path.join(target, 'index.js')].some((candidate) => existsSync(candidate));
        if (relative.startsWith('..') || !found || test_kit_file.test(`${relative}.js`)) problems.push(`${file}: ${specifier}`);
      } else {
        const name = specifier.startsWith('node:') ? specifier : specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
        if (!(name.startsWith('node:') || builtins.has(name) || dependencies.has(name))) problems.push(`${file}: ${specifier}`);
      }
    }
  }
  expect(problems).toEqual([]);
});

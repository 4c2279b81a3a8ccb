// The k6 scripts are not run here (k6 is not installed in CI); they are type-checked against
// @types/k6 so that a contract or API change that breaks them fails the suite.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');

function typecheck(project: string): { ok: boolean; output: string } {
  try {
    const output = execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true, output };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('k6 scripts - bench/k6 type-checks against @types/k6', () => {
  const result = typecheck('bench/k6/tsconfig.json');
  if (!result.ok) throw new Error(`tsc -p bench/k6/tsconfig.json failed:\n${result.output}`);
});

test('k6 scripts - the check fails on a type error (it really checks)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'paycore-k6-'));
  try {
    writeFileSync(path.join(dir, 'bad.ts'), "import grpc from 'k6/net/grpc';\nconst c = new grpc.Client();\nc.invoke(42, {});\n");
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ extends: path.join(root, 'bench/k6/tsconfig.json'), include: ['bad.ts'] }));
    const result = typecheck(path.join(dir, 'tsconfig.json'));
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/bad\.ts.*TS2345/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

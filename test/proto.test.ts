// The generated code under proto/gen must be what `make proto` makes from proto/ now.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..');

function files(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full, base) : [path.relative(base, full)];
  });
}

test('proto - proto/gen is up to date with proto/ (run make proto)', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'paycore-proto-'));
  try {
    const out = path.join(scratch, 'gen');
    execFileSync('bash', [path.join(root, 'scripts/gen-proto.sh'), '--check', out], { cwd: root, stdio: 'pipe' });
    const committed = path.join(root, 'proto/gen');
    expect(files(out).sort()).toEqual(files(committed).sort());
    for (const file of files(out)) {
      expect({ file, text: readFileSync(path.join(out, file), 'utf8') }).toEqual({ file, text: readFileSync(path.join(committed, file), 'utf8') });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

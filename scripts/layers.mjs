// The layer graph of paycore's modules (docs/architecture.md §10), from madge's JSON:
//   tools/lint/node_modules/.bin/madge --json --extensions ts core workers channels | node scripts/layers.mjs
// Prints which layer imports which (files counted) and every import that points upward. The
// layers are tools/lint/layers.mjs, the table make lint enforces; `make graph` runs this.
// Tests and fixtures are left out: they may reach anything they test.

import { readFileSync } from 'node:fs';
import { layerOf, layers } from '../tools/lint/layers.mjs';

const graph = JSON.parse(readFileSync(0, 'utf8'));
const counts = new Map();
const upward = [];
for (const [file, deps] of Object.entries(graph)) {
  if (/\.(test|fixture|test-helper)\.ts$/.test(file)) continue;
  const from = layerOf(file);
  if (from === -1) continue;
  for (const dep of deps) {
    const to = layerOf(dep);
    if (to === -1) continue;
    const key = `${layers[from].name} -> ${layers[to].name}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (to < from) upward.push(`${file} -> ${dep}`);
  }
}
console.log(`layers (top to bottom): ${layers.map((layer) => layer.name).join(' > ')}`);
for (const [key, n] of [...counts].sort()) console.log(`  ${key}: ${n}`);
console.log(`upward imports: ${upward.length}`);
for (const edge of upward.sort()) console.log(`  ${edge}`);

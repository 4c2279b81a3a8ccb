// The layer graph of paycore's modules (docs/architecture.md §10), from madge's JSON:
//   npx --yes madge@8 --json --extensions ts core workers channels | node scripts/layers.mjs
// Prints which layer imports which (files counted) and every import that points upward.
// The same table as tools/lint/eslint.config.mjs, which make lint enforces; `make graph` runs this.
// Tests and fixtures are left out: they may reach anything they test.

import { readFileSync } from 'node:fs';

const layers = [
  ['entry', ['workers/main.ts', 'workers/actor-host.ts', 'workers/root/']],
  ['gateway/workers', ['core/gateway/', 'core/auth/', 'core/cli/', 'workers/']],
  ['orders', ['core/orders/', 'core/payouts/', 'core/ledger/', 'core/cards/', 'core/recon/']],
  ['routing/notify', ['core/routing/', 'core/merchants/', 'core/notify/', 'core/risk/']],
  ['events', ['core/events/']],
  ['channels', ['channels/']],
  ['shared', ['core/', 'proto/']],
];

function layerOf(file) {
  const index = layers.findIndex(([, prefixes]) => prefixes.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p)));
  return index === -1 ? undefined : index;
}

const graph = JSON.parse(readFileSync(0, 'utf8'));
const counts = new Map();
const upward = [];
for (const [file, deps] of Object.entries(graph)) {
  if (/\.(test|fixture|test-helper)\.ts$/.test(file)) continue;
  const from = layerOf(file);
  if (from === undefined) continue;
  for (const dep of deps) {
    const to = layerOf(dep);
    if (to === undefined) continue;
    const key = `${layers[from][0]} -> ${layers[to][0]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (to < from) upward.push(`${file} -> ${dep}`);
  }
}
console.log(`layers (top to bottom): ${layers.map(([name]) => name).join(' > ')}`);
for (const [key, n] of [...counts].sort()) console.log(`  ${key}: ${n}`);
console.log(`upward imports: ${upward.length}`);
for (const edge of upward.sort()) console.log(`  ${edge}`);

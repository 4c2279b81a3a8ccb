// paycore's layers (docs/architecture.md, "Layers and wiring"), top to bottom: an import points
// down or within its layer, never up. The one table: ESLint enforces it (eslint.config.mjs here)
// and `make graph` prints the module graph by it (scripts/layers.mjs). Globs are from the
// repository root; the first layer that matches a file owns it.
import { minimatch } from 'minimatch';

export const layers = [
  { name: 'entry (composition root)', files: ['workers/main.ts', 'workers/actor-host.ts', 'workers/root/**'] },
  { name: 'gateway/workers', files: ['core/gateway/**', 'core/auth/**', 'core/cli/**', 'workers/!(main|actor-host).ts'] },
  { name: 'orders', files: ['core/orders/**', 'core/payouts/**', 'core/splits/**', 'core/ledger/**', 'core/cards/**', 'core/recon/**'] },
  { name: 'routing/notify', files: ['core/routing/**', 'core/merchants/**', 'core/notify/**', 'core/risk/**'] },
  { name: 'events', files: ['core/events/**'] },
  { name: 'channels', files: ['channels/**'] },
  { name: 'shared', files: ['core/*.ts', 'proto/gen/**'] },
];

/** The index in `layers` of the layer that owns `file` (a path from the repository root), or -1. */
export function layerOf(file) {
  return layers.findIndex((layer) => layer.files.some((glob) => minimatch(file, glob)));
}

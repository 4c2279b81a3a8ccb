// Exact percentiles: every latency is kept (a step is at most a few hundred thousand numbers)
// and sorted once, so there is no histogram bucketing error to explain.

import type { LatencySummary } from './protocol';

/** Merges per-process latency arrays into one sorted array. */
export function mergeSorted(parts: readonly Float64Array[]): Float64Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const all = new Float64Array(length);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all.sort();
}

/** Nearest-rank percentile of a sorted array (p in 0..100); 0 for an empty one. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(sorted: Float64Array): LatencySummary {
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    count: sorted.length,
    p50_ms: round(percentile(sorted, 50)),
    p95_ms: round(percentile(sorted, 95)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted.length === 0 ? 0 : sorted[sorted.length - 1]!),
    mean_ms: round(sorted.length === 0 ? 0 : sum / sorted.length),
  };
}

export function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

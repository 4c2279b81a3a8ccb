import fc from 'fast-check';
import { addDays, matchRows } from './match';
import { case_arbitrary, caseOf, day, matched_of, pool_days, row } from './recon.fixture';
import type { MatchResult, ReconRow } from './types';

function differencesOf(result: MatchResult): string[] {
  return result.differences.map((d) => `${d.group}|${d.class}|${d.kind}`).sort();
}

describe('recon - matcher', () => {
  test('recon - every injected difference is reported with its class, and nothing else', () => {
    fc.assert(
      fc.property(fc.array(case_arbitrary, { maxLength: 40 }), fc.integer(), (specs, seed) => {
        const cases = specs.map((spec, index) => caseOf(`g${index}`, spec.injection, spec.amount_minor, spec.fee_minor, spec.delta, spec.age_days));
        const rows = shuffle(cases.flatMap((c) => c.rows), seed);
        const result = matchRows(rows, { day, pool_days });
        const expected = cases.flatMap((c, index) => (typeof c.expected === 'object' ? [`g${index}|${c.expected.class}|${c.expected.kind}`] : [])).sort();
        expect(differencesOf(result)).toEqual(expected);
        const pooled = cases.flatMap((c, index) => (c.expected === 'pooled' ? [`g${index}`] : [])).sort();
        expect(result.pool.map((r) => r.group).sort()).toEqual(pooled);
        expect(result.totals.matched_count).toBe(specs.reduce((n, spec) => n + (matched_of[spec.injection] ?? 0), 0));
        expect(result.totals.channel_rows + result.totals.ours_rows).toBe(rows.length);
      }),
      { numRuns: 300 },
    );
  });

  test('recon - matching shard by shard (split by group) gives what matching all at once gives', () => {
    fc.assert(
      fc.property(fc.array(case_arbitrary, { maxLength: 30 }), fc.integer({ min: 1, max: 5 }), (specs, shards) => {
        const rows = specs.flatMap((spec, index) => caseOf(`g${index}`, spec.injection, spec.amount_minor, spec.fee_minor, spec.delta, spec.age_days).rows);
        const whole = matchRows(rows, { day, pool_days });
        const parts = Array.from({ length: shards }, (_, shard) =>
          matchRows(
            rows.filter((r) => Number(r.group.slice(1)) % shards === shard),
            { day, pool_days },
          ),
        );
        expect(parts.flatMap(differencesOf).sort()).toEqual(differencesOf(whole));
        expect(parts.reduce((n, p) => n + p.totals.matched_count, 0)).toBe(whole.totals.matched_count);
        expect(parts.reduce((n, p) => n + p.totals.matched_channel_minor, 0n)).toBe(whole.totals.matched_channel_minor);
      }),
    );
  });

  test('recon - a row shifted past the cut-off waits in the pool, then matches the next day', () => {
    const ours = row({ side: 'O', group: 'a1' });
    const first = matchRows([ours], { day, pool_days });
    expect(first.differences).toEqual([]);
    expect(first.pool).toEqual([ours]);
    const next = matchRows([...first.pool, row({ side: 'C', group: 'a1', date: addDays(day, 1) })], { day: addDays(day, 1), pool_days });
    expect(next.differences.map((d) => d.class)).toEqual(['CUTOFF_SHIFT']);
    expect(next.pool).toEqual([]);
  });

  test('recon - an unmatched row becomes 短款 on the day it is pool_days old, not before', () => {
    let pool: ReconRow[] = [row({ side: 'O', group: 'a1' })];
    for (let age = 0; age < pool_days; age++) {
      const result = matchRows(pool, { day: addDays(day, age), pool_days });
      expect(result.differences).toEqual([]);
      pool = result.pool;
    }
    const result = matchRows(pool, { day: addDays(day, pool_days), pool_days });
    expect(result.differences.map((d) => d.class)).toEqual(['OURS_ONLY']);
    expect(result.pool).toEqual([]);
  });

  test('recon - matched totals add both sides in minor units', () => {
    const result = matchRows([row({ side: 'C', group: 'a', amount_minor: 250n }), row({ side: 'O', group: 'a', amount_minor: 250n }), row({ side: 'C', group: 'b', amount_minor: 7n }), row({ side: 'O', group: 'b', amount_minor: 7n })], { day, pool_days });
    expect(result.totals).toEqual({ matched_count: 2, matched_channel_minor: 257n, matched_ours_minor: 257n, channel_rows: 2, ours_rows: 2 });
  });

  test('recon - a currency that differs is an amount mismatch', () => {
    const result = matchRows([row({ side: 'C', group: 'a', currency: 'USD' }), row({ side: 'O', group: 'a' })], { day, pool_days });
    expect(result.differences.map((d) => d.class)).toEqual(['AMOUNT_MISMATCH']);
  });
});

function shuffle<T>(items: T[], seed: number): T[] {
  const copy = [...items];
  let state = seed >>> 0;
  for (let index = copy.length - 1; index > 0; index--) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    const other = state % (index + 1);
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

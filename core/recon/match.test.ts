import fc from 'fast-check';
import { addDays, matchRows } from './match';
import type { DifferenceClass, MatchResult, ReconRow } from './types';

const day = '2026-11-20';
const pool_days = 3;

const row = (fields: Partial<ReconRow> & Pick<ReconRow, 'side' | 'group'>): ReconRow => ({
  kind: 'payment', ref: fields.group, trade_no: `T${fields.group}`, amount_minor: 100n, fee_minor: 1n, currency: 'CNY', status: 'S', date: day, ...fields,
});

/** One order's rows on both sides, with the difference injected into it (if any) and what the
 * matcher must say about it. */
interface Case {
  rows: ReconRow[];
  expected: { class: DifferenceClass; kind: ReconRow['kind'] } | 'matched' | 'pooled' | 'nothing';
}

type Injection =
  | 'clean' | 'channel_only' | 'ours_only' | 'channel_only_young' | 'ours_only_young' | 'amount' | 'fee' | 'status'
  | 'shift' | 'shift_back' | 'twice' | 'twice_known' | 'unpaid' | 'combined' | 'combined_short' | 'refunds_merged' | 'refund_amount' | 'refund_missing';

const injections: Injection[] = [
  'clean', 'channel_only', 'ours_only', 'channel_only_young', 'ours_only_young', 'amount', 'fee', 'status',
  'shift', 'shift_back', 'twice', 'twice_known', 'unpaid', 'combined', 'combined_short', 'refunds_merged', 'refund_amount', 'refund_missing',
];

/** Pairs or groups each case matches cleanly besides its difference. */
const matched_of: Partial<Record<Injection, number>> = { clean: 1, twice: 1, twice_known: 2, combined: 1, refunds_merged: 2, refund_amount: 1, refund_missing: 1 };

function caseOf(group: string, injection: Injection, amount_minor: bigint, fee_minor: bigint, delta: bigint, age_days: number): Case {
  const channel = row({ side: 'C', group, amount_minor, fee_minor });
  const ours = row({ side: 'O', group, amount_minor, fee_minor });
  const old = addDays(day, -(pool_days + age_days));
  const young = addDays(day, -Math.min(age_days, pool_days - 1));
  switch (injection) {
    case 'clean': return { rows: [channel, ours], expected: 'matched' };
    case 'channel_only': return { rows: [{ ...channel, date: old }], expected: { class: 'CHANNEL_ONLY', kind: 'payment' } };
    case 'ours_only': return { rows: [{ ...ours, date: old }], expected: { class: 'OURS_ONLY', kind: 'payment' } };
    case 'channel_only_young': return { rows: [{ ...channel, date: young }], expected: 'pooled' };
    case 'ours_only_young': return { rows: [{ ...ours, date: young }], expected: 'pooled' };
    case 'amount': return { rows: [{ ...channel, amount_minor: amount_minor + delta }, ours], expected: { class: 'AMOUNT_MISMATCH', kind: 'payment' } };
    case 'fee': return { rows: [{ ...channel, fee_minor: fee_minor + delta }, ours], expected: { class: 'FEE_MISMATCH', kind: 'payment' } };
    case 'status': return { rows: [channel, { ...ours, status: 'F', trade_no: '' }], expected: { class: 'STATUS_MISMATCH', kind: 'payment' } };
    case 'shift': return { rows: [channel, { ...ours, date: addDays(day, -1) }], expected: { class: 'CUTOFF_SHIFT', kind: 'payment' } };
    case 'shift_back': return { rows: [{ ...channel, date: addDays(day, -1) }, ours], expected: { class: 'CUTOFF_SHIFT', kind: 'payment' } };
    case 'twice': return { rows: [channel, { ...channel, trade_no: `${channel.trade_no}b` }, ours], expected: { class: 'PAID_TWICE', kind: 'payment' } };
    // We saw the second payment ourselves (DuplicatePaymentDetected): nothing to report.
    case 'twice_known': return { rows: [channel, { ...channel, trade_no: `${channel.trade_no}b` }, ours, { ...ours, trade_no: `${channel.trade_no}b`, status: 'D' }], expected: 'matched' };
    // An attempt of ours that failed, which the channel never lists.
    case 'unpaid': return { rows: [{ ...ours, status: 'F', trade_no: '' }], expected: 'nothing' };
    case 'combined': {
      // One channel payment of a combined order; ours: its parts under the same trade number.
      const first = amount_minor / 3n;
      return {
        rows: [channel, { ...ours, ref: `${group}x`, amount_minor: first, fee_minor: undefined }, { ...ours, ref: `${group}y`, amount_minor: amount_minor - first, fee_minor: undefined }],
        expected: 'matched',
      };
    }
    case 'combined_short': {
      const first = amount_minor / 3n;
      return {
        rows: [channel, { ...ours, ref: `${group}x`, amount_minor: first }, { ...ours, ref: `${group}y`, amount_minor: amount_minor - first - delta }],
        expected: { class: 'AMOUNT_MISMATCH', kind: 'payment' },
      };
    }
    case 'refunds_merged':
    case 'refund_amount':
    case 'refund_missing': {
      // Two partial refunds of ours; the channel lists them as one row without our refund ids.
      const first = amount_minor / 2n;
      const refund = (ref: string, amount: bigint): ReconRow => ({ ...ours, kind: 'refund', ref, trade_no: '', amount_minor: amount, fee_minor: undefined });
      const listed = injection === 'refund_amount' ? amount_minor + delta : injection === 'refund_missing' ? first : amount_minor;
      return {
        rows: [channel, ours, refund(`${group}r1`, first), refund(`${group}r2`, amount_minor - first), { ...channel, kind: 'refund', ref: '', trade_no: `R${group}`, amount_minor: listed, fee_minor: -1n }],
        expected: injection === 'refunds_merged' ? 'matched' : { class: 'AMOUNT_MISMATCH', kind: 'refund' },
      };
    }
  }
}

const case_arbitrary = fc.record({
  injection: fc.constantFrom(...injections),
  amount_minor: fc.bigInt({ min: 3n, max: 10n ** 12n }),
  fee_minor: fc.bigInt({ min: 0n, max: 10n ** 6n }),
  delta: fc.bigInt({ min: 1n, max: 10n ** 4n }),
  age_days: fc.integer({ min: 0, max: 5 }),
});

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
        const parts = Array.from({ length: shards }, (_, shard) => matchRows(rows.filter((r) => Number(r.group.slice(1)) % shards === shard), { day, pool_days }));
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

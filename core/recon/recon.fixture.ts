// Generated reconciliation cases for the tests: one order's rows on both sides with a
// difference injected into it (or none) and what the matcher must say about it.

import fc from 'fast-check';
import { addDays } from './match';
import type { DifferenceClass, ReconRow } from './types';

export const day = '2026-11-20';
export const pool_days = 3;

export const row = (fields: Partial<ReconRow> & Pick<ReconRow, 'side' | 'group'>): ReconRow => ({
  kind: 'payment', ref: fields.group, trade_no: `T${fields.group}`, amount_minor: 100n, fee_minor: 1n, currency: 'CNY', status: 'S', date: day, ...fields,
});

export interface Case {
  rows: ReconRow[];
  expected: { class: DifferenceClass; kind: ReconRow['kind'] } | 'matched' | 'pooled' | 'nothing';
}

export type Injection =
  | 'clean' | 'channel_only' | 'ours_only' | 'channel_only_young' | 'ours_only_young' | 'amount' | 'fee' | 'status'
  | 'shift' | 'shift_back' | 'twice' | 'twice_known' | 'unpaid' | 'combined' | 'combined_short' | 'refunds_merged' | 'refund_amount' | 'refund_missing';

const injections: Injection[] = [
  'clean', 'channel_only', 'ours_only', 'channel_only_young', 'ours_only_young', 'amount', 'fee', 'status',
  'shift', 'shift_back', 'twice', 'twice_known', 'unpaid', 'combined', 'combined_short', 'refunds_merged', 'refund_amount', 'refund_missing',
];

/** Pairs or groups each case matches cleanly besides its difference. */
export const matched_of: Partial<Record<Injection, number>> = {
  clean: 1,
  twice: 1,
  twice_known: 2,
  combined: 1,
  refunds_merged: 2,
  refund_amount: 1,
  refund_missing: 1,
};

export function caseOf(group: string, injection: Injection, amount_minor: bigint, fee_minor: bigint, delta: bigint, age_days: number): Case {
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

export const case_arbitrary = fc.record({
  injection: fc.constantFrom(...injections),
  amount_minor: fc.bigInt({ min: 3n, max: 10n ** 12n }),
  fee_minor: fc.bigInt({ min: 0n, max: 10n ** 6n }),
  delta: fc.bigInt({ min: 1n, max: 10n ** 4n }),
  age_days: fc.integer({ min: 0, max: 5 }),
});


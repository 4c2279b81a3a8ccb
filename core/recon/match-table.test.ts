// The matcher's rules one group at a time: each row of the table a group's rows on both sides
// and what matchRows must say about it (core/recon/match.ts's header lists the rules). The
// generated cases of match.test.ts cover the common shapes; these are the ones they do not
// produce: rows of one side only in a group of several, the numbers each pairing step keys on
// being empty, a channel row that did not succeed, fees ours knows for only some rows, dates
// that differ within a group, and the option and date checks.

import { addDays, matchRows } from './match';
import { day, pool_days, row } from './recon.fixture';
import type { ReconRow } from './types';

// Literal dates (day is 2026-11-20, pool_days 3), not computed with the module under test.
const old = '2026-11-17';
const young = '2026-11-18';
const yesterday = '2026-11-19';

/** A difference as `class kind group C:<refs> O:<refs>` (the rows it is about, each by ref/trade_no). */
const describeRows = (rows: ReconRow[]) => rows.map((r) => `${r.ref}/${r.trade_no}`).join('+');

interface Expected {
  differences: string[];
  matched: number;
  pooled?: string[];
}

type Row = [name: string, rows: ReconRow[], expected: Expected];

const C = (fields: Partial<ReconRow> & Pick<ReconRow, 'group'>): ReconRow => row({ side: 'C', ...fields });
const O = (fields: Partial<ReconRow> & Pick<ReconRow, 'group'>): ReconRow => row({ side: 'O', ...fields });

const table: Row[] = [
  // Two rows of a group (the common case): a pair only when one row is each side's and both are of one kind.
  ['two channel rows of one order with one trade number are no pair (old: 长款 each)',
    [C({ group: 'g', date: old }), C({ group: 'g', ref: 'g2', date: old })],
    { differences: ['CHANNEL_ONLY payment g C:g/Tg O:', 'CHANNEL_ONLY payment g C:g2/Tg O:'], matched: 0 }],
  ['two rows of ours of one order with one trade number are no pair (young: pooled)',
    [O({ group: 'g', date: young }), O({ group: 'g', ref: 'g2', date: young })],
    { differences: [], matched: 0, pooled: ['g/Tg', 'g2/Tg'] }],
  ['a channel payment and a refund of ours under one number are no pair',
    [C({ group: 'g', date: old }), O({ group: 'g', kind: 'refund', date: old })],
    { differences: ['CHANNEL_ONLY payment g C:g/Tg O:', 'OURS_ONLY refund g C: O:g/Tg'], matched: 0 }],
  ['one row each side whose numbers both differ: still compared, as the group\'s only rows',
    [C({ group: 'g', ref: '', trade_no: 'X1' }), O({ group: 'g', ref: 'a1', trade_no: '' })],
    { differences: [], matched: 1 }],
  ['one row each side, no common number, amounts differ: an amount mismatch',
    [C({ group: 'g', ref: '', trade_no: 'X1', amount_minor: 101n }), O({ group: 'g', ref: 'a1', trade_no: '' })],
    { differences: ['AMOUNT_MISMATCH payment g C:/X1 O:a1/'], matched: 0 }],

  // One side left over in a group of several rows: 长款 / 短款 (or the pool), never compared with nothing.
  ['a paid payment and a refund only the channel lists (old): 长款 of the refund',
    [C({ group: 'g' }), O({ group: 'g' }), C({ group: 'g', kind: 'refund', ref: 'r1', trade_no: 'R1', amount_minor: 40n, date: old })],
    { differences: ['CHANNEL_ONLY refund g C:r1/R1 O:'], matched: 1 }],
  ['a paid payment and a refund only we have (old): 短款 of the refund',
    [C({ group: 'g' }), O({ group: 'g' }), O({ group: 'g', kind: 'refund', ref: 'r1', trade_no: '', amount_minor: 40n, date: old })],
    { differences: ['OURS_ONLY refund g C: O:r1/'], matched: 1 }],
  ['a paid payment and a refund only we have (young): pooled',
    [C({ group: 'g' }), O({ group: 'g' }), O({ group: 'g', kind: 'refund', ref: 'r1', trade_no: '', amount_minor: 40n, date: young })],
    { differences: [], matched: 1, pooled: ['r1/'] }],

  // 1:1 on the trade number, then on our id; empty numbers never pair.
  ['an empty trade number on both sides is no key: the rows pair on our id',
    [C({ group: 'g', ref: 'a1', trade_no: '' }), O({ group: 'g', ref: 'a1', trade_no: 'X' }), O({ group: 'g', ref: 'a2', trade_no: '', status: 'F' })],
    { differences: [], matched: 1 }],
  ['each attempt pairs with its own row on our id, a failed one with the channel\'s',
    [C({ group: 'g', ref: 'a1', trade_no: '' }), C({ group: 'g', ref: 'a2', trade_no: '', amount_minor: 50n }),
      O({ group: 'g', ref: 'a1', trade_no: '' }), O({ group: 'g', ref: 'a2', trade_no: '', amount_minor: 50n, status: 'F' })],
    { differences: ['STATUS_MISMATCH payment g C:a2/ O:a2/'], matched: 1 }],
  ['an empty id on both sides is no key either, nor makes a channel row a second payment',
    [C({ group: 'g', ref: '', trade_no: 'T1' }), O({ group: 'g', ref: '', trade_no: 'T1' }),
      C({ group: 'g', ref: '', trade_no: 'T2', amount_minor: 70n }), O({ group: 'g', ref: '', trade_no: 'T3', amount_minor: 30n })],
    { differences: ['AMOUNT_MISMATCH payment g C:/T2 O:/T3'], matched: 1 }],

  // PAID_TWICE: a second channel payment of an attempt that matched under another trade number.
  ['a second channel payment of a matched attempt: paid twice, naming both rows',
    [C({ group: 'g', ref: 'a1', trade_no: 'T1' }), C({ group: 'g', ref: 'a1', trade_no: 'T2' }), O({ group: 'g', ref: 'a1', trade_no: 'T1' })],
    { differences: ['PAID_TWICE payment g C:a1/T2 O:a1/T1'], matched: 1 }],
  ['a channel payment of another attempt than the one that matched is not paid twice (old: 长款)',
    [C({ group: 'g', ref: 'a1', trade_no: 'T1' }), C({ group: 'g', ref: 'a2', trade_no: 'T2', date: old }), O({ group: 'g', ref: 'a1', trade_no: 'T1' })],
    { differences: ['CHANNEL_ONLY payment g C:a2/T2 O:'], matched: 1 }],
  ['a second channel refund of a matched refund is no paid twice: refunds are not payments',
    [C({ group: 'g' }), O({ group: 'g' }),
      C({ group: 'g', kind: 'refund', ref: 'r1', trade_no: 'R1', amount_minor: 10n }), C({ group: 'g', kind: 'refund', ref: 'r1', trade_no: 'R2', amount_minor: 10n, date: old }),
      O({ group: 'g', kind: 'refund', ref: 'r1', trade_no: 'R1', amount_minor: 10n })],
    { differences: ['CHANNEL_ONLY refund g C:r1/R2 O:'], matched: 2 }],

  // What a pair or group is judged on: status, then amount and currency, then fee, then dates.
  ['a channel row that did not succeed is a status mismatch',
    [C({ group: 'g', status: 'F' }), O({ group: 'g' })],
    { differences: ['STATUS_MISMATCH payment g C:g/Tg O:g/Tg'], matched: 0 }],
  ['a combined payment whose second channel row did not succeed is a status mismatch',
    [C({ group: 'g', ref: 'x', trade_no: 'T1', amount_minor: 60n }), C({ group: 'g', ref: 'y', trade_no: 'T2', amount_minor: 40n, status: 'F' }),
      O({ group: 'g', ref: 'z', trade_no: 'T3', amount_minor: 100n })],
    { differences: ['STATUS_MISMATCH payment g C:x/T1+y/T2 O:z/T3'], matched: 0 }],
  ['a combined payment one of whose parts we recorded failed is a status mismatch',
    [C({ group: 'g', ref: 'z', trade_no: 'T3', amount_minor: 100n }),
      O({ group: 'g', ref: 'x', trade_no: 'T1', amount_minor: 60n }), O({ group: 'g', ref: 'y', trade_no: 'T2', amount_minor: 40n, status: 'F' })],
    { differences: ['STATUS_MISMATCH payment g C:z/T3 O:x/T1+y/T2'], matched: 0 }],
  ['fees are compared only when ours knows every part\'s fee',
    [C({ group: 'g', ref: 'z', trade_no: 'T3', amount_minor: 100n, fee_minor: 5n }),
      O({ group: 'g', ref: 'x', trade_no: 'T1', amount_minor: 60n, fee_minor: 1n }), O({ group: 'g', ref: 'y', trade_no: 'T2', amount_minor: 40n, fee_minor: undefined })],
    { differences: [], matched: 1 }],
  ['a combined payment with a part listed the day before: a cut-off shift',
    [C({ group: 'g', ref: 'x', trade_no: 'T1', amount_minor: 60n }), C({ group: 'g', ref: 'y', trade_no: 'T2', amount_minor: 40n, fee_minor: 0n, date: yesterday }),
      O({ group: 'g', ref: 'z', trade_no: 'T3', amount_minor: 100n })],
    { differences: ['CUTOFF_SHIFT payment g C:x/T1+y/T2 O:z/T3'], matched: 0 }],
  ['a combined payment with a part of ours booked the day before: a cut-off shift',
    [C({ group: 'g', ref: 'z', trade_no: 'T3', amount_minor: 100n }),
      O({ group: 'g', ref: 'x', trade_no: 'T1', amount_minor: 60n }), O({ group: 'g', ref: 'y', trade_no: 'T2', amount_minor: 40n, fee_minor: undefined, date: yesterday })],
    { differences: ['CUTOFF_SHIFT payment g C:z/T3 O:x/T1+y/T2'], matched: 0 }],
  ['a combined payment with every row of one date is a clean match',
    [C({ group: 'g', ref: 'x', trade_no: 'T1', amount_minor: 60n, fee_minor: 1n }), C({ group: 'g', ref: 'y', trade_no: 'T2', amount_minor: 40n, fee_minor: 0n }),
      O({ group: 'g', ref: 'z', trade_no: 'T3', amount_minor: 100n })],
    { differences: [], matched: 1 }],

  // Rows nothing matched.
  ['a channel row that did not succeed, alone and old, is still 长款',
    [C({ group: 'g', status: 'F', date: old })],
    { differences: ['CHANNEL_ONLY payment g C:g/Tg O:'], matched: 0 }],
  ['an attempt of ours that failed, alone, is nobody\'s difference',
    [O({ group: 'g', status: 'F', trade_no: '', date: old })],
    { differences: [], matched: 0 }],
];

test.each(table)('recon - %s', (_name, rows, expected) => {
  const result = matchRows(rows, { day, pool_days });
  expect(result.differences.map((d) => `${d.class} ${d.kind} ${d.group} C:${describeRows(d.channel)} O:${describeRows(d.ours)}`).sort()).toEqual([...expected.differences].sort());
  expect(result.totals.matched_count).toBe(expected.matched);
  expect(result.pool.map((r) => `${r.ref}/${r.trade_no}`).sort()).toEqual([...(expected.pooled ?? [])].sort());
});

test('recon - rows are counted on their own side', () => {
  const result = matchRows([C({ group: 'a' }), O({ group: 'a' }), C({ group: 'b' }), C({ group: 'c' }), C({ group: 'd', ref: '' })], { day, pool_days });
  expect({ channel: result.totals.channel_rows, ours: result.totals.ours_rows }).toEqual({ channel: 4, ours: 1 });
});

test('recon - pool_days must be a whole number of days, 0 or more', () => {
  for (const bad of [-1, 1.5, Number.NaN]) {
    expect(() => matchRows([], { day, pool_days: bad })).toThrow(`recon: pool_days ${bad}`);
  }
  // With no pool, a row nothing matched is a difference on its own day.
  const result = matchRows([O({ group: 'g' })], { day, pool_days: 0 });
  expect(result.differences.map((d) => d.class)).toEqual(['OURS_ONLY']);
});

test('recon - a day or row date that is not YYYY-MM-DD is refused, naming it', () => {
  // '+002026-11-20' and '2026-11-20 (x' are dates to Date.parse; '2026-13-45' is not, though it has the shape.
  for (const bad of ['+002026-11-20', '2026-11-20 (x', '2026-13-45']) {
    expect(() => matchRows([], { day: bad, pool_days })).toThrow(`recon: not a date: ${bad}`);
    expect(() => matchRows([O({ group: 'g', date: bad })], { day, pool_days })).toThrow(`recon: not a date: ${bad}`);
    expect(() => addDays(bad, 1)).toThrow(`recon: not a date: ${bad}`);
  }
  expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
  expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
});

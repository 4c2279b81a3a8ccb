// The fast path's contract, case by case: a pair of rows matchRows would call a clean 1:1
// match, written as the statement and our books write them, is matched from the bytes
// (fast_matched counts it) — that is what keeps a million rows a side to seconds; anything
// else is decoded and left to matchRows. Either way the result is matchRows' own on the
// decoded rows (fast.test.ts checks that on generated rows; here on the edge of each check).

import { matchShard, type ShardInput } from './fast';
import { decodeRow, isRowLine, lineEnd, type RowFormat } from './format';
import { matchRows } from './match';
import type { MatchResult, ReconRow } from './types';

const day = '2026-11-20';
const pool_days = 3;
const recon_header = 'side,kind,group,ref,trade_no,amount_minor,fee_minor,currency,status,date';
const bank_header = 'trade_time,type,order_no,bank_trade_no,refund_no,bank_refund_no,amount,fee,currency,bank_code,product';

/** A normalised row line: side, kind, group, ref, trade_no, amount, fee, currency, status, date. */
const recon = (fields: Partial<Record<'side' | 'kind' | 'group' | 'ref' | 'trade_no' | 'amount' | 'fee' | 'currency' | 'status' | 'date', string>>): string => {
  const f = { side: 'O', kind: 'payment', group: 'g1', ref: 'g1', trade_no: 'T1', amount: '1234', fee: '5', currency: 'CNY', status: 'S', date: day, ...fields };
  return [f.side, f.kind, f.group, f.ref, f.trade_no, f.amount, f.fee, f.currency, f.status, f.date].join(',');
};
/** A bank statement line: a payment of g1 (T1, 12.34 yuan, fee 0.05) unless told otherwise. */
const bank = (fields: Partial<Record<'type' | 'order_no' | 'trade' | 'refund_no' | 'bank_refund_no' | 'amount' | 'fee' | 'currency', string>> = {}): string => {
  const f = { type: 'PAY', order_no: 'g1', trade: 'T1', refund_no: '', bank_refund_no: '', amount: '12.34', fee: '0.05', currency: 'CNY', ...fields };
  return ['20261120120000', f.type, f.order_no, f.trade, f.refund_no, f.bank_refund_no, f.amount, f.fee, f.currency, 'ICBC', 'B2C'].join(',');
};

function inputOf(format: RowFormat, lines: string[], ending = '\n'): ShardInput {
  const buffer = Buffer.from(`${format === 'recon' ? recon_header : bank_header}${ending}${lines.map((l) => `${l}${ending}`).join('')}`);
  const offsets: number[] = [];
  for (let start = 0; start < buffer.length; ) {
    const end = lineEnd(buffer, start, buffer.length);
    if (isRowLine(buffer, start, end, format)) offsets.push(start);
    start = end + 1;
  }
  return { buffer, format, date: day, offsets: Uint32Array.from(offsets) };
}

const canonical = (result: MatchResult) => ({
  differences: result.differences.map((d) => `${d.group}|${d.class}|${d.kind}|${d.channel.length}|${d.ours.length}`).sort(),
  pool: result.pool.map((r) => `${r.group}|${r.side}|${r.ref}|${r.amount_minor}`).sort(),
  totals: result.totals,
});

function decoded(inputs: ShardInput[]): ReconRow[] {
  return inputs.flatMap(({ buffer, offsets, format, date }) =>
    [...offsets].map((start) => decodeRow(buffer, start, lineEnd(buffer, start, buffer.length), format, date)));
}

type Row = [name: string, channel: { format: RowFormat; lines: string[] }, ours: string[], fast: number];

const C = (...lines: string[]) => ({ format: 'recon' as const, lines });
const B = (...lines: string[]) => ({ format: 'bankgw' as const, lines });

const table: Row[] = [
  // Clean pairs: matched from the bytes.
  ['a clean payment, both normalised', C(recon({ side: 'C' })), [recon({})], 1],
  ['a clean payment from the bank statement', B(bank()), [recon({})], 1],
  ['ours without a fee (it is not compared)', C(recon({ side: 'C' })), [recon({ fee: '' })], 1],
  ['a payment we detected twice ourselves (D)', C(recon({ side: 'C' })), [recon({ status: 'D' })], 1],
  ['a clean refund, both normalised', C(recon({ side: 'C', kind: 'refund', ref: 'r1', trade_no: 'R1', fee: '-1' })), [recon({ kind: 'refund', ref: 'r1', trade_no: 'R1', fee: '-1' })], 1],
  ['a clean refund from the bank statement (its fee returned)', B(bank({ type: 'REFUND', refund_no: 'r1', bank_refund_no: 'R1', fee: '0.05' })), [recon({ kind: 'refund', ref: 'r1', trade_no: 'R1', fee: '-5' })], 1],
  ['paired on the trade number alone', C(recon({ side: 'C', ref: '' })), [recon({ ref: 'a9' })], 1],
  ['paired on our id alone', C(recon({ side: 'C', trade_no: '' })), [recon({ trade_no: '' })], 1],
  ['an amount of 0', C(recon({ side: 'C', amount: '0', fee: '0' })), [recon({ amount: '0', fee: '0' })], 1],
  ['an amount of 2^53 - 1 fen', C(recon({ side: 'C', amount: '9007199254740991' })), [recon({ amount: '9007199254740991' })], 1],
  ['a bank amount of one decimal', B(bank({ amount: '12.3' })), [recon({ amount: '1230' })], 1],
  ['a bank amount of no decimals', B(bank({ amount: '12' })), [recon({ amount: '1200' })], 1],
  ['a bank fee written negative on a payment', B(bank({ fee: '-0.05' })), [recon({})], 1],
  ['ours listed before the channel\'s', C(recon({ side: 'C' })), [recon({})], 1],

  // Anything else: decoded, and matchRows says what it is.
  ['amounts differ by a fen', C(recon({ side: 'C', amount: '1235' })), [recon({})], 0],
  ['fees differ', C(recon({ side: 'C', fee: '6' })), [recon({})], 0],
  ['ours knows a fee, the channel lists none', C(recon({ side: 'C', fee: '' })), [recon({})], 0],
  ['the channel\'s row did not succeed', C(recon({ side: 'C', status: 'F' })), [recon({})], 0],
  ['ours recorded it failed', C(recon({ side: 'C' })), [recon({ status: 'F' })], 0],
  ['ours with a status of two letters', C(recon({ side: 'C' })), [recon({ status: 'SS' })], -1],
  ['currencies differ', C(recon({ side: 'C', currency: 'USD' })), [recon({})], 0],
  ['a currency one byte longer', C(recon({ side: 'C', currency: 'CNYX' })), [recon({})], 0],
  ['no currency on the bank statement', B(bank({ currency: '' })), [recon({})], 0],
  ['dates differ (normalised rows)', C(recon({ side: 'C', date: '2026-11-19' })), [recon({})], 0],
  ['ours dated another day than the statement', B(bank()), [recon({ date: '2026-11-19' })], 0],
  ['ours with a date of 9 characters against the statement', B(bank()), [recon({ date: '2026-11-2' })], -1],
  ['no number in common', C(recon({ side: 'C', ref: 'x', trade_no: 'X' })), [recon({})], 0],
  ['trade numbers of different lengths', C(recon({ side: 'C', ref: '', trade_no: 'T12' })), [recon({ ref: 'a9' })], 0],
  ['both numbers empty', C(recon({ side: 'C', ref: '', trade_no: '' })), [recon({ ref: '', trade_no: '' })], 0],
  ['a payment against a refund', C(recon({ side: 'C' })), [recon({ kind: 'refund' })], 0],
  ['two channel rows', C(recon({ side: 'C' }), recon({ side: 'C', ref: 'g2' })), [], 0],
  ['two rows of ours', C(), [recon({}), recon({ ref: 'g2' })], 0],
  ['a group of three rows', C(recon({ side: 'C' }), recon({ side: 'C', trade_no: 'T2' })), [recon({})], 0],
  ['a row alone', C(recon({ side: 'C' })), [], 0],
  ['a side that is neither C nor O', C(recon({ side: 'C' })), [recon({ side: 'X' })], -1],
  ['a side of two letters', C(recon({ side: 'C' })), [recon({ side: 'OO' })], -1],
  ['a kind neither payment nor refund, of 7 letters', C(recon({ side: 'C' })), [recon({ kind: 'paymenx' }).replace('paymenx', 'xayment')], -1],
  ['a kind of 6 letters not refund', C(recon({ side: 'C' })), [recon({ kind: 'xefund' })], -1],
  ['an amount with a decimal point in a normalised row', C(recon({ side: 'C', amount: '12.34' })), [recon({})], -1],
  ['a negative amount', C(recon({ side: 'C', amount: '-1234' })), [recon({ amount: '-1234' })], 0],
  ['an amount over 2^53 fen', C(recon({ side: 'C', amount: '9007199254740993' })), [recon({ amount: '9007199254740993' })], 0],
  ['a fee that is not a number', C(recon({ side: 'C' })), [recon({ fee: '5x' })], -1],
  ['a quoted field', C(recon({ side: 'C', ref: '"g1"' })), [recon({})], 0],
  ['a space in a field', C(recon({ side: 'C', currency: 'CNY ' })), [recon({})], 0],
  ['a tab in a field', C(recon({ side: 'C', currency: 'CNY\t' })), [recon({})], 0],
  ['eleven fields in a normalised row', C(`${recon({ side: 'C' })},x`), [recon({})], -1],
  ['a bank row of PAYX', B(bank({ type: 'PAYX' })), [recon({})], -1],
  ['a bank row of REFUNX', B(bank({ type: 'REFUNX' })), [recon({ kind: 'refund' })], -1],
  ['a bank type of 3 letters not PAY', B(bank({ type: 'XAY' })), [recon({})], -1],
  ['a bank type of 6 letters not REFUND', B(bank({ type: 'XEFUND', refund_no: 'r1', bank_refund_no: 'R1' })), [recon({ kind: 'refund', ref: 'r1', trade_no: 'R1', fee: '-5' })], -1],
  ['a bank type of PA and one more letter', B(bank({ type: 'PAZ' })), [recon({})], -1],
  ['a bank type of R and five more letters', B(bank({ type: 'REFUNX', refund_no: 'r1', bank_refund_no: 'R1' })), [recon({ kind: 'refund', ref: 'r1', trade_no: 'R1', fee: '-5' })], -1],
  ['a kind of p and six more letters', C(recon({ side: 'C' })), [recon({ kind: 'paymenx' })], -1],
  ['a kind of r and five more letters', C(recon({ side: 'C', kind: 'refund' })), [recon({ kind: 'refunx' })], -1],
  ['an amount with a character just past the digits', C(recon({ side: 'C', amount: '1:' })), [recon({ amount: '20' })], -1],
  ['an amount with a character just before the digits', C(recon({ side: 'C', amount: '1/' })), [recon({ amount: '9' })], -1],
  ['no amount', C(recon({ side: 'C', amount: '', fee: '0' })), [recon({ amount: '0', fee: '0' })], -1],
  ['a trade number that is a prefix of ours', C(recon({ side: 'C', ref: '', trade_no: 'T1' })), [recon({ ref: 'a9', trade_no: 'T12' })], 0],
  ['a space in a field on both sides', C(recon({ side: 'C', currency: 'CNY ' })), [recon({ currency: 'CNY ' })], 0],
  ['a tab in a field on both sides', C(recon({ side: 'C', currency: 'CNY\t' })), [recon({ currency: 'CNY\t' })], 0],
  ['a bank amount of three decimals', B(bank({ amount: '12.345' })), [recon({ amount: '1234500' })], -1],
  ['a bank amount ending in a point', B(bank({ amount: '12.' })), [recon({ amount: '1200' })], -1],
  ['a bank amount starting with a point', B(bank({ amount: '.5' })), [recon({ amount: '50' })], -1],
  ['a bank amount of two points', B(bank({ amount: '1.2.3' })), [recon({ amount: '1230' })], -1],
  ['a bank fee that is not a number', B(bank({ fee: 'x' })), [recon({})], -1],
  ['a bank fee that is not a number, ours without a fee', B(bank({ fee: 'x' })), [recon({ fee: '' })], -1],
  ['no currency on the bank statement (CNY) nor on ours (none)', B(bank({ currency: '' })), [recon({ currency: '' })], 0],
  ['a channel row of a side neither C nor O', C(recon({ side: 'X' })), [recon({})], -1],
  ['ours with a date one character longer than the statement\'s', B(bank()), [recon({ date: '2026-11-20x' })], -1],
  ['no bank fee', B(bank({ fee: '' })), [recon({ fee: '0' })], 0],
  // A line of 16 or more commas fills the digest's field slots: refused there, whatever its first fields say.
  ['sixteen commas in a normalised row whose first ten fields pair', C(`${recon({ side: 'C' })},x,x,x,x,x,x,x`), [recon({})], -1],
  ['sixteen commas in a bank row whose first eleven fields pair', B(`${bank()},x,x,x,x,x,x`), [recon({})], -1],
  // A bank line the scan refuses (twelve fields) is never read from the bytes of the row before it.
  ['twelve fields in a bank row', B(`${bank()},x`), [recon({})], -1],
];

/** A clean pair of another group whose rows carry the numbers of the case's rows (T1), shard
 * first: a check that let a row through on what it read of this pair would pair the case's rows. */
const before = (channel: { format: RowFormat; lines: string[] }, ours: string[]) => ({
  channel: { format: channel.format, lines: [channel.format === 'bankgw' ? bank({ order_no: 'g0' }) : recon({ side: 'C', group: 'g0', ref: 'g0' }), ...channel.lines] },
  ours: [recon({ group: 'g0', ref: 'g0' }), ...ours],
});

test.each(table)('recon - fast path: %s', (_name, channel_rows, ours_rows, fast) => {
  for (const [extra, { channel, ours }] of [[0, { channel: channel_rows, ours: ours_rows }], [1, before(channel_rows, ours_rows)]] as const) {
    const inputs = [inputOf(channel.format, channel.lines), inputOf('recon', ours)];
    if (fast === -1) {
      // A row the formats refuse: the fast path does not take it either; decoding it says why.
      expect(() => matchShard(inputs, { day, pool_days })).toThrow(/row at byte/);
      continue;
    }
    const result = matchShard(inputs, { day, pool_days });
    expect(result.fast_matched).toBe(fast + extra);
    expect(canonical(result)).toEqual(canonical(matchRows(decoded(inputs), { day, pool_days })));
  }
});

test('recon - fast path: the sources in either order', () => {
  const result = matchShard([inputOf('recon', [recon({})]), inputOf('bankgw', [bank()])], { day, pool_days });
  expect(result.fast_matched).toBe(1);
  expect(result.totals).toEqual({ matched_count: 1, matched_channel_minor: 1234n, matched_ours_minor: 1234n, channel_rows: 1, ours_rows: 1 });
});

test('recon - fast path: a last row cut short (no newline, its group ending the file) is read to the end and refused', () => {
  const buffer = Buffer.from(`${recon_header}\nO,payment,g1`);
  expect(() => matchShard([{ buffer, format: 'recon', date: day, offsets: Uint32Array.from([recon_header.length + 1]) }], { day, pool_days }))
    .toThrow(`recon row at byte ${recon_header.length + 1}: 3 fields, expected 10`);
});

test('recon - fast path: lines ending in CR LF are decoded, with the same result', () => {
  const inputs = [inputOf('recon', [recon({ side: 'C' })], '\r\n'), inputOf('recon', [recon({})], '\r\n')];
  const result = matchShard(inputs, { day, pool_days });
  expect(result.fast_matched).toBe(0);
  expect(result.totals.matched_count).toBe(1);
});

test('recon - fast path: many pairs in one shard, each counted once, amounts summed exactly past 2^53', () => {
  const count = 5;
  const amount = 9_007_199_254_740_991n;
  const lines = (side: string) => Array.from({ length: count }, (_, i) => recon({ side, group: `g${i}`, ref: `g${i}`, trade_no: `T${i}`, amount: String(amount) }));
  const result = matchShard([inputOf('recon', lines('C')), inputOf('recon', lines('O'))], { day, pool_days });
  expect(result.fast_matched).toBe(count);
  expect(result.totals).toEqual({
    matched_count: count, matched_channel_minor: amount * BigInt(count), matched_ours_minor: amount * BigInt(count), channel_rows: count, ours_rows: count,
  });
  expect(result.differences).toEqual([]);
});

test('recon - fast path: one shard may hold rows of several sources, each read as its own format', () => {
  const inputs = [inputOf('bankgw', [bank(), bank({ order_no: 'g2', trade: 'T2' })]), inputOf('recon', [recon({ group: 'g2', ref: 'g2', trade_no: 'T2' })]), inputOf('recon', [recon({})])];
  const result = matchShard(inputs, { day, pool_days });
  expect(result.fast_matched).toBe(2);
  expect(result.totals.matched_channel_minor).toBe(2468n);
});

// The fast path of a shard's matching: most orders are one channel row and one row of ours
// that agree. Those are recognised straight from the bytes — the group read as the only
// string, amounts read into numbers only while they are exact integers of minor units (below
// 2^53), fields compared byte by byte — and counted. Every other group (a difference, a
// refund, a combined payment, a row alone) is decoded into ReconRows and matched by
// matchRows; a pair the fast path accepts is one matchRows would call a clean match, so the
// result is the same as decoding everything (core/recon/fast.test.ts holds them equal).

import { decodeRow, group_field, latin1, lineEnd, type RowFormat } from './format';
import { matchRows } from './match';
import type { MatchOptions, MatchResult, ReconRow } from './types';

export interface ShardInput {
  buffer: Buffer;
  format: RowFormat;
  date: string;
  offsets: Uint32Array;
}

const comma = 0x2c;
const quote = 0x22;
const space = 0x20;
const tab = 0x09;
const carriage_return = 0x0d;
const fields_max = 16;
/** The row types and kinds, compared whole: a row the formats refuse never takes the fast path. */
const PAY = Buffer.from('PAY');
const REFUND = Buffer.from('REFUND');
const PAYMENT = Buffer.from('payment');
const REFUND_KIND = Buffer.from('refund');

/** What the fast path reads of one row; NaN amounts mean "not exactly readable here". */
class Digest {
  readonly commas = new Int32Array(fields_max);
  buffer!: Buffer;
  side = 0;
  payment = true;
  succeeded = true;
  failed = false;
  amount = Number.NaN;
  /** NaN: unknown (ours without a fee). */
  fee = Number.NaN;
  ref_start = 0;
  ref_end = 0;
  trade_start = 0;
  trade_end = 0;
  currency_start = 0;
  currency_end = 0;
  date_start = 0;
  date_end = 0;
  /** A statement's rows are all of its date: compared as text, not bytes. */
  date_text: string | undefined;
}

/** Field i (from 1: the first field is only ever read through its length) of the digested
 * line: [commas[i-1]+1, commas[i]). */
const fieldStart = (d: Digest, field: number) => d.commas[field - 1]! + 1;

/** Splits the line's commas into d.commas; false on a quote, whitespace or too many fields. */
function scan(d: Digest, start: number, end: number, expected_fields: number): boolean {
  const buffer = d.buffer;
  let count = 0;
  for (let index = start; index < end; index++) {
    const byte = buffer[index]!;
    if (byte === comma) {
      if (count === fields_max - 1) return false;
      d.commas[count++] = index;
    } else if (byte === quote || byte === space || byte === tab || byte === carriage_return) return false;
  }
  d.commas[count++] = end;
  return count === expected_fields;
}

/** An unsigned integer (recon) or yuan with at most 2 decimals (bankgw) → minor units, or NaN. */
function minorOf(buffer: Buffer, start: number, end: number, yuan: boolean): number {
  let negative = false;
  if (buffer[start] === 0x2d) {
    negative = true;
    start += 1;
  }
  let value = 0;
  let digits = 0;
  let decimals = -1;
  for (let index = start; index < end; index++) {
    const byte = buffer[index]!;
    // A point with no digit before it, or a second one, is refused below (digits, decimals).
    if (byte === 0x2e && yuan && decimals === -1) {
      decimals = 0;
      continue;
    }
    const digit = byte - 0x30;
    if (digit < 0 || digit > 9) return Number.NaN;
    if (decimals === -1) digits += 1;
    else decimals += 1;
    value = value * 10 + digit;
  }
  if (digits === 0 || decimals === 0 || decimals > 2) return Number.NaN;
  if (yuan) value *= decimals === 2 ? 1 : decimals === 1 ? 10 : 100;
  if (!Number.isSafeInteger(value)) return Number.NaN;
  return negative ? -value : value;
}

function digestBankgw(d: Digest, start: number, end: number, date: string): boolean {
  if (!scan(d, start, end, 11)) return false;
  const buffer = d.buffer;
  const type_start = fieldStart(d, 1);
  if (sameBytes(buffer, type_start, d.commas[1]!, PAY, 0, PAY.length)) d.payment = true;
  else if (sameBytes(buffer, type_start, d.commas[1]!, REFUND, 0, REFUND.length)) d.payment = false;
  else return false;
  d.side = 0x43;
  d.succeeded = true;
  d.failed = false;
  d.amount = minorOf(buffer, fieldStart(d, 6), d.commas[6]!, true);
  if (!(d.amount >= 0)) return false;
  const fee = minorOf(buffer, fieldStart(d, 7), d.commas[7]!, true);
  if (Number.isNaN(fee)) return false;
  d.fee = d.payment ? Math.abs(fee) : -Math.abs(fee);
  const ref = d.payment ? 2 : 4;
  const trade = d.payment ? 3 : 5;
  d.ref_start = fieldStart(d, ref);
  d.ref_end = d.commas[ref]!;
  d.trade_start = fieldStart(d, trade);
  d.trade_end = d.commas[trade]!;
  d.currency_start = fieldStart(d, 8);
  d.currency_end = d.commas[8]!;
  d.date_text = date;
  return d.currency_end > d.currency_start;
}

function digestRecon(d: Digest, start: number, end: number): boolean {
  if (!scan(d, start, end, 10)) return false;
  const buffer = d.buffer;
  if (d.commas[0]! - start !== 1) return false;
  d.side = buffer[start]!;
  const kind_start = fieldStart(d, 1);
  if (sameBytes(buffer, kind_start, d.commas[1]!, PAYMENT, 0, PAYMENT.length)) d.payment = true;
  else if (sameBytes(buffer, kind_start, d.commas[1]!, REFUND_KIND, 0, REFUND_KIND.length)) d.payment = false;
  else return false;
  const status_start = fieldStart(d, 8);
  if (d.commas[8]! - status_start !== 1) return false;
  const status = buffer[status_start];
  d.succeeded = status === 0x53; // S
  d.failed = status === 0x46; // F
  d.amount = minorOf(buffer, fieldStart(d, 5), d.commas[5]!, false);
  if (!(d.amount >= 0)) return false;
  const fee_start = fieldStart(d, 6);
  d.fee = fee_start === d.commas[6] ? Number.NaN : minorOf(buffer, fee_start, d.commas[6]!, false);
  if (fee_start !== d.commas[6] && Number.isNaN(d.fee)) return false;
  d.ref_start = fieldStart(d, 3);
  d.ref_end = d.commas[3]!;
  d.trade_start = fieldStart(d, 4);
  d.trade_end = d.commas[4]!;
  d.currency_start = fieldStart(d, 7);
  d.currency_end = d.commas[7]!;
  d.date_start = fieldStart(d, 9);
  d.date_end = d.commas[9]!;
  d.date_text = undefined;
  return true;
}

function sameBytes(a: Buffer, a_start: number, a_end: number, b: Buffer, b_start: number, b_end: number): boolean {
  if (a_end - a_start !== b_end - b_start) return false;
  for (let index = 0; index < a_end - a_start; index++) if (a[a_start + index] !== b[b_start + index]) return false;
  return true;
}

function sameDate(a: Digest, b: Digest): boolean {
  if (a.date_text !== undefined && b.date_text !== undefined) return a.date_text === b.date_text;
  if (a.date_text === undefined && b.date_text === undefined) return sameBytes(a.buffer, a.date_start, a.date_end, b.buffer, b.date_start, b.date_end);
  const [text, bytes] = a.date_text !== undefined ? [a.date_text, b] : [b.date_text!, a];
  if (bytes.date_end - bytes.date_start !== text.length) return false;
  for (let index = 0; index < text.length; index++) if (bytes.buffer[bytes.date_start + index] !== text.charCodeAt(index)) return false;
  return true;
}

/** Would matchRows call these two rows a clean 1:1 match? (Only ever true when it would.) */
function cleanPair(a: Digest, b: Digest): boolean {
  if (a.side === b.side || a.payment !== b.payment) return false;
  const channel = a.side === 0x43 ? a : b;
  const ours = a.side === 0x43 ? b : a;
  if (channel.side !== 0x43 || ours.side !== 0x4f) return false;
  if (!channel.succeeded || ours.failed || channel.amount !== ours.amount) return false;
  if (!Number.isNaN(ours.fee) && (Number.isNaN(channel.fee) || channel.fee !== ours.fee)) return false;
  const trade =
    channel.trade_end > channel.trade_start &&
    sameBytes(channel.buffer, channel.trade_start, channel.trade_end, ours.buffer, ours.trade_start, ours.trade_end);
  const ref = channel.ref_end > channel.ref_start && sameBytes(channel.buffer, channel.ref_start, channel.ref_end, ours.buffer, ours.ref_start, ours.ref_end);
  if (!trade && !ref) return false;
  return (
    sameBytes(channel.buffer, channel.currency_start, channel.currency_end, ours.buffer, ours.currency_start, ours.currency_end) &&
    sameDate(channel, ours)
  );
}

/** Exact sums of numbers below 2^53, carried into a bigint before they could lose a unit. */
class ExactSum {
  #small = 0;
  #big = 0n;
  add(value: number): void {
    if (this.#small + value > Number.MAX_SAFE_INTEGER) {
      this.#big += BigInt(this.#small);
      this.#small = 0;
    }
    this.#small += value;
  }
  get value(): bigint {
    return this.#big + BigInt(this.#small);
  }
}

/** Matches one shard: the clean pairs from the bytes, everything else through matchRows.
 * `fast_matched`: how many of its matches the fast path made (the rest were decoded). */
export function matchShard(inputs: readonly ShardInput[], options: MatchOptions): MatchResult & { fast_matched: number } {
  const total = inputs.reduce((n, input) => n + input.offsets.length, 0);
  const row_input = new Uint8Array(total);
  const row_start = new Uint32Array(total);
  const next = new Int32Array(total).fill(-1);
  const heads = new Map<string, number>();
  let id = 0;
  for (const [index, input] of inputs.entries()) {
    const buffer = input.buffer;
    for (const start of input.offsets) {
      row_input[id] = index;
      row_start[id] = start;
      let from = start;
      for (let field = 0; field < group_field; from++) if (buffer[from] === comma) field += 1;
      let to = from;
      while (to < buffer.length && buffer[to] !== comma && buffer[to] !== 0x0a && buffer[to] !== carriage_return) to += 1;
      const key = latin1(buffer, from, to);
      const head = heads.get(key);
      if (head !== undefined) next[id] = head;
      heads.set(key, id);
      id += 1;
    }
  }
  const a = new Digest();
  const b = new Digest();
  const digest = (d: Digest, row: number): boolean => {
    const input = inputs[row_input[row]!]!;
    d.buffer = input.buffer;
    const start = row_start[row]!;
    const end = lineEnd(input.buffer, start, input.buffer.length);
    return input.format === 'bankgw' ? digestBankgw(d, start, end, input.date) : digestRecon(d, start, end);
  };
  const slow: ReconRow[] = [];
  let fast_matched = 0;
  let fast_channel_rows = 0;
  let fast_ours_rows = 0;
  const channel_sum = new ExactSum();
  const ours_sum = new ExactSum();
  for (const head of heads.values()) {
    const second = next[head]!;
    if (second !== -1 && next[second] === -1 && digest(a, head) && digest(b, second) && cleanPair(a, b)) {
      fast_matched += 1;
      fast_channel_rows += 1;
      fast_ours_rows += 1;
      channel_sum.add(a.amount);
      ours_sum.add(b.amount);
      continue;
    }
    for (let row = head; row !== -1; row = next[row]!) {
      const input = inputs[row_input[row]!]!;
      const start = row_start[row]!;
      slow.push(decodeRow(input.buffer, start, lineEnd(input.buffer, start, input.buffer.length), input.format, input.date));
    }
  }
  const result = matchRows(slow, options);
  result.totals.matched_count += fast_matched;
  result.totals.channel_rows += fast_channel_rows;
  result.totals.ours_rows += fast_ours_rows;
  result.totals.matched_channel_minor += channel_sum.value;
  result.totals.matched_ours_minor += ours_sum.value;
  return { ...result, fast_matched };
}

// Row formats the worker pool reads straight from bytes: the normalised rows (our books, the
// pool, any channel statement once an adapter has parsed it) and, as a fast path, the bank
// gateway's statement CSV as the bank sends it. A line is split, hashed to its shard and
// decoded without a regular expression or a string per field it does not need: at a million
// rows a side that is most of reconciliation's time.

import { assert } from '../errors';
import type { ReconRow } from './types';

export type RowFormat = 'recon' | 'bankgw';

/** The normalised row file: one header line, then one row a line, comma-separated, no quoting
 * (every field is an id, a number, a code or a date; encodeRows refuses anything else). */
export const RECON_COLUMNS = ['side', 'kind', 'group', 'ref', 'trade_no', 'amount_minor', 'fee_minor', 'currency', 'status', 'date'] as const;

/** The bank gateway's statement columns (channels/bankgw/transformers' STATEMENT_COLUMNS; a
 * test holds them equal). Not imported: the worker threads load this file and nothing of the
 * adapters' HTTP stack. */
export const BANKGW_COLUMNS = [
  'trade_time', 'type', 'order_no', 'bank_trade_no', 'refund_no', 'bank_refund_no', 'amount', 'fee', 'currency', 'bank_code', 'product',
] as const;

/** Both formats name the row's group in their third column (order_no / group). */
export const group_field = 2;

export class RowFormatError extends Error {
  override readonly name = 'RowFormatError';
}

const safe_text = /^[^,\r\n"]*$/;

export function encodeRow(row: ReconRow): string {
  const fields = [row.side, row.kind, row.group, row.ref, row.trade_no, String(row.amount_minor), row.fee_minor === undefined ? '' : String(row.fee_minor), row.currency, row.status, row.date];
  for (const [index, field] of fields.entries()) {
    if (!safe_text.test(field)) throw new RowFormatError(`recon row: ${RECON_COLUMNS[index]} has a comma, quote or line break: ${JSON.stringify(field)}`);
  }
  return fields.join(',');
}

export function encodeRows(rows: Iterable<ReconRow>): string {
  const lines = [RECON_COLUMNS.join(',')];
  for (const row of rows) lines.push(encodeRow(row));
  return `${lines.join('\n')}\n`;
}

const comma = 0x2c;
const newline = 0x0a;
const carriage_return = 0x0d;
const hash = 0x23;
const quote = 0x22;

/** Is the line at [start, end) a header or comment rather than a row? */
export function isRowLine(bytes: Uint8Array, start: number, end: number, format: RowFormat): boolean {
  if (end <= start) return false;
  if (format === 'bankgw') return bytes[start] !== hash && !startsWith(bytes, start, end, bankgw_header);
  return !startsWith(bytes, start, end, recon_header);
}

const bankgw_header = Buffer.from(`${BANKGW_COLUMNS[0]},`);
const recon_header = Buffer.from(`${RECON_COLUMNS[0]},`);

function startsWith(bytes: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  if (end - start < prefix.length) return false;
  for (let index = 0; index < prefix.length; index++) if (bytes[start + index] !== prefix[index]) return false;
  return true;
}

/** The end of the line starting at `start` (the index of its '\n', or `limit`). */
export function lineEnd(bytes: Uint8Array, start: number, limit: number): number {
  const at = bytes.indexOf(newline, start);
  return at === -1 || at > limit ? limit : at;
}

/** FNV-1a of the group field's bytes, mod `shards`: the shard every row of a group goes to. */
export function shardOf(bytes: Uint8Array, start: number, end: number, shards: number): number {
  let field = 0;
  let index = start;
  while (field < group_field && index < end) if (bytes[index++] === comma) field += 1;
  let value = 0x811c9dc5;
  for (; index < end; index++) {
    const byte = bytes[index]!;
    if (byte === comma || byte === carriage_return) break;
    value = Math.imul(value ^ byte, 0x01000193);
  }
  return (value >>> 0) % shards;
}

const fields_max = 16;

/** Buffer's own latin1 slice (what toString('latin1', …) calls after checking its arguments). */
export const latin1 = (buffer: Buffer, start: number, end: number): string =>
  (buffer as unknown as { latin1Slice(start: number, end: number): string }).latin1Slice(start, end);

/**
 * The fields of the line [start, end). Identifiers, codes and amounts are ASCII; they are read
 * as latin1, which maps each byte to one character: two fields are equal as strings exactly
 * when their bytes are, so matching stays exact even for a byte outside ASCII. A line with a
 * quote takes the quoted-CSV path.
 */
function fieldsOf(buffer: Buffer, start: number, end: number, at: number): string[] {
  if (end > start && buffer[end - 1] === carriage_return) end -= 1;
  const fields: string[] = [];
  let from = start;
  for (let index = start; index < end; index++) {
    const byte = buffer[index];
    if (byte === comma) {
      fields.push(latin1(buffer, from, index));
      from = index + 1;
      if (fields.length > fields_max) throw new RowFormatError(`row at byte ${at}: more than ${fields_max} fields`);
    } else if (byte === quote) {
      return splitQuoted(buffer.toString('utf8', start, end));
    }
  }
  fields.push(latin1(buffer, from, end));
  return fields;
}

/** RFC 4180 fields ("" inside quotes is one quote), each trimmed. */
function splitQuoted(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    if (quoted && char === '"' && line[index + 1] === '"') {
      current += '"';
      index += 1;
    } else if (char === '"' && (quoted || current.trim() === '')) quoted = !quoted;
    else if (char === ',' && !quoted) {
      fields.push(current.trim());
      current = '';
    } else current += char;
  }
  fields.push(current.trim());
  return fields;
}

/** Decodes the row at [start, end). `date` is the business date of a statement's rows. */
export function decodeRow(buffer: Buffer, start: number, end: number, format: RowFormat, date: string): ReconRow {
  const fields = fieldsOf(buffer, start, end, start);
  return format === 'recon' ? reconRow(fields, start) : bankgwRow(fields, date, start);
}

function reconRow(fields: string[], at: number): ReconRow {
  if (fields.length !== RECON_COLUMNS.length) throw new RowFormatError(`recon row at byte ${at}: ${fields.length} fields, expected ${RECON_COLUMNS.length}`);
  const [side, kind, group, ref, trade_no, amount, fee, currency, status, date] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (side !== 'C' && side !== 'O') throw new RowFormatError(`recon row at byte ${at}: side must be C or O, not ${JSON.stringify(side)}`);
  if (kind !== 'payment' && kind !== 'refund') throw new RowFormatError(`recon row at byte ${at}: kind must be payment or refund, not ${JSON.stringify(kind)}`);
  if (status !== 'S' && status !== 'F' && status !== 'D') throw new RowFormatError(`recon row at byte ${at}: status must be S, F or D, not ${JSON.stringify(status)}`);
  if (group === '') throw new RowFormatError(`recon row at byte ${at}: group is empty`);
  if (date.length !== 10 || date.charCodeAt(4) !== 0x2d || date.charCodeAt(7) !== 0x2d) throw new RowFormatError(`recon row at byte ${at}: date must be YYYY-MM-DD, not ${JSON.stringify(date)}`);
  return {
    side, kind, group, ref, trade_no,
    amount_minor: integerMinor(amount, 'amount_minor', at), fee_minor: fee === '' ? undefined : integerMinor(fee, 'fee_minor', at),
    currency, status, date,
  };
}

const bankgw_column = (name: (typeof BANKGW_COLUMNS)[number]): number => BANKGW_COLUMNS.indexOf(name);
const bankgw = {
  type: bankgw_column('type'), order_no: bankgw_column('order_no'), bank_trade_no: bankgw_column('bank_trade_no'), refund_no: bankgw_column('refund_no'),
  bank_refund_no: bankgw_column('bank_refund_no'), amount: bankgw_column('amount'), fee: bankgw_column('fee'), currency: bankgw_column('currency'),
};

/** A bank statement row as channels/bankgw's parseStatement reads it (amount positive, fee
 * negative on refunds), the refund's group being the order it refunds. */
function bankgwRow(fields: string[], date: string, at: number): ReconRow {
  if (fields.length !== BANKGW_COLUMNS.length) throw new RowFormatError(`bankgw statement row at byte ${at}: ${fields.length} fields, expected ${BANKGW_COLUMNS.length}`);
  const type = fields[bankgw.type]!.trim();
  const kind = type === 'PAY' ? 'payment' : type === 'REFUND' ? 'refund' : undefined;
  if (kind === undefined) throw new RowFormatError(`bankgw statement row at byte ${at}: type must be PAY or REFUND, not ${JSON.stringify(type)}`);
  const group = fields[bankgw.order_no]!.trim();
  if (group === '') throw new RowFormatError(`bankgw statement row at byte ${at}: order_no is empty`);
  const amount_minor = yuanMinor(fields[bankgw.amount]!, 'amount', at);
  if (amount_minor < 0n) throw new RowFormatError(`bankgw statement row at byte ${at}: amount is negative`);
  const fee = yuanMinor(fields[bankgw.fee]!.trim() || '0', 'fee', at);
  const fee_magnitude = fee < 0n ? -fee : fee;
  return {
    side: 'C', kind, group,
    ref: kind === 'payment' ? group : fields[bankgw.refund_no]!.trim(),
    trade_no: (kind === 'payment' ? fields[bankgw.bank_trade_no]! : fields[bankgw.bank_refund_no]!).trim(),
    amount_minor, fee_minor: kind === 'payment' ? fee_magnitude : -fee_magnitude,
    currency: fields[bankgw.currency]!.trim() || 'CNY', status: 'S', date,
  };
}

/** "-123" → -123n. Digits accumulate in a number while that is exact (below 2^53), then one
 * BigInt: the same value BigInt(text) gives, without its cost per row. */
export function integerMinor(text: string, field: string, at: number): bigint {
  const index = text.charCodeAt(0) === 0x2d ? 1 : 0;
  if (index === text.length || text.length - index > 18) throw new RowFormatError(`row at byte ${at}: ${field} is not an integer of at most 18 digits: ${JSON.stringify(text)}`);
  let value = 0;
  for (let digit = index; digit < text.length; digit++) {
    const code = text.charCodeAt(digit) - 0x30;
    if (code < 0 || code > 9) throw new RowFormatError(`row at byte ${at}: ${field} is not an integer: ${JSON.stringify(text)}`);
    value = value * 10 + code;
  }
  const magnitude = Number.isSafeInteger(value) ? BigInt(value) : BigInt(text.slice(index));
  return index === 1 ? -magnitude : magnitude;
}

/** "12.3" / "-0.05" / "7" yuan → minor units, exact (at most 2 decimals, 15 integer digits,
 * as channels/shared/http's parseYuan), read character by character. */
export function yuanMinor(text: string, field: string, at: number): bigint {
  const trimmed = text.trim();
  const bad = () => new RowFormatError(`row at byte ${at}: ${field} is not an amount in yuan with at most 2 decimals: ${JSON.stringify(text)}`);
  const negative = trimmed.charCodeAt(0) === 0x2d;
  let whole_digits = 0;
  let decimals = -1;
  let value = 0;
  for (let index = negative ? 1 : 0; index < trimmed.length; index++) {
    const code = trimmed.charCodeAt(index);
    if (code === 0x2e) {
      // A second point; a point with no digit before it is refused below (whole_digits 0).
      if (decimals !== -1) throw bad();
      decimals = 0;
      continue;
    }
    const digit = code - 0x30;
    if (digit < 0 || digit > 9) throw bad();
    if (decimals === -1) whole_digits += 1;
    else decimals += 1;
    value = value * 10 + digit;
  }
  if (whole_digits === 0 || whole_digits > 15 || decimals === 0 || decimals > 2) throw bad();
  const scale = decimals === 2 ? 1 : decimals === 1 ? 10 : 100;
  let minor: bigint;
  if (Number.isSafeInteger(value * scale)) minor = BigInt(value * scale);
  else minor = BigInt(trimmed.replace('-', '').replace('.', '')) * BigInt(scale);
  return negative ? -minor : minor;
}

/** Splits [0, length) into about `parts` ranges that start and end at line boundaries. */
export function lineRanges(bytes: Uint8Array, parts: number): Array<[number, number]> {
  assert(parts >= 1, 'recon: parts must be at least 1');
  const ranges: Array<[number, number]> = [];
  let start = 0;
  for (let part = 1; part <= parts && start < bytes.length; part++) {
    let end = part === parts ? bytes.length : Math.max(start, Math.floor((bytes.length * part) / parts));
    if (end < bytes.length) {
      const at = bytes.indexOf(newline, end);
      end = at === -1 ? bytes.length : at + 1;
    }
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}

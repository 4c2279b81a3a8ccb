// One reconciliation run: a channel's statement for a day against the books' movements of that
// day and the pool earlier runs left, matched on the worker pool, committed at once
// (core/recon/store.ts). Safe to repeat: the statement is stored once per content, and every
// difference and posting the commit writes has a unique key.

import type { StatementParser, StatementRow } from '../../channels/channel';
import { decodeRow, encodeRows, isRowLine, lineEnd, RowFormatError, type RowFormat } from './format';
import type { ReconPool } from './parallel';
import type { ReconStore } from './store';
import type { MatchResult, ReconRow } from './types';

/** The statement parsers of the adapters by format (channels/channel.ts StatementParser),
 * handed in by the composition root. */
export type StatementParsers = ReadonlyMap<string, StatementParser>;

/** The formats the pool reads as they are; any other is parsed by its adapter's parser and
 * normalised first. */
const row_formats: readonly string[] = ['bankgw', 'recon'] satisfies RowFormat[];

function isRowFormat(format: string): format is RowFormat {
  return row_formats.includes(format);
}

/** Whether this paycore reads statements written in `format`. */
export function readsFormat(format: string, parsers: StatementParsers): boolean {
  return isRowFormat(format) || parsers.has(format);
}

/** Days an unmatched row waits in the pool before it is 长款 or 短款: a statement cut at
 * another hour than ours, or a day late, resolves within them. */
export const pool_days_default = 3;

export interface StatementInput {
  channel_id: string;
  /** The statement's day (YYYY-MM-DD): the day reconciled. */
  date: string;
  /** A row format, or one of `parsers`. */
  format: string;
  bytes: Buffer;
}

export interface RunOutcome {
  statement_id: bigint;
  sha256: string;
  result: MatchResult;
  differences_added: number;
  postings_added: number;
}

/** A statement row an adapter parsed → the normalised row. Refunds match on our refund id: the
 * adapters' rows carry the payment's trade number, not the refund's. */
function fromStatementRow(row: StatementRow, date: string): ReconRow {
  const payment = row.kind === 'payment';
  return {
    side: 'C', kind: row.kind, group: row.attempt_id, ref: payment ? row.attempt_id : row.refund_id ?? '', trade_no: payment ? row.channel_trade_no : '',
    amount_minor: row.amount_minor, fee_minor: row.fee_minor, currency: row.currency, status: 'S', date,
  };
}

/** A provider's statement file, read by its adapter's parser (an archive is read
 * asynchronously), normalised. A refund row that names its payment only by the channel's trade
 * number (attempt_id '') takes the attempt the books know by that number, so it matches our
 * refund even when its payment was on an earlier day's statement; one the books do not know
 * waits in the pool under `trade:<number>`. */
async function parsedRows(input: StatementInput, parsers: StatementParsers, store: ReconStore): Promise<ReconRow[]> {
  if (input.bytes.length === 0) return [];
  const parse = parsers.get(input.format);
  if (parse === undefined) throw new RowFormatError(`statement format ${input.format}: no adapter parses it`);
  const rows = await parse(input.bytes, input.channel_id);
  const unnamed = rows.filter((row) => row.attempt_id === '');
  if (unnamed.length > 0) {
    const attempts = await store.attemptsByTradeNo(input.channel_id, [...new Set(unnamed.map((row) => row.channel_trade_no))]);
    for (const row of unnamed) row.attempt_id = attempts.get(row.channel_trade_no) ?? `trade:${row.channel_trade_no}`;
  }
  return rows.map((row) => fromStatementRow(row, input.date));
}

/** Every row of a statement in a row format, normalised (for storage). */
function statementRows(input: StatementInput, format: RowFormat): ReconRow[] {
  if (input.bytes.length === 0) return [];
  const rows: ReconRow[] = [];
  for (let start = 0; start < input.bytes.length; ) {
    const end = lineEnd(input.bytes, start, input.bytes.length);
    const trimmed = end > start && input.bytes[end - 1] === 0x0d ? end - 1 : end;
    if (isRowLine(input.bytes, start, trimmed, format)) {
      const row = decodeRow(input.bytes, start, end, format, input.date);
      if (row.side !== 'C') throw new RowFormatError(`statement row at byte ${start}: side must be C (a channel's row), not ${row.side}`);
      rows.push(row);
    }
    start = end + 1;
  }
  return rows;
}

export async function reconcileDay(
  deps: { store: ReconStore; pool: ReconPool; pool_days: number; parsers: StatementParsers },
  input: StatementInput,
  options: { crash_after_differences?: number } = {},
): Promise<RunOutcome> {
  const format = input.format;
  // A provider's file is read by its parser before anything is stored: one it cannot read is not kept.
  const parsed = isRowFormat(format) ? undefined : await parsedRows(input, deps.parsers, deps.store);
  let rows = parsed;
  const rowsOnce = () => (rows ??= isRowFormat(format) ? statementRows(input, format) : []);
  const saved = await deps.store.saveStatement(input.channel_id, input.date, format, input.bytes, rowsOnce);
  const statement = parsed === undefined && isRowFormat(format)
    ? { bytes: input.bytes, format, date: input.date }
    : { bytes: Buffer.from(encodeRows(parsed ?? [])), format: 'recon' as const, date: input.date };
  const [ours, pool] = await Promise.all([deps.store.ourRows(input.channel_id, input.date), deps.store.poolBefore(input.channel_id, input.date)]);
  const result = await deps.pool.reconcile(input.date, [
    statement,
    { bytes: ours, format: 'recon', date: input.date },
    { bytes: pool, format: 'recon', date: input.date },
  ], deps.pool_days);
  const committed = await deps.store.commitRun(input.channel_id, input.date, saved.statement_id, result, options);
  return { statement_id: saved.statement_id, sha256: saved.sha256, result, ...committed };
}

// Reconciliation's vocabulary: a normalised statement row (the channel's or ours), the classes
// of difference, and what a day's matching returns. Pure types; see core/recon/README.md.

/** Whose record a row is: the channel's statement (C) or our books (O). */
type Side = 'C' | 'O';

/**
 * What a row says happened, as far as reconciliation cares:
 * S — succeeded (a bill lists only these); F — we recorded the attempt or refund as failed or
 * closed; D — a second payment of one order we know about (DuplicatePaymentDetected).
 */
type RowStatus = 'S' | 'F' | 'D';

export interface ReconRow {
  side: Side;
  kind: 'payment' | 'refund';
  /** The order the row belongs to on the channel: our attempt id (the provider's
   * out_trade_no), or a combined order's number. Rows of one group are matched together. */
  group: string;
  /** Payment: our attempt id; refund: our refund id ('' when the channel does not list it). */
  ref: string;
  /** Payment: the channel's trade number; refund: the channel's refund number ('' unknown). */
  trade_no: string;
  /** Positive, integer minor units. */
  amount_minor: bigint;
  /** The channel's fee (negative when returned on a refund); undefined: ours does not know it. */
  fee_minor: bigint | undefined;
  currency: string;
  status: RowStatus;
  /** The business date (YYYY-MM-DD) of the statement or books the row comes from. */
  date: string;
}

export const difference_classes = [
  /** 长款: the channel has it, we do not. */
  'CHANNEL_ONLY',
  /** 短款: we have it, the channel does not. */
  'OURS_ONLY',
  'AMOUNT_MISMATCH',
  'FEE_MISMATCH',
  /** The channel took it, we recorded it failed or closed (or the other way round). */
  'STATUS_MISMATCH',
  /** Listed on another day than ours, matched within the pool's days: resolved by itself. */
  'CUTOFF_SHIFT',
  /** The channel lists a second payment of an order we know only one of. */
  'PAID_TWICE',
  /** Was 短款 (OURS_ONLY): the channel's query says it took the payment, yet no statement
   * within the pool's days lists it — a cut-off past the pool, or an omission in the
   * statement. Never found by matching: the 短款 action reclassifies it (core/recon/act.ts). */
  'UNLISTED',
] as const;
export type DifferenceClass = (typeof difference_classes)[number];

export interface Difference {
  class: DifferenceClass;
  kind: ReconRow['kind'];
  group: string;
  /** The rows on each side the difference is about (one side empty for 长款/短款). */
  channel: ReconRow[];
  ours: ReconRow[];
}

export interface MatchOptions {
  /** The day being reconciled (YYYY-MM-DD). */
  day: string;
  /** How many days an unmatched row waits in the pool before it is a difference (3). */
  pool_days: number;
}

export interface MatchTotals {
  /** Pairs or groups matched without a difference (a cut-off shift counts as a difference). */
  matched_count: number;
  matched_channel_minor: bigint;
  matched_ours_minor: bigint;
  channel_rows: number;
  ours_rows: number;
}

export interface MatchResult {
  totals: MatchTotals;
  differences: Difference[];
  /** Unmatched rows still waiting (their date is less than pool_days before the day). */
  pool: ReconRow[];
}

export function emptyTotals(): MatchTotals {
  return { matched_count: 0, matched_channel_minor: 0n, matched_ours_minor: 0n, channel_rows: 0, ours_rows: 0 };
}

export function addTotals(into: MatchTotals, from: MatchTotals): MatchTotals {
  into.matched_count += from.matched_count;
  into.matched_channel_minor += from.matched_channel_minor;
  into.matched_ours_minor += from.matched_ours_minor;
  into.channel_rows += from.channel_rows;
  into.ours_rows += from.ours_rows;
  return into;
}

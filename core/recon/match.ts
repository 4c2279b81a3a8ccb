// The matcher (pure: no I/O, no clock): the channel's rows against ours, group by group, and
// every difference classified. The rows given are one day's of both sides plus the pool (rows
// of earlier days still unmatched); a caller may split them by group into shards and match
// each shard alone (core/recon/parallel.ts), because no match crosses a group.
//
// Within a group (one order on the channel), per kind:
//   1. 1:1 on the channel's trade or refund number (exactly one row each side);
//   2. a channel payment whose attempt already matched under another trade number: PAID_TWICE;
//   3. 1:1 on our id (attempt id, refund id) — what an unpaid attempt of ours matches on;
//   4. N:N: what is left on both sides compared as sums (partial refunds the channel lists
//      merged or split, combined payments);
//   5. one side only: waits in the pool until it is pool_days old, then 长款 / 短款.
// A pair or group is compared status, then amount and currency, then fee; a clean match of
// rows of different dates is a cut-off shift (a difference that resolved itself).

import { assert } from '../errors';
import type { Difference, DifferenceClass, MatchOptions, MatchResult, MatchTotals, ReconRow } from './types';
import { emptyTotals } from './types';

export function matchRows(rows: Iterable<ReconRow>, options: MatchOptions): MatchResult {
  const groups = new Map<string, ReconRow | ReconRow[]>();
  const totals = emptyTotals();
  for (const row of rows) {
    if (row.side === 'C') totals.channel_rows += 1;
    else totals.ours_rows += 1;
    const seen = groups.get(row.group);
    if (seen === undefined) groups.set(row.group, row);
    else if (Array.isArray(seen)) seen.push(row);
    else groups.set(row.group, [seen, row]);
  }
  const context = new MatchContext(options, totals);
  for (const members of groups.values()) {
    if (!Array.isArray(members)) context.leftover(members);
    else if (!context.pairFast(members)) context.matchGroup(members);
  }
  return { totals, differences: context.differences, pool: context.pool };
}

const day_ms = 86_400_000;

class MatchContext {
  readonly differences: Difference[] = [];
  readonly pool: ReconRow[] = [];
  readonly #day_number: number;
  readonly #day_numbers = new Map<string, number>();

  constructor(readonly options: MatchOptions, readonly totals: MatchTotals) {
    this.#day_number = dayNumber(options.day);
    assert(Number.isInteger(options.pool_days) && options.pool_days >= 0, `recon: pool_days ${options.pool_days}`);
  }

  /** Two rows, one each side, of one kind: the common case without any map. Whatever their
   * numbers, matchGroup would compare exactly these two (paired 1:1 on a number, or else as
   * what is left on both sides), so this only spares it the work. */
  pairFast(members: ReconRow[]): boolean {
    if (members.length !== 2) return false;
    const [a, b] = members as [ReconRow, ReconRow];
    if (a.side === b.side || a.kind !== b.kind) return false;
    this.#judge(a.side === 'C' ? [a] : [b], a.side === 'C' ? [b] : [a]);
    return true;
  }

  matchGroup(members: ReconRow[]): void {
    for (const kind of ['payment', 'refund'] as const) {
      const channel = members.filter((row) => row.kind === kind && row.side === 'C');
      const ours = members.filter((row) => row.kind === kind && row.side === 'O');
      const matched_ours: ReconRow[] = [];
      this.#oneToOne(channel, ours, (row) => row.trade_no, matched_ours);
      if (kind === 'payment') this.#paidTwice(channel, matched_ours);
      this.#oneToOne(channel, ours, (row) => row.ref, matched_ours);
      const channel_left = channel.filter((row) => !this.#used.has(row));
      const ours_left = ours.filter((row) => !this.#used.has(row));
      if (channel_left.length > 0 && ours_left.length > 0) this.#compare(channel_left, ours_left);
      else for (const row of [...channel_left, ...ours_left]) this.leftover(row);
    }
  }

  readonly #used = new WeakSet<ReconRow>();

  /** Pairs rows whose key is non-empty and found exactly once on each side (unused so far). */
  #oneToOne(channel: ReconRow[], ours: ReconRow[], key: (row: ReconRow) => string, matched_ours: ReconRow[]): void {
    const count = new Map<string, { channel?: ReconRow; ours?: ReconRow; many: boolean }>();
    const add = (row: ReconRow, side: 'channel' | 'ours') => {
      const value = key(row);
      if (value === '' || this.#used.has(row)) return;
      const slot = count.get(value) ?? { many: false };
      if (slot[side] !== undefined) slot.many = true;
      slot[side] = row;
      count.set(value, slot);
    };
    for (const row of channel) add(row, 'channel');
    for (const row of ours) add(row, 'ours');
    for (const slot of count.values()) {
      if (slot.many || slot.channel === undefined || slot.ours === undefined) continue;
      this.#used.add(slot.channel).add(slot.ours);
      matched_ours.push(slot.ours);
      this.pair(slot.channel, slot.ours);
    }
  }

  /** A channel payment left over whose attempt matched already under another trade number. */
  #paidTwice(channel: ReconRow[], matched_ours: ReconRow[]): void {
    for (const row of channel) {
      if (this.#used.has(row) || row.ref === '') continue;
      const first = matched_ours.find((ours) => ours.ref === row.ref && ours.trade_no !== row.trade_no);
      if (first === undefined) continue;
      this.#used.add(row);
      this.#difference('PAID_TWICE', [row], [first]);
    }
  }

  pair(channel: ReconRow, ours: ReconRow): void {
    this.#compare([channel], [ours]);
  }

  #compare(channel: ReconRow[], ours: ReconRow[]): void {
    for (const row of channel) this.#used.add(row);
    for (const row of ours) this.#used.add(row);
    this.#judge(channel, ours);
  }

  #judge(channel: ReconRow[], ours: ReconRow[]): void {
    const sum = (rows: ReconRow[]) => rows.reduce((total, row) => total + row.amount_minor, 0n);
    const channel_minor = sum(channel);
    const ours_minor = sum(ours);
    const currencies = new Set([...channel, ...ours].map((row) => row.currency));
    let found: DifferenceClass | undefined;
    if (channel.some((row) => row.status !== 'S') || ours.some((row) => row.status === 'F')) found = 'STATUS_MISMATCH';
    else if (channel_minor !== ours_minor || currencies.size !== 1) found = 'AMOUNT_MISMATCH';
    else if (ours.every((row) => row.fee_minor !== undefined) && channel.reduce((t, r) => t + (r.fee_minor ?? 0n), 0n) !== ours.reduce((t, r) => t + (r.fee_minor ?? 0n), 0n)) found = 'FEE_MISMATCH';
    else if (channel.some((row) => row.date !== ours[0]!.date) || ours.some((row) => row.date !== ours[0]!.date)) found = 'CUTOFF_SHIFT';
    if (found !== undefined) return this.#difference(found, channel, ours);
    this.totals.matched_count += 1;
    this.totals.matched_channel_minor += channel_minor;
    this.totals.matched_ours_minor += ours_minor;
  }

  /** A row nothing matched: an attempt of ours that never took money is nobody's difference;
   * the rest waits in the pool until it is pool_days old. */
  leftover(row: ReconRow): void {
    if (row.side === 'O' && row.status === 'F') return;
    const age_days = this.#day_number - this.#dayOf(row.date);
    if (age_days >= this.options.pool_days) this.#difference(row.side === 'C' ? 'CHANNEL_ONLY' : 'OURS_ONLY', row.side === 'C' ? [row] : [], row.side === 'O' ? [row] : []);
    else this.pool.push(row);
  }

  #difference(found: DifferenceClass, channel: ReconRow[], ours: ReconRow[]): void {
    const first = channel[0] ?? ours[0]!;
    this.differences.push({ class: found, kind: first.kind, group: first.group, channel, ours });
  }

  #dayOf(date: string): number {
    let number = this.#day_numbers.get(date);
    if (number === undefined) {
      number = dayNumber(date);
      this.#day_numbers.set(date, number);
    }
    return number;
  }
}

/** Days since 1970-01-01 of a YYYY-MM-DD date. */
function dayNumber(date: string): number {
  const at = Date.parse(`${date}T00:00:00Z`);
  assert(/^\d{4}-\d{2}-\d{2}$/.test(date) && Number.isFinite(at), `recon: not a date: ${date}`);
  return at / day_ms;
}

/** The date `days` after a YYYY-MM-DD date. */
export function addDays(date: string, days: number): string {
  return new Date((dayNumber(date) + days) * day_ms).toISOString().slice(0, 10);
}

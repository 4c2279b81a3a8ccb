// The books' daily routine, run by every paycore process that keeps books: the settlement
// cut-off of today (T+N: each merchant's pending lines of business days at least N days old
// become available) and the day-end close (日切) of yesterday. Both are safe to run from many
// processes and many times: a pending line is settled once (its key), a day is closed once
// (the second close is refused and ignored here).

import type { Logger } from '../log';
import { LedgerError, type LedgerStore } from './store';

/** The calendar date (YYYY-MM-DD) of an instant in a time zone. */
export function businessDate(at: Date, time_zone: string): string {
  // en-CA formats dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: time_zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

export function previousDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}

/** One round: settle today's cut-off, close yesterday if it is still open. */
export async function runCutoff(store: LedgerStore, time_zone: string, now: Date, log: Logger): Promise<void> {
  const today = businessDate(now, time_zone);
  const batches = await store.settle(today);
  if (batches.length > 0) log.info({ business_date: today, batches: batches.length }, 'ledger: settlement cut-off');
  try {
    const closed = await store.closeDay(previousDate(today));
    log.info({ business_date: previousDate(today), debit_total_minor: String(closed.debit_total_minor) }, 'ledger: day closed');
  } catch (error) {
    if (!(error instanceof LedgerError && error.reason === 'FAILED_PRECONDITION')) throw error; // closed already
  }
}

/** Runs a cut-off round now and every `interval_ms`; returns the stop function. */
export function scheduleCutoff(store: LedgerStore, time_zone: string, interval_ms: number, log: Logger): () => void {
  const round = (): void => void runCutoff(store, time_zone, new Date(), log).catch((error: unknown) => log.warn({ err: String(error) }, 'ledger: cut-off round failed; the next round retries'));
  const timer = setInterval(round, interval_ms);
  timer.unref();
  round();
  return () => clearInterval(timer);
}

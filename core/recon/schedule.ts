// The daily pull (core/recon/README.md, "The daily pull"): per channel that can download its
// statement, the next day to reconcile is a row of recon_schedule in PostgreSQL. Every round,
// for each day before today (in the books' time zone) it claims the row (FOR UPDATE SKIP
// LOCKED: one process at a time, the others skip it), downloads the statement through the
// adapter, reconciles it (run.ts) and moves the row to the next day; a download or run that
// fails backs off (doubling up to retry_ms_max) and tries again — the provider has not
// published yet, or is down. The state is in PostgreSQL: a restart continues where it stopped,
// and a run repeated after a crash adds nothing (its keys).

import type { Channel } from '../../channels/channel';
import { businessDate, previousDate } from '../ledger/cutoff';
import type { Logger } from '../log';
import { actOnDay, type ActDeps } from './act';
import { addDays } from './match';
import type { ReconPool } from './parallel';
import { reconcileDay, type RunOutcome, type StatementParsers } from './run';
import type { ReconStore } from './store';

export interface ScheduleDeps {
  store: ReconStore;
  pool: ReconPool;
  pool_days: number;
  parsers: StatementParsers;
  channels: ReadonlyMap<string, Channel>;
  time_zone: string;
  log: Logger;
  /** The automatic actions after a run (补单, duplicate refunds); absent: none. */
  act?: ActDeps;
  retry_ms_base?: number;
  retry_ms_max?: number;
}

/** Days one round reconciles per channel at most (a channel far behind catches up over rounds). */
const days_per_round_max = 7;

/** Downloads and reconciles the statement of a channel and day (RerunDay, the schedule). */
export async function pullDay(deps: Pick<ScheduleDeps, 'store' | 'pool' | 'pool_days' | 'parsers' | 'act'>, channel: Channel, date: string): Promise<RunOutcome> {
  if (channel.downloadStatementFile === undefined) throw new Error(`channel ${channel.channel_id} cannot download its statement file`);
  const file = await channel.downloadStatementFile(date);
  const outcome = await reconcileDay(deps, { channel_id: channel.channel_id, date, format: file.format, bytes: file.bytes });
  if (deps.act !== undefined) await actOnDay(deps.act, deps.store, channel, date);
  return outcome;
}

/** One round over every channel; returns the days reconciled. */
export async function runDue(deps: ScheduleDeps, now: Date): Promise<number> {
  const today = businessDate(now, deps.time_zone);
  let days = 0;
  for (const channel of deps.channels.values()) {
    if (channel.downloadStatementFile === undefined) continue;
    // A channel's first day is yesterday: what happened before paycore reconciled it is not
    // in a statement it will ask for.
    await deps.store.pool.query('INSERT INTO recon_schedule (channel_id, next_date) VALUES ($1, $2) ON CONFLICT (channel_id) DO NOTHING', [channel.channel_id, previousDate(today)]);
    for (let round = 0; round < days_per_round_max; round++) {
      const done = await claimAndRun(deps, channel, today, now);
      if (!done) break;
      days += 1;
    }
  }
  return days;
}

async function claimAndRun(deps: ScheduleDeps, channel: Channel, today: string, now: Date): Promise<boolean> {
  const client = await deps.store.pool.connect();
  try {
    await client.query('BEGIN');
    const claimed = await client.query<{ next_date: string; attempts: number }>(
      'SELECT next_date, attempts FROM recon_schedule WHERE channel_id = $1 AND next_date < $2 AND next_attempt_at <= $3 FOR UPDATE SKIP LOCKED',
      [channel.channel_id, today, now],
    );
    const row = claimed.rows[0];
    if (row === undefined) {
      await client.query('COMMIT');
      return false;
    }
    try {
      const outcome = await pullDay(deps, channel, row.next_date);
      await client.query('UPDATE recon_schedule SET next_date = $2, attempts = 0, last_error = NULL, next_attempt_at = now(), updated_at = now() WHERE channel_id = $1', [channel.channel_id, addDays(row.next_date, 1)]);
      await client.query('COMMIT');
      deps.log.info({ channel_id: channel.channel_id, business_date: row.next_date, differences_added: outcome.differences_added, matched: outcome.result.totals.matched_count }, 'recon: day reconciled');
      return true;
    } catch (error) {
      const base = deps.retry_ms_base ?? 60_000;
      const wait_ms = Math.min(deps.retry_ms_max ?? 3_600_000, base * 2 ** Math.min(row.attempts, 20));
      await client.query(
        `UPDATE recon_schedule SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3::timestamptz + $4 * interval '1 millisecond', updated_at = now() WHERE channel_id = $1`,
        [channel.channel_id, String(error).slice(0, 500), now, wait_ms],
      );
      await client.query('COMMIT');
      deps.log.warn({ channel_id: channel.channel_id, business_date: row.next_date, attempts: row.attempts + 1, retry_in_ms: wait_ms, err: String(error) }, 'recon: statement not reconciled; retrying later');
      return false;
    }
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Runs a round now and every `interval_ms`; returns the stop function. */
export function scheduleRecon(deps: ScheduleDeps, interval_ms: number): () => void {
  let running = false;
  const round = (): void => {
    if (running) return;
    running = true;
    void runDue(deps, new Date())
      .catch((error: unknown) => deps.log.warn({ err: String(error) }, 'recon: schedule round failed; the next round retries'))
      .finally(() => (running = false));
  };
  const timer = setInterval(round, interval_ms);
  timer.unref();
  round();
  return () => clearInterval(timer);
}

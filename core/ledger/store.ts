// The books in PostgreSQL: postings, the projection's progress, the query side, settlement,
// holds and the day-end close. Every write that belongs together is one transaction; the
// database itself enforces balanced entries and balance floors (migrations/).

import path from 'node:path';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { assert } from '../errors';
import type { PaymentEvent, PaymentState } from '../orders/types';
import { applySplitReturns } from './splits';
import { fundingCover, lockFunds } from './funding';
import { default_book_settings, linesOf, platform_owner, postingsOf, type AccountCode, type MerchantBookSettings, type Posting } from './rules';

const int8_oid = 20;
const date_oid = 1082;

/** int8 as bigint (never a float), a date as its 'YYYY-MM-DD' text (never a local-time Date). */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === int8_oid) return (value: string) => BigInt(value);
    if (oid === date_oid) return (value: string) => value;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

/** Posting transactions hold this advisory lock shared, the day-end close exclusive: a close
 * sees no posting half-way, and nothing posts into a day being closed. */
export const close_lock_key = 0x6c656467; // 'ledg'

/** Where the SQL migrations live: beside this file in the sources, and read from the sources
 * when running the compiled dist/ (tsc copies no .sql). */
function migrationsDir(): string {
  for (const candidate of [path.join(__dirname, 'migrations'), path.resolve(__dirname, '../../../core/ledger/migrations')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('ledger: migrations directory not found');
}

/** Applies every pending migration (node-pg-migrate: versioned files, a lock so that two
 * processes booting together do not both migrate, a table of what ran). */
export async function migrate(database_url: string, log: (message: string) => void = () => undefined): Promise<void> {
  // node-pg-migrate is an ES module: loaded with import(), which the CommonJS build keeps.
  const { runner } = await import('node-pg-migrate');
  await runner({ databaseUrl: database_url, dir: migrationsDir(), direction: 'up', migrationsTable: 'pgmigrations', log, noLock: false, checkOrder: true, verbose: false });
}

export interface StreamMessage {
  seq: number;
  events: readonly PaymentEvent[];
  state: PaymentState;
}

export interface Hold {
  hold_id: string;
  merchant_id: string;
  currency: string;
  amount_minor: bigint;
  reason: string;
  source: 'operator' | 'risk';
  blocks_settlement: boolean;
  placed_at: Date;
  released_at: Date | null;
}
type HoldRow = Hold;
const hold_columns = 'hold_id, merchant_id, currency, amount_minor, reason, source, blocks_settlement, placed_at, released_at';

export interface AccountBalance {
  code: AccountCode;
  owner: string;
  currency: string;
  balance_minor: bigint;
}

interface TrialBalanceRow {
  code: AccountCode;
  currency: string;
  debit_minor: bigint;
  credit_minor: bigint;
}

export interface TrialBalance {
  rows: TrialBalanceRow[];
  debit_total_minor: bigint;
  credit_total_minor: bigint;
  balanced: boolean;
}

export class LedgerStore {
  readonly pool: pg.Pool;
  /** account key → id, only for accounts whose creating transaction committed. */
  private readonly account_ids = new Map<string, bigint>();

  constructor(database_url: string, readonly timezone = 'Asia/Shanghai', pool_max = 4) {
    this.pool = new pg.Pool({ connectionString: database_url, max: pool_max, types });
    // An idle client's error (the server restarting) must not crash the process: the next
    // query reconnects.
    this.pool.on('error', () => undefined);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async transaction<T>(work: (client: pg.PoolClient, created: Map<string, bigint>) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const created = new Map<string, bigint>();
    try {
      await client.query('BEGIN');
      const result = await work(client, created);
      await client.query('COMMIT');
      for (const [key, id] of created) this.account_ids.set(key, id);
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The last stream sequence the consumer applied (0: none). */
  async progress(consumer: string): Promise<number> {
    const result = await this.pool.query<{ stream_seq: bigint }>('SELECT stream_seq FROM projection_progress WHERE consumer = $1', [consumer]);
    return result.rows.length === 0 ? 0 : Number(result.rows[0]!.stream_seq);
  }

  /** Posts a batch of stream messages and advances the consumer's progress to the last of
   * them, in one transaction: either all of it is in the books or none, so a crash at any
   * point neither loses nor repeats a message. Messages at or below the recorded progress are
   * skipped (a redelivery), and each posting's key is unique besides. Returns the number of
   * journal entries written. */
  async applyMessages(consumer: string, messages: readonly StreamMessage[]): Promise<number> {
    if (messages.length === 0) return 0;
    return this.transaction(async (client, created) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
      const done = await client.query<{ stream_seq: bigint }>('SELECT stream_seq FROM projection_progress WHERE consumer = $1 FOR UPDATE', [consumer]);
      const after = done.rows.length === 0 ? 0 : Number(done.rows[0]!.stream_seq);
      const fresh = messages.filter((m) => m.seq > after);
      if (fresh.length === 0) return 0;
      const settings = await this.settingsOf(client, [...new Set(fresh.map((m) => m.state.merchant_id))]);
      const open_date = await openDate(client);
      let entries = 0;
      for (const message of fresh) {
        const postings = postingsOf(message.events, message.state, settings.get(message.state.merchant_id) ?? default_book_settings);
        const post = (posting: Posting): Promise<boolean> => this.post(client, created, posting, open_date, message.seq);
        for (const posting of postings) if (await post(posting)) entries += 1;
        await upsertQueryRows(client, message.state, this.timezone);
        // Splits (分账): a refund takes the receivers' shares back first (core/ledger/splits.ts).
        await applySplitReturns({ client, post }, message.state, message.events);
      }
      // Refunds now in the books no longer need their funding reservation.
      const posted_refunds = fresh.flatMap((m) => m.events.flatMap((e) => (e.type === 'RefundRequested' && e.kind === 'merchant' ? [e.refund_id] : [])));
      if (posted_refunds.length > 0) await client.query('DELETE FROM refund_reservations WHERE refund_id = ANY($1)', [posted_refunds]);
      const last = fresh[fresh.length - 1]!.seq;
      await client.query(
        `INSERT INTO projection_progress (consumer, stream_seq, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (consumer) DO UPDATE SET stream_seq = EXCLUDED.stream_seq, updated_at = now()`,
        [consumer, last],
      );
      return entries;
    });
  }

  /** Writes one posting unless its key is in the books already. True when written. */
  async post(client: pg.PoolClient, created: Map<string, bigint>, posting: Posting, open_date: string, stream_seq?: number): Promise<boolean> {
    const entry = await client.query<{ entry_id: bigint }>(
      `INSERT INTO journal_entries (entry_key, txn_code, merchant_id, payment_id, ref_id, currency, business_date, stream_seq)
       VALUES ($1, $2, $3, $4, $5, $6, GREATEST(($7::timestamptz AT TIME ZONE $8)::date, $9::date), $10)
       ON CONFLICT (entry_key) DO NOTHING RETURNING entry_id`,
      [
        posting.entry_key,
        posting.txn_code,
        posting.merchant_id,
        posting.payment_id ?? null,
        posting.ref_id ?? null,
        posting.currency,
        posting.at,
        this.timezone,
        open_date,
        stream_seq ?? null,
      ],
    );
    if (entry.rows.length === 0) return false;
    const entry_id = entry.rows[0]!.entry_id;
    const values: unknown[] = [];
    const rows: string[] = [];
    for (const [index, line] of posting.lines.entries()) {
      const account_id = await this.accountId(client, created, line.code, line.owner, posting.currency);
      values.push(entry_id, index + 1, account_id, line.debit_minor, line.credit_minor);
      const base = index * 5;
      rows.push(`($${base + 1}, $${base + 2}, $${base + 3}, $${base + 4}, $${base + 5})`);
    }
    await client.query(`INSERT INTO journal_lines (entry_id, line_no, account_id, debit_minor, credit_minor) VALUES ${rows.join(', ')}`, values);
    return true;
  }

  private async accountId(client: pg.PoolClient, created: Map<string, bigint>, code: AccountCode, owner: string, currency: string): Promise<bigint> {
    const key = `${code}|${owner}|${currency}`;
    const known = this.account_ids.get(key) ?? created.get(key);
    if (known !== undefined) return known;
    const result = await client.query<{ account_id: bigint }>(
      `WITH inserted AS (
         INSERT INTO accounts (code, owner, currency, floor_minor)
         SELECT $1, $2, $3, floor_minor FROM chart WHERE code = $1
         ON CONFLICT (code, owner, currency) DO NOTHING RETURNING account_id)
       SELECT account_id FROM inserted UNION ALL SELECT account_id FROM accounts WHERE code = $1 AND owner = $2 AND currency = $3`,
      [code, owner, currency],
    );
    assert(result.rows.length > 0, `ledger: no account ${key}`);
    const id = result.rows[0]!.account_id;
    created.set(key, id);
    return id;
  }

  async settingsOf(client: pg.ClientBase | pg.Pool, merchant_ids: readonly string[]): Promise<Map<string, MerchantBookSettings>> {
    const result = await client.query<{ merchant_id: string; settlement_days: number; refund_fee_policy: 'kept' | 'returned'; refund_funding: 'refuse' | 'overdraft'; overdraft_limit_minor: bigint }>(
      'SELECT merchant_id, settlement_days, refund_fee_policy, refund_funding, overdraft_limit_minor FROM merchant_settings WHERE merchant_id = ANY($1)',
      [merchant_ids],
    );
    return new Map(
      result.rows.map((row) => [
        row.merchant_id,
        {
          settlement_days: row.settlement_days,
          refund_fee_policy: row.refund_fee_policy,
          refund_funding: row.refund_funding,
          overdraft_limit_minor: row.overdraft_limit_minor,
        },
      ]),
    );
  }

  async setMerchantSettings(merchant_id: string, settings: MerchantBookSettings): Promise<void> {
    await this.pool.query(
      `INSERT INTO merchant_settings (merchant_id, settlement_days, refund_fee_policy, refund_funding, overdraft_limit_minor) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (merchant_id) DO UPDATE SET settlement_days = $2, refund_fee_policy = $3, refund_funding = $4, overdraft_limit_minor = $5`,
      [merchant_id, settings.settlement_days, settings.refund_fee_policy, settings.refund_funding, settings.overdraft_limit_minor],
    );
  }

  /** Every account of an owner (a merchant, a channel, 'platform'), or every account. */
  async balances(owner?: string): Promise<AccountBalance[]> {
    const result = await this.pool.query<AccountBalance>(
      'SELECT code, owner, currency, balance_minor FROM accounts WHERE $1::text IS NULL OR owner = $1 ORDER BY owner, currency, code',
      [owner ?? null],
    );
    return result.rows;
  }

  /** Σ debit and Σ credit per account code and currency, up to a business date (inclusive)
   * or over everything; balanced when the totals agree. */
  async trialBalance(through_date?: string): Promise<TrialBalance> {
    const result = await this.pool.query<TrialBalanceRow>(
      `SELECT a.code, a.currency, sum(l.debit_minor)::bigint AS debit_minor, sum(l.credit_minor)::bigint AS credit_minor
         FROM journal_lines l JOIN journal_entries e USING (entry_id) JOIN accounts a USING (account_id)
        WHERE $1::date IS NULL OR e.business_date <= $1::date
        GROUP BY a.code, a.currency ORDER BY a.currency, a.code`,
      [through_date ?? null],
    );
    let debit_total_minor = 0n;
    let credit_total_minor = 0n;
    for (const row of result.rows) {
      debit_total_minor += row.debit_minor;
      credit_total_minor += row.credit_minor;
    }
    return { rows: result.rows, debit_total_minor, credit_total_minor, balanced: debit_total_minor === credit_total_minor };
  }

  /** Day-end close (日切) of a business date: snapshots every account's cumulative debits,
   * credits and balance through that date, and records the trial balance (the table refuses
   * one that does not balance). Later postings dated on or before it go to the next open
   * day. Closing a date already closed, or before the last close, is refused. */
  async closeDay(business_date: string): Promise<TrialBalance> {
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [close_lock_key]);
      const last = await client.query<{ last: string | null }>('SELECT max(business_date)::text AS last FROM day_closes');
      const closed = last.rows[0]!.last;
      if (closed !== null && closed >= business_date) throw new LedgerError('FAILED_PRECONDITION', `business_date ${business_date} is closed already (last close ${closed})`);
      const snapshot = await client.query<{ debit_minor: bigint; credit_minor: bigint }>(
        `WITH sums AS (
           SELECT l.account_id, sum(l.debit_minor)::bigint AS debit_minor, sum(l.credit_minor)::bigint AS credit_minor
             FROM journal_lines l JOIN journal_entries e USING (entry_id) WHERE e.business_date <= $1::date GROUP BY l.account_id)
         SELECT coalesce(sum(debit_minor), 0)::bigint AS debit_minor, coalesce(sum(credit_minor), 0)::bigint AS credit_minor FROM sums`,
        [business_date],
      );
      const totals = snapshot.rows[0]!;
      await client.query('INSERT INTO day_closes (business_date, debit_total_minor, credit_total_minor) VALUES ($1, $2, $3)', [business_date, totals.debit_minor, totals.credit_minor]);
      await client.query(
        `INSERT INTO account_day_balances (business_date, account_id, debit_minor, credit_minor, balance_minor)
         SELECT $1::date, a.account_id, coalesce(s.debit_minor, 0), coalesce(s.credit_minor, 0),
                CASE WHEN c.normal_side = 'debit' THEN coalesce(s.debit_minor, 0) - coalesce(s.credit_minor, 0) ELSE coalesce(s.credit_minor, 0) - coalesce(s.debit_minor, 0) END
           FROM accounts a JOIN chart c ON c.code = a.code
           LEFT JOIN (SELECT l.account_id, sum(l.debit_minor)::bigint AS debit_minor, sum(l.credit_minor)::bigint AS credit_minor
                        FROM journal_lines l JOIN journal_entries e USING (entry_id) WHERE e.business_date <= $1::date GROUP BY l.account_id) s
             ON s.account_id = a.account_id`,
        [business_date],
      );
      return { rows: [], debit_total_minor: totals.debit_minor, credit_total_minor: totals.credit_minor, balanced: totals.debit_minor === totals.credit_minor };
    });
  }

  /** The settlement cut-off of `today` (a business date): for every merchant, the pending
   * lines of business days at least its settlement_days before today, not settled yet, move
   * to available in one batch per merchant and currency. Each pending line is settled once
   * (settlement_lines' key), so running it twice settles nothing twice. */
  async settle(today: string): Promise<{ merchant_id: string; currency: string; amount_minor: bigint; batch_id: bigint }[]> {
    const candidates = await this.pool.query<{ owner: string; currency: string }>(
      `SELECT owner, currency FROM accounts WHERE code = 'merchant_pending' AND balance_minor > 0 ORDER BY owner, currency`,
    );
    const batches = [];
    for (const { owner, currency } of candidates.rows) {
      const batch = await this.settleMerchant(owner, currency, today);
      if (batch !== undefined) batches.push(batch);
    }
    return batches;
  }

  private async settleMerchant(merchant_id: string, currency: string, today: string) {
    return this.transaction(async (client, created) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
      const account = await client.query<{ account_id: bigint }>(`SELECT account_id FROM accounts WHERE code = 'merchant_pending' AND owner = $1 AND currency = $2 FOR UPDATE`, [merchant_id, currency]);
      // A risk hold stops the merchant's settlement: its pending money waits for the release.
      const held = await client.query('SELECT 1 FROM holds WHERE merchant_id = $1 AND currency = $2 AND released_at IS NULL AND blocks_settlement LIMIT 1', [merchant_id, currency]);
      if (held.rows.length > 0) return undefined;
      const settings = (await this.settingsOf(client, [merchant_id])).get(merchant_id) ?? default_book_settings;
      const lines = await client.query<{ entry_id: bigint; line_no: number; amount_minor: bigint }>(
        `SELECT l.entry_id, l.line_no, (l.credit_minor - l.debit_minor) AS amount_minor
           FROM journal_lines l JOIN journal_entries e USING (entry_id)
          WHERE l.account_id = $1 AND e.txn_code <> 'SETTLEMENT' AND e.business_date <= $2::date - $3::int
            AND NOT EXISTS (SELECT 1 FROM settlement_lines s WHERE s.entry_id = l.entry_id AND s.line_no = l.line_no)
          ORDER BY l.entry_id`,
        [account.rows[0]!.account_id, today, settings.settlement_days],
      );
      let amount_minor = 0n;
      for (const line of lines.rows) amount_minor += line.amount_minor;
      if (amount_minor <= 0n) return undefined;
      const batch = await client.query<{ batch_id: bigint }>(
        'INSERT INTO settlement_batches (merchant_id, currency, cutoff_date, amount_minor) VALUES ($1, $2, $3::date - $4::int, $5) RETURNING batch_id',
        [merchant_id, currency, today, settings.settlement_days, amount_minor],
      );
      const batch_id = batch.rows[0]!.batch_id;
      await client.query(
        `INSERT INTO settlement_lines (batch_id, entry_id, line_no, amount_minor) SELECT $1, * FROM unnest($2::bigint[], $3::int[], $4::bigint[])`,
        [batch_id, lines.rows.map((l) => l.entry_id), lines.rows.map((l) => l.line_no), lines.rows.map((l) => l.amount_minor)],
      );
      const posting: Posting = {
        entry_key: `settle:${batch_id}`, txn_code: 'SETTLEMENT', merchant_id, ref_id: String(batch_id), currency, at: new Date().toISOString(),
        lines: linesOf('SETTLEMENT', { merchant_id, channel_id: platform_owner, currency }, { gross: amount_minor }),
      };
      await this.post(client, created, posting, await openDate(client));
      await client.query('UPDATE settlement_batches SET entry_id = (SELECT entry_id FROM journal_entries WHERE entry_key = $1) WHERE batch_id = $2', [posting.entry_key, batch_id]);
      return { merchant_id, currency, amount_minor, batch_id };
    });
  }

  /** The refund funding check, before a refund is sent (core/gateway CreateRefund): the
   * merchant's available and pending balance, less the refunds it accepted that the books have
   * not posted yet, must cover the refund — or, under the 'overdraft' policy, not go below
   * −overdraft_limit_minor. Passing reserves the amount (one row per refund_id, so a replay
   * reserves nothing twice). The merchant's accounts and settings row are locked FOR UPDATE
   * meanwhile, so two concurrent checks of one merchant are serialised and each sees the
   * other's reservation, and no posting changes an account that existed at the lock. An
   * account a posting opens after the lock is not locked: the balances and the reservations
   * are therefore read in one statement, one snapshot, so a refund the projection posts
   * meanwhile counts exactly once — as its reservation before its commit, as its posting after
   * (read apart, a commit between the two reads counted it as neither). Frozen money never
   * covers a refund. The receivers' shares of a payment's splits fund that payment's refunds,
   * up to what they reserve (the refund takes them back first: the cover, funding.ts, which a
   * split's allocation keeps under the same locks). Throws LedgerError FAILED_PRECONDITION
   * with the reason. */
  async reserveRefund(refund_id: string, merchant_id: string, currency: string, amount_minor: bigint, payment_id = ''): Promise<void> {
    await this.transaction(async (client) => {
      await lockFunds(client, merchant_id, currency);
      const settings = (await this.settingsOf(client, [merchant_id])).get(merchant_id) ?? default_book_settings;
      // What is left with this refund counted: its payment's shares fund it first (funding.ts).
      const funds = (await fundingCover(client, { merchant_id, currency, refund: { refund_id, payment_id, amount_minor } })) + amount_minor;
      const floor = settings.refund_funding === 'overdraft' ? -settings.overdraft_limit_minor : 0n;
      if (funds - amount_minor < floor) {
        const allowance = settings.refund_funding === 'overdraft' ? ` plus its overdraft limit ${settings.overdraft_limit_minor}` : '';
        throw new LedgerError('FAILED_PRECONDITION', `the merchant's balance ${funds} ${currency}${allowance} cannot fund a refund of ${amount_minor} (policy ${settings.refund_funding})`);
      }
      await client.query(
        'INSERT INTO refund_reservations (refund_id, merchant_id, currency, amount_minor, payment_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (refund_id) DO NOTHING',
        [refund_id, merchant_id, currency, amount_minor, payment_id],
      );
    });
  }

  /** A hold: available → frozen. An operator's (LedgerService PlaceHold) is of an amount;
   * a risk hold (RiskAdminService HoldMerchant) may take the whole available balance
   * (`amount_minor` undefined: what it is now, possibly nothing) and stops the merchant's
   * settlement in that currency while open. Refused (the available balance cannot cover it)
   * rather than driving available below zero. */
  async placeHold(hold_id: string, merchant_id: string, currency: string, amount_minor: bigint | undefined, reason: string, options: { source?: Hold['source']; blocks_settlement?: boolean } = {}): Promise<Hold> {
    if (amount_minor !== undefined && amount_minor <= 0n) throw new LedgerError('INVALID_ARGUMENT', 'amount must be positive');
    const blocks_settlement = options.blocks_settlement ?? false;
    return this.transaction(async (client, created) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
      // A hold that stops settlement takes the pending account's lock that a settlement run
      // takes first: a run either finished before the hold or sees it.
      if (blocks_settlement) await client.query(`SELECT 1 FROM accounts WHERE code = 'merchant_pending' AND owner = $1 AND currency = $2 FOR UPDATE`, [merchant_id, currency]);
      const available = await client.query<{ balance_minor: bigint }>(`SELECT balance_minor FROM accounts WHERE code = 'merchant_available' AND owner = $1 AND currency = $2 FOR UPDATE`, [merchant_id, currency]);
      const balance = available.rows[0]?.balance_minor ?? 0n;
      const amount = amount_minor ?? (balance > 0n ? balance : 0n);
      if (balance < amount) throw new LedgerError('FAILED_PRECONDITION', `available balance ${balance} cannot cover a hold of ${amount}`);
      const inserted = await client.query<HoldRow>(
        `INSERT INTO holds (hold_id, merchant_id, currency, amount_minor, reason, source, blocks_settlement) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (hold_id) DO NOTHING RETURNING ${hold_columns}`,
        [hold_id, merchant_id, currency, amount, reason, options.source ?? 'operator', blocks_settlement],
      );
      if (inserted.rows.length === 0) throw new LedgerError('ALREADY_EXISTS', `hold_id ${hold_id} exists already`);
      if (amount > 0n) {
        const lines = linesOf('HOLD', { merchant_id, channel_id: platform_owner, currency }, { gross: amount });
        await this.post(client, created, { entry_key: `hold:${hold_id}`, txn_code: 'HOLD', merchant_id, ref_id: hold_id, currency, at: new Date().toISOString(), lines }, await openDate(client));
      }
      return inserted.rows[0]!;
    });
  }

  async releaseHold(hold_id: string, merchant_id: string): Promise<Hold> {
    return this.transaction(async (client, created) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
      const hold = await client.query<HoldRow>(`UPDATE holds SET released_at = now() WHERE hold_id = $1 AND merchant_id = $2 AND released_at IS NULL RETURNING ${hold_columns}`, [hold_id, merchant_id]);
      const row = hold.rows[0];
      if (row === undefined) throw new LedgerError('NOT_FOUND', `no open hold ${hold_id}`);
      if (row.amount_minor > 0n) {
        const lines = linesOf('RELEASE', { merchant_id: row.merchant_id, channel_id: platform_owner, currency: row.currency }, { gross: row.amount_minor });
        await this.post(client, created, { entry_key: `release:${hold_id}`, txn_code: 'RELEASE', merchant_id: row.merchant_id, ref_id: hold_id, currency: row.currency, at: new Date().toISOString(), lines }, await openDate(client));
      }
      return row;
    });
  }

  /** A merchant's holds, newest first. */
  async holdsOf(merchant_id: string): Promise<Hold[]> {
    const result = await this.pool.query<HoldRow>(`SELECT ${hold_columns} FROM holds WHERE merchant_id = $1 ORDER BY placed_at DESC, hold_id DESC`, [merchant_id]);
    return result.rows;
  }

  /** Entries with their lines, for tests and the finance queries. */
  async entriesOf(
    payment_id: string,
  ): Promise<
    {
      entry_key: string;
      txn_code: string;
      business_date: string;
      lines: { code: AccountCode; owner: string; debit_minor: bigint; credit_minor: bigint }[];
    }[]
  > {
    const result = await this.pool.query<{
      entry_key: string;
      txn_code: string;
      business_date: string;
      code: AccountCode;
      owner: string;
      debit_minor: bigint;
      credit_minor: bigint;
    }>(
      `SELECT e.entry_key, e.txn_code, e.business_date, a.code, a.owner, l.debit_minor, l.credit_minor
         FROM journal_entries e JOIN journal_lines l USING (entry_id) JOIN accounts a USING (account_id)
        WHERE e.payment_id = $1 ORDER BY e.entry_id, l.line_no`,
      [payment_id],
    );
    const entries = new Map<
      string,
      {
        entry_key: string;
        txn_code: string;
        business_date: string;
        lines: { code: AccountCode; owner: string; debit_minor: bigint; credit_minor: bigint }[];
      }
    >();
    for (const row of result.rows) {
      const entry = entries.get(row.entry_key) ?? { entry_key: row.entry_key, txn_code: row.txn_code, business_date: row.business_date, lines: [] };
      entry.lines.push({ code: row.code, owner: row.owner, debit_minor: row.debit_minor, credit_minor: row.credit_minor });
      entries.set(row.entry_key, entry);
    }
    return [...entries.values()];
  }
}

export interface PaymentFilter {
  merchant_id: string;
  created_from?: Date;
  created_to?: Date;
  status?: string;
  channel_id?: string;
  product?: string;
  merchant_order_no?: string;
  page_size: number;
  /** The last row of the previous page (created_at, id): rows strictly after it. */
  after?: PageCursor;
}

export interface PageCursor {
  created_at: string;
  id: string;
}

export interface PaymentRow {
  payment_id: string;
  merchant_order_no: string;
  status: string;
  product: string;
  channel_id: string | null;
  currency: string;
  amount_minor: bigint;
  refunded_minor: bigint;
  merchant_fee_minor: bigint;
  created_at: Date;
  paid_at: Date | null;
}

export interface RefundRow {
  refund_id: string;
  payment_id: string;
  merchant_refund_no: string;
  state: string;
  currency: string;
  amount_minor: bigint;
  created_at: Date;
}

/** A merchant's payments, newest first, keyset-paged on (created_at, payment_id) along the
 * payments_merchant_created index: a page costs the same at any depth. */
export async function listPayments(db: Queryable, filter: PaymentFilter): Promise<PaymentRow[]> {
  const where = new Where([filter.merchant_id], 'merchant_id = $1');
  where.add('created_at >= $?', filter.created_from);
  where.add('created_at < $?', filter.created_to);
  where.add('status = $?', filter.status);
  where.add('channel_id = $?', filter.channel_id);
  where.add('product = $?', filter.product);
  where.add('merchant_order_no = $?', filter.merchant_order_no);
  if (filter.after !== undefined) where.add('(created_at, payment_id) < ($?::timestamptz, $?::text)', filter.after.created_at, filter.after.id);
  return where.run<PaymentRow>(
    db,
    'ledger_list_payments',
    `SELECT payment_id, merchant_order_no, status, product, channel_id, currency, amount_minor, refunded_minor, merchant_fee_minor, created_at, paid_at
       FROM payments WHERE %WHERE% ORDER BY created_at DESC, payment_id DESC LIMIT %LIMIT%`,
    filter.page_size,
  );
}

export interface RefundFilter extends Pick<PaymentFilter, 'merchant_id' | 'created_from' | 'created_to' | 'page_size' | 'after' | 'merchant_order_no'> {
  state?: string;
}

/** A merchant's refunds, newest first, keyset-paged on (created_at, refund_id) along the
 * refunds_merchant_created index; by the merchant order number, the refunds of the payments
 * that carry it (payments_merchant_order_no, refunds_payment). */
export async function listRefunds(db: Queryable, filter: RefundFilter): Promise<RefundRow[]> {
  const where = new Where([filter.merchant_id], 'merchant_id = $1');
  where.add('created_at >= $?', filter.created_from);
  where.add('created_at < $?', filter.created_to);
  where.add('state = $?', filter.state);
  where.add('payment_id IN (SELECT payment_id FROM payments WHERE merchant_id = $1 AND merchant_order_no = $?)', filter.merchant_order_no);
  if (filter.after !== undefined) where.add('(created_at, refund_id) < ($?::timestamptz, $?::text)', filter.after.created_at, filter.after.id);
  return where.run<RefundRow>(
    db,
    'ledger_list_refunds',
    `SELECT refund_id, payment_id, merchant_refund_no, state, currency, amount_minor, created_at
       FROM refunds WHERE %WHERE% ORDER BY created_at DESC, refund_id DESC LIMIT %LIMIT%`,
    filter.page_size,
  );
}

export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.ClientBase, 'query'>;

/** A WHERE clause of only the filters given, each a parameter. The statement is prepared
 * under a name per combination of filters (the text is the same for every call of one
 * combination), so PostgreSQL parses and plans it once per connection and each page only
 * executes; every combination keeps the merchant and keyset conditions as index conditions,
 * so the generic plan is as good as a custom one. */
class Where {
  private readonly clauses: string[];
  private readonly key: string[] = [];
  constructor(readonly values: unknown[], first: string) {
    this.clauses = [first];
  }

  add(clause: string, ...values: (unknown | undefined)[]): void {
    if (values[0] === undefined) return;
    let text = clause;
    for (const value of values) {
      this.values.push(value);
      text = text.replace('$?', `$${this.values.length}`);
    }
    this.clauses.push(text);
    this.key.push(clause);
  }

  async run<R extends pg.QueryResultRow>(db: Queryable, name: string, sql: string, limit: number): Promise<R[]> {
    this.values.push(limit);
    const text = sql.replace('%WHERE%', this.clauses.join(' AND ')).replace('%LIMIT%', `$${this.values.length}`);
    const digest = createHash('sha1').update(text).digest('hex').slice(0, 12);
    const result = await db.query<R>({ name: `${name}_${digest}`, text, values: this.values });
    return result.rows;
  }
}

export interface AccountEntryRow {
  entry_id: bigint;
  line_no: number;
  txn_code: string;
  business_date: string;
  posted_at: Date;
  payment_id: string | null;
  ref_id: string | null;
  debit_minor: bigint;
  credit_minor: bigint;
}

export interface AccountEntryFilter {
  merchant_id: string;
  code: 'merchant_pending' | 'merchant_available' | 'merchant_frozen';
  currency: string;
  from_date?: string;
  to_date?: string;
  page_size: number;
  /** The last line of the previous page: lines strictly before it. */
  after?: { entry_id: bigint; line_no: number };
}

/** The journal lines of one of a merchant's accounts, newest first, keyset-paged on
 * (entry_id, line_no) along journal_lines_account; a range of business dates filters the
 * entries. */
export async function listAccountEntries(db: Queryable, filter: AccountEntryFilter): Promise<AccountEntryRow[]> {
  const where = new Where([filter.code, filter.merchant_id, filter.currency], 'l.account_id = (SELECT account_id FROM accounts WHERE code = $1 AND owner = $2 AND currency = $3)');
  where.add('e.business_date >= $?::date', filter.from_date);
  where.add('e.business_date <= $?::date', filter.to_date);
  if (filter.after !== undefined) where.add('(l.entry_id, l.line_no) < ($?::bigint, $?::int)', filter.after.entry_id, filter.after.line_no);
  return where.run<AccountEntryRow>(
    db,
    'ledger_account_entries',
    `SELECT l.entry_id, l.line_no, e.txn_code, e.business_date, e.posted_at, e.payment_id, e.ref_id, l.debit_minor, l.credit_minor
       FROM journal_lines l JOIN journal_entries e USING (entry_id)
      WHERE %WHERE% ORDER BY l.entry_id DESC, l.line_no DESC LIMIT %LIMIT%`,
    filter.page_size,
  );
}

const export_columns = ['business_date', 'entry_id', 'posted_at', 'txn_code', 'payment_id', 'ref_id', 'account', 'currency', 'debit', 'credit'];

/** A merchant's journal lines (its own accounts) of one business date as CSV text, a page of
 * entries at a time (keyset on entry_id, so memory stays bounded on a large day; an entry is
 * never split across chunks). The first chunk is the header. Fields are quoted as RFC 4180
 * says when they need it (a provider's trade number could hold anything). */
export async function* exportMerchantDay(pool: pg.Pool, merchant_id: string, business_date: string, entries_per_chunk = 500): AsyncGenerator<string> {
  yield `${export_columns.join(',')}\r\n`;
  let after = 0n;
  for (;;) {
    const result = await pool.query<{
      entry_id: bigint;
      posted_at: Date;
      txn_code: string;
      payment_id: string | null;
      ref_id: string | null;
      code: string;
      currency: string;
      debit_minor: bigint;
      credit_minor: bigint;
    }>(
      `WITH page AS (
         SELECT DISTINCT e.entry_id FROM journal_entries e JOIN journal_lines l USING (entry_id) JOIN accounts a USING (account_id)
          WHERE a.owner = $1 AND a.code IN ('merchant_pending', 'merchant_available', 'merchant_frozen') AND e.business_date = $2::date AND e.entry_id > $3
          ORDER BY e.entry_id LIMIT $4)
       SELECT e.entry_id, e.posted_at, e.txn_code, e.payment_id, e.ref_id, a.code, a.currency, l.debit_minor, l.credit_minor
         FROM page JOIN journal_entries e USING (entry_id) JOIN journal_lines l USING (entry_id) JOIN accounts a USING (account_id)
        WHERE a.owner = $1 AND a.code IN ('merchant_pending', 'merchant_available', 'merchant_frozen')
        ORDER BY e.entry_id, l.line_no`,
      [merchant_id, business_date, after, entries_per_chunk],
    );
    if (result.rows.length === 0) return;
    yield result.rows.map((r) => [business_date, String(r.entry_id), r.posted_at.toISOString(), r.txn_code, r.payment_id ?? '', r.ref_id ?? '', r.code, r.currency, String(r.debit_minor), String(r.credit_minor)].map(csvField).join(',')).join('\r\n') + '\r\n';
    after = result.rows[result.rows.length - 1]!.entry_id;
  }
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The first business date still open: entries dated before it go to it. */
interface Movement {
  movement_key: string;
  channel_id: string;
  /** When it happened (ISO-8601): its business date is its calendar day in the books' zone. */
  at: string;
  kind: 'payment' | 'refund';
  grp: string;
  ref: string;
  trade_no: string;
  amount_minor: bigint;
  fee_minor: bigint | undefined;
  status: 'S' | 'F' | 'D';
}

/** The money movements a channel should list for this payment (channel_movements). */
function movementsOf(state: PaymentState): Movement[] {
  const movements: Movement[] = [];
  for (const attempt of state.attempts) {
    const paid = attempt.state === 'succeeded';
    movements.push({
      movement_key: attempt.attempt_id, channel_id: attempt.channel_id, at: (paid ? state.paid_at : attempt.requested_at) ?? state.created_at,
      kind: 'payment', grp: attempt.attempt_id, ref: attempt.attempt_id, trade_no: attempt.channel_trade_no ?? '',
      amount_minor: state.amount_minor, fee_minor: attempt.fee_minor, status: paid ? 'S' : 'F',
    });
  }
  for (const duplicate of state.duplicates) {
    const channel_id = state.attempts.find((a) => a.attempt_id === duplicate.attempt_id)?.channel_id ?? 'unknown';
    movements.push({
      movement_key: `${duplicate.attempt_id}:${duplicate.channel_trade_no}`, channel_id, at: state.updated_at, kind: 'payment', grp: duplicate.attempt_id,
      ref: duplicate.attempt_id, trade_no: duplicate.channel_trade_no, amount_minor: duplicate.amount_minor, fee_minor: undefined, status: 'D',
    });
  }
  for (const refund of state.refunds) {
    const done = refund.state === 'SUCCEEDED';
    movements.push({
      movement_key: refund.refund_id, channel_id: refund.channel_id, at: (done ? refund.refunded_at : undefined) ?? refund.created_at, kind: 'refund',
      grp: refund.attempt_id, ref: refund.refund_id, trade_no: refund.channel_refund_no ?? '', amount_minor: refund.amount_minor, fee_minor: undefined, status: done ? 'S' : 'F',
    });
  }
  return movements;
}

/** Upserts the payment's movements; a movement keeps the date it has while its status stays
 * (a duplicate is dated when first seen). */
async function upsertMovements(client: pg.PoolClient, state: PaymentState, timezone: string): Promise<void> {
  const movements = movementsOf(state);
  if (movements.length === 0) return;
  const columns = ['movement_key', 'channel_id', 'at', 'kind', 'grp', 'ref', 'trade_no', 'amount_minor', 'fee_minor', 'status'] as const;
  const values: unknown[] = [state.payment_id, state.merchant_id, state.currency, state.version, timezone];
  const rows = movements.map((movement) => {
    const placeholders = columns.map((column) => {
      values.push(movement[column] ?? null);
      return `$${values.length}`;
    });
    return `(${placeholders.join(', ')})`;
  });
  await client.query(
    `INSERT INTO channel_movements (movement_key, channel_id, business_date, kind, grp, ref, trade_no, amount_minor, fee_minor, status, payment_id, merchant_id, currency, version)
     SELECT v.movement_key, v.channel_id, (v.at::timestamptz AT TIME ZONE $5)::date, v.kind, v.grp, v.ref, v.trade_no, v.amount_minor::bigint, v.fee_minor::bigint, v.status, $1, $2, $3, $4
       FROM (VALUES ${rows.join(', ')}) AS v (${columns.join(', ')})
     ON CONFLICT (movement_key) DO UPDATE SET
       business_date = CASE WHEN channel_movements.status = EXCLUDED.status THEN channel_movements.business_date ELSE EXCLUDED.business_date END,
       channel_id = EXCLUDED.channel_id, trade_no = EXCLUDED.trade_no, amount_minor = EXCLUDED.amount_minor, fee_minor = EXCLUDED.fee_minor,
       status = EXCLUDED.status, version = EXCLUDED.version
     WHERE channel_movements.version < EXCLUDED.version`,
    values,
  );
}

export async function openDate(client: pg.PoolClient): Promise<string> {
  const result = await client.query<{ open: string }>(`SELECT coalesce((max(business_date) + 1)::text, '1970-01-01') AS open FROM day_closes`);
  return result.rows[0]!.open;
}

async function upsertQueryRows(client: pg.PoolClient, state: PaymentState, timezone: string): Promise<void> {
  await upsertMovements(client, state, timezone);
  const winning = state.attempts.find((a) => a.attempt_id === state.winning_attempt_id) ?? state.attempts[state.attempts.length - 1];
  await client.query(
    `INSERT INTO payments (payment_id, merchant_id, merchant_order_no, status, product, channel_id, currency, amount_minor, refunded_minor, merchant_fee_minor, version, created_at, updated_at, paid_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (payment_id) DO UPDATE SET status = EXCLUDED.status, channel_id = EXCLUDED.channel_id, refunded_minor = EXCLUDED.refunded_minor,
       merchant_fee_minor = EXCLUDED.merchant_fee_minor, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, paid_at = EXCLUDED.paid_at
     WHERE payments.version < EXCLUDED.version`,
    [
      state.payment_id,
      state.merchant_id,
      state.merchant_order_no,
      state.status,
      state.product,
      winning?.channel_id ?? null,
      state.currency,
      state.amount_minor,
      state.refunded_minor,
      state.merchant_fee_minor ?? 0n,
      state.version,
      state.created_at,
      state.updated_at,
      state.paid_at ?? null,
    ],
  );
  for (const refund of state.refunds) {
    await client.query(
      `INSERT INTO refunds (refund_id, payment_id, merchant_id, merchant_refund_no, kind, state, channel_id, currency, amount_minor, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (refund_id) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at WHERE refunds.updated_at <= EXCLUDED.updated_at`,
      [
        refund.refund_id,
        state.payment_id,
        state.merchant_id,
        refund.merchant_refund_no,
        refund.kind,
        refund.state,
        refund.channel_id,
        state.currency,
        refund.amount_minor,
        refund.created_at,
        refund.updated_at,
      ],
    );
  }
}

export type LedgerErrorReason = 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION' | 'NOT_FOUND' | 'ALREADY_EXISTS';

export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  constructor(readonly reason: LedgerErrorReason, message: string) {
    super(message);
  }
}


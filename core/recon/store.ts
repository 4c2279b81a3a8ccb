// Reconciliation's records in PostgreSQL (migrations/): statements with their hash, their
// normalised rows, one run per channel and day, the pool each run leaves, the differences with
// their audit trail — and the suspense (挂账) and resolution (销账) postings, written through
// the books' posting rules (core/ledger/rules.ts RECON_SUSPENSE / RECON_RESOLVE) in the same
// transaction. A run commits all it found at once, every difference and posting under a unique
// key: a re-run of a day adds nothing, a crash before the commit leaves the day as it was.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { existsSync } from 'node:fs';
import type pg from 'pg';
import { linesOf, type Posting } from '../ledger/rules';
import { close_lock_key, migrate as migrateBooks, openDate, type LedgerStore } from '../ledger/store';
import { encodeRows } from './format';
import type { Difference, DifferenceClass, MatchResult, ReconRow } from './types';

function reconMigrationsDir(): string {
  for (const candidate of [path.join(__dirname, 'migrations'), path.resolve(__dirname, '../../../core/recon/migrations')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('recon: migrations directory not found');
}

/** The books' migrations, then reconciliation's (its own table of what ran). */
export async function migrate(database_url: string, log: (message: string) => void = () => undefined): Promise<void> {
  await migrateBooks(database_url, log);
  const { runner } = await import('node-pg-migrate');
  await runner({ databaseUrl: database_url, dir: reconMigrationsDir(), direction: 'up', migrationsTable: 'pgmigrations_recon', log, noLock: false, checkOrder: true, verbose: false });
}

export type DifferenceState = 'open' | 'suspense' | 'resolved';
export type DifferenceAction = 'none' | 'suspense' | 'apply' | 'refund_duplicate' | 'reverse' | 'investigate';

/** What each class of difference starts as, and what is to be done about it. */
function policyOf(found: DifferenceClass): { state: DifferenceState; action: DifferenceAction; note: string } {
  switch (found) {
    case 'CUTOFF_SHIFT': return { state: 'resolved', action: 'none', note: 'listed past the cut-off on one side; matched within the pool' };
    case 'AMOUNT_MISMATCH': return { state: 'suspense', action: 'suspense', note: 'amounts differ: the difference is held in suspense' };
    case 'FEE_MISMATCH': return { state: 'suspense', action: 'suspense', note: 'fees differ: the difference is held in suspense' };
    case 'CHANNEL_ONLY': return { state: 'open', action: 'apply', note: '长款: query the channel; apply the payment (补单) or refund it as a duplicate' };
    case 'STATUS_MISMATCH': return { state: 'open', action: 'apply', note: 'the channel took it, the books do not hold it paid: query the channel and apply it' };
    case 'PAID_TWICE': return { state: 'open', action: 'refund_duplicate', note: 'paid twice: refund the second payment as a duplicate' };
    case 'OURS_ONLY': return { state: 'open', action: 'reverse', note: '短款: query the channel; reverse ours if it never took it' };
    // Never found by matching: only the 短款 action moves a difference here (act.ts).
    case 'UNLISTED': return { state: 'open', action: 'investigate', note: 'the channel has it and no statement lists it: an operator must look' };
  }
}

export interface StoredDifference {
  difference_id: bigint;
  difference_key: string;
  channel_id: string;
  business_date: string;
  class: DifferenceClass;
  kind: string;
  grp: string;
  merchant_id: string | null;
  payment_id: string | null;
  currency: string;
  channel_minor: bigint;
  ours_minor: bigint;
  suspense_minor: bigint;
  state: DifferenceState;
  action: DifferenceAction;
  detail: { channel: JsonRow[]; ours: JsonRow[] };
  created_at: Date;
  updated_at: Date;
  resolved_at: Date | null;
  resolution: string | null;
}

export interface TrailEvent {
  seq: number;
  at: Date;
  actor: string;
  from_state: string | null;
  to_state: string;
  note: string;
}

type JsonRow = Omit<ReconRow, 'amount_minor' | 'fee_minor'> & { amount_minor: string; fee_minor: string | null };

export interface RunRecord {
  channel_id: string;
  business_date: string;
  statement_id: bigint;
  runs: number;
  channel_rows: bigint;
  ours_rows: bigint;
  matched_count: bigint;
  matched_channel_minor: bigint;
  matched_ours_minor: bigint;
  finished_at: Date;
}

export interface DifferenceFilter {
  channel_id?: string;
  business_date?: string;
  state?: DifferenceState;
  class?: DifferenceClass;
  after_id?: bigint;
  page_size: number;
}

export class ReconError extends Error {
  override readonly name = 'ReconError';
  constructor(readonly reason: 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT', message: string) {
    super(message);
  }
}

const differenceKey = (channel_id: string, date: string, difference: Difference) => `${channel_id}:${date}:${difference.class}:${difference.kind}:${difference.group}`;

const sum = (rows: readonly ReconRow[], field: 'amount_minor' | 'fee_minor') => rows.reduce((total, row) => total + (row[field] ?? 0n), 0n);

/** What the channel's figure says less what the books say, in channel_receivable's terms:
 * an amount the channel owes beyond ours (positive), a fee it keeps beyond ours (negative). */
function suspenseOf(difference: Difference): bigint {
  if (difference.class === 'AMOUNT_MISMATCH') return sum(difference.channel, 'amount_minor') - sum(difference.ours, 'amount_minor');
  if (difference.class === 'FEE_MISMATCH') return -(sum(difference.channel, 'fee_minor') - sum(difference.ours, 'fee_minor'));
  return 0n;
}

const jsonRow = (row: ReconRow): JsonRow => ({
  ...row,
  amount_minor: String(row.amount_minor),
  fee_minor: row.fee_minor === undefined ? null : String(row.fee_minor),
});

export class ReconStore {
  readonly pool: pg.Pool;

  constructor(readonly books: LedgerStore) {
    this.pool = books.pool;
  }

  /** Stores a statement as downloaded (once per content: the hash is part of its key) with its
   * normalised rows. Returns its id and hash. */
  async saveStatement(
    channel_id: string,
    date: string,
    format: string,
    bytes: Buffer,
    rows: () => ReconRow[],
  ): Promise<{ statement_id: bigint; sha256: string; stored: boolean }> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return this.books.transaction(async (client) => {
      const inserted = await client.query<{ statement_id: bigint }>(
        `INSERT INTO recon_statements (channel_id, statement_date, format, sha256, bytes) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (channel_id, statement_date, sha256) DO NOTHING RETURNING statement_id`,
        [channel_id, date, format, sha256, bytes],
      );
      if (inserted.rows.length === 0) {
        const found = await client.query<{ statement_id: bigint }>('SELECT statement_id FROM recon_statements WHERE channel_id = $1 AND statement_date = $2 AND sha256 = $3', [channel_id, date, sha256]);
        return { statement_id: found.rows[0]!.statement_id, sha256, stored: false };
      }
      const statement_id = inserted.rows[0]!.statement_id;
      const all = rows();
      for (let from = 0; from < all.length; from += statement_rows_batch) {
        const batch = all.slice(from, from + statement_rows_batch);
        await client.query(
          `INSERT INTO recon_statement_rows (statement_id, line_no, kind, grp, ref, trade_no, amount_minor, fee_minor, currency)
           SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[])`,
          [statement_id, batch.map((_, index) => from + index + 1), batch.map((r) => r.kind), batch.map((r) => r.group), batch.map((r) => r.ref),
            batch.map((r) => r.trade_no), batch.map((r) => r.amount_minor), batch.map((r) => r.fee_minor ?? null), batch.map((r) => r.currency)],
        );
      }
      return { statement_id, sha256, stored: true };
    });
  }

  /** The books' movements of this channel and day, as normalised rows (side O). */
  async ourRows(channel_id: string, date: string): Promise<Buffer> {
    const result = await this.pool.query<{ kind: 'payment' | 'refund'; grp: string; ref: string; trade_no: string; amount_minor: bigint; fee_minor: bigint | null; currency: string; status: 'S' | 'F' | 'D' }>(
      'SELECT kind, grp, ref, trade_no, amount_minor, fee_minor, currency, status FROM channel_movements WHERE channel_id = $1 AND business_date = $2',
      [channel_id, date],
    );
    return Buffer.from(encodeRows(result.rows.map((r) => ({ side: 'O', kind: r.kind, group: r.grp, ref: r.ref, trade_no: r.trade_no, amount_minor: r.amount_minor, fee_minor: r.fee_minor ?? undefined, currency: r.currency, status: r.status, date }))));
  }

  /** Our attempt ids of this channel's payments by the channel's trade number (the books'
   * movements, any day): for a statement's refund row that names its payment only by that number. */
  async attemptsByTradeNo(channel_id: string, trade_nos: string[]): Promise<Map<string, string>> {
    const result = await this.pool.query<{ trade_no: string; grp: string }>(
      `SELECT trade_no, grp FROM channel_movements WHERE channel_id = $1 AND kind = 'payment' AND status = 'S' AND trade_no = ANY($2::text[])`,
      [channel_id, trade_nos],
    );
    return new Map(result.rows.map((r) => [r.trade_no, r.grp]));
  }

  /** The pool the latest run of this channel before `date` left. */
  async poolBefore(channel_id: string, date: string): Promise<Buffer> {
    const result = await this.pool.query<{ side: 'C' | 'O'; kind: 'payment' | 'refund'; grp: string; ref: string; trade_no: string; amount_minor: bigint; fee_minor: bigint | null; currency: string; status: 'S' | 'F' | 'D'; row_date: string }>(
      `SELECT side, kind, grp, ref, trade_no, amount_minor, fee_minor, currency, status, row_date FROM recon_pool
        WHERE channel_id = $1 AND after_date = (SELECT max(after_date) FROM recon_pool WHERE channel_id = $1 AND after_date < $2)`,
      [channel_id, date],
    );
    return Buffer.from(
      encodeRows(
        result.rows.map((r) => ({
          side: r.side,
          kind: r.kind,
          group: r.grp,
          ref: r.ref,
          trade_no: r.trade_no,
          amount_minor: r.amount_minor,
          fee_minor: r.fee_minor ?? undefined,
          currency: r.currency,
          status: r.status,
          date: r.row_date,
        })),
      ),
    );
  }

  /**
   * Commits a day's result in one transaction: its pool (replacing a previous run's), each new
   * difference with its first trail event and, for a mismatch held in suspense, its posting;
   * and the run record. Differences and postings have unique keys: a re-run adds nothing.
   * `crash_after_differences` (tests only) throws inside the transaction after that many.
   */
  async commitRun(
    channel_id: string,
    date: string,
    statement_id: bigint,
    result: MatchResult,
    options: { crash_after_differences?: number } = {},
  ): Promise<{ differences_added: number; postings_added: number }> {
    return this.books.transaction(async (client, created) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
      // One run of a channel and day at a time: a second waits, then finds the first's keys.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [recon_lock_key, `${channel_id}:${date}`]);
      await client.query('DELETE FROM recon_pool WHERE channel_id = $1 AND after_date = $2', [channel_id, date]);
      const pool = result.pool;
      for (let from = 0; from < pool.length; from += statement_rows_batch) {
        const batch = pool.slice(from, from + statement_rows_batch);
        await client.query(
          `INSERT INTO recon_pool (channel_id, after_date, side, kind, grp, ref, trade_no, amount_minor, fee_minor, currency, status, row_date)
           SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::date[])`,
          [
            channel_id,
            date,
            batch.map((r) => r.side),
            batch.map((r) => r.kind),
            batch.map((r) => r.group),
            batch.map((r) => r.ref),
            batch.map((r) => r.trade_no),
            batch.map((r) => r.amount_minor),
            batch.map((r) => r.fee_minor ?? null),
            batch.map((r) => r.currency),
            batch.map((r) => r.status),
            batch.map((r) => r.date),
          ],
        );
      }
      const owners = await ownersOf(client, [...new Set(result.differences.map((d) => d.group))]);
      const open_date = await openDate(client);
      let differences_added = 0;
      let postings_added = 0;
      for (const difference of result.differences) {
        if (options.crash_after_differences !== undefined && differences_added >= options.crash_after_differences) throw new Error('recon: crash injected by a test');
        const added = await this.#addDifference(client, created, channel_id, date, difference, owners.get(difference.group), open_date);
        if (added.added) differences_added += 1;
        if (added.posted) postings_added += 1;
      }
      const t = result.totals;
      await client.query(
        `INSERT INTO recon_runs (channel_id, business_date, statement_id, channel_rows, ours_rows, matched_count, matched_channel_minor, matched_ours_minor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (channel_id, business_date) DO UPDATE SET statement_id = EXCLUDED.statement_id, runs = recon_runs.runs + 1, channel_rows = EXCLUDED.channel_rows,
           ours_rows = EXCLUDED.ours_rows, matched_count = EXCLUDED.matched_count, matched_channel_minor = EXCLUDED.matched_channel_minor,
           matched_ours_minor = EXCLUDED.matched_ours_minor, finished_at = now()`,
        [channel_id, date, statement_id, t.channel_rows, t.ours_rows, t.matched_count, t.matched_channel_minor, t.matched_ours_minor],
      );
      return { differences_added, postings_added };
    });
  }

  async #addDifference(
    client: pg.PoolClient, created: Map<string, bigint>, channel_id: string, date: string, difference: Difference,
    owner: { merchant_id: string; payment_id: string } | undefined, open_date: string,
  ): Promise<{ added: boolean; posted: boolean }> {
    const key = differenceKey(channel_id, date, difference);
    const policy = policyOf(difference.class);
    const currencies = new Set([...difference.channel, ...difference.ours].map((r) => r.currency));
    const currency = [...currencies][0]!;
    // Suspense needs one currency and someone's books to post in; otherwise an operator looks.
    let suspense_minor = suspenseOf(difference);
    let { state, action, note } = policy;
    if (policy.action === 'suspense' && (currencies.size !== 1 || owner === undefined || suspense_minor === 0n)) {
      state = 'open';
      action = 'investigate';
      note = `${note.split(':')[0]}: no single currency or no payment of ours to post against; an operator must look`;
      suspense_minor = 0n;
    }
    const inserted = await client.query<{ difference_id: bigint }>(
      `INSERT INTO recon_differences (difference_key, channel_id, business_date, class, kind, grp, merchant_id, payment_id, currency, channel_minor, ours_minor, suspense_minor, state, action, detail, resolved_at, resolution)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, CASE WHEN $13 = 'resolved' THEN now() END, CASE WHEN $13 = 'resolved' THEN $16 END)
       ON CONFLICT (difference_key) DO NOTHING RETURNING difference_id`,
      [key, channel_id, date, difference.class, difference.kind, difference.group, owner?.merchant_id ?? null, owner?.payment_id ?? null, currency,
        sum(difference.channel, 'amount_minor'), sum(difference.ours, 'amount_minor'), suspense_minor, state, action,
        JSON.stringify({ channel: difference.channel.map(jsonRow), ours: difference.ours.map(jsonRow) }), note],
    );
    if (inserted.rows.length === 0) return { added: false, posted: false };
    const difference_id = inserted.rows[0]!.difference_id;
    await trail(client, difference_id, 'recon', null, state, note);
    if (suspense_minor === 0n) return { added: true, posted: false };
    const posting: Posting = {
      entry_key: `recon:${key}:RECON_SUSPENSE`, txn_code: 'RECON_SUSPENSE', merchant_id: owner!.merchant_id, payment_id: owner!.payment_id, ref_id: key, currency,
      at: `${date}T12:00:00Z`, lines: linesOf('RECON_SUSPENSE', { merchant_id: owner!.merchant_id, channel_id, currency }, { gross: suspense_minor }),
    };
    const posted = await this.books.post(client, created, posting, open_date);
    return { added: true, posted };
  }

  /** An operator (or an automatic action) closes a difference with a reason. A difference
   * held in suspense is cleared by its RECON_RESOLVE posting in the same transaction.
   * Resolving a resolved difference again changes nothing and says so. */
  async resolve(difference_id: bigint, reason: string, actor: string): Promise<{ difference: StoredDifference; changed: boolean }> {
    if (reason.trim() === '') throw new ReconError('INVALID_ARGUMENT', 'reason: required');
    return this.books.transaction(async (client, created) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
      const found = await client.query<StoredDifference>('SELECT * FROM recon_differences WHERE difference_id = $1 FOR UPDATE', [difference_id]);
      const difference = found.rows[0];
      if (difference === undefined) throw new ReconError('NOT_FOUND', `difference ${difference_id} not found`);
      if (difference.state === 'resolved') return { difference, changed: false };
      if (difference.suspense_minor !== 0n) {
        const posting: Posting = {
          entry_key: `recon:${difference.difference_key}:RECON_RESOLVE`, txn_code: 'RECON_RESOLVE', merchant_id: difference.merchant_id!, payment_id: difference.payment_id ?? undefined,
          ref_id: difference.difference_key, currency: difference.currency, at: new Date().toISOString(),
          lines: linesOf('RECON_RESOLVE', { merchant_id: difference.merchant_id!, channel_id: difference.channel_id, currency: difference.currency }, { gross: difference.suspense_minor }),
        };
        await this.books.post(client, created, posting, await openDate(client));
      }
      const updated = await client.query<StoredDifference>(
        `UPDATE recon_differences SET state = 'resolved', resolution = $2, resolved_at = now(), updated_at = now() WHERE difference_id = $1 RETURNING *`,
        [difference_id, reason],
      );
      await trail(client, difference_id, actor, difference.state, 'resolved', reason);
      return { difference: updated.rows[0]!, changed: true };
    });
  }

  /** Records what an automatic action did (state may stay): one trail event. `reclass`: what
   * the action learnt makes it another class of difference with another action (its key, what
   * a re-run finds, stays). */
  async record(
    difference_id: bigint, actor: string, to_state: DifferenceState, note: string, reclass?: { class: DifferenceClass; action: DifferenceAction },
  ): Promise<void> {
    await this.books.transaction(async (client) => {
      const found = await client.query<{ state: DifferenceState; class: DifferenceClass }>('SELECT state, class FROM recon_differences WHERE difference_id = $1 FOR UPDATE', [difference_id]);
      if (found.rows.length === 0) throw new ReconError('NOT_FOUND', `difference ${difference_id} not found`);
      await client.query(
        `UPDATE recon_differences SET state = $2, updated_at = now(), resolved_at = CASE WHEN $2 = 'resolved' THEN now() ELSE resolved_at END,
           resolution = CASE WHEN $2 = 'resolved' THEN $3 ELSE resolution END, class = coalesce($4, class), action = coalesce($5, action) WHERE difference_id = $1`,
        [difference_id, to_state, note, reclass?.class ?? null, reclass?.action ?? null],
      );
      const moved = reclass === undefined || reclass.class === found.rows[0]!.class ? '' : ` [${found.rows[0]!.class} -> ${reclass.class}, action ${reclass.action}]`;
      await trail(client, difference_id, actor, found.rows[0]!.state, to_state, `${note}${moved}`);
    });
  }

  async difference(difference_id: bigint): Promise<StoredDifference | undefined> {
    const result = await this.pool.query<StoredDifference>('SELECT * FROM recon_differences WHERE difference_id = $1', [difference_id]);
    return result.rows[0];
  }

  async trailOf(difference_id: bigint): Promise<TrailEvent[]> {
    const result = await this.pool.query<TrailEvent>('SELECT seq, at, actor, from_state, to_state, note FROM recon_difference_events WHERE difference_id = $1 ORDER BY seq', [difference_id]);
    return result.rows;
  }

  async listDifferences(filter: DifferenceFilter): Promise<StoredDifference[]> {
    const result = await this.pool.query<StoredDifference>(
      `SELECT * FROM recon_differences
        WHERE ($1::text IS NULL OR channel_id = $1) AND ($2::date IS NULL OR business_date = $2) AND ($3::text IS NULL OR state = $3)
          AND ($4::text IS NULL OR class = $4) AND ($5::bigint IS NULL OR difference_id > $5)
        ORDER BY difference_id LIMIT $6`,
      [filter.channel_id ?? null, filter.business_date ?? null, filter.state ?? null, filter.class ?? null, filter.after_id ?? null, filter.page_size],
    );
    return result.rows;
  }

  /** The statement a day last ran on (else the latest stored for it). */
  async statementOf(channel_id: string, date: string): Promise<{ format: string; bytes: Buffer } | undefined> {
    const result = await this.pool.query<{ format: string; bytes: Buffer }>(
      `SELECT s.format, s.bytes FROM recon_statements s LEFT JOIN recon_runs r ON r.statement_id = s.statement_id
        WHERE s.channel_id = $1 AND s.statement_date = $2 ORDER BY (r.statement_id IS NOT NULL) DESC, s.statement_id DESC LIMIT 1`,
      [channel_id, date],
    );
    return result.rows[0];
  }

  async run(channel_id: string, date: string): Promise<RunRecord | undefined> {
    const result = await this.pool.query<RunRecord>('SELECT * FROM recon_runs WHERE channel_id = $1 AND business_date = $2', [channel_id, date]);
    return result.rows[0];
  }

  /** Differences not resolved, per class (the metric). */
  async unresolvedCounts(): Promise<Map<string, number>> {
    const result = await this.pool.query<{ channel_id: string; class: string; n: bigint }>(`SELECT channel_id, class, count(*) AS n FROM recon_differences WHERE state <> 'resolved' GROUP BY channel_id, class`);
    return new Map(result.rows.map((r) => [`${r.channel_id}|${r.class}`, Number(r.n)]));
  }
}

/** Reconciliation's own advisory lock namespace (two-key form): 'reco'. */
const recon_lock_key = 0x7265636f;
/** Rows per INSERT … unnest statement. */
const statement_rows_batch = 5_000;

async function ownersOf(client: pg.PoolClient, groups: string[]): Promise<Map<string, { merchant_id: string; payment_id: string }>> {
  if (groups.length === 0) return new Map();
  const result = await client.query<{ grp: string; merchant_id: string; payment_id: string }>(
    'SELECT DISTINCT ON (grp) grp, merchant_id, payment_id FROM channel_movements WHERE grp = ANY($1) ORDER BY grp, movement_key',
    [groups],
  );
  return new Map(result.rows.map((r) => [r.grp, { merchant_id: r.merchant_id, payment_id: r.payment_id }]));
}

async function trail(client: pg.PoolClient, difference_id: bigint, actor: string, from_state: string | null, to_state: string, note: string): Promise<void> {
  await client.query(
    `INSERT INTO recon_difference_events (difference_id, seq, actor, from_state, to_state, note)
     SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5 FROM recon_difference_events WHERE difference_id = $1`,
    [difference_id, actor, from_state, to_state, note],
  );
}

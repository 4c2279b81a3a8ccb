// The books' side of a split (core/ledger/splits.ts does the posting): the shares allocated
// under the payment's row lock, the query row (splits) written in the same transaction, and a
// split's returned amounts read back for GetSplit. A deadlock with the projection (both lock
// the payment's row and the merchant's accounts) is retried here.

import type pg from 'pg';
import { close_lock_key, openDate, type LedgerStore, type PageCursor } from '../ledger/store';
import { allocateSplit, confirmSplit, orphanClaims, planChannelReturns, releaseChannelReturns, releaseOrphanClaim, reverseChannelReturn, type AllocateResult, type OrphanClaim, type PostingTx, type ReturnPlan } from '../ledger/splits';
import type { Posting } from '../ledger/rules';
import type { SplitState } from './types';

export interface SplitRow {
  split_id: string;
  merchant_split_no: string;
  payment_id: string;
  status: string;
  currency: string;
  amount_minor: bigint;
  failure_code: string | null;
  created_at: Date;
  updated_at: Date;
  finish: boolean;
  channel_id: string | null;
  channel_split_no: string | null;
}

const deadlock_retries_max = 5;

export class SplitBooks {
  constructor(private readonly ledger: LedgerStore) {}

  /** Posts the split's shares when they fit (repeatable: an allocated split answers allocated). */
  async allocate(state: SplitState): Promise<AllocateResult> {
    for (let round = 0; ; round += 1) {
      try {
        return await this.ledger.transaction(async (client, created) => {
          await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
          const open_date = await openDate(client);
          const { split_id, merchant_id, payment_id, currency, receivers } = state;
          const post = (posting: Posting): Promise<boolean> => this.ledger.post(client, created, posting, open_date);
          const channel_id = state.channel?.channel_id;
          const shares = { split_id, merchant_id, payment_id, currency, receivers, at: state.updated_at, ...(channel_id === undefined ? {} : { channel_id }) };
          const result = await allocateSplit({ client, post }, shares);
          if (result.kind === 'allocated') await upsertRow(client, { ...state, status: state.channel === undefined ? 'SUCCEEDED' : 'PROCESSING' });
          return result;
        });
      } catch (error) {
        if ((error as { code?: unknown }).code !== '40P01' || round >= deadlock_retries_max) throw error;
      }
    }
  }

  /** Writes the split's query row as the state says; for a channel split, what the provider
   * answered: the in-flight shares confirmed (those it closed, and every one of a failed split,
   * back to the merchant) and each return it refused given back to its receiver. Repeatable. */
  async sync(state: SplitState): Promise<void> {
    const finished = state.status === 'SUCCEEDED' || state.status === 'FAILED';
    const refused = state.returns.filter((r) => r.status === 'FAILED');
    if (state.channel === undefined || (!finished && refused.length === 0)) {
      await this.ledger.transaction((client) => upsertRow(client, state));
      return;
    }
    await this.#posting(async (tx) => {
      const at = state.updated_at;
      if (finished) await confirmSplit(tx, { ...state, at }, state.status === 'FAILED' ? 'none' : state.received ?? state.receivers.map(() => true));
      for (const r of refused) await reverseChannelReturn(tx, state, r.refund_id, state.split_id, r.line_no, at);
      await upsertRow(tx.client, state);
    });
  }

  /** The channel shares a refund takes back first (core/ledger/splits.ts planChannelReturns). */
  planReturns(payment_id: string, refund_id: string, amount_minor: bigint): Promise<ReturnPlan> {
    return this.#posting(async (tx) => {
      const payment = await tx.client.query<{ merchant_id: string; currency: string }>('SELECT merchant_id, currency FROM payments WHERE payment_id = $1', [payment_id]);
      const row = payment.rows[0];
      if (row === undefined) return { kind: 'planned', returns: [] };
      return planChannelReturns(tx, { payment_id, ...row }, refund_id, amount_minor, new Date().toISOString());
    });
  }

  /** The channel shares taken back for a refund that was never created go back to their
   * receivers (core/ledger/splits.ts releaseChannelReturns), under the payment's row lock. */
  releaseReturns(payment_id: string, refund_id: string): Promise<void> {
    return this.#posting(async (tx) => {
      const payment = await tx.client.query<{ merchant_id: string; currency: string }>('SELECT merchant_id, currency FROM payments WHERE payment_id = $1 FOR UPDATE', [payment_id]);
      const row = payment.rows[0];
      if (row === undefined) return;
      await releaseChannelReturns(tx, { payment_id, ...row }, refund_id, new Date().toISOString());
    });
  }

  /** Claims of refunds not in the books, last claimed more than after_ms ago (the orphan sweep). */
  orphanClaims(after_ms: number, limit: number): Promise<OrphanClaim[]> {
    return orphanClaims(this.ledger.pool, after_ms, limit);
  }

  /** Gives back an orphan claim as read (core/ledger/splits.ts releaseOrphanClaim); false when
   * it changed meanwhile. */
  releaseOrphan(payment_id: string, claim: OrphanClaim, give_back: readonly { split_id: string; line_no: number }[]): Promise<boolean> {
    return this.#posting(async (tx) => {
      const payment = await tx.client.query<{ merchant_id: string; currency: string }>('SELECT merchant_id, currency FROM payments WHERE payment_id = $1', [payment_id]);
      const row = payment.rows[0];
      if (row === undefined) return false;
      return releaseOrphanClaim(tx, { payment_id, ...row }, claim, give_back, new Date().toISOString());
    });
  }

  /** One posting transaction (under the close lock, on the open date), retried on a deadlock. */
  async #posting<T>(work: (tx: PostingTx) => Promise<T>): Promise<T> {
    for (let round = 0; ; round += 1) {
      try {
        return await this.ledger.transaction(async (client, created) => {
          await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
          const open_date = await openDate(client);
          return work({ client, post: (posting: Posting) => this.ledger.post(client, created, posting, open_date) });
        });
      } catch (error) {
        if ((error as { code?: unknown }).code !== '40P01' || round >= deadlock_retries_max) throw error;
      }
    }
  }

  /** Each receiver's returned amount (by line, 1-based), for GetSplit. */
  async returned(split_id: string): Promise<Map<number, bigint>> {
    const result = await this.ledger.pool.query<{ line_no: number; returned_minor: bigint }>('SELECT line_no, returned_minor FROM split_receivers WHERE split_id = $1', [split_id]);
    return new Map(result.rows.map((row) => [row.line_no, row.returned_minor]));
  }

  /** A merchant's splits, newest first, keyset-paged on (created_at, split_id); of one payment
   * when payment_id is given. */
  async list(merchant_id: string, page_size: number, after?: PageCursor, payment_id?: string): Promise<SplitRow[]> {
    const result = await this.ledger.pool.query<SplitRow>(
      `SELECT split_id, merchant_split_no, payment_id, status, currency, amount_minor, failure_code, created_at, updated_at, finish, channel_id, channel_split_no
         FROM splits
        WHERE merchant_id = $1 AND ($2::text IS NULL OR payment_id = $2)
          AND ($3::timestamptz IS NULL OR (created_at, split_id) < ($3::timestamptz, $4::text))
        ORDER BY created_at DESC, split_id DESC LIMIT $5`,
      [merchant_id, payment_id ?? null, after?.created_at ?? null, after?.id ?? null, page_size],
    );
    return result.rows;
  }
}

async function upsertRow(client: pg.PoolClient, state: SplitState): Promise<void> {
  await client.query(
    `INSERT INTO splits (split_id, merchant_id, merchant_split_no, payment_id, status, currency, amount_minor, failure_code, version, created_at, updated_at,
                         finish, channel_id, channel_split_no)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (split_id) DO UPDATE SET status = EXCLUDED.status, failure_code = EXCLUDED.failure_code, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
       channel_split_no = EXCLUDED.channel_split_no
     WHERE splits.version <= EXCLUDED.version`,
    [
      state.split_id, state.merchant_id, state.merchant_split_no, state.payment_id, state.status, state.currency, state.amount_minor,
      state.failure?.code ?? null, state.version, state.created_at, state.updated_at, state.finish === true, state.channel?.channel_id ?? null,
      state.channel_split_no ?? null,
    ],
  );
}

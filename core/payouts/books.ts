// The books' side of a payout (core/ledger): the amount frozen before the provider hears of
// it (refused when the merchant's available balance cannot cover it), released when it fails,
// posted as sent when paid and back to available when returned. Every posting is keyed
// `payout:<payout_id>:<txn_code>`, so repeating any step (after a crash, a redelivered timer)
// posts nothing twice. The query row (payouts) is written in the same transaction.

import pg from 'pg';
import { close_lock_key, openDate, type LedgerStore, type PageCursor } from '../ledger/store';
import { linesOf, type TxnCode } from '../ledger/rules';
import { refund_reservation_ttl_ms } from '../constants';
import type { PayoutState } from './types';
import { checkMemberFreeze, limitsFor, member_limits_default, memberOwner, type LimitsOf, type MemberLimits } from './wallets';

export type FreezeResult = { frozen: true } | { frozen: false; code?: string; message: string };

export interface PayoutRow {
  payout_id: string;
  merchant_payout_no: string;
  status: string;
  channel_id: string;
  bank_code: string;
  payee_last4: string;
  currency: string;
  amount_minor: bigint;
  failure_code: string | null;
  member_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** Provider calls of payouts in flight at once in one process, each holding its payout's lock. */
const payout_locks_max = 16;

export class PayoutBooks {
  #locks: pg.Pool | undefined;

  constructor(private readonly ledger: LedgerStore, private readonly member_limits: LimitsOf<MemberLimits> = member_limits_default) {}

  /** A member's withdrawal limits: its merchant's. */
  memberLimits(merchant_id: string): MemberLimits {
    return limitsFor(this.member_limits, merchant_id);
  }

  /** Runs `work` holding the payout's lock (a PostgreSQL advisory lock, on a pool of its own so
   * that a slow bank holds no connection the books need): the provider calls of one payout —
   * a submit and what its refusal means, a query's resubmission — are never made by two
   * gateways at once. */
  async exclusive<T>(payout_id: string, work: () => Promise<T>): Promise<T> {
    if (this.#locks === undefined) {
      this.#locks = new pg.Pool({ ...(this.ledger.pool as unknown as { options: pg.PoolConfig }).options, max: payout_locks_max });
      // An idle client's error (the server restarting) must not crash the process, as the books' pool.
      this.#locks.on('error', () => undefined);
    }
    const client = await this.#locks.connect();
    const key = `payout:${payout_id}`;
    try {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
      try {
        return await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
      }
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.#locks?.end();
  }

  /** available → frozen, unless the available balance is short. Already frozen: true. */
  async freeze(state: PayoutState): Promise<FreezeResult> {
    // A refund's payout pays money already held for the refund (refunds_in_transit).
    if (state.refund !== undefined) {
      await this.sync(state);
      return { frozen: true };
    }
    return this.ledger.transaction(async (client, created) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
      if (state.member_id !== undefined) return this.#freezeMember(client, created, state, state.member_id);
      const available = await client.query<{ balance_minor: bigint }>(
        `SELECT balance_minor FROM accounts WHERE code = 'merchant_available' AND owner = $1 AND currency = $2 FOR UPDATE`,
        [state.merchant_id, state.currency],
      );
      const done = await client.query('SELECT 1 FROM journal_entries WHERE entry_key = $1', [entryKey(state, 'PAYOUT_FREEZE')]);
      if (done.rows.length > 0) return { frozen: true };
      const balance = available.rows[0]?.balance_minor ?? 0n;
      const reserved = await reservedForRefunds(client, state.merchant_id, state.currency);
      if (balance - reserved < state.amount_minor) {
        const less = reserved > 0n ? ` less ${reserved} reserved for refunds not yet posted` : '';
        return { frozen: false, message: `the available balance ${balance} ${state.currency}${less} cannot cover a payout of ${state.amount_minor}` };
      }
      await this.#post(client, created, state, 'PAYOUT_FREEZE');
      await upsertRow(client, state);
      return { frozen: true };
    });
  }

  /** A member's withdrawal: its wallet (locked) must cover it, within the daily limit. */
  async #freezeMember(client: pg.PoolClient, created: Map<string, bigint>, state: PayoutState, member_id: string): Promise<FreezeResult> {
    const done = await client.query('SELECT 1 FROM journal_entries WHERE entry_key = $1', [entryKey(state, 'MEMBER_WITHDRAW_FREEZE')]);
    if (done.rows.length > 0) return { frozen: true };
    const check = await checkMemberFreeze(client, this.ledger.timezone, this.memberLimits(state.merchant_id), { ...state, member_id });
    if (!check.ok) return { frozen: false, code: check.code, message: check.message };
    await this.#post(client, created, state, 'MEMBER_WITHDRAW_FREEZE');
    await upsertRow(client, state);
    return { frozen: true };
  }

  /** Posts what the payout's state implies (release, sent, returned) and writes its row. */
  async sync(state: PayoutState): Promise<void> {
    await this.ledger.transaction(async (client, created) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
      for (const code of postingsOf(state)) await this.#post(client, created, state, code);
      await upsertRow(client, state);
    });
  }

  async #post(client: pg.PoolClient, created: Map<string, bigint>, state: PayoutState, txn_code: TxnCode): Promise<void> {
    const receiver = state.member_id === undefined ? undefined : memberOwner(state.merchant_id, state.member_id);
    const parties = { merchant_id: state.merchant_id, channel_id: state.channel_id, currency: state.currency, receiver };
    const lines = linesOf(txn_code, parties, { gross: state.amount_minor });
    await this.ledger.post(
      client,
      created,
      {
        entry_key: entryKey(state, txn_code),
        txn_code,
        merchant_id: state.merchant_id,
        ref_id: state.payout_id,
        currency: state.currency,
        at: state.updated_at,
        lines,
      },
      await openDate(client),
    );
  }

  /** A merchant's payouts (one member's withdrawals, with member_id), newest first, keyset-paged on (created_at, payout_id). */
  async list(merchant_id: string, page_size: number, after?: PageCursor, status?: string, member_id?: string): Promise<PayoutRow[]> {
    const result = await this.ledger.pool.query<PayoutRow>(
      `SELECT payout_id, merchant_payout_no, status, channel_id, bank_code, payee_last4, currency, amount_minor, failure_code, member_id, created_at, updated_at
         FROM payouts
        WHERE merchant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($6::text IS NULL OR member_id = $6)
          AND ($3::timestamptz IS NULL OR (created_at, payout_id) < ($3::timestamptz, $4::text))
        ORDER BY created_at DESC, payout_id DESC LIMIT $5`,
      [merchant_id, status ?? null, after?.created_at ?? null, after?.id ?? null, page_size, member_id ?? null],
    );
    return result.rows;
  }
}

/** Refunds the merchant was allowed (LedgerStore.reserveRefund) that the books have not posted
 * yet: they will take the available balance, so money out may not count on it. Read after the
 * available account's lock, which reserveRefund takes too: neither passes the other unseen. */
export async function reservedForRefunds(client: pg.PoolClient, merchant_id: string, currency: string): Promise<bigint> {
  const result = await client.query<{ reserved: bigint }>(
    `SELECT coalesce(sum(amount_minor), 0)::bigint AS reserved FROM refund_reservations
      WHERE merchant_id = $1 AND currency = $2 AND created_at > now() - make_interval(secs => $3::double precision / 1000)`,
    [merchant_id, currency, refund_reservation_ttl_ms],
  );
  return result.rows[0]!.reserved;
}

/** The transaction codes a payout's state implies beyond its freeze (pure). */
function postingsOf(state: PayoutState): TxnCode[] {
  // A refund's payout is posted as the refund's settlement, by the orders projection.
  if (!state.frozen || state.refund !== undefined) return [];
  // A member's withdrawal: from the wallet, refilled on failure and on a return.
  if (state.member_id !== undefined) {
    const member: Partial<Record<PayoutState['status'], TxnCode[]>> = {
      FAILED: ['MEMBER_WITHDRAW_RELEASE'], SUCCEEDED: ['MEMBER_WITHDRAW_SENT'], RETURNED: ['MEMBER_WITHDRAW_SENT', 'MEMBER_WITHDRAW_RETURNED'],
    };
    return member[state.status] ?? [];
  }
  switch (state.status) {
    case 'FAILED':
      return ['PAYOUT_RELEASE'];
    case 'SUCCEEDED':
      return ['PAYOUT_SENT'];
    case 'RETURNED':
      return ['PAYOUT_SENT', 'PAYOUT_RETURNED'];
    default:
      return [];
  }
}

function entryKey(state: PayoutState, txn_code: TxnCode): string {
  return `payout:${state.payout_id}:${txn_code}`;
}

async function upsertRow(client: pg.PoolClient, state: PayoutState): Promise<void> {
  await client.query(
    `INSERT INTO payouts (payout_id, merchant_id, merchant_payout_no, status, channel_id, bank_code, payee_last4, currency, amount_minor, failure_code, version, created_at, updated_at, member_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (payout_id) DO UPDATE SET status = EXCLUDED.status, failure_code = EXCLUDED.failure_code, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
     WHERE payouts.version < EXCLUDED.version`,
    [
      state.payout_id,
      state.merchant_id,
      state.merchant_payout_no,
      state.status,
      state.channel_id,
      state.bank_code,
      state.payee_last4,
      state.currency,
      state.amount_minor,
      state.failure?.code ?? null,
      state.version,
      state.created_at,
      state.updated_at,
      state.member_id ?? null,
    ],
  );
}

// Transfers (内部转账) between two merchants of one group (the merchants configuration's
// group_id): the payer's available balance to the payee's, one TRANSFER entry in the books
// and its row in `transfers`, in one PostgreSQL transaction — both or neither, nothing in
// flight, no provider. Idempotent on (merchant_id, merchant_transfer_no). Checked under the
// locks of both available accounts (taken in one order, so two opposite transfers cannot
// deadlock): the payer's available balance, less the refunds it was allowed and the books have
// not posted yet, must cover it; a transfer may not exceed the per-transfer limit, nor the
// payer's transfers of a business day the daily limit. Every other debit of an available
// balance (a payout's freeze, a hold) takes the same lock, so none of them can pass a transfer
// unseen: together they never overdraw it.
//
// Two kinds involve a member of the payer (member wallets, wallets.ts): a credit of its wallet
// from the merchant's available balance (to_member_id, MEMBER_CREDIT), and a member paying its
// merchant from its wallet (from_member_id, MEMBER_DEBIT) — checked under the wallet account's
// lock (the lock a withdrawal's freeze takes, so payments and withdrawals together never
// overdraw it), the merchant's available account locked first as every transfer does.

import type pg from 'pg';
import { PaycoreError } from '../errors';
import { transferId, type IdKey } from '../ids';
import { close_lock_key, openDate, type LedgerStore } from '../ledger/store';
import { linesOf, platform_owner } from '../ledger/rules';
import { reservedForRefunds } from './books';
import { limitsFor, memberOwner, type LimitsOf } from './wallets';
import type { PayoutLimits } from '../constants';

export interface TransferInput {
  merchant_id: string;
  merchant_transfer_no: string;
  to_merchant_id: string;
  amount_minor: bigint;
  currency: string;
  memo: string;
  /** A member of the payer to credit (its member wallet, MEMBER_CREDIT): to_merchant_id is then
   * the payer itself. */
  to_member_id?: string;
  /** A member of the payer paying it from its wallet (MEMBER_DEBIT): to_merchant_id is then the
   * payer itself. */
  from_member_id?: string;
}

export interface Transfer extends Omit<TransferInput, 'to_member_id' | 'from_member_id'> {
  to_member_id: string | null;
  from_member_id: string | null;
  transfer_id: string;
  /** The business date it counts against the daily limit on. */
  business_date: string;
  created_at: Date;
}

export interface TransferLimits {
  /** One transfer at most. */
  amount_max_minor: bigint;
  /** A payer's transfers of one business day (in one currency) at most. */
  daily_max_minor: bigint;
}

/** A transfer's limits out of the money-out limits (the deployment's, or a merchant's). */
export function transferLimitsOf(limits: PayoutLimits): TransferLimits {
  return { amount_max_minor: limits.transfer_max_minor, daily_max_minor: limits.transfer_daily_max_minor };
}


export interface TransfersDeps {
  ledger: LedgerStore;
  /** The merchant's group (merchants configuration), undefined: in none. */
  groupOf(merchant_id: string): string | undefined;
  id_key: IdKey;
  /** For every merchant alike, or each paying merchant's own (a member's payment: its merchant's). */
  limits: LimitsOf<TransferLimits>;
}

const transfer_columns = 'transfer_id, merchant_id, merchant_transfer_no, to_merchant_id, to_member_id, from_member_id, currency, amount_minor, memo, business_date, created_at';

export class Transfers {
  constructor(private readonly deps: TransfersDeps) {}

  async create(input: TransferInput): Promise<Transfer> {
    const to_member = input.to_member_id !== undefined;
    const from_member = input.from_member_id !== undefined;
    if (to_member && from_member) {
      throw new PaycoreError('INVALID_FIELD', 'to_member_id: a member pays its merchant, not another member', [{ field: 'to_member_id', description: 'must be empty when from_member_id is set' }]);
    }
    if ((to_member || from_member) && input.to_merchant_id !== input.merchant_id) {
      const field = to_member ? 'to_member_id' : 'from_member_id';
      throw new PaycoreError('INVALID_FIELD', `to_merchant_id: a transfer with ${field} is between merchant_id and its own member`, [{ field: 'to_merchant_id', description: `must be empty or merchant_id when ${field} is set` }]);
    }
    const group = this.deps.groupOf(input.merchant_id);
    if (!to_member && !from_member && (group === undefined || this.deps.groupOf(input.to_merchant_id) !== group)) {
      throw new PaycoreError('ILLEGAL_STATE', `merchants ${input.merchant_id} and ${input.to_merchant_id} are not in one group: only merchants of one group transfer to each other`);
    }
    const limits = limitsFor(this.deps.limits, input.merchant_id);
    if (input.amount_minor > limits.amount_max_minor) {
      throw new PaycoreError('INVALID_FIELD', `amount: a transfer is at most ${limits.amount_max_minor}`, [{ field: 'amount', description: `must be at most ${limits.amount_max_minor} (the per-transfer limit)` }]);
    }
    const transfer_id = transferId(this.deps.id_key, input.merchant_id, input.merchant_transfer_no);
    return this.deps.ledger.transaction(async (client, created) => {
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
      const accounts = await client.query<{ owner: string; balance_minor: bigint }>(
        `SELECT owner, balance_minor FROM accounts WHERE code = 'merchant_available' AND currency = $1 AND owner = ANY($2) ORDER BY owner FOR UPDATE`,
        [input.currency, [input.merchant_id, input.to_merchant_id]],
      );
      // A member paying: its wallet, after the merchant's account (the order a credit takes them in).
      const wallet = from_member
        ? await client.query<{ balance_minor: bigint }>(
          `SELECT balance_minor FROM accounts WHERE code = 'member_wallet' AND owner = $1 AND currency = $2 FOR UPDATE`,
          [memberOwner(input.merchant_id, input.from_member_id!), input.currency],
        )
        : undefined;
      const existing = await client.query<Transfer>(
        `SELECT ${transfer_columns} FROM transfers WHERE merchant_id = $1 AND merchant_transfer_no = $2`,
        [input.merchant_id, input.merchant_transfer_no],
      );
      if (existing.rows[0] !== undefined) return sameTransfer(existing.rows[0], input);
      if (wallet !== undefined) {
        const balance = wallet.rows[0]?.balance_minor ?? 0n;
        if (balance < input.amount_minor) {
          throw new PaycoreError('INSUFFICIENT_BALANCE', `the member's wallet ${balance} ${input.currency} cannot cover a payment of ${input.amount_minor}`);
        }
      } else {
        const balance = accounts.rows.find((row) => row.owner === input.merchant_id)?.balance_minor ?? 0n;
        const reserved = await reservedForRefunds(client, input.merchant_id, input.currency);
        if (balance - reserved < input.amount_minor) {
          const less = reserved > 0n ? ` less ${reserved} reserved for refunds not yet posted` : '';
          throw new PaycoreError('INSUFFICIENT_BALANCE', `the available balance ${balance} ${input.currency}${less} cannot cover a transfer of ${input.amount_minor}`);
        }
      }
      const open_date = await openDate(client);
      await this.#checkDaily(client, input, open_date, limits);
      const inserted = await client.query<Transfer>(
        `INSERT INTO transfers (transfer_id, merchant_id, merchant_transfer_no, to_merchant_id, to_member_id, from_member_id, currency, amount_minor, memo, business_date)
         VALUES ($1, $2, $3, $4, $10, $11, $5, $6, $7, GREATEST((now() AT TIME ZONE $8)::date, $9::date)) RETURNING ${transfer_columns}`,
        [
          transfer_id, input.merchant_id, input.merchant_transfer_no, input.to_merchant_id, input.currency, input.amount_minor, input.memo,
          this.deps.ledger.timezone, open_date, input.to_member_id ?? null, input.from_member_id ?? null,
        ],
      );
      const transfer = inserted.rows[0]!;
      const txn_code = from_member ? 'MEMBER_DEBIT' : to_member ? 'MEMBER_CREDIT' : 'TRANSFER';
      const member_id = input.to_member_id ?? input.from_member_id;
      const parties = {
        merchant_id: input.merchant_id, counterparty_id: input.to_merchant_id, channel_id: platform_owner, currency: input.currency,
        receiver: member_id === undefined ? undefined : memberOwner(input.merchant_id, member_id),
      };
      const lines = linesOf(txn_code, parties, { gross: input.amount_minor });
      await this.deps.ledger.post(client, created, {
        entry_key: `transfer:${transfer_id}`, txn_code, merchant_id: input.merchant_id, ref_id: transfer_id, currency: input.currency, at: transfer.created_at.toISOString(), lines,
      }, open_date);
      return transfer;
    });
  }

  /** A transfer its payer or its payee may see; otherwise NOT_FOUND, like one that does not exist. */
  async get(merchant_id: string, transfer_id: string): Promise<Transfer> {
    const result = await this.deps.ledger.pool.query<Transfer>(
      `SELECT ${transfer_columns} FROM transfers WHERE transfer_id = $1 AND (merchant_id = $2 OR to_merchant_id = $2)`,
      [transfer_id, merchant_id],
    );
    const transfer = result.rows[0];
    if (transfer === undefined) throw new PaycoreError('NOT_FOUND', `no transfer ${transfer_id}`);
    return transfer;
  }

  /** The payer's transfers of the business day: the merchant's own, or one member's payments. */
  async #checkDaily(client: pg.PoolClient, input: TransferInput, open_date: string, limits: TransferLimits): Promise<void> {
    const today = await client.query<{ total: bigint }>(
      `SELECT coalesce(sum(amount_minor), 0)::bigint AS total FROM transfers
        WHERE merchant_id = $1 AND currency = $2 AND business_date = GREATEST((now() AT TIME ZONE $3)::date, $4::date)
          AND from_member_id IS NOT DISTINCT FROM $5`,
      [input.merchant_id, input.currency, this.deps.ledger.timezone, open_date, input.from_member_id ?? null],
    );
    const total = today.rows[0]!.total;
    if (total + input.amount_minor > limits.daily_max_minor) {
      throw new PaycoreError('ILLEGAL_STATE', `the daily transfer limit ${limits.daily_max_minor} ${input.currency}: ${total} transferred today, ${input.amount_minor} more would pass it`);
    }
  }
}

/** A repeated request finds its transfer; the same number for another transfer is refused. */
function sameTransfer(stored: Transfer, input: TransferInput): Transfer {
  const same = stored.to_merchant_id === input.to_merchant_id && stored.to_member_id === (input.to_member_id ?? null)
    && stored.from_member_id === (input.from_member_id ?? null)
    && stored.amount_minor === input.amount_minor && stored.currency === input.currency
    && stored.memo === input.memo;
  if (!same) {
    throw new PaycoreError('IDEMPOTENCY_KEY_REUSED', `merchant_transfer_no ${input.merchant_transfer_no} names another transfer (${stored.transfer_id})`);
  }
  return stored;
}

// Member wallets (会员钱包, README.md "Member wallets"): a member of a merchant — named by the
// merchant, like a split receiver — holds money in the books (member_wallet, owner
// '<merchant_id>/<member_id>'), credited by a transfer from its merchant (transfers.ts,
// MEMBER_CREDIT) and withdrawn to a bank account by a payout from the wallet (a withdrawal, 提现):
// frozen in member_frozen while in flight, released back to the wallet when it fails or is
// returned. The freeze is checked under the wallet account's lock: the wallet must cover it and
// the member's withdrawals of the day (not failed, not returned) plus this one must stay within
// the daily limit; the per-withdrawal limit is checked before the payout is recorded.

import type pg from 'pg';
import { PaycoreError } from '../errors';
import type { LedgerStore } from '../ledger/store';
import { payout_limits_default, type PayoutLimits } from '../constants';

export interface MemberLimits {
  /** One withdrawal at most. */
  withdrawal_max_minor: bigint;
  /** A member's withdrawals of one calendar day (the books' zone), in one currency, at most. */
  daily_max_minor: bigint;
}

/** A member's limits out of the money-out limits (the deployment's, or a merchant's). */
export function memberLimitsOf(limits: PayoutLimits): MemberLimits {
  return { withdrawal_max_minor: limits.member_withdrawal_max_minor, daily_max_minor: limits.member_withdrawal_daily_max_minor };
}

/** 50,000.00 per withdrawal, 200,000.00 per member and day (core/constants.ts payout_limits_default). */
export const member_limits_default: MemberLimits = memberLimitsOf(payout_limits_default);

/** Limits for all merchants alike, or each merchant's own. */
export type LimitsOf<Limits> = Limits | ((merchant_id: string) => Limits);

export function limitsFor<Limits extends object>(limits: LimitsOf<Limits>, merchant_id: string): Limits {
  return typeof limits === 'function' ? limits(merchant_id) : limits;
}

export interface MemberWallet {
  merchant_id: string;
  member_id: string;
  currency: string;
  /** What the member can withdraw. */
  balance_minor: bigint;
  /** Withdrawals in flight. */
  frozen_minor: bigint;
  /** Today's withdrawals (not failed, not returned), against the daily limit. */
  withdrawn_today_minor: bigint;
  limits: MemberLimits;
}

/** The owner of a member's accounts. */
export function memberOwner(merchant_id: string, member_id: string): string {
  return `${merchant_id}/${member_id}`;
}

/** Refused when over the per-withdrawal limit: before anything is recorded. */
export function checkWithdrawal(limits: MemberLimits, amount_minor: bigint): void {
  if (amount_minor > limits.withdrawal_max_minor) {
    throw new PaycoreError('INVALID_FIELD', `amount: a member's withdrawal is at most ${limits.withdrawal_max_minor}`, [
      { field: 'amount', description: `must be at most ${limits.withdrawal_max_minor} (the per-withdrawal limit)` },
    ]);
  }
}

type MemberFreezeCheck = { ok: true } | { ok: false; code: 'INSUFFICIENT_BALANCE' | 'DAILY_LIMIT_EXCEEDED'; message: string };

/** In the freeze's transaction: locks the wallet, then checks its balance and the daily limit. */
export async function checkMemberFreeze(
  client: pg.PoolClient, timezone: string, limits: MemberLimits,
  withdrawal: { merchant_id: string; member_id: string; currency: string; amount_minor: bigint },
): Promise<MemberFreezeCheck> {
  const wallet = await client.query<{ balance_minor: bigint }>(
    `SELECT balance_minor FROM accounts WHERE code = 'member_wallet' AND owner = $1 AND currency = $2 FOR UPDATE`,
    [memberOwner(withdrawal.merchant_id, withdrawal.member_id), withdrawal.currency],
  );
  const balance = wallet.rows[0]?.balance_minor ?? 0n;
  if (balance < withdrawal.amount_minor) {
    return { ok: false, code: 'INSUFFICIENT_BALANCE', message: `the member's wallet ${balance} ${withdrawal.currency} cannot cover a withdrawal of ${withdrawal.amount_minor}` };
  }
  const today = await withdrawnToday(client, timezone, withdrawal);
  if (today + withdrawal.amount_minor > limits.daily_max_minor) {
    return {
      ok: false, code: 'DAILY_LIMIT_EXCEEDED',
      message: `the member's daily withdrawal limit ${limits.daily_max_minor} ${withdrawal.currency}: ${today} withdrawn today, ${withdrawal.amount_minor} more would pass it`,
    };
  }
  return { ok: true };
}

type MemberOf = { merchant_id: string; member_id: string; currency: string };

async function withdrawnToday(client: pg.ClientBase | pg.Pool, timezone: string, member: MemberOf): Promise<bigint> {
  const result = await client.query<{ total: bigint }>(
    `SELECT coalesce(sum(amount_minor), 0)::bigint AS total FROM payouts
      WHERE merchant_id = $1 AND member_id = $2 AND currency = $3 AND status NOT IN ('FAILED', 'RETURNED')
        AND created_at >= (date_trunc('day', now() AT TIME ZONE $4) AT TIME ZONE $4)`,
    [member.merchant_id, member.member_id, member.currency, timezone],
  );
  return result.rows[0]!.total;
}

/** A payout's status as its event log has it now (the books' row may lag it). */
export type PayoutStatusOf = (payout_id: string) => Promise<string | undefined>;

/** GetMemberWallet: what a member holds, has in flight and withdrew today. The books' rows
 * follow the payouts' event log a moment behind: a withdrawal the log already has FAILED (or
 * RETURNED) can still be in flight in its row until its release is posted. Today's total asks
 * the log (`statusOf`) about each such row, so a failed withdrawal is never counted as
 * withdrawn; the freeze's own daily check reads the rows alone (stricter, never looser). */
export async function memberWallet(
  ledger: Pick<LedgerStore, 'pool' | 'timezone'>, limits: MemberLimits, merchant_id: string, member_id: string, currency: string, statusOf?: PayoutStatusOf,
): Promise<MemberWallet> {
  const accounts = await ledger.pool.query<{ code: string; balance_minor: bigint }>(
    `SELECT code, balance_minor FROM accounts WHERE owner = $1 AND currency = $2 AND code IN ('member_wallet', 'member_frozen')`,
    [memberOwner(merchant_id, member_id), currency],
  );
  const of = (code: string): bigint => accounts.rows.find((row) => row.code === code)?.balance_minor ?? 0n;
  const member = { merchant_id, member_id, currency };
  let withdrawn = await withdrawnToday(ledger.pool, ledger.timezone, member);
  if (statusOf !== undefined) {
    for (const open of await openToday(ledger.pool, ledger.timezone, member)) {
      const status = await statusOf(open.payout_id);
      if (status === 'FAILED' || status === 'RETURNED') withdrawn -= open.amount_minor;
    }
  }
  return { ...member, balance_minor: of('member_wallet'), frozen_minor: of('member_frozen'), withdrawn_today_minor: withdrawn, limits };
}

/** The member's withdrawals of today whose rows are not final yet. */
async function openToday(pool: pg.Pool, timezone: string, member: MemberOf): Promise<{ payout_id: string; amount_minor: bigint }[]> {
  const result = await pool.query<{ payout_id: string; amount_minor: bigint }>(
    `SELECT payout_id, amount_minor FROM payouts
      WHERE merchant_id = $1 AND member_id = $2 AND currency = $3 AND status IN ('PENDING', 'PROCESSING', 'REQUIRES_MANUAL')
        AND created_at >= (date_trunc('day', now() AT TIME ZONE $4) AT TIME ZONE $4)`,
    [member.merchant_id, member.member_id, member.currency, timezone],
  );
  return result.rows;
}

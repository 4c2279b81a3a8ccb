// The refund funding cover (README.md "Refund funding"): what a merchant's refunds can still
// draw on, one figure that the refund check (LedgerStore.reserveRefund) and a split's
// allocation (splits.ts allocateSplit) both compute and both keep at or above the merchant's
// floor, each under the same locks (lockFunds) — so neither can pass the other unseen:
//
//   cover = merchant_available + merchant_pending
//         − the refunds accepted and not yet posted (refund_reservations, unexpired)
//         + Σ over the payments those refunds are of: min(reserved of it, its shares still with
//           receivers) — a refund takes its payment's shares back first (分账回退), but never
//           more than itself, and one payment's shares fund only that payment's refunds. A share
//           to a member wallet counts only as far as the wallet still holds it (the member may
//           have withdrawn it: a refund takes back no more than that, splits.ts).
//
// A new refund is checked with itself among the reservations; a split with its shares moved
// from the merchant to its payment's receivers.

import type pg from 'pg';
import { refund_reservation_ttl_ms } from '../constants';

/** Serialises every check of one merchant's funds: its available and pending accounts (those
 * that exist), then its settings row (created when missing: a merchant without accounts has
 * no money, and its checks still serialise there). Always in this order. */
export async function lockFunds(client: pg.PoolClient, merchant_id: string, currency: string): Promise<void> {
  await client.query(
    `SELECT 1 FROM accounts WHERE owner = $1 AND currency = $2 AND code IN ('merchant_available', 'merchant_pending') ORDER BY code FOR UPDATE`,
    [merchant_id, currency],
  );
  await client.query('INSERT INTO merchant_settings (merchant_id) VALUES ($1) ON CONFLICT (merchant_id) DO NOTHING', [merchant_id]);
  await client.query('SELECT 1 FROM merchant_settings WHERE merchant_id = $1 FOR UPDATE', [merchant_id]);
}

/** The lowest cover the merchant's refund_funding policy allows: 0 (refuse) or −overdraft_limit. */
export async function fundingFloor(client: pg.PoolClient, merchant_id: string): Promise<bigint> {
  const result = await client.query<{ refund_funding: string; overdraft_limit_minor: bigint }>(
    'SELECT refund_funding, overdraft_limit_minor FROM merchant_settings WHERE merchant_id = $1',
    [merchant_id],
  );
  const row = result.rows[0];
  return row?.refund_funding === 'overdraft' ? -row.overdraft_limit_minor : 0n;
}

export interface CoverQuery {
  merchant_id: string;
  currency: string;
  /** A refund being checked: counted as reserved (its own earlier reservation, if any, once). */
  refund?: { refund_id: string; payment_id: string; amount_minor: bigint };
  /** A split being allocated: its shares leave the merchant for the payment's receivers. */
  split?: { payment_id: string; amount_minor: bigint };
}

/** The cover after the refund or split in question (read in one statement: one snapshot). */
export async function fundingCover(client: pg.PoolClient, query: CoverQuery): Promise<bigint> {
  const split_amount = query.split?.amount_minor ?? 0n;
  const result = await client.query<{ cover: bigint }>(
    `WITH reserved AS (
       SELECT payment_id, sum(amount_minor)::bigint AS amount FROM (
         SELECT coalesce(payment_id, '') AS payment_id, amount_minor FROM refund_reservations
          WHERE merchant_id = $1 AND currency = $2 AND refund_id <> $3 AND created_at > now() - make_interval(secs => $4::double precision / 1000)
         UNION ALL SELECT $5::text, $6::bigint WHERE $6::bigint > 0
       ) r GROUP BY payment_id)
     SELECT ((SELECT coalesce(sum(balance_minor), 0) FROM accounts WHERE owner = $1 AND currency = $2 AND code IN ('merchant_available', 'merchant_pending'))
           - $8::bigint
           - (SELECT coalesce(sum(amount), 0) FROM reserved)
           + (SELECT coalesce(sum(LEAST(r.amount,
                 (SELECT coalesce(sum(CASE WHEN NOT s.member THEN s.amount_minor - s.returned_minor
                    ELSE LEAST(s.amount_minor - s.returned_minor, greatest(0, (SELECT coalesce(sum(w.balance_minor), 0) FROM accounts w
                      WHERE w.code = 'member_wallet' AND w.owner = $1 || '/' || s.receiver_id AND w.currency = $2))) END), 0)
                    FROM split_receivers s WHERE s.payment_id = r.payment_id)
                 + CASE WHEN r.payment_id = $7 THEN $8::bigint ELSE 0 END)), 0)
                FROM reserved r WHERE r.payment_id <> ''))::bigint AS cover`,
    [
      query.merchant_id, query.currency, query.refund?.refund_id ?? '', refund_reservation_ttl_ms,
      query.refund?.payment_id ?? '', query.refund?.amount_minor ?? 0n, query.split?.payment_id ?? '', split_amount,
    ],
  );
  return result.rows[0]!.cover;
}

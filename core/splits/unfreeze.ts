// The automatic unfreeze (分账完结) of payments paid on a profit-sharing channel: WeChat freezes
// such a payment's money until the merchant's last split (CreateSplit.finish) or an unfreeze;
// a merchant that never finishes would leave it frozen until WeChat's own limit. A sweep finds
// the payments paid longer ago than the unfreeze period with no finishing split that still
// stands, and creates the unfreeze through the split actor (a finishing split of no
// receivers, merchant_split_no `unfreeze:<payment_id>`, a number CreateSplit cannot take), so
// it has the split's write-ahead, query and follow-ups. Safe in every process and repeatable.

import type { LedgerStore } from '../ledger/store';
import type { Logger } from '../log';
import type { CreateSplit } from './service';
import type { SplitState } from './types';

const sweep_batch_max = 100;

/** paycore's own unfreezes of one payment that may end FAILED before it stops trying (WeChat
 * refused them: an operator sees them in ListSplits). */
const unfreeze_attempts_max = 3;

/** The first attempt `unfreeze:<payment_id>`, the next `unfreeze:<payment_id>:2`, …. */
const unfreezeSplitNo = (payment_id: string, attempt: number): string => (attempt === 1 ? `unfreeze:${payment_id}` : `unfreeze:${payment_id}:${attempt}`);

/** Creates the unfreezes due: payments on `channel_ids` paid before now − after_ms, with no
 * finishing split other than a FAILED one, and no split still being made (PENDING, PROCESSING,
 * REQUIRES_MANUAL: the provider may refuse an unfreeze meanwhile, and would refuse the split
 * after it). paycore's own unfreeze that ended FAILED is tried again on a later sweep, up to
 * unfreeze_attempts_max attempts. Answers how many were due. */
export async function sweepUnfreezes(
  ledger: LedgerStore, channel_ids: readonly string[], after_ms: number, create: (request: CreateSplit) => Promise<SplitState>, log: Logger,
): Promise<number> {
  if (channel_ids.length === 0) return 0;
  const due = await ledger.pool.query<{ payment_id: string; merchant_id: string; failed: number }>(
    `SELECT p.payment_id, p.merchant_id, own.failed FROM payments p
       CROSS JOIN LATERAL (SELECT count(*)::int AS failed FROM splits f
                            WHERE f.payment_id = p.payment_id AND f.finish AND f.status = 'FAILED'
                              AND (f.merchant_split_no = 'unfreeze:' || p.payment_id OR f.merchant_split_no LIKE 'unfreeze:' || p.payment_id || ':%')) own
      WHERE p.channel_id = ANY($1::text[]) AND p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED')
        AND p.paid_at <= now() - make_interval(secs => $2::double precision / 1000)
        AND own.failed < $4
        AND NOT EXISTS (SELECT 1 FROM splits s WHERE s.payment_id = p.payment_id
                          AND ((s.finish AND s.status <> 'FAILED') OR s.status IN ('PENDING', 'PROCESSING', 'REQUIRES_MANUAL')))
      ORDER BY p.paid_at LIMIT $3`,
    [channel_ids, after_ms, sweep_batch_max, unfreeze_attempts_max],
  );
  for (const row of due.rows) {
    const attempt = row.failed + 1;
    if (attempt > 1) log.warn({ payment_id: row.payment_id, attempt }, 'unfreeze: an earlier attempt FAILED at the channel; trying again');
    try {
      await create({ merchant_id: row.merchant_id, merchant_split_no: unfreezeSplitNo(row.payment_id, attempt), payment_id: row.payment_id, receivers: [], description: 'unfreeze', finish: true });
    } catch (error) {
      log.warn({ payment_id: row.payment_id, err: String(error) }, 'unfreeze not created; the next sweep retries');
    }
  }
  return due.rows.length;
}

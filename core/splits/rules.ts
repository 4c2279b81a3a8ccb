// Split rules given with CreatePayment (分账规则): kept in the books by payment id before the
// payment is created (the same key with other rules is refused), and applied once the books
// see the payment paid — as a split through the split actor (merchant_split_no
// `rules:<payment_id>`, a number CreateSplit cannot take), so it has the same limit, log and
// follow-ups as any split. A sweep finds the paid payments whose rules are not applied yet;
// it is safe to run in every process and to repeat (the split is idempotent on its number).

import { PaycoreError } from '../errors';
import type { LedgerStore } from '../ledger/store';
import type { Logger } from '../log';
import type { Sealer } from '../seal';
import type { CreateSplit } from './service';
import { sharesOf, type SplitRule } from './shares';
import type { SplitState } from './types';

const sweep_batch_max = 100;

const rulesSplitNo = (payment_id: string): string => `rules:${payment_id}`;

/** A rule as kept: [receiver_id, amount, ratio_bp] and, when the rule names the receiver, its
 * name sealed (core/seal.ts) as a fourth element, which the idempotency check leaves out. */
const encode = (rules: readonly SplitRule[], sealer?: Sealer): string =>
  JSON.stringify(rules.map((r) => [r.receiver_id, r.amount_minor.toString(), r.ratio_bp, ...(sealer === undefined || (r.name ?? '') === '' ? [] : [sealer.seal(r.name)])]));

export class SplitRules {
  constructor(private readonly ledger: LedgerStore, private readonly sealer: Sealer) {}

  /** Keeps the payment's rules; the same rules again change nothing (names aside), other rules are refused. */
  async save(payment_id: string, merchant_id: string, rules: readonly SplitRule[]): Promise<void> {
    const text = encode(rules);
    await this.ledger.pool.query('INSERT INTO split_rules (payment_id, merchant_id, rules) VALUES ($1, $2, $3::jsonb) ON CONFLICT (payment_id) DO NOTHING', [payment_id, merchant_id, encode(rules, this.sealer)]);
    const kept = await this.ledger.pool.query<{ same: boolean }>(
      `SELECT (SELECT coalesce(jsonb_agg(e - 3 ORDER BY i), '[]'::jsonb) FROM jsonb_array_elements(rules) WITH ORDINALITY AS t(e, i)) = $2::jsonb AS same
         FROM split_rules WHERE payment_id = $1`,
      [payment_id, text],
    );
    if (kept.rows[0]?.same !== true) throw new PaycoreError('IDEMPOTENCY_KEY_REUSED', 'merchant_order_no names a payment created with other split_rules');
  }

  /** Applies the rules of paid payments not applied yet: one split each. */
  async sweep(create: (request: CreateSplit) => Promise<SplitState>, log: Logger): Promise<number> {
    type Due = { payment_id: string; merchant_id: string; rules: [string, string, number, string?][]; amount_minor: bigint; merchant_fee_minor: bigint };
    const due = await this.ledger.pool.query<Due>(
      `SELECT r.payment_id, r.merchant_id, r.rules, p.amount_minor, p.merchant_fee_minor FROM split_rules r JOIN payments p USING (payment_id)
        WHERE r.split_id IS NULL AND p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED') ORDER BY r.created_at LIMIT $1`,
      [sweep_batch_max],
    );
    for (const row of due.rows) {
      const rules = row.rules.map(([receiver_id, amount, ratio_bp, sealed]) => ({
        receiver_id, amount_minor: BigInt(amount), ratio_bp, ...(sealed === undefined ? {} : { name: this.sealer.open<string>(sealed) }),
      }));
      const receivers = sharesOf(rules, row.amount_minor - row.merchant_fee_minor);
      let split_id = '-';
      try {
        if (receivers.length > 0) {
          const request = { merchant_id: row.merchant_id, merchant_split_no: rulesSplitNo(row.payment_id), payment_id: row.payment_id, receivers, description: 'split_rules' };
          split_id = (await create(request)).split_id;
        }
      } catch (error) {
        log.warn({ payment_id: row.payment_id, err: String(error) }, 'split rules not applied; the next sweep retries');
        continue;
      }
      await this.ledger.pool.query('UPDATE split_rules SET split_id = $2 WHERE payment_id = $1', [row.payment_id, split_id]);
    }
    return due.rows.length;
  }
}

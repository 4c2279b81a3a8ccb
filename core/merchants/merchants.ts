// Merchants: their records (products, contracted channels, fee rates) and notify secrets,
// kept with the routing configuration (one file, one cache, one durable store: the routing
// cache, core/routing/cache.ts) but administered and read here. Used by the gateway's
// MerchantAdminService, the notifier (the notify secret), the actors (contracts and fees).

import { invalidFields, PaycoreError, type FieldViolation } from '../errors';
import type { RoutingCache } from '../routing/cache';
import { computeFee } from '../routing/fees';
import type { FeeRule, ProductName } from '../routing/types';
import type { Sealer } from '../seal';
import type { PayoutLimits } from '../constants';
import { merchantToJson, readMerchant, type MerchantInput, type MerchantView } from './records';

export class Merchants {
  constructor(
    private readonly cache: RoutingCache,
    /** Seals notify secrets (AES-256-GCM under PAYCORE_DATA_KEY, core/seal.ts): Redis and the
     * store only ever hold them sealed. */
    private readonly sealer: Sealer,
  ) {}

  /** `notify_secret` is required for a new merchant and kept when absent on an update. */
  async upsertMerchant(input: MerchantInput): Promise<MerchantView> {
    const violations: FieldViolation[] = [];
    const json = { ...merchantToJson(input), ...(input.notify_secret === undefined ? {} : { notify_secret: input.notify_secret }) };
    const merchant = readMerchant(json, 'merchant', violations);
    await this.cache.reload();
    if (merchant !== undefined) {
      const current = this.cache.current;
      merchant.channel_ids.forEach((id, i) => {
        if (!current.by_id.has(id)) violations.push({ field: `merchant.channel_ids[${i}]`, description: `names channel ${id}, which the routing table does not have` });
      });
      if (merchant.notify_secret === undefined && !current.secret_hints.has(merchant.merchant_id)) {
        violations.push({ field: 'merchant.notify_secret', description: 'is required for a new merchant' });
      }
    }
    if (merchant === undefined || violations.length > 0) throw invalidFields(violations);
    const k = this.cache.keys.config;
    await this.cache.commit((m) => {
      m.hset(`${k}:merchants`, merchant.merchant_id, JSON.stringify(merchantToJson(merchant)));
      if (merchant.notify_secret !== undefined) m.hset(`${k}:secrets`, merchant.merchant_id, this.sealer.seal(merchant.notify_secret));
    });
    return this.getMerchant(merchant.merchant_id);
  }

  getMerchant(merchant_id: string): MerchantView {
    const current = this.cache.current;
    const merchant = current.merchants.get(merchant_id);
    if (merchant === undefined) throw new PaycoreError('NOT_FOUND', `no merchant ${merchant_id}`);
    const hint = current.secret_hints.get(merchant_id);
    return { ...merchant, notify_secret_fingerprint: hint?.fingerprint ?? '', notify_secret_last4: hint?.last4 ?? '' };
  }

  /** The channels the merchant is contracted on (none when it is unknown). */
  merchantChannels(merchant_id: string): readonly string[] {
    return this.cache.current.merchants.get(merchant_id)?.channel_ids ?? [];
  }

  /** The merchant's group (undefined: in none, or no such merchant). */
  groupOf(merchant_id: string): string | undefined {
    return this.cache.current.merchants.get(merchant_id)?.group_id;
  }

  /** The merchant's own money-out limits (absent ones: the deployment's defaults). */
  payoutLimitsOf(merchant_id: string): Partial<PayoutLimits> {
    return this.cache.current.merchants.get(merchant_id)?.payout_limits ?? {};
  }

  /** The merchant's fee rule for a product (undefined: none agreed, or no such merchant). */
  merchantFeeRule(merchant_id: string, product: ProductName): FeeRule | undefined {
    return this.cache.current.merchants.get(merchant_id)?.fee_rates[product];
  }

  /** What the merchant pays for a payment: its fee rate for the product (core/routing/fees.ts,
   * bigint, half-up). Policy: a merchant whose rate table has no entry for the product pays
   * no fee — the rate table is the contract, and nothing is charged that it does not name. */
  merchantFee(merchant_id: string, product: ProductName, amount_minor: bigint): bigint {
    const rule = this.merchantFeeRule(merchant_id, product);
    return rule === undefined ? 0n : computeFee(amount_minor, rule);
  }

  /** For the merchant notifier only: never put it in a reply, a log or an event. */
  async notifySecret(merchant_id: string): Promise<string | undefined> {
    const sealed = await this.cache.redis.hget(`${this.cache.keys.config}:secrets`, merchant_id);
    return sealed === null ? undefined : this.sealer.open<string>(sealed);
  }
}

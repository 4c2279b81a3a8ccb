// A merchant as paycore holds it: its products, the channels it is contracted on, what it pays
// per product (settlement), and its notify secret (write-only; sealed at rest). The JSON form
// is the routing file's `merchants[]` entry and what Redis and the store hold; every parse
// collects all violations, named by path.

import type { FieldViolation } from '../errors';
import { Reader, feeToJson, id_pattern, id_rule, readFee } from '../routing/reader';
import { channel_ids_per_merchant_max } from '../routing/constants';
import { minor_max, type PayoutLimits } from '../constants';
import { product_names, type FeeRule, type ProductName } from '../routing/types';

export { secretFingerprint } from '../routing/reader';

const notify_secret_chars_min = 16;
const notify_secret_chars_max = 256;

export interface Merchant {
  merchant_id: string;
  products: ProductName[];
  /** Channels the merchant is contracted on. */
  channel_ids: string[];
  /** What paycore charges the merchant per product (settlement). */
  fee_rates: Partial<Record<ProductName, FeeRule>>;
  /** Its group (集团): merchants of one group may transfer money to each other
   * (core/payouts/transfers.ts). Absent: in none. */
  group_id?: string;
  /** Its own money-out limits (core/payouts), each overriding the deployment's default
   * (PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR and its siblings). Absent: the defaults. */
  payout_limits?: Partial<PayoutLimits>;
}

/** A merchant as the admin API shows it: the notify secret is write-only. */
export interface MerchantView extends Merchant {
  notify_secret_fingerprint: string;
  notify_secret_last4: string;
}

export interface MerchantInput extends Merchant {
  /** Write-only. Absent on update: the stored secret stays. */
  notify_secret?: string;
}

const merchant_fields = ['merchant_id', 'products', 'channel_ids', 'fee_rates', 'notify_secret', 'group_id', 'payout_limits'];
const limit_fields = ['member_withdrawal_max_minor', 'member_withdrawal_daily_max_minor', 'transfer_max_minor', 'transfer_daily_max_minor'] as const;
/** Each per-item limit and the daily one it may not exceed. */
const limit_pairs = [['member_withdrawal_max_minor', 'member_withdrawal_daily_max_minor'], ['transfer_max_minor', 'transfer_daily_max_minor']] as const;

/** payout_limits: any of the four, each a decimal string of minor units (1 .. bigint max). */
function readPayoutLimits(r: Reader, value: unknown, field: string): Partial<PayoutLimits> | undefined {
  const o = r.object(value, field, limit_fields);
  if (o === undefined) return undefined;
  const limits: Partial<PayoutLimits> = {};
  for (const name of limit_fields) {
    if (o[name] === undefined) continue;
    const amount = r.minor(o[name], `${field}.${name}`, 1n, minor_max);
    if (amount !== undefined) limits[name] = amount;
  }
  for (const [item, daily] of limit_pairs) {
    const [a, b] = [limits[item], limits[daily]];
    if (a !== undefined && b !== undefined && a > b) r.bad(`${field}.${item}`, `must not exceed ${daily} (${b})`);
  }
  return limits;
}

export function readMerchant(value: unknown, field: string, violations: FieldViolation[]): MerchantInput | undefined {
  const r = new Reader(violations);
  const before = violations.length;
  const p = (name: string) => (field === '' ? name : `${field}.${name}`);
  const o = r.object(value, field, merchant_fields);
  if (o === undefined) return undefined;
  const merchant_id = r.string(o.merchant_id, p('merchant_id'), id_pattern, id_rule);
  const products = r.list(o.products, p('products'), product_names.length, (v, f) => r.product(v, f));
  const channel_ids = r.list(o.channel_ids, p('channel_ids'), channel_ids_per_merchant_max, (v, f) => r.string(v, f, id_pattern, id_rule));
  const fee_rates: Merchant['fee_rates'] = {};
  const rates = o.fee_rates === undefined ? {} : r.object(o.fee_rates, p('fee_rates'), product_names);
  for (const [product, rule] of Object.entries(rates ?? {})) {
    const fee = readFee(r, rule, `${p('fee_rates')}.${product}`);
    if (fee !== undefined) fee_rates[product as ProductName] = fee;
  }
  let notify_secret: string | undefined;
  if (o.notify_secret !== undefined) {
    const s = o.notify_secret;
    if (typeof s !== 'string' || s.length < notify_secret_chars_min || s.length > notify_secret_chars_max || /[\s\p{Cc}]/u.test(s)) {
      r.bad(p('notify_secret'), `must be ${notify_secret_chars_min} to ${notify_secret_chars_max} characters without spaces`);
    } else {
      notify_secret = s;
    }
  }
  const group_id = o.group_id === undefined ? undefined : r.string(o.group_id, p('group_id'), id_pattern, id_rule);
  const payout_limits = o.payout_limits === undefined ? undefined : readPayoutLimits(r, o.payout_limits, p('payout_limits'));
  if (violations.length > before) return undefined;
  const merchant: MerchantInput = { merchant_id: merchant_id!, products: products!, channel_ids: channel_ids!, fee_rates };
  if (group_id !== undefined) merchant.group_id = group_id;
  if (payout_limits !== undefined && Object.keys(payout_limits).length > 0) merchant.payout_limits = payout_limits;
  if (notify_secret !== undefined) merchant.notify_secret = notify_secret;
  return merchant;
}

export function merchantToJson(m: Merchant): Record<string, unknown> {
  return {
    merchant_id: m.merchant_id,
    products: [...m.products],
    channel_ids: [...m.channel_ids],
    fee_rates: Object.fromEntries(Object.entries(m.fee_rates).map(([k, v]) => [k, feeToJson(v!)])),
    ...(m.group_id === undefined ? {} : { group_id: m.group_id }),
    ...(m.payout_limits === undefined ? {} : { payout_limits: Object.fromEntries(Object.entries(m.payout_limits).map(([k, v]) => [k, v.toString()])) }),
  };
}

// Bounds and defaults of the routing table that are not scoring (scoring.ts holds those),
// each with its unit and why it holds.

import { amount_minor_max } from '../constants';

/** Largest amount cap (minor units). Lua numbers are IEEE doubles, exact below 2^53 ≈ 9.007e15:
 * a counter never exceeds its cap plus one order (10^15 + 10^12), so every comparison in the
 * scripts stays exact. HINCRBY itself is int64 in Redis. */
export const cap_amount_minor_max = 1_000_000_000_000_000n;
/** Largest count cap: a billion orders per channel per month is far above any contract. */
export const cap_count_max = 1_000_000_000;
export { amount_minor_max };

/** Fees are at most this (minor units): a fee above any order amount is a typo. */
export const fee_minor_max = amount_minor_max;

/** Table size bounds: the whole table is cached in every process and sent in one apply. */
export const channels_max = 2_000;
export const merchants_max = 100_000;
export const channel_ids_per_merchant_max = 500;
export const service_ranges_max = 32;

/** How often each instance compares the table version in Redis with its cache, the fallback
 * when a pub/sub message is lost (reconnect): a change is seen within this plus one reload. */
export const version_poll_ms_default = 250;

/** Reservation markers outlive the monthly counter they release into (31 days + slack), so
 * a release long after the attempt still restores the right counters exactly once. */
export const reservation_ttl_seconds = 35 * 86_400;
/** Day counters live two days (yesterday's releases still land), month counters 32 days. */
export const day_counter_ttl_seconds = 2 * 86_400 + 3_600;
export const month_counter_ttl_seconds = 32 * 86_400 + 3_600;

/** The time zone of calendar days and months for caps: channels' contracts in China count
 * days in Beijing time. */
export const limits_time_zone_default = 'Asia/Shanghai';

/** Apps in the registry: each is a calling service, not a merchant; a few hundred is a big
 * platform. The whole registry is cached in every gateway. */
export const apps_max = 1_000;
/** Merchants one app may list; a service acting for more is a platform app ('*'). */
export const merchants_per_app_max = 10_000;
/** App key secrets: 256 bits from the CSPRNG, the HMAC-SHA256 key size. */
export const app_key_secret_bytes = 32;

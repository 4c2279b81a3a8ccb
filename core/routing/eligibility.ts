// Static eligibility: what the cached configuration alone says about each channel for one
// order. Pure and synchronous; the live checks (circuit, caps) follow in the decision (decision.ts, reserve.ts).
// Checks run in a fixed order and the first failing one is the channel's reason.

import { computeFee } from './fees';
import type { Exclusion, RouteOrder, RoutingChannel } from './types';
// Merchants are their own module (core/merchants); routing reads their contracts.
import type { Merchant } from '../merchants/records';
import { windowClosedReason } from './windows';

export interface StaticCandidate {
  channel: RoutingChannel;
  fee_minor: bigint;
}

export interface Eligibility {
  eligible: StaticCandidate[];
  excluded: Exclusion[];
}

/** `channels` are every channel of the table; exclusions name each one that cannot take the
 * order. With `only_product_channels`, channels not serving the product are skipped silently
 * (the hot path: a table of thousands of channels need not explain each one). */
export function staticEligibility(
  channels: readonly RoutingChannel[],
  merchant: Merchant | undefined,
  order: RouteOrder,
  at: Date,
  only_product_channels = false,
): Eligibility {
  const eligible: StaticCandidate[] = [];
  const excluded: Exclusion[] = [];
  for (const channel of channels) {
    if (only_product_channels && !channel.products.includes(order.product)) continue;
    const why = exclusionOf(channel, merchant, order, at);
    if (why === undefined) eligible.push({ channel, fee_minor: computeFee(order.amount_minor, channel.fee) });
    else excluded.push({ channel_id: channel.channel_id, ...why });
  }
  return { eligible, excluded };
}

export function exclusionOf(channel: RoutingChannel, merchant: Merchant | undefined, order: RouteOrder, at: Date): Omit<Exclusion, 'channel_id'> | undefined {
  if (channel.state === 'DISABLED') return { reason: 'NOT_ENABLED', detail: 'channel is DISABLED' };
  if (channel.state === 'DRAINING') return { reason: 'DRAINING', detail: 'channel is DRAINING: no new payments' };
  if (!channel.products.includes(order.product)) return { reason: 'PRODUCT', detail: `serves ${channel.products.join(', ')}, not ${order.product}` };
  if (!channel.currencies.includes(order.currency)) return { reason: 'CURRENCY', detail: `settles ${channel.currencies.join(', ')}, not ${order.currency}` };
  if (merchant === undefined) return { reason: 'UNKNOWN_MERCHANT', detail: `no merchant ${order.merchant_id} in the routing table` };
  if (!merchant.products.includes(order.product)) return { reason: 'MERCHANT_PRODUCT', detail: `merchant ${merchant.merchant_id} has no ${order.product}` };
  if (!merchant.channel_ids.includes(channel.channel_id)) return { reason: 'NOT_CONTRACTED', detail: `merchant ${merchant.merchant_id} is not contracted on it` };
  if (order.exclude_channels.includes(channel.channel_id)) return { reason: 'EXCLUDED_BY_HINT', detail: 'in route_hints.exclude_channels' };
  if (order.include_channels.length > 0 && !order.include_channels.includes(channel.channel_id)) return { reason: 'NOT_IN_INCLUDE', detail: 'route_hints.include_channels does not name it' };
  if (order.exclude_attempted?.includes(channel.channel_id)) return { reason: 'ALREADY_ATTEMPTED', detail: 'an earlier attempt of this payment used it' };
  if (order.amount_minor < channel.amount_min_minor) return { reason: 'AMOUNT_BELOW_MIN', detail: `amount ${order.amount_minor} < minimum ${channel.amount_min_minor}` };
  if (order.amount_minor > channel.amount_max_minor) return { reason: 'AMOUNT_ABOVE_MAX', detail: `amount ${order.amount_minor} > maximum ${channel.amount_max_minor}` };
  const closed = windowClosedReason(channel.service_windows, at);
  if (closed !== undefined) return { reason: 'OUTSIDE_WINDOW', detail: closed };
  const required = channel.required_payer_elements[order.product] ?? [];
  const missing = required.filter((e) => !order.payer_elements_present.includes(e));
  if (missing.length > 0) return { reason: 'PAYER_ELEMENT_MISSING', detail: `${order.product} on this channel needs ${missing.join(', ')}` };
  return undefined;
}

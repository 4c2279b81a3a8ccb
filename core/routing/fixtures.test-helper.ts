// Builders shared by the routing tests (not a test file itself).

import type { RouteOrder, RoutingChannel } from './types';
import type { Merchant } from '../merchants/records';

export function channel(channel_id: string, overrides: Partial<RoutingChannel> = {}): RoutingChannel {
  return {
    channel_id,
    provider: 'wechatpay',
    state: 'ENABLED',
    products: ['WECHAT_NATIVE'],
    currencies: ['CNY'],
    amount_min_minor: 1n,
    amount_max_minor: 1_000_000_000_000n,
    service_windows: { time_zone: 'Asia/Shanghai', open: [], closed: [] },
    required_payer_elements: {},
    limits: {},
    fee: { rate_bp: 60, fixed_minor: 0n, min_minor: 0n },
    priority: 0,
    weight: 1,
    ...overrides,
  };
}

export function merchant(merchant_id: string, channel_ids: string[], overrides: Partial<Merchant> = {}): Merchant {
  return { merchant_id, products: ['WECHAT_NATIVE', 'UNIONPAY_QUICK', 'ALIPAY_QR', 'WECHAT_JSAPI', 'ALIPAY_WAP', 'WECHAT_H5', 'BANK_B2B'], channel_ids, fee_rates: {}, ...overrides };
}

export function order(overrides: Partial<RouteOrder> = {}): RouteOrder {
  return {
    payment_id: 'pexample',
    merchant_id: 'm1',
    product: 'WECHAT_NATIVE',
    amount_minor: 10_000n,
    currency: 'CNY',
    payer_elements_present: ['client_ip'],
    include_channels: [],
    exclude_channels: [],
    ...overrides,
  };
}

import { exclusionOf, staticEligibility } from './eligibility';
import { channel, merchant, order } from './fixtures.test-helper';
import type { ExclusionReason, RouteOrder, RoutingChannel } from './types';
import type { Merchant } from '../merchants/records';

const monday_noon_shanghai = new Date('2025-01-06T04:00:00Z');
const monday_2345_shanghai = new Date('2025-01-06T15:45:00Z');
const m1 = merchant('m1', ['c1']);

test.each<[string, RoutingChannel, Merchant | undefined, Partial<RouteOrder>, Date, ExclusionReason | undefined]>([
  ['an enabled matching channel is eligible', channel('c1'), m1, {}, monday_noon_shanghai, undefined],
  ['DISABLED is NOT_ENABLED', channel('c1', { state: 'DISABLED' }), m1, {}, monday_noon_shanghai, 'NOT_ENABLED'],
  ['DRAINING takes no new payments', channel('c1', { state: 'DRAINING' }), m1, {}, monday_noon_shanghai, 'DRAINING'],
  ['another product', channel('c1', { products: ['ALIPAY_QR'] }), m1, {}, monday_noon_shanghai, 'PRODUCT'],
  ['another currency', channel('c1'), m1, { currency: 'USD' }, monday_noon_shanghai, 'CURRENCY'],
  ['unknown merchant', channel('c1'), undefined, {}, monday_noon_shanghai, 'UNKNOWN_MERCHANT'],
  ['merchant without the product', channel('c1'), merchant('m1', ['c1'], { products: ['ALIPAY_QR'] }), {}, monday_noon_shanghai, 'MERCHANT_PRODUCT'],
  ['merchant not contracted', channel('c1'), merchant('m1', ['c2']), {}, monday_noon_shanghai, 'NOT_CONTRACTED'],
  ['exclude hint', channel('c1'), m1, { exclude_channels: ['c1'] }, monday_noon_shanghai, 'EXCLUDED_BY_HINT'],
  ['include hint naming another', channel('c1'), m1, { include_channels: ['c2'] }, monday_noon_shanghai, 'NOT_IN_INCLUDE'],
  ['include hint naming it', channel('c1'), m1, { include_channels: ['c1'] }, monday_noon_shanghai, undefined],
  ['already attempted', channel('c1'), m1, { exclude_attempted: ['c1'] }, monday_noon_shanghai, 'ALREADY_ATTEMPTED'],
  ['below minimum', channel('c1', { amount_min_minor: 100n }), m1, { amount_minor: 99n }, monday_noon_shanghai, 'AMOUNT_BELOW_MIN'],
  ['at minimum', channel('c1', { amount_min_minor: 100n }), m1, { amount_minor: 100n }, monday_noon_shanghai, undefined],
  ['above maximum', channel('c1', { amount_max_minor: 5_000n }), m1, { amount_minor: 5_001n }, monday_noon_shanghai, 'AMOUNT_ABOVE_MAX'],
  ['bank maintenance window', channel('c1', { service_windows: { time_zone: 'Asia/Shanghai', open: [], closed: [{ days: [], start: '23:30', end: '00:30' }] } }), m1, {}, monday_2345_shanghai, 'OUTSIDE_WINDOW'],
  ['outside B2B hours', channel('c1', { service_windows: { time_zone: 'Asia/Shanghai', open: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], start: '09:00', end: '17:00' }], closed: [] } }), m1, {}, monday_2345_shanghai, 'OUTSIDE_WINDOW'],
  ['quick pay without a card token', channel('c1', { products: ['UNIONPAY_QUICK'], required_payer_elements: { UNIONPAY_QUICK: ['card_token'] } }), m1, { product: 'UNIONPAY_QUICK' }, monday_noon_shanghai, 'PAYER_ELEMENT_MISSING'],
  ['quick pay with a card token', channel('c1', { products: ['UNIONPAY_QUICK'], required_payer_elements: { UNIONPAY_QUICK: ['card_token'] } }), m1, { product: 'UNIONPAY_QUICK', payer_elements_present: ['card_token'] }, monday_noon_shanghai, undefined],
  ['the first failing check is the reason', channel('c1', { state: 'DISABLED', products: ['ALIPAY_QR'] }), m1, { currency: 'USD' }, monday_noon_shanghai, 'NOT_ENABLED'],
])('routing - eligibility: %s', (_name, c, m, o, at, reason) => {
  expect(exclusionOf(c, m, order(o), at)?.reason).toBe(reason);
});

test('routing - eligibility prices each eligible candidate and names each excluded one', () => {
  const channels = [channel('c1'), channel('c2', { fee: { rate_bp: 38, fixed_minor: 0n, min_minor: 0n } }), channel('c3', { products: ['ALIPAY_QR'] })];
  const result = staticEligibility(channels, merchant('m1', ['c1', 'c2', 'c3']), order({ amount_minor: 12_345n }), monday_noon_shanghai);
  expect(result.eligible.map((e) => [e.channel.channel_id, e.fee_minor])).toEqual([['c1', 74n], ['c2', 47n]]);
  expect(result.excluded).toEqual([{ channel_id: 'c3', reason: 'PRODUCT', detail: 'serves ALIPAY_QR, not WECHAT_NATIVE' }]);
  // The hot path skips channels that do not serve the product at all.
  expect(staticEligibility(channels, merchant('m1', ['c1']), order(), monday_noon_shanghai, true).excluded.map((e) => e.channel_id)).toEqual(['c2']);
});

test('routing - eligibility: each exclusion explains itself (the detail ExplainRoute shows)', () => {
  const at = monday_noon_shanghai;
  const details: [RoutingChannel, Merchant | undefined, Partial<RouteOrder>, string][] = [
    [channel('c1', { state: 'DISABLED' }), m1, {}, 'channel is DISABLED'],
    [channel('c1', { state: 'DRAINING' }), m1, {}, 'channel is DRAINING: no new payments'],
    [channel('c1', { products: ['ALIPAY_QR', 'ALIPAY_WAP'] }), m1, {}, 'serves ALIPAY_QR, ALIPAY_WAP, not WECHAT_NATIVE'],
    [channel('c1', { currencies: ['CNY', 'HKD'] }), m1, { currency: 'USD' }, 'settles CNY, HKD, not USD'],
    [channel('c1'), undefined, { merchant_id: 'm9' }, 'no merchant m9 in the routing table'],
    [channel('c1'), merchant('m1', ['c1'], { products: ['ALIPAY_QR'] }), {}, 'merchant m1 has no WECHAT_NATIVE'],
    [channel('c1'), merchant('m1', ['c2']), {}, 'merchant m1 is not contracted on it'],
    [channel('c1'), m1, { exclude_channels: ['c1'] }, 'in route_hints.exclude_channels'],
    [channel('c1'), m1, { include_channels: ['c2'] }, 'route_hints.include_channels does not name it'],
    [channel('c1'), m1, { exclude_attempted: ['c1'] }, 'an earlier attempt of this payment used it'],
    [channel('c1', { amount_min_minor: 100n }), m1, { amount_minor: 99n }, 'amount 99 < minimum 100'],
    [channel('c1', { amount_max_minor: 5_000n }), m1, { amount_minor: 5_001n }, 'amount 5001 > maximum 5000'],
    [channel('c1', { products: ['BANK_B2B'], required_payer_elements: { BANK_B2B: ['bank_code', 'client_ip', 'openid'] } }), m1, { product: 'BANK_B2B' }, 'BANK_B2B on this channel needs bank_code, openid'],
  ];
  for (const [c, m, o, detail] of details) expect(exclusionOf(c, m, order(o), at)?.detail).toBe(detail);
});

test('routing - eligibility boundaries: exactly the maximum is eligible; other products\' elements are not required', () => {
  expect(exclusionOf(channel('c1', { amount_max_minor: 5_000n }), m1, order({ amount_minor: 5_000n }), monday_noon_shanghai)).toBeUndefined();
  const quick_only = channel('c1', { required_payer_elements: { UNIONPAY_QUICK: ['card_token'] } });
  expect(exclusionOf(quick_only, m1, order(), monday_noon_shanghai)).toBeUndefined();
  expect(exclusionOf(channel('c1'), m1, order({ exclude_attempted: ['c2'] }), monday_noon_shanghai)).toBeUndefined();
});

test('routing - eligibility keeps every channel in the answer unless the hot path skips other products', () => {
  const channels = [channel('c1'), channel('c2', { products: ['ALIPAY_QR'] }), channel('c3', { state: 'DISABLED' })];
  const full = staticEligibility(channels, merchant('m1', ['c1', 'c2', 'c3']), order(), monday_noon_shanghai);
  expect(full.excluded.map((e) => [e.channel_id, e.reason])).toEqual([['c2', 'PRODUCT'], ['c3', 'NOT_ENABLED']]);
  const hot = staticEligibility(channels, merchant('m1', ['c1', 'c2', 'c3']), order(), monday_noon_shanghai, true);
  expect(hot.eligible.map((e) => e.channel.channel_id)).toEqual(['c1']);
  expect(hot.excluded.map((e) => [e.channel_id, e.reason])).toEqual([['c3', 'NOT_ENABLED']]);
});

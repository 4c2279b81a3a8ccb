// decide() refuses, first and for every command kind, a merchant's command on a payment that
// merchant does not own (NOT_FOUND: nothing revealed), and a provider callback about an
// attempt or refund of another channel than the one it arrived on.

import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { decide, scopeRejection } from './decide';
import { evolve, fold } from './evolve';
import type { PaymentCommand, PaymentEvent, PaymentState } from './types';

const payment_id = paymentId(test_id_key, 'm_a', 'order-s');
const a1 = attemptId(payment_id, 1);
const at = '2025-03-01T08:01:00.000Z';
const policy = { window_days: 365, count_max: 50 };

const created: PaymentEvent = {
  type: 'PaymentCreated', at: '2025-03-01T08:00:00.000Z', payment_id, merchant_id: 'm_a', merchant_order_no: 'order-s', amount_minor: 5_000n,
  currency: 'CNY', product: 'UNIONPAY_QUICK', subject: 's', notify_url: '', metadata: {}, expires_at: '2025-03-01T08:30:00.000Z',
  fingerprint: 'f', payer_sealed: '', include_channels: [], exclude_channels: [],
};
const requested: PaymentEvent = { type: 'ChannelRequested', at: created.at, attempt_id: a1, attempt_no: 1, channel_id: 'up_x' };
const sms: PaymentEvent = { type: 'AttemptActionRequired', at: created.at, attempt_id: a1, next_action: { type: 'SMS_CODE', value: '138****0000', params: {} } };
const succeeded: PaymentEvent = { type: 'AttemptSucceeded', at, attempt_id: a1, channel_trade_no: 't1', amount_minor: 5_000n, paid_at: at };

const waiting = (): PaymentState => fold([created, requested, sms])!;
const paid = (): PaymentState => fold([created, requested, sms, succeeded])!;

const refund = (merchant_id: string): PaymentCommand => ({
  type: 'create_refund', at, merchant_id, refund_id: 'r1', merchant_refund_no: 'rf-1', amount_minor: 1_000n, reason: '', notify_url: '', fingerprint: 'rf', policy,
});

const not_found = { rejection: { reason: 'NOT_FOUND', message: 'no such payment' } };

test('decide - a foreign merchant\'s close, confirm or refund is NOT_FOUND, whatever the state', () => {
  expect(decide(waiting(), { type: 'close', at, reason: 'merchant', merchant_id: 'm_b' })).toEqual(not_found);
  const paid_by_code: PaymentCommand = { type: 'attempt_status', at, merchant_id: 'm_b', attempt_id: a1, status: { kind: 'succeeded', channel_trade_no: 't', amount_minor: 5_000n, paid_at: new Date(at) }, source: 'confirm' };
  expect(decide(waiting(), paid_by_code)).toEqual(not_found);
  expect(decide(paid(), refund('m_b'))).toEqual(not_found);
  // Even where the owner would be refused for another reason, the foreigner learns only NOT_FOUND.
  expect(decide(waiting(), refund('m_b'))).toEqual(not_found);
  expect(decide(paid(), { type: 'close', at, reason: 'merchant', merchant_id: 'm_b' })).toEqual(not_found);
});

test('decide - the owner\'s same commands are decided as before', () => {
  expect(decide(waiting(), { type: 'close', at, reason: 'merchant', merchant_id: 'm_a' })).toEqual({ events: [{ type: 'CloseRequested', at, reason: 'merchant' }] });
  const decision = decide(paid(), refund('m_a'));
  expect('events' in decision && decision.events.map((e) => e.type)).toEqual(['RefundRequested']);
  // paycore's own commands (no merchant: expiry, queries) are not scoped.
  expect('events' in decide(waiting(), { type: 'close', at, reason: 'expired' })).toBe(true);
});

test('decide - scopeRejection: absent and foreign payments look the same', () => {
  expect(scopeRejection(undefined, 'm_a')).toEqual(not_found.rejection);
  expect(scopeRejection(paid(), 'm_b')).toEqual(not_found.rejection);
  expect(scopeRejection(paid(), 'm_a')).toBeUndefined();
});

test('decide - a callback about an attempt of another channel than it arrived on changes nothing', () => {
  const status = { kind: 'succeeded' as const, channel_trade_no: 't', amount_minor: 5_000n, paid_at: new Date(at) };
  const foreign = decide(waiting(), { type: 'attempt_status', at, attempt_id: a1, status, source: 'notification', via_channel_id: 'up_y' });
  expect(foreign).toEqual({ rejection: { reason: 'NOT_FOUND', message: `no attempt ${a1} on channel up_y` } });
  const own = decide(waiting(), { type: 'attempt_status', at, attempt_id: a1, status, source: 'notification', via_channel_id: 'up_x' });
  expect('events' in own && own.events.map((e) => e.type)).toEqual(['AttemptSucceeded']);
});

test('decide - a refund callback from another channel than the refund\'s changes nothing', () => {
  const decision = decide(paid(), refund('m_a'));
  if (!('events' in decision)) throw new Error('refund refused');
  const refunding = decision.events.reduce<PaymentState>((s, e) => evolve(s, e), paid());
  const status = { kind: 'succeeded' as const, channel_refund_no: 'cr', amount_minor: 1_000n, refunded_at: new Date(at) };
  expect(decide(refunding, { type: 'refund_status', at, refund_id: 'r1', status, retries_max: 3, via_channel_id: 'up_y' })).toEqual({ rejection: { reason: 'NOT_FOUND', message: 'no refund r1 on channel up_y' } });
  expect('events' in decide(refunding, { type: 'refund_status', at, refund_id: 'r1', status, retries_max: 3, via_channel_id: 'up_x' })).toBe(true);
});

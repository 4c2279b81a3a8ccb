// decide() for reconciliation's reversal of a success the channel never took (短款): legal from
// SUCCEEDED only, never over a refund of the merchant's, and a repeat of the same reversal
// changes nothing.

import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { decide } from './decide';
import { fold } from './evolve';
import type { PaymentCommand, PaymentEvent, PaymentState } from './types';

const payment_id = paymentId(test_id_key, 'm_r', 'order-r');
const a1 = attemptId(payment_id, 1);
const at = '2026-12-01T00:01:00.000Z';
const created: PaymentEvent[] = [
  {
    type: 'PaymentCreated', at, payment_id, merchant_id: 'm_r', merchant_order_no: 'order-r', amount_minor: 10_000n, currency: 'CNY', product: 'WECHAT_NATIVE', subject: 's',
    notify_url: '', metadata: {}, expires_at: '2026-12-01T00:31:00.000Z', fingerprint: 'f', payer_sealed: 'sealed', include_channels: [], exclude_channels: [],
  },
  { type: 'ChannelRequested', at, attempt_no: 1, attempt_id: a1, channel_id: 'wx1', fee_minor: 60n },
];
const succeeded: PaymentEvent = { type: 'AttemptSucceeded', at, attempt_id: a1, channel_trade_no: 'T1', amount_minor: 10_000n, paid_at: at };
const reverse: Extract<PaymentCommand, { type: 'reverse' }> = { type: 'reverse', at: '2026-12-04T01:00:00.000Z', reason_code: 'RECON_NOT_AT_CHANNEL', reference: 'wx1:2026-12-01:OURS_ONLY:payment:x' };

const state = (...events: PaymentEvent[]): PaymentState => fold([...created, ...events])!;

test('decide - a SUCCEEDED payment is reversed on its winning attempt with recon\'s reason and reference', () => {
  const decision = decide(state(succeeded), reverse);
  expect(decision).toEqual({ events: [{ type: 'PaymentReversed', at: reverse.at, attempt_id: a1, reason_code: 'RECON_NOT_AT_CHANNEL', reference: reverse.reference }] });
  const after = fold([...created, succeeded, ...(decision as { events: PaymentEvent[] }).events])!;
  expect(after).toMatchObject({ status: 'REVERSED', reversal: { reason_code: 'RECON_NOT_AT_CHANNEL', reference: reverse.reference, reversed_at: reverse.at } });
});

test('decide - the same reversal again changes nothing; another one is refused', () => {
  const reversed = state(succeeded, { type: 'PaymentReversed', at: reverse.at, attempt_id: a1, reason_code: 'RECON_NOT_AT_CHANNEL', reference: reverse.reference });
  expect(decide(reversed, reverse)).toEqual({ events: [] });
  expect(decide(reversed, { ...reverse, reference: 'other' })).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE', message: expect.stringContaining('reversed already') } });
});

test('decide - a payment not SUCCEEDED, or with a refund of the merchant\'s, is not reversed', () => {
  expect(decide(state(), reverse)).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE', message: 'payment is CREATED: only a SUCCEEDED payment can be reversed' } });
  expect(decide(state({ type: 'CloseRequested', at, reason: 'merchant' }, { type: 'PaymentClosed', at, reason: 'merchant' }), reverse))
    .toMatchObject({ rejection: { reason: 'ILLEGAL_STATE', message: 'payment is CLOSED: only a SUCCEEDED payment can be reversed' } });
  const refund: PaymentEvent = {
    type: 'RefundRequested', at, refund_id: 'r1', merchant_refund_no: 'no-1', attempt_id: a1, channel_id: 'wx1', amount_minor: 100n, reason: 'r', notify_url: '', fingerprint: 'rf', kind: 'merchant',
  };
  expect(decide(state(succeeded, refund), reverse)).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE', message: expect.stringContaining('refund') } });
  // A failed refund returned nothing: the payment can be reversed.
  expect(decide(state(succeeded, refund, { type: 'RefundFailed', at, refund_id: 'r1', code: 'X', message: 'x' }), reverse)).toMatchObject({ events: [{ type: 'PaymentReversed' }] });
  expect(decide(undefined, reverse)).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
});

// decide() for the payer's step-up answer (ConfirmPayment): the SMS code's result moves an
// attempt waiting for it, and only that attempt.

import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { decide } from './decide';
import { fold } from './evolve';
import type { PaymentCommand, PaymentEvent } from './types';

const payment_id = paymentId(test_id_key, 'm_c', 'order-c');
const a1 = attemptId(payment_id, 1);
const at = '2025-03-01T08:01:00.000Z';
const events: PaymentEvent[] = [
  {
    type: 'PaymentCreated', at, payment_id, merchant_id: 'm_c', merchant_order_no: 'order-c', amount_minor: 500n, currency: 'CNY',
    product: 'UNIONPAY_QUICK', subject: 's', notify_url: '', metadata: {}, expires_at: '2025-03-01T08:30:00.000Z', fingerprint: 'f',
    payer_sealed: '', include_channels: [], exclude_channels: [],
  },
  { type: 'ChannelRequested', at, attempt_id: a1, attempt_no: 1, channel_id: 'unionpay_1' },
  { type: 'AttemptActionRequired', at, attempt_id: a1, next_action: { type: 'SMS_CODE', value: '138****8000' } },
];
const waiting = fold(events)!;

function confirmed(status: Extract<PaymentCommand, { type: 'attempt_status' }>['status'], source: 'confirm' | 'query' = 'confirm') {
  return decide(waiting, { type: 'attempt_status', at, attempt_id: a1, status, source });
}

test('decide - a confirmed step-up still in progress moves the payment to PROCESSING', () => {
  expect(confirmed({ kind: 'pending', channel_trade_no: 'q1' })).toMatchObject({ events: [{ type: 'AttemptPending', channel_trade_no: 'q1' }] });
  expect(confirmed({ kind: 'pending' }, 'query')).toEqual({ events: [] }); // a query saying "pending" is no news
});

test('decide - a confirmed step-up that succeeds or fails settles the payment', () => {
  expect(confirmed({ kind: 'succeeded', channel_trade_no: 'q1', amount_minor: 500n, paid_at: new Date(at) })).toMatchObject({ events: [{ type: 'AttemptSucceeded' }] });
  expect(confirmed({ kind: 'failed', code: '13', message: 'wrong code' })).toMatchObject({ events: [{ type: 'AttemptFailed', code: '13' }] });
});

test('decide - waiting for the code is recorded on the attempt, with the time it was requested', () => {
  expect(waiting.status).toBe('REQUIRES_ACTION');
  expect(waiting.attempts[0]).toMatchObject({ state: 'action_required', requested_at: at });
});

test('decide - a wrong step-up code is counted on the attempt; the payment keeps waiting until the last allowed one fails it', () => {
  const rejected = (state: typeof waiting) => decide(state, { type: 'code_rejected', at, merchant_id: 'm_c', attempt_id: a1, wrong_codes_max: 3 });
  const first = rejected(waiting);
  expect(first).toEqual({ events: [{ type: 'AttemptCodeRejected', at, attempt_id: a1, wrong_codes: 1 }] });
  const once = fold([...events, ...(first as { events: PaymentEvent[] }).events])!;
  expect(once).toMatchObject({ status: 'REQUIRES_ACTION', next_action: { type: 'SMS_CODE' } });
  expect(once.attempts[0]).toMatchObject({ state: 'action_required', wrong_codes: 1 });
  const twice = fold([...events, { type: 'AttemptCodeRejected', at, attempt_id: a1, wrong_codes: 2 }])!;
  expect(rejected(twice)).toMatchObject({ events: [{ type: 'AttemptFailed', attempt_id: a1, code: 'WRONG_CODE' }] });
  // Another merchant's call, another attempt, or a payment no longer waiting: nothing.
  expect(decide(waiting, { type: 'code_rejected', at, merchant_id: 'm_other', attempt_id: a1, wrong_codes_max: 3 })).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
  expect(decide(waiting, { type: 'code_rejected', at, attempt_id: attemptId(payment_id, 2), wrong_codes_max: 3 })).toEqual({ events: [] });
  const paid = fold([...events, { type: 'AttemptSucceeded', at, attempt_id: a1, channel_trade_no: 'q1', amount_minor: 500n, paid_at: at }])!;
  expect(rejected(paid)).toEqual({ events: [] });
});

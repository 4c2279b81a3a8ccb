// decide() for payments risk control holds for review: created without a channel, released
// into their first attempt, rejected or expired through a close.

import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { decide } from './decide';
import { fold } from './evolve';
import type { PaymentCommand, PaymentEvent } from './types';

const payment_id = paymentId(test_id_key, 'm_h', 'order-h');
const at = '2026-12-01T00:01:00.000Z';
const create: Extract<PaymentCommand, { type: 'create' }> = {
  type: 'create', at, payment_id, merchant_id: 'm_h', merchant_order_no: 'order-h', amount_minor: 60_000n, currency: 'CNY', product: 'ALIPAY_QR', subject: 's',
  notify_url: '', metadata: {}, expires_at: '2026-12-01T00:31:00.000Z', fingerprint: 'f', payer_sealed: 'sealed', include_channels: [], exclude_channels: [],
  channel_id: '', held: { rules: ['big'], review_expires_at: '2026-12-01T00:04:00.000Z' },
};

function events(decision: ReturnType<typeof decide>): PaymentEvent[] {
  if ('rejection' in decision) throw new Error(decision.rejection.message);
  return decision.events;
}

test('decide - a held create records the payment and the hold, and no attempt', () => {
  const created = events(decide(undefined, create));
  expect(created.map((e) => e.type)).toEqual(['PaymentCreated', 'PaymentHeld']);
  const state = fold(created)!;
  expect(state).toMatchObject({ status: 'CREATED', attempts: [], held: { rules: ['big'], held_at: at, review_expires_at: '2026-12-01T00:04:00.000Z' } });
});

test('decide - releasing a held payment opens its first attempt on the chosen channel; only once, and never after a close', () => {
  const held = fold(events(decide(undefined, create)))!;
  const release: PaymentCommand = { type: 'release_hold', at, channel_id: 'ali1', fee_minor: 36n };
  const released = events(decide(held, release));
  expect(released).toEqual([
    { type: 'PaymentReleased', at },
    { type: 'ChannelRequested', at, attempt_no: 1, attempt_id: attemptId(payment_id, 1), channel_id: 'ali1', fee_minor: 36n },
  ]);
  const after = fold([...events(decide(undefined, create)), ...released])!;
  expect(after.held).toBeUndefined();
  expect(after.attempts[0]).toMatchObject({ channel_id: 'ali1', state: 'requested' });
  expect(decide(after, release)).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  const closing = fold([...events(decide(undefined, create)), { type: 'CloseRequested', at, reason: 'risk' }])!;
  expect(decide(closing, release)).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
});

test('decide - a rejected (or expired) held payment closes without any channel', () => {
  const held = fold(events(decide(undefined, create)))!;
  const close = events(decide(held, { type: 'close', at, reason: 'risk' }));
  expect(close).toEqual([{ type: 'CloseRequested', at, reason: 'risk' }]);
  const closing = fold([...events(decide(undefined, create)), ...close])!;
  expect(events(decide(closing, { type: 'close_result', at, outcome: 'closed' }))).toEqual([{ type: 'PaymentClosed', at, reason: 'risk' }]);
});

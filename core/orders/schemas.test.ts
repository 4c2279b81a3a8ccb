// The money schemas against real messages: every event type that carries money, the state
// after a history with fees, duplicates and refunds, and the actor's requests and replies
// round-trip exactly (a money field missing from a schema comes back a string and fails
// toEqual); merchant metadata keeps its text whatever its keys are called.

import { decodeJson, encodeJson } from '../codec';
import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { evolve } from './evolve';
import type { ActorReply, ActorRequest } from './protocol';
import { stored_message_schema, type StoredMessage } from '../events/stored';
import { actor_reply_schema, actor_request_schema } from './schemas';
import type { PaymentEvent, PaymentState } from './types';

const payment_id = paymentId(test_id_key, 'm_1', 'o-1');
const a1 = attemptId(payment_id, 1);
const at = '2025-03-01T08:00:00.000Z';
const metadata = { order_total_minor: '12.50', count_minor: '3', plain: 'x' };

const history: PaymentEvent[] = [
  {
    type: 'PaymentCreated', at, payment_id, merchant_id: 'm_1', merchant_order_no: 'o-1', amount_minor: 2n ** 53n + 1n, currency: 'CNY', product: 'WECHAT_NATIVE',
    subject: 's', notify_url: '', metadata, expires_at: at, fingerprint: 'f', payer_sealed: '', include_channels: [], exclude_channels: [],
  },
  { type: 'ChannelRequested', at, attempt_id: a1, attempt_no: 1, channel_id: 'wx1', fee_minor: 7n, reservation: { reservation_id: 'res1', channel_id: 'wx1' } },
  { type: 'AttemptSucceeded', at, attempt_id: a1, channel_trade_no: 'T1', amount_minor: 2n ** 53n + 1n, paid_at: at },
  { type: 'DuplicatePaymentDetected', at, attempt_id: a1, channel_trade_no: 'T2', amount_minor: 2n ** 53n + 1n },
  {
    type: 'RefundRequested', at, refund_id: 'r1', merchant_refund_no: 'mr1', attempt_id: a1, channel_id: 'wx1', amount_minor: 5n, reason: '', notify_url: '', fingerprint: 'g', kind: 'merchant',
    share_returns: [{ account: '2088000000000001', amount_minor: 2n ** 53n + 3n }],
  },
  { type: 'RefundRequested', at, refund_id: 'r2', merchant_refund_no: '', attempt_id: a1, channel_id: 'wx1', amount_minor: 2n ** 53n + 1n, reason: '', notify_url: '', fingerprint: '', kind: 'duplicate', channel_trade_no: 'T2' },
  { type: 'RefundSucceeded', at, refund_id: 'r1', channel_refund_no: 'R1', refunded_at: at },
];

test('schemas - every stored message of a history with fees, a duplicate and refunds round-trips exactly; metadata keeps its text', () => {
  let state: PaymentState | undefined;
  for (const event of history) {
    state = evolve(state, event);
    const message: StoredMessage = { event, events: [event], state };
    const back = decodeJson<StoredMessage>(encodeJson(message), stored_message_schema);
    expect(back).toEqual(message);
  }
  expect(state!.refunded_minor).toBe(5n);
  expect(state!.metadata).toEqual(metadata);
});

test('schemas - actor requests and replies round-trip exactly, metadata included', () => {
  const requests: ActorRequest[] = [
    {
      type: 'create', payment_id, input: {
        merchant_id: 'm_1', merchant_order_no: 'o-1', amount_minor: 10n ** 15n, currency: 'CNY', product: 'WECHAT_NATIVE', subject: 's', payer: {}, notify_url: '',
        expire_seconds: 60, include_channels: [], exclude_channels: [], metadata, fingerprint: 'f',
      },
    },
    { type: 'notification', payment_id, channel_id: 'wx1', attempt_id: a1, status: { kind: 'succeeded', channel_trade_no: 'T1', amount_minor: 12n, paid_at: at } },
    { type: 'create_refund', payment_id, merchant_id: 'm_1', input: { refund_id: 'r1', merchant_refund_no: 'mr1', amount_minor: 3n, reason: '', notify_url: '', fingerprint: 'g', share_returns: [{ account: '2088000000000001', amount_minor: 2n ** 53n + 3n }] } },
    { type: 'refund_notification', payment_id, channel_id: 'wx1', refund_id: 'r1', status: { kind: 'succeeded', channel_refund_no: 'R1', amount_minor: 3n, refunded_at: at } },
  ];
  for (const request of requests) expect(decodeJson<ActorRequest>(encodeJson(request), actor_request_schema)).toEqual(request);
  const state = history.reduce<PaymentState | undefined>((s, e) => evolve(s, e), undefined)!;
  const reply: ActorReply = { ok: true, payment: state };
  expect(decodeJson<ActorReply>(encodeJson(reply), actor_reply_schema)).toEqual(reply);
});

// Test support: genuine payment histories (events folded with evolve, as the actor stores
// them) for the notifier's tests. No I/O; not used by the running service.

import { assert } from '../errors';
import { attemptId, paymentId, refundId } from '../ids';
import { test_id_key } from '../ids.fixture';
import type { PaymentEvent, PaymentState } from '../events/types';

export interface PaymentFixture {
  merchant_id: string;
  merchant_order_no: string;
  notify_url: string;
  amount_minor?: bigint;
}

export type PaymentOutcome = 'succeeded' | 'failed' | 'closed' | 'requires_action';

const base_time_ms = Date.parse('2025-03-01T08:00:00.000Z');
const at = (seconds: number): string => new Date(base_time_ms + seconds * 1000).toISOString();

/** The events of one payment from creation to `outcome` (its QR code shown first). */
export function paymentEvents(fixture: PaymentFixture, outcome: PaymentOutcome): PaymentEvent[] {
  const payment_id = paymentId(test_id_key, fixture.merchant_id, fixture.merchant_order_no);
  const amount_minor = fixture.amount_minor ?? 12_345n;
  const attempt_id = attemptId(payment_id, 1);
  const events: PaymentEvent[] = [
    {
      type: 'PaymentCreated',
      at: at(0),
      payment_id,
      merchant_id: fixture.merchant_id,
      merchant_order_no: fixture.merchant_order_no,
      amount_minor,
      currency: 'CNY',
      product: 'WECHAT_NATIVE',
      subject: 'A cup of tea',
      notify_url: fixture.notify_url,
      metadata: { order_ref: 'o-1' },
      expires_at: at(1_800),
      fingerprint: 'f'.repeat(64),
      payer_sealed: 'sealed-payer-elements',
      include_channels: [],
      exclude_channels: [],
    },
    { type: 'ChannelRequested', at: at(1), attempt_id, attempt_no: 1, channel_id: 'wx1' },
    { type: 'AttemptActionRequired', at: at(2), attempt_id, next_action: { type: 'QR_CODE', value: 'weixin://wxpay/bizpayurl?pr=abc' }, channel_trade_no: undefined },
  ];
  if (outcome === 'succeeded') {
    events.push({ type: 'AttemptSucceeded', at: at(30), attempt_id, channel_trade_no: '4200000001', amount_minor, paid_at: at(29) });
  } else if (outcome === 'failed') {
    events.push({ type: 'AttemptFailed', at: at(30), attempt_id, code: 'INSUFFICIENT_FUNDS', message: 'the payer has not enough money' });
  } else if (outcome === 'closed') {
    events.push({ type: 'CloseRequested', at: at(1_800), reason: 'expired' }, { type: 'PaymentClosed', at: at(1_801), reason: 'expired' });
  }
  return events;
}

export type RefundOutcome = 'succeeded' | 'failed' | 'requires_manual';

/** The events of one merchant refund of a paid payment, from request to `outcome`. */
export function refundEvents(paid: PaymentState, merchant_refund_no: string, amount_minor: bigint, outcome: RefundOutcome, notify_url = ''): PaymentEvent[] {
  const refund_id = refundId(test_id_key, paid.merchant_id, merchant_refund_no);
  assert(paid.winning_attempt_id !== undefined, 'fixtures: a refund needs a paid payment');
  return [
    {
      type: 'RefundRequested', at: at(3_600), refund_id, merchant_refund_no, attempt_id: paid.winning_attempt_id, channel_id: 'wx1',
      amount_minor, reason: 'customer returned the goods', notify_url, fingerprint: 'e'.repeat(64), kind: 'merchant',
    },
    { type: 'RefundSubmitted', at: at(3_601), refund_id, channel_refund_no: '5030000001' },
    refundOutcome(refund_id, outcome),
  ];
}

/** A duplicate payment on a second attempt, and its automatic refund to `outcome`. */
export function duplicateRefundEvents(paid: PaymentState, outcome: RefundOutcome): PaymentEvent[] {
  const attempt_id = attemptId(paid.payment_id, 2);
  const refund_id = refundId(test_id_key, paid.merchant_id, `duplicate-${attempt_id}`);
  return [
    { type: 'DuplicatePaymentDetected', at: at(40), attempt_id, channel_trade_no: '4200000002', amount_minor: paid.amount_minor },
    {
      type: 'RefundRequested', at: at(41), refund_id, merchant_refund_no: '', attempt_id, channel_id: 'wx1',
      amount_minor: paid.amount_minor, reason: 'duplicate payment', notify_url: '', fingerprint: 'd'.repeat(64), kind: 'duplicate',
    },
    refundOutcome(refund_id, outcome),
  ];
}

function refundOutcome(refund_id: string, outcome: RefundOutcome): PaymentEvent {
  if (outcome === 'succeeded') return { type: 'RefundSucceeded', at: at(3_660), refund_id, channel_refund_no: '5030000001', refunded_at: at(3_659) };
  if (outcome === 'failed') return { type: 'RefundFailed', at: at(3_660), refund_id, code: 'REFUND_REJECTED', message: 'the channel refused the refund' };
  return { type: 'RefundRequiresManual', at: at(3_660), refund_id, code: 'ACCOUNT_CLOSED', message: 'the payer account is closed' };
}

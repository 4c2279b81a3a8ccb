// plannedNotifications: which stored events the merchant hears about, and the body it gets.
// Every message is built as the store writes it: the event and evolve's state after it.

import { evolve, fold } from '../orders/evolve';
import type { StoredMessage } from '../events/stored';
import type { PaymentEvent, PaymentState } from '../events/types';
import { duplicateRefundEvents, paymentEvents, refundEvents, type PaymentOutcome } from './fixtures';
import { isOutcomeEvent, OutcomeShapeError, plannedNotifications } from './outcomes';
import type { NotificationBody } from './types';

const url = 'https://merchant.example.com/paycore/notify';
const fixture = { merchant_id: 'm_outcomes', merchant_order_no: 'o-1', notify_url: url };

/** The stored messages of `events` applied after `before`. */
function stored(events: readonly PaymentEvent[], before?: PaymentState): StoredMessage[] {
  let state = before;
  return events.map((event) => {
    state = evolve(state, event);
    return { event, state };
  });
}

const history = (outcome: PaymentOutcome, notify_url = url): StoredMessage[] => stored(paymentEvents({ ...fixture, notify_url }, outcome));
const paid = (): PaymentState => fold(paymentEvents(fixture, 'succeeded'))!;
const lastState = (messages: StoredMessage[]): PaymentState => messages[messages.length - 1]!.state;
const body = (json: string): NotificationBody => JSON.parse(json) as NotificationBody;

describe('notify outcomes', () => {
  test('notify - a payment entering SUCCEEDED is one payment.succeeded with a merchant-safe snapshot', () => {
    const messages = history('succeeded');
    const planned = messages.flatMap(plannedNotifications);
    expect(planned).toHaveLength(1);
    const payment_id = lastState(messages).payment_id;
    expect(planned[0]).toMatchObject({ id: `${payment_id}:4`, type: 'payment.succeeded', merchant_id: 'm_outcomes', payment_id, url });
    expect(body(planned[0]!.body)).toMatchObject({ id: `${payment_id}:4`, type: 'payment.succeeded', created_at: '2025-03-01T08:00:30.000Z' });
    expect(body(planned[0]!.body).data).toMatchObject({
      object: 'payment', status: 'SUCCEEDED', amount: '12345', refunded_amount: '0', fee: '0', currency: 'CNY',
      channel_id: 'wx1', channel_trade_no: '4200000001', paid_at: '2025-03-01T08:00:29.000Z', version: 4,
    });
    expect(planned[0]!.body).not.toMatch(/sealed|fingerprint|payer|include_channels/);
  });

  test.each([
    ['failed', 'payment.failed', 'FAILED'],
    ['closed', 'payment.closed', 'CLOSED'],
  ] as const)('notify - a %s payment is one %s', (outcome, type, status) => {
    const planned = history(outcome).flatMap(plannedNotifications);
    expect(planned.map((p) => p.type)).toEqual([type]);
    expect(body(planned[0]!.body).data.status).toBe(status);
  });

  test('notify - a payment without notify_url, or still awaiting the payer, calls for nothing', () => {
    expect(history('succeeded', '').flatMap(plannedNotifications)).toEqual([]);
    expect(history('requires_action').flatMap(plannedNotifications)).toEqual([]);
  });

  test('notify - only the outcome event types are outcome events', () => {
    for (const type of ['AttemptSucceeded', 'AttemptFailed', 'PaymentClosed', 'RefundSucceeded', 'RefundFailed', 'RefundRequiresManual']) {
      expect(isOutcomeEvent(type)).toBe(true);
    }
    for (const type of ['PaymentCreated', 'ChannelRequested', 'AttemptActionRequired', 'AttemptPending', 'CloseRequested', 'DuplicatePaymentDetected', 'RefundRequested', 'RefundSubmitted', 'RefundRetryScheduled']) {
      expect(isOutcomeEvent(type)).toBe(false);
    }
  });

  test('notify - the first successful partial refund is refund.succeeded and payment.partially_refunded', () => {
    const messages = stored(refundEvents(paid(), 'rf-1', 2_000n, 'succeeded'), paid());
    const planned = messages.flatMap(plannedNotifications);
    const payment_id = paid().payment_id;
    expect(planned.map((p) => [p.type, p.id])).toEqual([
      ['refund.succeeded', `${payment_id}:7:refund`],
      ['payment.partially_refunded', `${payment_id}:7`],
    ]);
    const refund = lastState(messages).refunds[0]!;
    expect(planned[0]!.refund_id).toBe(refund.refund_id);
    expect(body(planned[0]!.body).data).toMatchObject({
      object: 'refund', refund_id: refund.refund_id, merchant_refund_no: 'rf-1', amount: '2000', status: 'SUCCEEDED',
      channel_refund_no: '5030000001', refunded_at: '2025-03-01T09:00:59.000Z',
      payment_status: 'PARTIALLY_REFUNDED', payment_refunded_amount: '2000', version: 7,
    });
    expect(body(planned[1]!.body).data).toMatchObject({ object: 'payment', status: 'PARTIALLY_REFUNDED', refunded_amount: '2000' });
  });

  test('notify - a second partial refund leaves the payment status alone: refund.succeeded only', () => {
    const after_first = fold([...paymentEvents(fixture, 'succeeded'), ...refundEvents(paid(), 'rf-1', 2_000n, 'succeeded')])!;
    const planned = stored(refundEvents(paid(), 'rf-2', 3_000n, 'succeeded'), after_first).flatMap(plannedNotifications);
    expect(planned.map((p) => p.type)).toEqual(['refund.succeeded']);
  });

  test('notify - the refund that completes the amount is refund.succeeded and payment.refunded', () => {
    const after_first = fold([...paymentEvents(fixture, 'succeeded'), ...refundEvents(paid(), 'rf-1', 2_000n, 'succeeded')])!;
    const planned = stored(refundEvents(paid(), 'rf-2', 10_345n, 'succeeded'), after_first).flatMap(plannedNotifications);
    expect(planned.map((p) => p.type)).toEqual(['refund.succeeded', 'payment.refunded']);
    expect(body(planned[1]!.body).data).toMatchObject({ status: 'REFUNDED', refunded_amount: '12345' });
  });

  test('notify - a refund with its own notify_url is posted there, the payment change to the payment url', () => {
    const planned = stored(refundEvents(paid(), 'rf-1', 2_000n, 'succeeded', 'https://merchant.example.com/refunds'), paid()).flatMap(plannedNotifications);
    expect(planned.map((p) => p.url)).toEqual(['https://merchant.example.com/refunds', url]);
  });

  test.each([
    ['failed', 'refund.failed', 'REFUND_REJECTED'],
    ['requires_manual', 'refund.requires_manual', 'ACCOUNT_CLOSED'],
  ] as const)('notify - a %s refund is %s only, with its failure', (outcome, type, code) => {
    const planned = stored(refundEvents(paid(), 'rf-1', 2_000n, outcome), paid()).flatMap(plannedNotifications);
    expect(planned.map((p) => p.type)).toEqual([type]);
    expect(body(planned[0]!.body).data).toMatchObject({ failure: { code }, payment_status: 'SUCCEEDED', payment_refunded_amount: '0' });
  });

  test('notify - the automatic refund of a duplicate payment is not announced to the merchant', () => {
    const refunded = fold([...paymentEvents(fixture, 'succeeded'), ...refundEvents(paid(), 'rf-1', 12_345n, 'succeeded')])!;
    expect(refunded.status).toBe('REFUNDED');
    for (const outcome of ['succeeded', 'failed', 'requires_manual'] as const) {
      expect(stored(duplicateRefundEvents(refunded, outcome), refunded).flatMap(plannedNotifications)).toEqual([]);
    }
  });

  test('notify - a refund event whose refund is missing or in another state is a shape error', () => {
    const messages = stored(refundEvents(paid(), 'rf-1', 2_000n, 'succeeded'), paid());
    const outcome = messages[2]!;
    expect(() => plannedNotifications({ event: outcome.event, state: { ...outcome.state, refunds: [] } })).toThrow(OutcomeShapeError);
    const still_processing = { ...outcome.state, refunds: outcome.state.refunds.map((r) => ({ ...r, state: 'PROCESSING' as const })) };
    expect(() => plannedNotifications({ event: outcome.event, state: still_processing })).toThrow(OutcomeShapeError);
  });
});

// Which events the merchant hears about, and what it is told: pure functions from one stored
// PAY_EVENTS message ({event, state after it}) to the notifications it calls for.
//
// A payment notification goes out when an event moves the payment into SUCCEEDED, FAILED,
// CLOSED, PARTIALLY_REFUNDED, REFUNDED or REVERSED; a refund notification when a refund reaches a final
// state. Nothing else (creation, attempts, close requests, duplicate payments and their
// automatic refunds) is sent to merchants.

import type { StoredMessage } from '../events/stored';
import { merchantFeeMinor, type PaymentState, type PaymentStatus, type Refund, type RefundState } from '../events/types';
import type { NotificationBody, NotificationType, PaymentData, PlannedNotification, RefundData } from './types';

/** A message that claims an outcome but does not carry what it needs: a bug upstream. */
export class OutcomeShapeError extends Error {
  override readonly name = 'OutcomeShapeError';
}

const payment_type_of_status: Partial<Record<PaymentStatus, NotificationType>> = {
  SUCCEEDED: 'payment.succeeded',
  FAILED: 'payment.failed',
  CLOSED: 'payment.closed',
  PARTIALLY_REFUNDED: 'payment.partially_refunded',
  REFUNDED: 'payment.refunded',
  REVERSED: 'payment.reversed',
};

/** Refund events that end a refund, and the refund state each leaves. */
const refund_outcome_events = {
  RefundSucceeded: 'SUCCEEDED',
  RefundFailed: 'FAILED',
  RefundRequiresManual: 'REQUIRES_MANUAL',
} as const satisfies Record<string, RefundState>;

const refund_type_of_state: Readonly<Record<RefundState, NotificationType | undefined>> = {
  PENDING: undefined,
  PROCESSING: undefined,
  SUCCEEDED: 'refund.succeeded',
  FAILED: 'refund.failed',
  REQUIRES_MANUAL: 'refund.requires_manual',
};

/** Payment events that set the payment's status (evolve.ts), each allowed only from an open
 * status, so the status they leave is always new. */
const payment_outcome_events: ReadonlySet<string> = new Set(['AttemptSucceeded', 'AttemptFailed', 'PaymentClosed', 'PaymentReversed']);

export function isOutcomeEvent(type: string): boolean {
  return payment_outcome_events.has(type) || Object.prototype.hasOwnProperty.call(refund_outcome_events, type);
}

/** The notifications one stored event calls for (none without a notify URL). */
export function plannedNotifications(stored: StoredMessage): PlannedNotification[] {
  const { event, state } = stored;
  switch (event.type) {
    case 'AttemptSucceeded':
    case 'AttemptFailed':
    case 'PaymentClosed':
    case 'PaymentReversed':
      return present(paymentNotification(state, event.at));
    case 'RefundSucceeded':
    case 'RefundFailed':
    case 'RefundRequiresManual': {
      const refund = refundOf(state, event.type, event.refund_id, refund_outcome_events[event.type]);
      // The refund of a duplicate payment returns money the merchant never booked: it is
      // settled by operations and reconciliation, not announced to the merchant.
      if (refund.kind !== 'merchant') return [];
      const planned = present(refundNotification(state, refund, event.at));
      if (event.type === 'RefundSucceeded' && refundMovedPayment(state, refund)) planned.push(...present(paymentNotification(state, event.at)));
      return planned;
    }
    default:
      return [];
  }
}

function present(planned: PlannedNotification | undefined): PlannedNotification[] {
  return planned === undefined ? [] : [planned];
}

/** A merchant refund's success moves the payment to REFUNDED (from SUCCEEDED or
 * PARTIALLY_REFUNDED: always a change) or to PARTIALLY_REFUNDED, a change only for the first
 * one: when the total refunded is this refund's amount (`refunded_minor` sums succeeded
 * merchant refunds, evolve.ts). */
function refundMovedPayment(state: PaymentState, refund: Refund): boolean {
  if (state.status === 'REFUNDED') return true;
  return state.status === 'PARTIALLY_REFUNDED' && state.refunded_minor === refund.amount_minor;
}

function refundOf(state: PaymentState, type: string, refund_id: string, expected: RefundState): Refund {
  const refund = state.refunds.find((r) => r.refund_id === refund_id);
  if (refund === undefined) throw new OutcomeShapeError(`${type}: refund ${refund_id} is not in the state of ${state.payment_id}`);
  // Money is checked after it is loaded, like every snapshot (core/orders/store.ts).
  if (typeof refund.amount_minor !== 'bigint' || refund.amount_minor <= 0n) throw new OutcomeShapeError(`${type}: refund ${refund_id} has no positive amount_minor`);
  if (refund.state !== expected) throw new OutcomeShapeError(`${type}: refund ${refund_id} is ${refund.state}, not ${expected}`);
  return refund;
}

function paymentNotification(state: PaymentState, at: string): PlannedNotification | undefined {
  const type = payment_type_of_status[state.status];
  if (type === undefined || state.notify_url === '') return undefined;
  const id = `${state.payment_id}:${state.version}`;
  const body: NotificationBody = { id, type, created_at: at, data: paymentData(state) };
  return { id, type, merchant_id: state.merchant_id, payment_id: state.payment_id, url: state.notify_url, body: JSON.stringify(body) };
}

function refundNotification(state: PaymentState, refund: Refund, at: string): PlannedNotification | undefined {
  const type = refund_type_of_state[refund.state];
  const url = refund.notify_url !== '' ? refund.notify_url : state.notify_url;
  if (type === undefined || url === '') return undefined;
  const id = `${state.payment_id}:${state.version}:refund`;
  const body: NotificationBody = { id, type, created_at: at, data: refundData(state, refund) };
  return { id, type, merchant_id: state.merchant_id, payment_id: state.payment_id, refund_id: refund.refund_id, url, body: JSON.stringify(body) };
}

/** The merchant's view of a payment: no payer elements, fingerprint or routing internals. */
function paymentData(state: PaymentState): PaymentData {
  const attempt = state.attempts.find((a) => a.attempt_id === state.winning_attempt_id) ?? state.attempts[state.attempts.length - 1];
  return {
    object: 'payment',
    payment_id: state.payment_id,
    merchant_id: state.merchant_id,
    merchant_order_no: state.merchant_order_no,
    amount: state.amount_minor.toString(),
    currency: state.currency,
    product: state.product,
    subject: state.subject,
    status: state.status,
    channel_id: attempt?.channel_id,
    channel_trade_no: attempt?.channel_trade_no,
    failure: state.failure === undefined ? undefined : { code: state.failure.code, message: state.failure.message },
    closed_reason: state.closed_reason,
    refunded_amount: state.refunded_minor.toString(),
    fee: merchantFeeMinor(state).toString(), // the merchant's fee, never the channel's cost
    metadata: { ...state.metadata },
    version: state.version,
    created_at: state.created_at,
    updated_at: state.updated_at,
    paid_at: state.paid_at,
  };
}

function refundData(state: PaymentState, refund: Refund): RefundData {
  return {
    object: 'refund',
    refund_id: refund.refund_id,
    payment_id: state.payment_id,
    merchant_id: state.merchant_id,
    merchant_order_no: state.merchant_order_no,
    merchant_refund_no: refund.merchant_refund_no,
    amount: refund.amount_minor.toString(),
    currency: state.currency,
    status: refund.state,
    reason: refund.reason === '' ? undefined : refund.reason,
    channel_refund_no: refund.channel_refund_no,
    failure: refund.failure === undefined ? undefined : { code: refund.failure.code, message: refund.failure.message },
    payment_status: state.status,
    payment_refunded_amount: state.refunded_minor.toString(),
    version: state.version,
    created_at: refund.created_at,
    updated_at: refund.updated_at,
    refunded_at: refund.refunded_at,
  };
}

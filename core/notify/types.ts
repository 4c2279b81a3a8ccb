// What the merchant notifier sends, queues and dead-letters. The body shapes are the
// merchant-facing contract (docs/events.md); the queue shapes are internal but durable, so a
// field is only ever added, never renamed.

import type { PaymentStatus, RefundState } from '../events/types';

export type NotificationType =
  | 'payment.succeeded'
  | 'payment.failed'
  | 'payment.closed'
  | 'payment.partially_refunded'
  | 'payment.refunded'
  | 'payment.reversed'
  | 'refund.succeeded'
  | 'refund.failed'
  | 'refund.requires_manual';

/** `data` of a payment.* notification. Money is a decimal string of minor units (as the
 * proto3 JSON mapping writes int64), never a JSON number. */
export interface PaymentData {
  object: 'payment';
  payment_id: string;
  merchant_id: string;
  merchant_order_no: string;
  amount: string;
  currency: string;
  product: string;
  subject: string;
  status: PaymentStatus;
  channel_id?: string;
  channel_trade_no?: string;
  failure?: { code: string; message: string };
  closed_reason?: string;
  refunded_amount: string;
  fee: string;
  metadata: Record<string, string>;
  version: number;
  created_at: string;
  updated_at: string;
  paid_at?: string;
}

/** `data` of a refund.* notification. */
export interface RefundData {
  object: 'refund';
  refund_id: string;
  payment_id: string;
  merchant_id: string;
  merchant_order_no: string;
  merchant_refund_no: string;
  amount: string;
  currency: string;
  status: RefundState;
  reason?: string;
  channel_refund_no?: string;
  failure?: { code: string; message: string };
  /** The payment after this refund: its status and the total refunded so far. */
  payment_status: PaymentStatus;
  payment_refunded_amount: string;
  /** The payment's version (event count) at this refund outcome. */
  version: number;
  created_at: string;
  updated_at: string;
  refunded_at?: string;
}

/** The JSON body POSTed to the merchant. */
export interface NotificationBody {
  /** `<payment_id>:<version>` (a refund outcome: `<payment_id>:<version>:refund`): the same on
   * every attempt and re-send, so the merchant deduplicates on it. */
  id: string;
  type: NotificationType;
  /** When the outcome happened (the event's time), ISO-8601 UTC. */
  created_at: string;
  data: PaymentData | RefundData;
}

/** A notification an event calls for, before it is queued. */
export interface PlannedNotification {
  id: string;
  type: NotificationType;
  merchant_id: string;
  payment_id: string;
  refund_id?: string;
  url: string;
  /** The exact JSON body, byte-identical on every attempt. */
  body: string;
}

/** One pending delivery: a message on `<p>.notify.send.<merchant_id>` in `<PREFIX>_NOTIFY`.
 * Every retry is a new message with `attempt` one higher, so a restart resumes exactly. */
export interface PendingNotification extends PlannedNotification {
  /** The 0-based attempt this message is for; the schedule has one delay per attempt. */
  attempt: number;
  /** When this attempt may start, ISO-8601 UTC. */
  due_at: string;
  /** How many times an operator re-sent it from the dead letters (part of the message ids). */
  resends: number;
  /** Why the previous attempt failed: `http_<status>`, `timeout`, a network error code. */
  last_error?: string;
  last_attempt_at?: string;
  /** W3C trace context of the call that led to the outcome (from the event's headers), so
   * the merchant's POST joins the payment's trace. */
  traceparent?: string;
}

/** A notification whose schedule ran out: a message on `<p>.notify.dead.<merchant>.<id>`. */
export interface DeadLetterMessage extends PendingNotification {
  /** Attempts made in the last schedule. */
  attempts: number;
  last_error: string;
  dead_at: string;
}

/** What listDeadLetters returns: the dead letter without its body. */
export interface DeadLetter {
  /** Stream sequence: pass it as `after_seq` to read the next page. */
  seq: number;
  id: string;
  type: NotificationType;
  merchant_id: string;
  payment_id: string;
  refund_id?: string;
  url: string;
  attempts: number;
  resends: number;
  last_error: string;
  last_attempt_at?: string;
  dead_at: string;
}

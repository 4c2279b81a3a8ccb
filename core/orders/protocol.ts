// What crosses NATS between the gateway (or the timer pump) and the actor hosts:
// `<p>.pay.cmd.<shard>` requests and their replies, JSON via core/codec.ts.

import type { AttemptStatus, PayerElements, ProductName, RefundStatus, ShareReturnLine } from '../../channels/channel';
import type { WireError } from '../errors';
import type { TimerKind } from './timers';
import type { PaymentState } from './types';

export interface CreateInput {
  merchant_id: string;
  merchant_order_no: string;
  amount_minor: bigint;
  currency: string;
  product: ProductName;
  subject: string;
  payer: PayerElements;
  notify_url: string;
  expire_seconds: number;
  include_channels: string[];
  exclude_channels: string[];
  metadata: Record<string, string>;
  fingerprint: string;
}

/** An AttemptStatus as JSON carries it (dates as ISO strings). */
export type WireAttemptStatus = Exclude<AttemptStatus, { kind: 'succeeded' }> | { kind: 'succeeded'; channel_trade_no: string; amount_minor: bigint; paid_at: string };

export interface RefundInput {
  refund_id: string;
  merchant_refund_no: string;
  amount_minor: bigint;
  reason: string;
  notify_url: string;
  fingerprint: string;
  /** The receivers' shares the refund carries back at its channel (Refund.share_returns),
   * planned by the books before the refund is created (core/splits returnForRefund). */
  share_returns?: ShareReturnLine[];
}

/** A RefundStatus as JSON carries it. */
export type WireRefundStatus = Exclude<RefundStatus, { kind: 'succeeded' }> | { kind: 'succeeded'; channel_refund_no: string; amount_minor: bigint; refunded_at: string };

/** Requests a merchant's call makes carry the merchant it is made for (`merchant_id`, or
 * `input.merchant_id` for a create): the actor refuses one whose merchant does not own the
 * payment, as NOT_FOUND, before anything is appended, reserved or sent. Timers and provider
 * callbacks are paycore's own; a callback names the channel it arrived on, and may only move
 * attempts sent to that channel. */
export type ActorCommand =
  | { type: 'create'; payment_id: string; input: CreateInput }
  | { type: 'get'; payment_id: string; merchant_id: string }
  | { type: 'close'; payment_id: string; merchant_id: string }
  | { type: 'notification'; payment_id: string; channel_id: string; attempt_id: string; status: WireAttemptStatus }
  | { type: 'timer'; payment_id: string; kind: TimerKind; round?: number; refund_id?: string }
  /** The code crosses NATS only: it is never stored, logged or put in an event. */
  | { type: 'confirm'; payment_id: string; merchant_id: string; verification_code: string }
  | { type: 'create_refund'; payment_id: string; merchant_id: string; input: RefundInput }
  | { type: 'refund_notification'; payment_id: string; channel_id: string; refund_id: string; status: WireRefundStatus }
  /** The actor's own: a channel create that answered after its caller was answered (no
   * status: its outcome is unknown, the pending-attempt queries settle it). */
  | { type: 'pay_outcome'; payment_id: string; attempt_id: string; status?: WireAttemptStatus }
  /** An operator's decision on a payment risk control held for review (RiskAdminService). */
  | { type: 'release_hold'; payment_id: string }
  | { type: 'reject_hold'; payment_id: string }
  /** A payout (core/payouts) paid a refund the channel could no longer carry. */
  | { type: 'refund_paid_out'; payment_id: string; refund_id: string; payout_id: string; channel_id: string; channel_payout_no: string; paid_at: string }
  /** An operator's re-check of a refund REQUIRES_MANUAL after it reached its channel
   * (PayoutAdminService RecheckRefund): one query now, a final answer applied. */
  | { type: 'recheck_refund'; payment_id: string; merchant_id: string; refund_id: string; operator: string; reason: string }
  /** Reconciliation's (core/recon/act.ts): reverse a success the channel never took. */
  | { type: 'reverse'; payment_id: string; reason_code: string; reference: string };

/** Every request may carry its caller's deadline (epoch ms): an actor does not start a
 * command past it (less command_start_margin_ms), so a command its caller gave up on —
 * one held in a client's reconnect buffer, say — is never executed behind its back. */
export type ActorRequest = ActorCommand & { deadline_at_ms?: number };

/** The merchant a request acts for; undefined for paycore's own (timers, callbacks). */
export function requestMerchant(request: ActorRequest): string | undefined {
  switch (request.type) {
    case 'create':
      return request.input.merchant_id;
    case 'get':
    case 'close':
    case 'confirm':
    case 'create_refund':
    case 'recheck_refund':
      return request.merchant_id;
    default:
      return undefined;
  }
}

export type ActorReply = { ok: true; payment: PaymentState } | { ok: false; error: WireError };

/** The reply of a process that does not hold the payment's shard (workers/leases.ts): the
 * command was not executed; the caller sends it again (the shard is changing hands). */
export function unownedReply(payment_id: string): ActorReply {
  return {
    ok: false,
    error: { reason: 'DEPENDENCY_DOWN', message: `DEPENDENCY_DOWN: no actor host holds the shard of payment ${payment_id} now; not executed, retry with the same key`, metadata: { shard: 'unowned' } },
  };
}

export function isUnowned(reply: ActorReply): boolean {
  return !reply.ok && reply.error.metadata?.shard === 'unowned';
}

export function toWireStatus(status: AttemptStatus): WireAttemptStatus {
  return status.kind === 'succeeded' ? { ...status, paid_at: status.paid_at.toISOString() } : status;
}

export function fromWireStatus(status: WireAttemptStatus): AttemptStatus {
  return status.kind === 'succeeded' ? { ...status, paid_at: new Date(status.paid_at) } : status;
}

export function toWireRefundStatus(status: RefundStatus): WireRefundStatus {
  return status.kind === 'succeeded' ? { ...status, refunded_at: status.refunded_at.toISOString() } : status;
}

export function fromWireRefundStatus(status: WireRefundStatus): RefundStatus {
  return status.kind === 'succeeded' ? { ...status, refunded_at: new Date(status.refunded_at) } : status;
}

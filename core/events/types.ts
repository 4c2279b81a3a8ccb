// The payment's stored vocabulary: its events and the state folded from them (core/orders
// evolve.ts). Events are the source of truth (JetStream subject pay.evt.<payment_id>); the
// orders module writes them, and the books, the merchant notifier and routing's cap
// re-derivation read them, each importing this module downward (docs/architecture.md §10).

import type { NextAction, ProductName, ShareReturnLine } from '../../channels/channel';

/** What release and commit need of a reservation of a channel's caps (core/routing): the
 * marker in Redis holds the amounts. Payment events carry this, so any process can release
 * or commit. */
export interface ReservationRef {
  reservation_id: string;
  channel_id: string;
}

export type PaymentStatus =
  | 'CREATED' | 'REQUIRES_ACTION' | 'PROCESSING' | 'SUCCEEDED' | 'FAILED' | 'CLOSED'
  | 'PARTIALLY_REFUNDED' | 'REFUNDED'
  /** Paid by our records, and the channel never took it (reconciliation's 短款, confirmed by a
   * query): our side reversed. Final. */
  | 'REVERSED';

/** Statuses in which the payer may still pay this payment. */
export const open_statuses: ReadonlySet<PaymentStatus> = new Set(['CREATED', 'REQUIRES_ACTION', 'PROCESSING']);
export const paid_statuses: ReadonlySet<PaymentStatus> = new Set(['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED']);

/** 'risk': an operator rejected the payment risk control held for review. */
export type CloseReason = 'merchant' | 'expired' | 'channel' | 'risk';

export type AttemptState =
  /** Write-ahead recorded; the channel's answer is not known. */
  | 'requested'
  | 'action_required'
  | 'pending'
  | 'succeeded'
  | 'failed'
  | 'closed';

export interface Attempt {
  attempt_id: string;
  attempt_no: number;
  channel_id: string;
  state: AttemptState;
  channel_trade_no?: string;
  /** What the channel charges for this payment (routing's fee rule). */
  fee_minor?: bigint;
  /** The channel's caps held for this attempt: released if it fails, committed if paid. */
  reservation?: ReservationRef;
  /** When the attempt was written ahead (its ChannelRequested): some providers key an order
   * by id and send time, so every call about it names this instant. */
  requested_at?: string;
  /** Wrong step-up codes the payer gave for this attempt (ConfirmPayment). */
  wrong_codes?: number;
}

interface Failure {
  code: string;
  message: string;
}

export interface DuplicatePayment {
  attempt_id: string;
  channel_trade_no: string;
  amount_minor: bigint;
}

export type RefundState = 'PENDING' | 'PROCESSING' | 'SUCCEEDED' | 'FAILED' | 'REQUIRES_MANUAL';


export interface Refund {
  refund_id: string;
  /** Empty for the automatic refund of a duplicate payment. */
  merchant_refund_no: string;
  /** The paid attempt the money goes back from. */
  attempt_id: string;
  channel_id: string;
  amount_minor: bigint;
  reason: string;
  notify_url: string;
  fingerprint: string;
  /** For the refund of a duplicate payment: the provider transaction it returns (an attempt
   * the payer paid twice holds more than one). */
  channel_trade_no?: string;
  /** 'merchant': asked for by the merchant; 'duplicate': returns a duplicate payment. */
  kind: 'merchant' | 'duplicate';
  /** The receivers' shares the refund takes back at its channel inside the refund request
   * (Alipay refund_royalty_parameters; core/splits/README.md): written ahead with it, sent
   * with every call of it. Absent: none. */
  share_returns?: ShareReturnLine[];
  state: RefundState;
  channel_refund_no?: string;
  failure?: Failure;
  /** Retryable failures met so far. */
  retries: number;
  created_at: string;
  updated_at: string;
  refunded_at?: string;
  /** Paid by a payout (代付退款, core/payouts) after the channel's window or count had passed:
   * the payout; channel_refund_no is then the bank's number for it. */
  payout_id?: string;
  /** The latest operator's re-check (RefundRechecked): who, why and what the channel said. */
  recheck?: { at: string; operator: string; reason: string; answer: string };
}

/** Fields every event carries. `at` is ISO-8601 UTC, set by the actor, never by evolve. */
interface EventBase {
  at: string;
}

export type PaymentEvent =
  | (EventBase & {
      type: 'PaymentCreated';
      payment_id: string;
      merchant_id: string;
      merchant_order_no: string;
      amount_minor: bigint;
      currency: string;
      product: ProductName;
      subject: string;
      notify_url: string;
      metadata: Record<string, string>;
      expires_at: string;
      /** SHA-256 of every request parameter: an identical replay has the same one. */
      fingerprint: string;
      /** Payer elements, AES-256-GCM sealed (core/seal.ts): personal data never in clear. */
      payer_sealed: string;
      include_channels: string[];
      exclude_channels: string[];
      /** What the merchant pays paycore for this payment (its fee rate for the product, agreed
       * at creation), charged once paid. Absent in payments created before it was recorded. */
      merchant_fee_minor?: bigint;
      /** Risk control's decision that let the payment be created (allow, step_up or review:
       * core/risk RiskAssessed without what PaymentCreated already says), written with it in
       * one append instead of a publish of its own. Absent when no risk engine ran, and in
       * payments created before it was recorded here (their decision is on <prefix>.risk.evt). */
      risk?: { action: 'allow' | 'step_up' | 'review' | 'block'; fired: { rule_id: string; kind: string; action: string }[] };
    })
  /** Risk control held the new payment for an operator (core/risk): nothing routed, reserved
   * or sent until it is released; closed by itself at review_expires_at. */
  | (EventBase & { type: 'PaymentHeld'; rules: string[]; review_expires_at: string })
  /** An operator released the held payment: its first ChannelRequested follows. */
  | (EventBase & { type: 'PaymentReleased' })
  | (EventBase & { type: 'ChannelRequested'; attempt_id: string; attempt_no: number; channel_id: string; fee_minor?: bigint; reservation?: ReservationRef })
  | (EventBase & { type: 'AttemptActionRequired'; attempt_id: string; next_action: NextAction; channel_trade_no?: string })
  | (EventBase & { type: 'AttemptPending'; attempt_id: string; channel_trade_no?: string })
  /** The provider refused the payer's step-up code; the attempt still waits for the right one. */
  | (EventBase & { type: 'AttemptCodeRejected'; attempt_id: string; wrong_codes: number })
  | (EventBase & { type: 'AttemptSucceeded'; attempt_id: string; channel_trade_no: string; amount_minor: bigint; paid_at: string })
  /** `final: false` when another channel takes over (failover): the payment stays open. */
  | (EventBase & { type: 'AttemptFailed'; attempt_id: string; code: string; message: string; final?: boolean })
  | (EventBase & { type: 'CloseRequested'; reason: CloseReason })
  | (EventBase & { type: 'PaymentClosed'; reason: CloseReason })
  /** A success on an attempt that did not win, after the payment closed, or a second provider
   * transaction on the winning attempt (the payer paid twice): money to return. */
  | (EventBase & { type: 'DuplicatePaymentDetected'; attempt_id: string; channel_trade_no: string; amount_minor: bigint })
  /** Our success reversed: reconciliation found it on no statement and the channel's query
   * says the trade does not exist or was never paid (core/recon/act.ts). `reason_code` is
   * recon's; `reference` names its difference. The books reverse the capture. */
  | (EventBase & { type: 'PaymentReversed'; attempt_id: string; reason_code: string; reference: string })
  /** Write-ahead of a refund: durable before the channel is asked. */
  | (EventBase & {
      type: 'RefundRequested';
      refund_id: string;
      merchant_refund_no: string;
      attempt_id: string;
      channel_id: string;
      amount_minor: bigint;
      reason: string;
      notify_url: string;
      fingerprint: string;
      kind: Refund['kind'];
      /** kind 'duplicate': the provider transaction whose money goes back. */
      channel_trade_no?: string;
      /** Refund.share_returns. */
      share_returns?: ShareReturnLine[];
    })
  | (EventBase & { type: 'RefundSubmitted'; refund_id: string; channel_refund_no?: string })
  | (EventBase & { type: 'RefundRetryScheduled'; refund_id: string; code: string; message: string })
  /** `payout`: paid by a payout (an operator's, of a refund REQUIRES_MANUAL because the channel's
   * window or count had passed) through channel_id, not by the refund's channel.
   * `rechecked`: settled by an operator's re-check of a refund REQUIRES_MANUAL after it reached
   * its channel (RefundRechecked, just before it in the same write). */
  | (EventBase & { type: 'RefundSucceeded'; refund_id: string; channel_refund_no: string; refunded_at: string; payout?: { payout_id: string; channel_id: string }; rechecked?: true })
  | (EventBase & { type: 'RefundFailed'; refund_id: string; code: string; message: string; rechecked?: true })
  /** An operator's re-check (PayoutAdminService RecheckRefund) of a refund REQUIRES_MANUAL after
   * it reached its channel: who (`operator`), why, and what the channel answered. Audit only;
   * a final answer follows as RefundSucceeded / RefundFailed with `rechecked`. */
  | (EventBase & { type: 'RefundRechecked'; refund_id: string; operator: string; reason: string; answer: string })
  | (EventBase & { type: 'RefundRequiresManual'; refund_id: string; code: string; message: string });

export type PaymentEventType = PaymentEvent['type'];

export interface PaymentState {
  payment_id: string;
  merchant_id: string;
  merchant_order_no: string;
  amount_minor: bigint;
  currency: string;
  product: ProductName;
  subject: string;
  notify_url: string;
  metadata: Record<string, string>;
  fingerprint: string;
  payer_sealed: string;
  include_channels: string[];
  exclude_channels: string[];
  status: PaymentStatus;
  attempts: Attempt[];
  /** The attempt whose success this payment is (set once, never changed). */
  winning_attempt_id?: string;
  next_action?: NextAction;
  failure?: Failure;
  /** Set while risk control holds the payment for an operator's review. */
  held?: { rules: string[]; held_at: string; review_expires_at: string };
  /** Set while a close is under way at the channel; cleared by its outcome. */
  closing?: CloseReason;
  closed_reason?: CloseReason;
  duplicates: DuplicatePayment[];
  refunds: Refund[];
  /** Sum of the merchant's SUCCEEDED refunds (duplicate refunds return other money). */
  refunded_minor: bigint;
  /** What the winning channel costs paycore: internal, never shown to the merchant. */
  fee_minor: bigint;
  /** The merchant's fee for this payment (0 when its rate table has none for the product):
   * what Payment.fee and notifications show once the payment is paid. */
  merchant_fee_minor: bigint;
  /** Set once the payment is REVERSED. */
  reversal?: { reason_code: string; reference: string; reversed_at: string };
  /** The number of events applied. */
  version: number;
  created_at: string;
  updated_at: string;
  expires_at: string;
  paid_at?: string;
}

/** The fee the merchant is charged: its agreed fee once the payment is paid, else nothing.
 * Policy: the fee stays charged when the payment is later refunded. */
export function merchantFeeMinor(state: PaymentState): bigint {
  return paid_statuses.has(state.status) ? state.merchant_fee_minor ?? 0n : 0n;
}

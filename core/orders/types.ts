// The payment's events, commands and state. Events are the source of truth (JetStream
// subject pay.evt.<payment_id>); state is evolve() folded over them.

import type { AttemptStatus, NextAction, ProductName } from '../../channels/channel';

export type PaymentStatus =
  | 'CREATED' | 'REQUIRES_ACTION' | 'PROCESSING' | 'SUCCEEDED' | 'FAILED' | 'CLOSED'
  | 'PARTIALLY_REFUNDED' | 'REFUNDED';

export const final_statuses: ReadonlySet<PaymentStatus> = new Set(['FAILED', 'CLOSED', 'REFUNDED']);
/** Statuses in which the payer may still pay this payment. */
export const open_statuses: ReadonlySet<PaymentStatus> = new Set(['CREATED', 'REQUIRES_ACTION', 'PROCESSING']);
export const paid_statuses: ReadonlySet<PaymentStatus> = new Set(['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED']);

export type CloseReason = 'merchant' | 'expired' | 'channel';

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
}

export interface Failure {
  code: string;
  message: string;
}

export interface DuplicatePayment {
  attempt_id: string;
  channel_trade_no: string;
  amount_minor: bigint;
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
    })
  | (EventBase & { type: 'ChannelRequested'; attempt_id: string; attempt_no: number; channel_id: string })
  | (EventBase & { type: 'AttemptActionRequired'; attempt_id: string; next_action: NextAction; channel_trade_no?: string })
  | (EventBase & { type: 'AttemptPending'; attempt_id: string; channel_trade_no?: string })
  | (EventBase & { type: 'AttemptSucceeded'; attempt_id: string; channel_trade_no: string; amount_minor: bigint; paid_at: string })
  | (EventBase & { type: 'AttemptFailed'; attempt_id: string; code: string; message: string })
  | (EventBase & { type: 'CloseRequested'; reason: CloseReason })
  | (EventBase & { type: 'PaymentClosed'; reason: CloseReason })
  /** A success on an attempt that did not win, or after the payment closed: money to return. */
  | (EventBase & { type: 'DuplicatePaymentDetected'; attempt_id: string; channel_trade_no: string; amount_minor: bigint });

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
  /** Set while a close is under way at the channel; cleared by its outcome. */
  closing?: CloseReason;
  closed_reason?: CloseReason;
  duplicates: DuplicatePayment[];
  refunded_minor: bigint;
  fee_minor: bigint;
  /** The number of events applied. */
  version: number;
  created_at: string;
  updated_at: string;
  expires_at: string;
  paid_at?: string;
}

/** What the actor asks decide() to do. `at` is the actor's clock, so decide stays pure. */
export type PaymentCommand =
  | {
      type: 'create';
      at: string;
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
      fingerprint: string;
      payer_sealed: string;
      include_channels: string[];
      exclude_channels: string[];
      /** The channel routing chose for the first attempt. */
      channel_id: string;
    }
  | { type: 'close'; at: string; reason: CloseReason }
  /** What a channel said about an attempt, from our call, a query or its callback. */
  | { type: 'attempt_status'; at: string; attempt_id: string; status: AttemptStatus; source: 'pay' | 'query' | 'notification' }
  | { type: 'close_result'; at: string; outcome: 'closed' | 'already_paid' };

export type RejectionReason = 'IDEMPOTENCY_KEY_REUSED' | 'ILLEGAL_STATE' | 'NOT_FOUND';

export interface Rejection {
  reason: RejectionReason;
  message: string;
}

export type Decision = { events: PaymentEvent[] } | { rejection: Rejection };

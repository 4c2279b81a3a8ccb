// The orders module's commands and decisions (decide.ts). The events and the state they fold
// into are core/events/types.ts, re-exported here for the module's own files.

import type { AttemptStatus, RefundStatus, ShareReturnLine } from '../../channels/channel';
import type { CloseReason, PaymentEvent, ReservationRef } from '../events/types';

export {
  open_statuses, paid_statuses,
  type Attempt, type AttemptState, type CloseReason, type DuplicatePayment, type PaymentEvent, type PaymentEventType,
  type PaymentState, type PaymentStatus, type Refund, type RefundState,
} from '../events/types';

/** What a channel allows for refunds of one payment (its refund policy). */
export interface RefundPolicy {
  window_days: number;
  count_max: number;
}

/** What the actor asks decide() to do. `at` is the actor's clock, so decide stays pure. */
export type PaymentCommand =
  /** The creation: everything PaymentCreated records, plus what routing chose. */
  | (Omit<Extract<PaymentEvent, { type: 'PaymentCreated' }>, 'type'> & {
      type: 'create';
      /** The channel routing chose for the first attempt, its fee and held caps ('' when held). */
      channel_id: string;
      /** Risk control holds it for review instead of routing it. */
      held?: { rules: string[]; review_expires_at: string };
      fee_minor?: bigint;
      reservation?: ReservationRef;
    })
  /** `merchant_id`: the merchant whose call this is (absent for paycore's own commands:
   * expiry, queries, callbacks); decide refuses it when that merchant does not own the payment. */
  | { type: 'close'; at: string; reason: CloseReason; merchant_id?: string }
  /** What a channel said about an attempt, from our call, a query or its callback. */
  | {
      type: 'attempt_status';
      at: string;
      /** ConfirmPayment's merchant (source 'confirm'). */
      merchant_id?: string;
      /** A provider callback: the channel it arrived on (only its attempts may move). */
      via_channel_id?: string;
      attempt_id: string;
      status: AttemptStatus;
      /** confirm: the answer to the payer's step-up (ConfirmPayment). */
      source: 'pay' | 'query' | 'notification' | 'confirm';
      /** The next channel when the attempt failed in a way that proves no money was taken. */
      failover?: { channel_id: string; fee_minor: bigint; reservation?: ReservationRef };
    }
  | { type: 'close_result'; at: string; outcome: 'closed' | 'already_paid' }
  /** An operator released a held payment; routing chose its first channel. */
  | { type: 'release_hold'; at: string; channel_id: string; fee_minor: bigint; reservation?: ReservationRef }
  /** The provider refused the payer's step-up code (ConfirmPayment); after `wrong_codes_max`
   * wrong codes the attempt fails. */
  | { type: 'code_rejected'; at: string; merchant_id?: string; attempt_id: string; wrong_codes_max: number }
  | {
      type: 'create_refund';
      at: string;
      merchant_id: string;
      refund_id: string;
      merchant_refund_no: string;
      amount_minor: bigint;
      reason: string;
      notify_url: string;
      fingerprint: string;
      policy: RefundPolicy;
      /** RefundInput.share_returns. */
      share_returns?: ShareReturnLine[];
    }
  /** Opens the automatic refund of a recorded duplicate payment. */
  | { type: 'refund_duplicate'; at: string; refund_id: string; attempt_id: string; channel_trade_no: string }
  /** Reconciliation's reversal of a success the channel never took (legal from SUCCEEDED only). */
  | { type: 'reverse'; at: string; reason_code: string; reference: string }
  /** A refund REQUIRES_MANUAL because the channel's window or count had passed, paid by a
   * payout (core/payouts) through channel_id: it ends SUCCEEDED with the payout recorded. */
  | { type: 'refund_paid_out'; at: string; refund_id: string; payout_id: string; channel_id: string; channel_payout_no: string; paid_at: string }
  /** An operator's re-check of a refund REQUIRES_MANUAL after it reached its channel: what the
   * channel answered to one query now (undefined: no answer could be read). */
  | { type: 'refund_recheck'; at: string; merchant_id: string; refund_id: string; operator: string; reason: string; status?: RefundStatus }
  /** What a channel said about a refund (our call, a query, its callback). */
  | { type: 'refund_status'; at: string; refund_id: string; status: RefundStatus; retries_max: number; via_channel_id?: string };

type RejectionReason = 'IDEMPOTENCY_KEY_REUSED' | 'ILLEGAL_STATE' | 'NOT_FOUND' | 'REFUND_EXCEEDS_PAID';

export interface Rejection {
  reason: RejectionReason;
  message: string;
}

export type Decision = { events: PaymentEvent[] } | { rejection: Rejection };

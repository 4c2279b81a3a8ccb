// evolve(state, event) → state: the only way a payment's state changes. Pure: no I/O, no
// clock. Each event names the statuses it may be applied in; anything else is a bug in
// decide() or a corrupt stream, and fails loudly.

import { assert } from '../errors';
import { open_statuses, type Attempt, type PaymentEvent, type PaymentState, type PaymentStatus, type Refund, type RefundState } from './types';

const any_status: readonly PaymentStatus[] = ['CREATED', 'REQUIRES_ACTION', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CLOSED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'REVERSED'];

/** Where each event may be applied ('none' = to no state: the creation). */
export const event_allowed_from: Record<PaymentEvent['type'], readonly (PaymentStatus | 'none')[]> = {
  PaymentCreated: ['none'],
  PaymentHeld: ['CREATED'],
  PaymentReleased: ['CREATED'],
  ChannelRequested: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  AttemptActionRequired: ['CREATED'],
  AttemptPending: ['CREATED', 'REQUIRES_ACTION'],
  AttemptCodeRejected: ['REQUIRES_ACTION'],
  AttemptSucceeded: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  AttemptFailed: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  CloseRequested: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  PaymentClosed: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  DuplicatePaymentDetected: any_status,
  PaymentReversed: ['SUCCEEDED'],
  // A refund of the payment needs it paid; the refund of a duplicate payment returns other
  // money and may run in any status (evolve checks which kind it is).
  RefundRequested: any_status,
  RefundSubmitted: any_status,
  RefundRetryScheduled: any_status,
  RefundSucceeded: any_status,
  RefundFailed: any_status,
  RefundRequiresManual: any_status,
  RefundRechecked: any_status,
};

/** Where each refund event may take a refund. */
const refund_allowed_from: Record<'RefundSubmitted' | 'RefundRetryScheduled' | 'RefundSucceeded' | 'RefundFailed' | 'RefundRequiresManual', readonly RefundState[]> = {
  RefundSubmitted: ['PENDING', 'PROCESSING'],
  RefundRetryScheduled: ['PENDING', 'PROCESSING'],
  RefundSucceeded: ['PENDING', 'PROCESSING'],
  RefundFailed: ['PENDING', 'PROCESSING'],
  RefundRequiresManual: ['PENDING', 'PROCESSING'],
};

function canApply(state: PaymentState | undefined, type: PaymentEvent['type']): boolean {
  return event_allowed_from[type].includes(state === undefined ? 'none' : state.status);
}

export function evolve(state: PaymentState | undefined, event: PaymentEvent): PaymentState {
  assert(canApply(state, event.type), `evolve: ${event.type} cannot apply in ${state?.status ?? 'no state'}`);
  if (event.type === 'PaymentCreated') return created(event);
  assert(state !== undefined, 'evolve: unreachable');
  const next: PaymentState = { ...state, version: state.version + 1, updated_at: laterInstant(state.updated_at, event.at) };
  switch (event.type) {
    case 'RefundRequested':
    case 'RefundSubmitted':
    case 'RefundRetryScheduled':
    case 'RefundSucceeded':
    case 'RefundFailed':
    case 'RefundRequiresManual':
    case 'RefundRechecked':
      return evolveRefund(state, next, event);
    case 'PaymentReversed':
      // Reconciliation's reversal of a success the channel never took (decide's decideReverse).
      assert(event.attempt_id === state.winning_attempt_id, 'evolve: a reversal names the winning attempt');
      next.status = 'REVERSED';
      next.reversal = { reason_code: event.reason_code, reference: event.reference, reversed_at: event.at };
      return next;
    default:
      return evolvePayment(state, next, event);
  }
}

type RefundEvent = Extract<PaymentEvent, { type: keyof typeof refund_allowed_from | 'RefundRequested' | 'RefundRechecked' }>;
type AfterCreation = Exclude<PaymentEvent, { type: 'PaymentCreated' }>;

/** The state a payment starts in. */
function created(event: Extract<PaymentEvent, { type: 'PaymentCreated' }>): PaymentState {
  return {
    payment_id: event.payment_id,
    merchant_id: event.merchant_id,
    merchant_order_no: event.merchant_order_no,
    amount_minor: event.amount_minor,
    currency: event.currency,
    product: event.product,
    subject: event.subject,
    notify_url: event.notify_url,
    metadata: event.metadata,
    fingerprint: event.fingerprint,
    payer_sealed: event.payer_sealed,
    include_channels: event.include_channels,
    exclude_channels: event.exclude_channels,
    status: 'CREATED',
    attempts: [],
    duplicates: [],
    refunds: [],
    refunded_minor: 0n,
    fee_minor: 0n,
    merchant_fee_minor: event.merchant_fee_minor ?? 0n,
    version: 1,
    created_at: event.at,
    updated_at: event.at,
    expires_at: event.expires_at,
  };
}

/** The attempts, holds and closing: `next` is `state` one version on. */
function evolvePayment(state: PaymentState, next: PaymentState, event: Exclude<AfterCreation, RefundEvent | { type: 'PaymentReversed' }>): PaymentState {
  switch (event.type) {
    case 'ChannelRequested': {
      const attempt: Attempt = {
        attempt_id: event.attempt_id,
        attempt_no: event.attempt_no,
        channel_id: event.channel_id,
        state: 'requested',
        requested_at: event.at,
      };
      if (event.fee_minor !== undefined) attempt.fee_minor = event.fee_minor;
      if (event.reservation !== undefined) attempt.reservation = event.reservation;
      assert(event.attempt_no === state.attempts.length + 1, 'evolve: attempts are numbered in order');
      next.attempts = [...state.attempts, attempt];
      next.status = 'CREATED';
      next.next_action = undefined;
      return next;
    }
    case 'AttemptActionRequired':
      next.attempts = withAttempt(state, event.attempt_id, { state: 'action_required', channel_trade_no: event.channel_trade_no });
      next.status = 'REQUIRES_ACTION';
      next.next_action = event.next_action;
      return next;
    case 'PaymentHeld':
      next.held = { rules: [...event.rules], held_at: event.at, review_expires_at: event.review_expires_at };
      return next;
    case 'PaymentReleased':
      next.held = undefined;
      return next;
    case 'AttemptCodeRejected':
      next.attempts = withAttempt(state, event.attempt_id, { wrong_codes: event.wrong_codes });
      return next;
    case 'AttemptPending':
      next.attempts = withAttempt(state, event.attempt_id, { state: 'pending', channel_trade_no: event.channel_trade_no });
      next.status = 'PROCESSING';
      return next;
    case 'AttemptSucceeded':
      assert(event.amount_minor === state.amount_minor, 'evolve: a success must pay the payment amount');
      next.attempts = withAttempt(state, event.attempt_id, { state: 'succeeded', channel_trade_no: event.channel_trade_no });
      next.status = 'SUCCEEDED';
      next.winning_attempt_id = event.attempt_id;
      next.fee_minor = state.attempts.find((a) => a.attempt_id === event.attempt_id)?.fee_minor ?? 0n;
      next.paid_at = event.paid_at;
      next.next_action = undefined;
      next.closing = undefined;
      return next;
    case 'AttemptFailed':
      next.attempts = withAttempt(state, event.attempt_id, { state: 'failed' });
      next.failure = { code: event.code, message: event.message };
      if (event.final === false) return next; // the next attempt follows in the same decision
      next.status = 'FAILED';
      next.next_action = undefined;
      next.closing = undefined;
      return next;
    case 'CloseRequested':
      next.closing = event.reason;
      return next;
    case 'PaymentClosed': {
      const current = currentAttempt(state);
      if (current !== undefined) next.attempts = withAttempt(state, current.attempt_id, { state: 'closed' });
      next.status = 'CLOSED';
      next.closed_reason = event.reason;
      next.closing = undefined;
      next.next_action = undefined;
      return next;
    }
    case 'DuplicatePaymentDetected': {
      assert(!isPaidTransaction(state, event.attempt_id, event.channel_trade_no), 'evolve: the winning transaction is no duplicate');
      next.duplicates = [...state.duplicates, { attempt_id: event.attempt_id, channel_trade_no: event.channel_trade_no, amount_minor: event.amount_minor }];
      // The attempt keeps the transaction it first succeeded with (the payment's, if it won).
      const paid_attempt = findAttempt(state, event.attempt_id);
      if (paid_attempt !== undefined && paid_attempt.state !== 'succeeded') {
        next.attempts = withAttempt(state, event.attempt_id, { state: 'succeeded', channel_trade_no: event.channel_trade_no });
      }
      return next;
    }
  }
}

/** The refunds: `next` is `state` one version on. */
function evolveRefund(state: PaymentState, next: PaymentState, event: RefundEvent): PaymentState {
  switch (event.type) {
    case 'RefundRequested': {
      assert(findRefund(state, event.refund_id) === undefined, `evolve: refund ${event.refund_id} requested twice`);
      if (event.kind === 'merchant') {
        assert(state.status === 'SUCCEEDED' || state.status === 'PARTIALLY_REFUNDED', `evolve: a refund needs a paid payment, not ${state.status}`);
        assert(event.amount_minor > 0n && event.amount_minor <= refundableMinor(state), 'evolve: refunds must stay within the paid amount');
      } else {
        assert(state.duplicates.some((d) => d.attempt_id === event.attempt_id && d.amount_minor === event.amount_minor && (event.channel_trade_no === undefined || d.channel_trade_no === event.channel_trade_no)), 'evolve: a duplicate refund returns a recorded duplicate');
      }
      const refund: Refund = {
        refund_id: event.refund_id,
        merchant_refund_no: event.merchant_refund_no,
        attempt_id: event.attempt_id,
        channel_id: event.channel_id,
        amount_minor: event.amount_minor,
        reason: event.reason,
        notify_url: event.notify_url,
        fingerprint: event.fingerprint,
        kind: event.kind,
        ...(event.channel_trade_no === undefined ? {} : { channel_trade_no: event.channel_trade_no }),
        ...(event.share_returns === undefined ? {} : { share_returns: event.share_returns }),
        state: 'PENDING',
        retries: 0,
        created_at: event.at,
        updated_at: event.at,
      };
      next.refunds = [...state.refunds, refund];
      return next;
    }
    case 'RefundSubmitted':
      next.refunds = withRefund(state, event, { state: 'PROCESSING', channel_refund_no: event.channel_refund_no });
      return next;
    case 'RefundRetryScheduled': {
      const refund = findRefund(state, event.refund_id);
      next.refunds = withRefund(state, event, { state: 'PROCESSING', retries: (refund?.retries ?? 0) + 1, failure: { code: event.code, message: event.message } });
      return next;
    }
    case 'RefundSucceeded': {
      const refund = findRefund(state, event.refund_id);
      // Paid by a payout: only a refund the channel could no longer carry (REQUIRES_MANUAL).
      const paid_out = event.payout === undefined ? {} : { payout_id: event.payout.payout_id };
      const change = { state: 'SUCCEEDED' as const, channel_refund_no: event.channel_refund_no, refunded_at: event.refunded_at, failure: undefined, ...paid_out };
      // Or settled by an operator's re-check of a refund REQUIRES_MANUAL after it reached the channel.
      next.refunds = withRefund(state, event, change, event.payout === undefined && event.rechecked !== true ? undefined : ['REQUIRES_MANUAL']);
      if (refund?.kind === 'merchant') {
        next.refunded_minor = state.refunded_minor + refund.amount_minor;
        next.status = next.refunded_minor === state.amount_minor ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
      }
      return next;
    }
    case 'RefundFailed':
      next.refunds = withRefund(state, event, { state: 'FAILED', failure: { code: event.code, message: event.message } }, event.rechecked === true ? ['REQUIRES_MANUAL'] : undefined);
      return next;
    case 'RefundRechecked': {
      const refund = findRefund(state, event.refund_id);
      assert(refund !== undefined && refund.state === 'REQUIRES_MANUAL', `evolve: RefundRechecked needs a REQUIRES_MANUAL refund`);
      const recheck = { at: event.at, operator: event.operator, reason: event.reason, answer: event.answer };
      next.refunds = state.refunds.map((r) => (r === refund ? { ...r, recheck, updated_at: event.at } : r));
      return next;
    }
    case 'RefundRequiresManual':
      next.refunds = withRefund(state, event, { state: 'REQUIRES_MANUAL', failure: { code: event.code, message: event.message } });
      return next;
  }
}

/** Whether this transaction is the payment's own: the winning attempt's. */
function isPaidTransaction(state: PaymentState, attempt_id: string, channel_trade_no: string): boolean {
  if (attempt_id !== state.winning_attempt_id) return false;
  const paid = findAttempt(state, attempt_id)?.channel_trade_no;
  return paid === undefined || paid === '' || paid === channel_trade_no;
}

/** updated_at moves with every version: the event's time, or 1 ms past the previous one when
 * the event is not later (several decisions in one millisecond, or a writer whose clock is
 * behind the last one's). Readers compare updated_at to order versions. */
function laterInstant(previous: string, at: string): string {
  const previous_ms = Date.parse(previous);
  return Date.parse(at) > previous_ms ? at : new Date(previous_ms + 1).toISOString();
}

export function findRefund(state: PaymentState, refund_id: string): Refund | undefined {
  return state.refunds.find((r) => r.refund_id === refund_id);
}

/** What merchant refunds may still take: the paid amount less every refund that has not
 * failed (pending ones hold their amount until they settle). */
export function refundableMinor(state: PaymentState): bigint {
  let held = 0n;
  for (const refund of state.refunds) if (refund.kind === 'merchant' && refund.state !== 'FAILED') held += refund.amount_minor;
  return state.amount_minor - held;
}

function withRefund(
  state: PaymentState,
  event: { type: keyof typeof refund_allowed_from; refund_id: string; at: string },
  change: Partial<Refund>,
  allowed_from: readonly RefundState[] = refund_allowed_from[event.type],
): Refund[] {
  const refund = findRefund(state, event.refund_id);
  assert(refund !== undefined, `evolve: unknown refund ${event.refund_id}`);
  assert(allowed_from.includes(refund.state), `evolve: ${event.type} cannot apply to a ${refund.state} refund`);
  return state.refunds.map((r) => {
    if (r !== refund) return r;
    const merged: Refund = { ...r, ...change, updated_at: event.at };
    if (change.channel_refund_no === undefined) merged.channel_refund_no = r.channel_refund_no;
    return merged;
  });
}

export function fold(events: readonly PaymentEvent[]): PaymentState | undefined {
  let state: PaymentState | undefined;
  for (const event of events) state = evolve(state, event);
  return state;
}

export function currentAttempt(state: PaymentState): Attempt | undefined {
  return state.attempts[state.attempts.length - 1];
}

export function findAttempt(state: PaymentState, attempt_id: string): Attempt | undefined {
  return state.attempts.find((a) => a.attempt_id === attempt_id);
}

export function isOpen(state: PaymentState): boolean {
  return open_statuses.has(state.status);
}

function withAttempt(state: PaymentState, attempt_id: string, change: Partial<Attempt>): Attempt[] {
  const index = state.attempts.findIndex((a) => a.attempt_id === attempt_id);
  assert(index >= 0, `evolve: unknown attempt ${attempt_id}`);
  return state.attempts.map((a, i) => {
    if (i !== index) return a;
    const merged = { ...a, ...change };
    if (change.channel_trade_no === undefined) merged.channel_trade_no = a.channel_trade_no;
    return merged;
  });
}

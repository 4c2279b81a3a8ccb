// decide(state, command) → events | rejection. Pure: the actor has done the I/O (routing,
// channel call) and hands in its result; decide says what that means for the payment.

import { attempts_per_payment_max } from '../constants';
import { attemptId } from '../ids';
import { currentAttempt, findAttempt, findRefund, isOpen, refundableMinor } from './evolve';
import type { RefundStatus } from '../../channels/channel';
import type { Attempt, Decision, PaymentCommand, PaymentEvent, PaymentState, Rejection } from './types';
import { paid_statuses } from './types';

const none: Decision = { events: [] };

function reject(reason: Rejection['reason'], message: string): Decision {
  return { rejection: { reason, message } };
}

/** A merchant may only act on its own payments. Another merchant's payment is answered as
 * absent (NOT_FOUND): the caller learns nothing about whether it exists. */
export function scopeRejection(state: PaymentState | undefined, merchant_id: string): Rejection | undefined {
  if (state === undefined || state.merchant_id !== merchant_id) return { reason: 'NOT_FOUND', message: 'no such payment' };
  return undefined;
}

export function decide(state: PaymentState | undefined, command: PaymentCommand): Decision {
  // First, for every kind: a merchant's command on a payment it does not own does nothing.
  if (state !== undefined && 'merchant_id' in command && command.merchant_id !== undefined) {
    const rejection = scopeRejection(state, command.merchant_id);
    if (rejection !== undefined) return { rejection };
  }
  switch (command.type) {
    case 'create':
      return decideCreate(state, command);
    case 'close':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideClose(state, command);
    case 'close_result':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideCloseResult(state, command);
    case 'attempt_status':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideAttemptStatus(state, command);
    case 'create_refund':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideCreateRefund(state, command);
    case 'refund_duplicate':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideRefundDuplicate(state, command);
    case 'refund_status':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideRefundStatus(state, command);
    case 'code_rejected':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideCodeRejected(state, command);
    case 'release_hold':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideReleaseHold(state, command);
    case 'refund_paid_out':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideRefundPaidOut(state, command);
    case 'reverse':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideReverse(state, command);
    case 'refund_recheck':
      if (state === undefined) return reject('NOT_FOUND', 'no such payment');
      return decideRefundRecheck(state, command);
  }
}

/** Why a refund cannot be re-checked at its channel; undefined when it can: REQUIRES_MANUAL
 * after it reached the channel (not past the channel's window or count: never sent). */
export function recheckRejection(state: PaymentState, refund_id: string): Rejection | undefined {
  const refund = findRefund(state, refund_id);
  if (refund === undefined) return { reason: 'NOT_FOUND', message: `no refund ${refund_id}` };
  if (refund.state !== 'REQUIRES_MANUAL') return { reason: 'ILLEGAL_STATE', message: `refund ${refund_id} is ${refund.state}: only a REQUIRES_MANUAL refund is re-checked` };
  if (refund_codes_paid_by_payout.has(refund.failure?.code ?? '')) {
    return { reason: 'ILLEGAL_STATE', message: `refund ${refund_id} is REQUIRES_MANUAL (${refund.failure?.code}) before any call to its channel: it is paid by payout (PayRefundByPayout), not re-checked` };
  }
  return undefined;
}

/** What a channel's answer to a re-check says, as the audit records it and the operator reads it. */
function recheckAnswer(status: RefundStatus | undefined): string {
  if (status === undefined) return 'unknown: no answer could be read (see the log)';
  switch (status.kind) {
    case 'succeeded':
      return `succeeded: ${status.channel_refund_no}`;
    case 'pending':
      return 'processing';
    case 'failed':
      return `failed: ${status.code} ${status.message}${status.retryable ? ' (retryable)' : ''}`;
    case 'requires_manual':
      return `requires_manual: ${status.code} ${status.message}`;
    case 'not_found':
      return 'not_found';
  }
}

/** An operator's re-check: always recorded (who, why, the answer); a final answer settles the
 * refund — succeeded (of its amount) SUCCEEDED, a definite refusal or close FAILED. Anything
 * else (in progress, retryable, needing handling, unknown, not found) leaves it REQUIRES_MANUAL. */
function decideRefundRecheck(state: PaymentState, command: Extract<PaymentCommand, { type: 'refund_recheck' }>): Decision {
  const rejection = recheckRejection(state, command.refund_id);
  if (rejection !== undefined) return { rejection };
  const { at, refund_id, status } = command;
  const refund = findRefund(state, refund_id)!;
  const audit: PaymentEvent = { type: 'RefundRechecked', at, refund_id, operator: command.operator, reason: command.reason, answer: recheckAnswer(status) };
  if (status?.kind === 'succeeded') {
    if (status.amount_minor !== refund.amount_minor) {
      return { events: [{ ...audit, answer: `${audit.answer} of ${status.amount_minor} on a refund of ${refund.amount_minor}: left for reconciliation` }] };
    }
    return { events: [audit, { type: 'RefundSucceeded', at, refund_id, channel_refund_no: status.channel_refund_no, refunded_at: status.refunded_at.toISOString(), rechecked: true }] };
  }
  if (status?.kind === 'failed' && !status.retryable) return { events: [audit, { type: 'RefundFailed', at, refund_id, code: status.code, message: status.message, rechecked: true }] };
  return { events: [audit] };
}

/** Reconciliation's reversal of a success the channel never took. Only a SUCCEEDED payment
 * with no refund of the merchant's under way (money it cannot have sent back) is reversed; a
 * repeat of the same reversal (a re-run, a retry after a crash) changes nothing. */
function decideReverse(state: PaymentState, command: Extract<PaymentCommand, { type: 'reverse' }>): Decision {
  if (state.status === 'REVERSED') {
    if (state.reversal?.reference === command.reference) return none;
    return reject('ILLEGAL_STATE', `payment is reversed already (${state.reversal?.reference ?? 'no reference'})`);
  }
  if (state.status !== 'SUCCEEDED') return reject('ILLEGAL_STATE', `payment is ${state.status}: only a SUCCEEDED payment can be reversed`);
  if (state.refunds.some((r) => r.kind === 'merchant' && r.state !== 'FAILED')) return reject('ILLEGAL_STATE', 'payment has a refund of the merchant\'s: it cannot be reversed');
  const attempt_id = state.winning_attempt_id;
  if (attempt_id === undefined) return reject('ILLEGAL_STATE', 'payment has no paid attempt');
  return { events: [{ type: 'PaymentReversed', at: command.at, attempt_id, reason_code: command.reason_code, reference: command.reference }] };
}

/** Refunds a payout may complete: the channel could no longer carry them, so it never will. */
export const refund_codes_paid_by_payout: ReadonlySet<string> = new Set(['REFUND_WINDOW_PASSED', 'REFUND_COUNT_EXCEEDED']);

/** A payout paid a refund the channel could not carry: the refund succeeds, recording it. */
function decideRefundPaidOut(state: PaymentState, command: Extract<PaymentCommand, { type: 'refund_paid_out' }>): Decision {
  const refund = findRefund(state, command.refund_id);
  if (refund === undefined) return reject('NOT_FOUND', `no refund ${command.refund_id}`);
  if (refund.state === 'SUCCEEDED' && refund.payout_id === command.payout_id) return none; // recorded already
  if (refund.state !== 'REQUIRES_MANUAL' || !refund_codes_paid_by_payout.has(refund.failure?.code ?? '')) {
    return reject('ILLEGAL_STATE', `refund ${refund.refund_id} is ${refund.state}${refund.failure === undefined ? '' : ` (${refund.failure.code})`}: only a refund past the channel's window or count is paid by payout`);
  }
  return {
    events: [{
      type: 'RefundSucceeded', at: command.at, refund_id: refund.refund_id, channel_refund_no: command.channel_payout_no, refunded_at: command.paid_at,
      payout: { payout_id: command.payout_id, channel_id: command.channel_id },
    }],
  };
}

/** An operator's release of a held payment: it goes to the channel routing chose. */
function decideReleaseHold(state: PaymentState, command: Extract<PaymentCommand, { type: 'release_hold' }>): Decision {
  if (state.held === undefined || !isOpen(state) || state.closing !== undefined) return reject('ILLEGAL_STATE', `payment is ${state.status}${state.closing === undefined ? '' : ', closing'} and not held for review`);
  return {
    events: [
      { type: 'PaymentReleased', at: command.at },
      {
        type: 'ChannelRequested', at: command.at, attempt_no: 1, attempt_id: attemptId(state.payment_id, 1), channel_id: command.channel_id, fee_minor: command.fee_minor,
        ...(command.reservation === undefined ? {} : { reservation: command.reservation }),
      },
    ],
  };
}

/** A wrong step-up code counts against the attempt; the last allowed one fails it. */
function decideCodeRejected(state: PaymentState, command: Extract<PaymentCommand, { type: 'code_rejected' }>): Decision {
  const attempt = currentAttempt(state);
  if (attempt === undefined || attempt.attempt_id !== command.attempt_id || attempt.state !== 'action_required' || !isOpen(state)) return none;
  const wrong_codes = (attempt.wrong_codes ?? 0) + 1;
  if (wrong_codes >= command.wrong_codes_max) {
    return { events: [{ type: 'AttemptFailed', at: command.at, attempt_id: attempt.attempt_id, code: 'WRONG_CODE', message: `${wrong_codes} wrong verification codes` }] };
  }
  return { events: [{ type: 'AttemptCodeRejected', at: command.at, attempt_id: attempt.attempt_id, wrong_codes }] };
}

function decideCreate(state: PaymentState | undefined, command: Extract<PaymentCommand, { type: 'create' }>): Decision {
  if (state !== undefined) {
    if (state.fingerprint === command.fingerprint) return none; // identical replay: current payment
    return reject('IDEMPOTENCY_KEY_REUSED', `merchant_order_no ${state.merchant_order_no} was used with other parameters`);
  }
  const { type: _command, channel_id, fee_minor, reservation, held, ...recorded } = command;
  const created: PaymentEvent = { type: 'PaymentCreated', ...recorded };
  if (held !== undefined) return { events: [created, { type: 'PaymentHeld', at: command.at, rules: [...held.rules], review_expires_at: held.review_expires_at }] };
  const requested: PaymentEvent = {
    type: 'ChannelRequested',
    at: command.at,
    attempt_no: 1,
    attempt_id: attemptId(command.payment_id, 1),
    channel_id,
    ...(fee_minor === undefined ? {} : { fee_minor }),
    ...(reservation === undefined ? {} : { reservation }),
  };
  return { events: [created, requested] };
}

function decideClose(state: PaymentState, command: Extract<PaymentCommand, { type: 'close' }>): Decision {
  if (state.status === 'CLOSED' || state.closing !== undefined) return none; // already closed or closing
  if (isOpen(state)) return { events: [{ type: 'CloseRequested', at: command.at, reason: command.reason }] };
  // An expiry timer that finds a paid or failed payment has nothing left to do.
  if (command.reason !== 'merchant') return none;
  if (paid_statuses.has(state.status)) return reject('ILLEGAL_STATE', `payment is ${state.status}: it cannot be closed`);
  return reject('ILLEGAL_STATE', `payment is ${state.status}: only an unpaid open payment can be closed`);
}

function decideCloseResult(state: PaymentState, command: Extract<PaymentCommand, { type: 'close_result' }>): Decision {
  if (state.closing === undefined || !isOpen(state)) return none; // stale: settled meanwhile
  // 'already_paid' settles through a query of the attempt (the actor's next step).
  if (command.outcome === 'already_paid') return none;
  return { events: [{ type: 'PaymentClosed', at: command.at, reason: state.closing }] };
}

function decideAttemptStatus(state: PaymentState, command: Extract<PaymentCommand, { type: 'attempt_status' }>): Decision {
  const attempt = findAttempt(state, command.attempt_id);
  if (attempt === undefined) return reject('NOT_FOUND', `no attempt ${command.attempt_id} on this payment`);
  // A callback speaks only for the channel it arrived on: another channel's keys (even the
  // same provider's) must not move this attempt.
  if (command.via_channel_id !== undefined && command.via_channel_id !== attempt.channel_id) {
    return reject('NOT_FOUND', `no attempt ${command.attempt_id} on channel ${command.via_channel_id}`);
  }
  const { status, at } = command;
  const is_current = currentAttempt(state)?.attempt_id === attempt.attempt_id;

  if (status.kind === 'succeeded') {
    // A repeated callback or query names a transaction we know; another one is money paid twice.
    if (attempt.state === 'succeeded' && knownTransaction(state, attempt, status.channel_trade_no)) return none;
    if (is_current && isOpen(state)) {
      if (status.amount_minor !== state.amount_minor) {
        // Money we cannot match to this payment: left open for query and reconciliation.
        return reject('ILLEGAL_STATE', `channel reported ${status.amount_minor} paid on a payment of ${state.amount_minor}`);
      }
      return {
        events: [{ type: 'AttemptSucceeded', at, attempt_id: attempt.attempt_id, channel_trade_no: status.channel_trade_no, amount_minor: status.amount_minor, paid_at: status.paid_at.toISOString() }],
      };
    }
    // Paid after close, on an attempt that lost, or a second time on the winning attempt:
    // money the payer must get back.
    return { events: [{ type: 'DuplicatePaymentDetected', at, attempt_id: attempt.attempt_id, channel_trade_no: status.channel_trade_no, amount_minor: status.amount_minor }] };
  }

  // Everything below only moves an open payment through its current attempt.
  if (!is_current || !isOpen(state)) return none;
  switch (status.kind) {
    case 'action_required':
      if (attempt.state !== 'requested') return none; // a re-issued pay answering the same code
      return { events: [{ type: 'AttemptActionRequired', at, attempt_id: attempt.attempt_id, next_action: status.next_action, channel_trade_no: status.channel_trade_no }] };
    case 'pending': {
      // Only our own call learns "accepted, in progress" (the pay call, or the payer's
      // confirmation of a step-up); a query saying so changes nothing.
      const accepted = (command.source === 'pay' && attempt.state === 'requested') || (command.source === 'confirm' && attempt.state === 'action_required');
      if (!accepted) return none;
      return { events: [{ type: 'AttemptPending', at, attempt_id: attempt.attempt_id, channel_trade_no: status.channel_trade_no }] };
    }
    case 'failed': {
      const failover = command.failover;
      if (failover !== undefined && command.source === 'pay' && attempt.state === 'requested' && state.attempts.length < attempts_per_payment_max) {
        const attempt_no = state.attempts.length + 1;
        return {
          events: [
            { type: 'AttemptFailed', at, attempt_id: attempt.attempt_id, code: status.code, message: status.message, final: false },
            {
              type: 'ChannelRequested', at, attempt_no, attempt_id: attemptId(state.payment_id, attempt_no), channel_id: failover.channel_id, fee_minor: failover.fee_minor,
              ...(failover.reservation === undefined ? {} : { reservation: failover.reservation }),
            },
          ],
        };
      }
      return { events: [{ type: 'AttemptFailed', at, attempt_id: attempt.attempt_id, code: status.code, message: status.message }] };
    }
    case 'closed':
      return { events: [{ type: 'PaymentClosed', at, reason: state.closing ?? 'channel' }] };
    case 'not_found':
      // The channel never took the order: a close is then complete; otherwise the actor
      // re-issues the same attempt id, which the channel deduplicates.
      if (state.closing !== undefined) return { events: [{ type: 'PaymentClosed', at, reason: state.closing }] };
      return none;
  }
}

/** Whether a success names a provider transaction already recorded on this attempt (as its
 * payment or as a duplicate). Policy: a success without a transaction number cannot prove a
 * second payment, so it counts as a repeat; reconciliation against the bill catches the rest. */
function knownTransaction(state: PaymentState, attempt: Attempt, channel_trade_no: string): boolean {
  if (channel_trade_no === '' || attempt.channel_trade_no === undefined || attempt.channel_trade_no === '') return true;
  if (attempt.channel_trade_no === channel_trade_no) return true;
  return state.duplicates.some((d) => d.attempt_id === attempt.attempt_id && d.channel_trade_no === channel_trade_no);
}

const day_ms = 86_400_000;

function decideCreateRefund(state: PaymentState, command: Extract<PaymentCommand, { type: 'create_refund' }>): Decision {
  const existing = findRefund(state, command.refund_id);
  if (existing !== undefined) {
    if (existing.fingerprint === command.fingerprint) return none; // identical replay
    return reject('IDEMPOTENCY_KEY_REUSED', `merchant_refund_no ${command.merchant_refund_no} was used with other parameters`);
  }
  if (state.status !== 'SUCCEEDED' && state.status !== 'PARTIALLY_REFUNDED') {
    return reject('ILLEGAL_STATE', `payment is ${state.status}: only a SUCCEEDED or PARTIALLY_REFUNDED payment can be refunded`);
  }
  const refundable = refundableMinor(state);
  if (command.amount_minor > refundable) {
    return reject('REFUND_EXCEEDS_PAID', `refund of ${command.amount_minor} exceeds the ${refundable} still refundable`);
  }
  const winning = state.attempts.find((a) => a.attempt_id === state.winning_attempt_id);
  if (winning === undefined) return reject('ILLEGAL_STATE', 'payment has no paid attempt');
  const requested: PaymentEvent = {
    type: 'RefundRequested',
    at: command.at,
    refund_id: command.refund_id,
    merchant_refund_no: command.merchant_refund_no,
    attempt_id: winning.attempt_id,
    channel_id: winning.channel_id,
    amount_minor: command.amount_minor,
    reason: command.reason,
    notify_url: command.notify_url,
    fingerprint: command.fingerprint,
    kind: 'merchant',
    ...(command.share_returns === undefined || command.share_returns.length === 0 ? {} : { share_returns: command.share_returns }),
  };
  // The original route cannot carry it: record it and hand it to a manual payout.
  const paid_ms = Date.parse(state.paid_at ?? state.created_at);
  if (Date.parse(command.at) - paid_ms > command.policy.window_days * day_ms) {
    return { events: [requested, { type: 'RefundRequiresManual', at: command.at, refund_id: command.refund_id, code: 'REFUND_WINDOW_PASSED', message: `the channel refunds within ${command.policy.window_days} days of payment` }] };
  }
  const merchant_refunds = state.refunds.filter((r) => r.kind === 'merchant').length;
  if (merchant_refunds >= command.policy.count_max) {
    return { events: [requested, { type: 'RefundRequiresManual', at: command.at, refund_id: command.refund_id, code: 'REFUND_COUNT_EXCEEDED', message: `the channel takes at most ${command.policy.count_max} refunds of one payment` }] };
  }
  return { events: [requested] };
}

function decideRefundDuplicate(state: PaymentState, command: Extract<PaymentCommand, { type: 'refund_duplicate' }>): Decision {
  if (findRefund(state, command.refund_id) !== undefined) return none;
  const duplicate = state.duplicates.find((d) => d.attempt_id === command.attempt_id && d.channel_trade_no === command.channel_trade_no);
  const attempt = findAttempt(state, command.attempt_id);
  if (duplicate === undefined || attempt === undefined) return reject('NOT_FOUND', `no duplicate payment on attempt ${command.attempt_id}`);
  return {
    events: [{
      type: 'RefundRequested',
      at: command.at,
      refund_id: command.refund_id,
      merchant_refund_no: '',
      attempt_id: attempt.attempt_id,
      channel_id: attempt.channel_id,
      amount_minor: duplicate.amount_minor,
      reason: 'duplicate payment',
      notify_url: '',
      fingerprint: '',
      kind: 'duplicate',
      channel_trade_no: duplicate.channel_trade_no,
    }],
  };
}

function decideRefundStatus(state: PaymentState, command: Extract<PaymentCommand, { type: 'refund_status' }>): Decision {
  const refund = findRefund(state, command.refund_id);
  if (refund === undefined) return reject('NOT_FOUND', `no refund ${command.refund_id} on this payment`);
  if (command.via_channel_id !== undefined && command.via_channel_id !== refund.channel_id) {
    return reject('NOT_FOUND', `no refund ${command.refund_id} on channel ${command.via_channel_id}`);
  }
  if (refund.state !== 'PENDING' && refund.state !== 'PROCESSING') return none; // settled: a late callback or query
  const { status, at, refund_id } = command;
  switch (status.kind) {
    case 'succeeded':
      if (status.amount_minor !== refund.amount_minor) {
        return reject('ILLEGAL_STATE', `channel reported ${status.amount_minor} refunded on a refund of ${refund.amount_minor}`);
      }
      return { events: [{ type: 'RefundSucceeded', at, refund_id, channel_refund_no: status.channel_refund_no, refunded_at: status.refunded_at.toISOString() }] };
    case 'pending':
      if (refund.state === 'PROCESSING') return none;
      return { events: [{ type: 'RefundSubmitted', at, refund_id, channel_refund_no: status.channel_refund_no }] };
    case 'failed':
      if (!status.retryable) return { events: [{ type: 'RefundFailed', at, refund_id, code: status.code, message: status.message }] };
      if (refund.retries + 1 >= command.retries_max) {
        return { events: [{ type: 'RefundRequiresManual', at, refund_id, code: status.code, message: `still failing after ${refund.retries + 1} tries: ${status.message}` }] };
      }
      return { events: [{ type: 'RefundRetryScheduled', at, refund_id, code: status.code, message: status.message }] };
    case 'requires_manual':
      return { events: [{ type: 'RefundRequiresManual', at, refund_id, code: status.code, message: status.message }] };
    case 'not_found':
      return none; // the channel never got it: the actor submits the same refund id again
  }
}

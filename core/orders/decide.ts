// decide(state, command) → events | rejection. Pure: the actor has done the I/O (routing,
// channel call) and hands in its result; decide says what that means for the payment.

import { attemptId } from '../ids';
import { currentAttempt, findAttempt, isOpen } from './evolve';
import type { Decision, PaymentCommand, PaymentEvent, PaymentState, Rejection } from './types';
import { paid_statuses } from './types';

const none: Decision = { events: [] };

function reject(reason: Rejection['reason'], message: string): Decision {
  return { rejection: { reason, message } };
}

export function decide(state: PaymentState | undefined, command: PaymentCommand): Decision {
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
  }
}

function decideCreate(state: PaymentState | undefined, command: Extract<PaymentCommand, { type: 'create' }>): Decision {
  if (state !== undefined) {
    if (state.fingerprint === command.fingerprint) return none; // identical replay: current payment
    return reject('IDEMPOTENCY_KEY_REUSED', `merchant_order_no ${state.merchant_order_no} was used with other parameters`);
  }
  const created: PaymentEvent = {
    type: 'PaymentCreated',
    at: command.at,
    payment_id: command.payment_id,
    merchant_id: command.merchant_id,
    merchant_order_no: command.merchant_order_no,
    amount_minor: command.amount_minor,
    currency: command.currency,
    product: command.product,
    subject: command.subject,
    notify_url: command.notify_url,
    metadata: command.metadata,
    expires_at: command.expires_at,
    fingerprint: command.fingerprint,
    payer_sealed: command.payer_sealed,
    include_channels: command.include_channels,
    exclude_channels: command.exclude_channels,
  };
  const requested: PaymentEvent = {
    type: 'ChannelRequested',
    at: command.at,
    attempt_no: 1,
    attempt_id: attemptId(command.payment_id, 1),
    channel_id: command.channel_id,
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
  const { status, at } = command;
  const is_current = currentAttempt(state)?.attempt_id === attempt.attempt_id;

  if (status.kind === 'succeeded') {
    if (attempt.state === 'succeeded') return none; // duplicate callback or repeated query
    if (is_current && isOpen(state)) {
      if (status.amount_minor !== state.amount_minor) {
        // Money we cannot match to this payment: left open for query and reconciliation.
        return reject('ILLEGAL_STATE', `channel reported ${status.amount_minor} paid on a payment of ${state.amount_minor}`);
      }
      return {
        events: [{ type: 'AttemptSucceeded', at, attempt_id: attempt.attempt_id, channel_trade_no: status.channel_trade_no, amount_minor: status.amount_minor, paid_at: status.paid_at.toISOString() }],
      };
    }
    // Paid after close, or on an attempt that lost: money the payer must get back.
    return { events: [{ type: 'DuplicatePaymentDetected', at, attempt_id: attempt.attempt_id, channel_trade_no: status.channel_trade_no, amount_minor: status.amount_minor }] };
  }

  // Everything below only moves an open payment through its current attempt.
  if (!is_current || !isOpen(state)) return none;
  switch (status.kind) {
    case 'action_required':
      if (attempt.state !== 'requested') return none; // a re-issued pay answering the same code
      return { events: [{ type: 'AttemptActionRequired', at, attempt_id: attempt.attempt_id, next_action: status.next_action, channel_trade_no: status.channel_trade_no }] };
    case 'pending':
      // Only our own call learns "accepted, in progress"; a query saying so changes nothing.
      if (command.source !== 'pay' || attempt.state !== 'requested') return none;
      return { events: [{ type: 'AttemptPending', at, attempt_id: attempt.attempt_id, channel_trade_no: status.channel_trade_no }] };
    case 'failed':
      return { events: [{ type: 'AttemptFailed', at, attempt_id: attempt.attempt_id, code: status.code, message: status.message }] };
    case 'closed':
      return { events: [{ type: 'PaymentClosed', at, reason: state.closing ?? 'channel' }] };
    case 'not_found':
      // The channel never took the order: a close is then complete; otherwise the actor
      // re-issues the same attempt id, which the channel deduplicates.
      if (state.closing !== undefined) return { events: [{ type: 'PaymentClosed', at, reason: state.closing }] };
      return none;
  }
}

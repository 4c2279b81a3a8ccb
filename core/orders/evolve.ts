// evolve(state, event) → state: the only way a payment's state changes. Pure: no I/O, no
// clock. Each event names the statuses it may be applied in; anything else is a bug in
// decide() or a corrupt stream, and fails loudly.

import { assert } from '../errors';
import { open_statuses, type Attempt, type PaymentEvent, type PaymentState, type PaymentStatus } from './types';

/** Where each event may be applied ('none' = to no state: the creation). */
export const event_allowed_from: Record<PaymentEvent['type'], readonly (PaymentStatus | 'none')[]> = {
  PaymentCreated: ['none'],
  ChannelRequested: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  AttemptActionRequired: ['CREATED'],
  AttemptPending: ['CREATED', 'REQUIRES_ACTION'],
  AttemptSucceeded: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  AttemptFailed: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  CloseRequested: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  PaymentClosed: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  DuplicatePaymentDetected: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CLOSED', 'PARTIALLY_REFUNDED', 'REFUNDED'],
};

export function canApply(state: PaymentState | undefined, type: PaymentEvent['type']): boolean {
  return event_allowed_from[type].includes(state === undefined ? 'none' : state.status);
}

export function evolve(state: PaymentState | undefined, event: PaymentEvent): PaymentState {
  assert(canApply(state, event.type), `evolve: ${event.type} cannot apply in ${state?.status ?? 'no state'}`);
  if (event.type === 'PaymentCreated') {
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
      refunded_minor: 0n,
      fee_minor: 0n,
      version: 1,
      created_at: event.at,
      updated_at: event.at,
      expires_at: event.expires_at,
    };
  }
  assert(state !== undefined, 'evolve: unreachable');
  const next: PaymentState = { ...state, version: state.version + 1, updated_at: event.at };
  switch (event.type) {
    case 'ChannelRequested': {
      const attempt: Attempt = {
        attempt_id: event.attempt_id,
        attempt_no: event.attempt_no,
        channel_id: event.channel_id,
        state: 'requested',
      };
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
    case 'AttemptPending':
      next.attempts = withAttempt(state, event.attempt_id, { state: 'pending', channel_trade_no: event.channel_trade_no });
      next.status = 'PROCESSING';
      return next;
    case 'AttemptSucceeded':
      assert(event.amount_minor === state.amount_minor, 'evolve: a success must pay the payment amount');
      next.attempts = withAttempt(state, event.attempt_id, { state: 'succeeded', channel_trade_no: event.channel_trade_no });
      next.status = 'SUCCEEDED';
      next.winning_attempt_id = event.attempt_id;
      next.paid_at = event.paid_at;
      next.next_action = undefined;
      next.closing = undefined;
      return next;
    case 'AttemptFailed':
      next.attempts = withAttempt(state, event.attempt_id, { state: 'failed' });
      next.status = 'FAILED';
      next.failure = { code: event.code, message: event.message };
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
    case 'DuplicatePaymentDetected':
      assert(event.attempt_id !== state.winning_attempt_id, 'evolve: the winning attempt is no duplicate');
      next.duplicates = [...state.duplicates, { attempt_id: event.attempt_id, channel_trade_no: event.channel_trade_no, amount_minor: event.amount_minor }];
      if (state.attempts.some((a) => a.attempt_id === event.attempt_id)) {
        next.attempts = withAttempt(state, event.attempt_id, { state: 'succeeded', channel_trade_no: event.channel_trade_no });
      }
      return next;
  }
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

// Payout decisions (pure): the events a command causes in a state, or why it is refused. The
// order every payout follows (README.md): created → funds frozen → submitted (write-ahead) →
// the provider's answer; a query settles what an ambiguous answer left open; a return after
// success reverses it.

import type { PayoutCommand, PayoutDecision, PayoutEvent, PayoutInput, PayoutState } from './types';

const none: PayoutDecision = { events: [] };
const emit = (...events: PayoutEvent[]): PayoutDecision => ({ events });

export function decidePayout(state: PayoutState | undefined, command: PayoutCommand): PayoutDecision {
  if (command.type === 'create') {
    if (state === undefined) return emit({ type: 'PayoutCreated', payout_id: command.payout_id, at: command.at, ...command.input });
    // A retry with the same key finds its payout; the same key for another payout is refused.
    if (!sameInput(state, command.input)) {
      return { rejection: { reason: 'IDEMPOTENCY_KEY_REUSED', message: `merchant_payout_no ${command.input.merchant_payout_no} names another payout (${state.payout_id})` } };
    }
    return none;
  }
  if (state === undefined) return { rejection: { reason: 'NOT_FOUND', message: 'no such payout' } };
  switch (command.type) {
    case 'freeze_result':
      if (state.status !== 'PENDING' || state.frozen) return none;
      return command.frozen
        ? emit({ type: 'PayoutFundsFrozen', at: command.at })
        : emit({ type: 'PayoutFailed', code: command.code ?? 'INSUFFICIENT_BALANCE', message: command.message ?? 'the available balance cannot cover the payout', at: command.at });
    case 'submit':
      if (state.status === 'PENDING' && state.frozen) return emit({ type: 'PayoutSubmitted', at: command.at });
      if (state.status === 'PENDING') return { rejection: { reason: 'ILLEGAL_STATE', message: `payout ${state.payout_id}: funds not frozen yet` } };
      return none;
    case 'refused':
      return state.status === 'PROCESSING' ? emit({ type: 'PayoutFailed', code: command.code, message: command.message, at: command.at }) : none;
    case 'provider':
      return fromProvider(state, command);
    case 'resolve':
      return resolve(state, command);
  }
}

/** Only a REQUIRES_MANUAL payout is resolved by an operator; the same resolution again is a no-op. */
function resolve(state: PayoutState, command: Extract<PayoutCommand, { type: 'resolve' }>): PayoutDecision {
  const { type: _type, ...resolution } = command;
  if (state.status !== 'REQUIRES_MANUAL') {
    const done = state.resolution;
    if (done !== undefined && done.outcome === command.outcome && (command.outcome === 'failed' || state.channel_payout_no === command.channel_payout_no)) return none;
    return { rejection: { reason: 'ILLEGAL_STATE', message: `payout ${state.payout_id} is ${state.status}: only a REQUIRES_MANUAL payout is resolved by an operator` } };
  }
  return emit({ type: 'PayoutResolved', ...resolution });
}

function fromProvider(state: PayoutState, command: Extract<PayoutCommand, { type: 'provider' }>): PayoutDecision {
  const status = command.status;
  if (state.status === 'SUCCEEDED') {
    // The only news after success is a return.
    return status.kind === 'returned' ? emit({ type: 'PayoutReturned', code: status.code, at: command.at }) : none;
  }
  if (state.status !== 'PROCESSING') return none;
  switch (status.kind) {
    case 'succeeded':
      return emit({ type: 'PayoutSucceeded', channel_payout_no: status.channel_payout_no, paid_at: status.paid_at, at: command.at });
    case 'returned':
      // Paid and returned before we heard of either: both, in order.
      return emit(
        { type: 'PayoutSucceeded', channel_payout_no: status.channel_payout_no, paid_at: command.at, at: command.at },
        { type: 'PayoutReturned', code: status.code, at: command.at },
      );
    case 'failed':
      return emit({ type: 'PayoutFailed', code: status.code, message: status.message, at: command.at });
    case 'processing':
    case 'not_found':
      // Still open: the next query decides, unless this was the last one.
      return command.exhausted ? emit({ type: 'PayoutRequiresManual', message: `the provider's answer stayed ${status.kind} after every query`, at: command.at }) : none;
  }
}

function sameInput(state: PayoutState, input: PayoutInput): boolean {
  // The sealed payee differs on every seal (random nonce): the last four digits and the bank
  // stand for it.
  return state.merchant_id === input.merchant_id && state.amount_minor === input.amount_minor && state.currency === input.currency
    && state.bank_code === input.bank_code && state.payee_last4 === input.payee_last4 && state.purpose === input.purpose
    && state.channel_id === input.channel_id && state.refund?.refund_id === input.refund?.refund_id && state.member_id === input.member_id;
}

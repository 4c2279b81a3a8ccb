// Split decisions and the state after each event (pure). created → the books post the shares
// (SUCCEEDED) or refuse them (FAILED); nothing changes a finished split.

import { assert } from '../errors';
import type { SplitCommand, SplitDecision, SplitEvent, SplitInput, SplitState } from './types';

const none: SplitDecision = { events: [] };

export function decideSplit(state: SplitState | undefined, command: SplitCommand): SplitDecision {
  if (command.type === 'create') {
    if (state === undefined) return { events: [{ type: 'SplitCreated', split_id: command.split_id, at: command.at, ...command.input }] };
    if (!sameInput(state, command.input)) {
      return { rejection: { reason: 'IDEMPOTENCY_KEY_REUSED', message: `merchant_split_no ${command.input.merchant_split_no} names another split (${state.split_id})` } };
    }
    return none;
  }
  if (state === undefined) return { rejection: { reason: 'NOT_FOUND', message: 'no such split' } };
  if (command.type === 'return' || command.type === 'return_settled' || command.type === 'return_stalled' || command.type === 'return_resolved') return decideReturn(state, command);
  const at_channel = state.status === 'PROCESSING' || state.status === 'REQUIRES_MANUAL';
  if (state.status !== 'PENDING' && !at_channel) return none;
  if (command.type === 'stalled') return state.status === 'PROCESSING' ? { events: [{ type: 'SplitStalled', queries: command.queries, at: command.at }] } : none;
  if (command.type === 'allocated') {
    if (state.status !== 'PENDING') return none;
    // A channel split: the shares are held in flight; the provider is asked after this event.
    return { events: [state.channel === undefined ? { type: 'SplitSucceeded', at: command.at } : { type: 'SplitSubmitted', at: command.at }] };
  }
  if (command.type === 'shared') {
    if (!at_channel) return none;
    if (command.received.length > 0 && !command.received.some((r) => r)) return { events: [{ type: 'SplitFailed', code: 'CHANNEL_CLOSED', message: 'the provider closed every share of the split', at: command.at }] };
    return { events: [{ type: 'SplitSucceeded', at: command.at, channel_split_no: command.channel_split_no, ...(command.received.every((r) => r) ? {} : { received: command.received }) }] };
  }
  return { events: [{ type: 'SplitFailed', code: command.code, message: command.message, at: command.at }] };
}

function decideReturn(state: SplitState, command: Extract<SplitCommand, { type: 'return' | 'return_settled' | 'return_stalled' | 'return_resolved' }>): SplitDecision {
  const existing = state.returns.find((r) => r.return_no === command.return_no);
  if (command.type === 'return_resolved') {
    if (existing === undefined) return { rejection: { reason: 'NOT_FOUND', message: `split ${state.split_id} has no return ${command.return_no}` } };
    if (existing.status === 'REQUIRES_MANUAL') {
      const { type: _type, ...rest } = command;
      return { events: [{ type: 'SplitReturnResolved', ...rest }] };
    }
    // The same resolution again: nothing more.
    if (existing.resolved !== undefined && (existing.status === 'SUCCEEDED') === command.returned) return none;
    return { rejection: { reason: 'ILLEGAL_STATE', message: `return ${command.return_no} is ${existing.status}${existing.resolved === undefined ? '' : ' (resolved otherwise)'}: only a REQUIRES_MANUAL return is resolved` } };
  }
  if (command.type === 'return') {
    if (existing !== undefined) return none;
    if (state.status !== 'SUCCEEDED' || state.channel === undefined) return { rejection: { reason: 'ILLEGAL_STATE', message: `split ${state.split_id} is ${state.status}: nothing to return at the channel` } };
    const { type: _type, ...rest } = command;
    return { events: [{ type: 'SplitReturnRequested', ...rest }] };
  }
  if (command.type === 'return_stalled') {
    return existing?.status === 'PROCESSING' ? { events: [{ type: 'SplitReturnStalled', return_no: command.return_no, at: command.at }] } : none;
  }
  if (existing === undefined || (existing.status !== 'PROCESSING' && existing.status !== 'REQUIRES_MANUAL')) return none;
  const { type: _type, ...rest } = command;
  return { events: [{ type: 'SplitReturnSettled', ...rest }] };
}

export function evolveSplit(state: SplitState | undefined, event: SplitEvent): SplitState {
  if (event.type === 'SplitCreated') {
    assert(state === undefined, 'split: created twice');
    const { type: _type, at, ...rest } = event;
    const amount_minor = rest.receivers.reduce((sum, r) => sum + r.amount_minor, 0n);
    return { ...rest, amount_minor, status: 'PENDING', returns: [], version: 1, created_at: at, updated_at: at };
  }
  assert(state !== undefined, `split: ${event.type} before SplitCreated`);
  const next: SplitState = { ...state, returns: state.returns ?? [], version: state.version + 1, updated_at: event.at };
  switch (event.type) {
    case 'SplitSubmitted': return { ...next, status: 'PROCESSING' };
    case 'SplitStalled': return { ...next, status: 'REQUIRES_MANUAL' };
    case 'SplitSucceeded': {
      const { channel_split_no, received } = event;
      return { ...next, status: 'SUCCEEDED', finished_at: event.at, ...(channel_split_no === undefined ? {} : { channel_split_no }), ...(received === undefined ? {} : { received }) };
    }
    case 'SplitFailed': return { ...next, status: 'FAILED', finished_at: event.at, failure: { code: event.code, message: event.message } };
    case 'SplitReturnRequested': {
      const { return_no, refund_id, line_no, amount_minor } = event;
      return { ...next, returns: [...next.returns, { return_no, refund_id, line_no, amount_minor, status: 'PROCESSING', requested_at: event.at }] };
    }
    case 'SplitReturnStalled':
      return { ...next, returns: next.returns.map((r) => (r.return_no === event.return_no ? { ...r, status: 'REQUIRES_MANUAL' } : r)) };
    case 'SplitReturnResolved': {
      const resolved = { actor: event.actor, reason: event.reason };
      return {
        ...next,
        returns: next.returns.map((r) => (r.return_no !== event.return_no ? r : event.returned ? { ...r, status: 'SUCCEEDED', resolved }
          : { ...r, status: 'FAILED', resolved, failure: { code: 'RESOLVED_NOT_RETURNED', message: event.reason } })),
      };
    }
    case 'SplitReturnSettled':
      return {
        ...next,
        returns: next.returns.map((r) => (r.return_no !== event.return_no ? r : event.succeeded ? { ...r, status: 'SUCCEEDED' }
          : { ...r, status: 'FAILED', failure: { code: event.code ?? 'FAILED', message: event.message ?? '' } })),
      };
  }
}

function sameInput(state: SplitState, input: SplitInput): boolean {
  return state.merchant_id === input.merchant_id && state.payment_id === input.payment_id && state.currency === input.currency
    && state.description === input.description && (state.finish === true) === (input.finish === true) && state.receivers.length === input.receivers.length
    && state.receivers.every((r, i) => r.receiver_id === input.receivers[i]!.receiver_id && r.amount_minor === input.receivers[i]!.amount_minor
      && (r.member === true) === (input.receivers[i]!.member === true));
}

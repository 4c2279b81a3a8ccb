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
  if (state.status !== 'PENDING') return none;
  return command.type === 'allocated'
    ? { events: [{ type: 'SplitSucceeded', at: command.at }] }
    : { events: [{ type: 'SplitFailed', code: command.code, message: command.message, at: command.at }] };
}

export function evolveSplit(state: SplitState | undefined, event: SplitEvent): SplitState {
  if (event.type === 'SplitCreated') {
    assert(state === undefined, 'split: created twice');
    const { type: _type, at, ...rest } = event;
    const amount_minor = rest.receivers.reduce((sum, r) => sum + r.amount_minor, 0n);
    return { ...rest, amount_minor, status: 'PENDING', version: 1, created_at: at, updated_at: at };
  }
  assert(state !== undefined, `split: ${event.type} before SplitCreated`);
  const next = { ...state, version: state.version + 1, updated_at: event.at, finished_at: event.at };
  return event.type === 'SplitSucceeded' ? { ...next, status: 'SUCCEEDED' } : { ...next, status: 'FAILED', failure: { code: event.code, message: event.message } };
}

function sameInput(state: SplitState, input: SplitInput): boolean {
  return state.merchant_id === input.merchant_id && state.payment_id === input.payment_id && state.currency === input.currency
    && state.description === input.description && state.receivers.length === input.receivers.length
    && state.receivers.every((r, i) => r.receiver_id === input.receivers[i]!.receiver_id && r.amount_minor === input.receivers[i]!.amount_minor);
}

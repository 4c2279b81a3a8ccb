// The payout's state after one event (pure). Every state a payout has is reached only here.

import { assert } from '../errors';
import type { PayoutEvent, PayoutState } from './types';

export function evolvePayout(state: PayoutState | undefined, event: PayoutEvent): PayoutState {
  if (event.type === 'PayoutCreated') {
    assert(state === undefined, 'payout: created twice');
    const { type: _type, at, ...rest } = event;
    return { ...rest, status: 'PENDING', frozen: false, version: 1, created_at: at, updated_at: at };
  }
  assert(state !== undefined, `payout: ${event.type} before PayoutCreated`);
  const next = { ...state, version: state.version + 1, updated_at: event.at };
  switch (event.type) {
    case 'PayoutFundsFrozen':
      return { ...next, frozen: true };
    case 'PayoutSubmitted':
      return { ...next, status: 'PROCESSING', submitted_at: state.submitted_at ?? event.at };
    case 'PayoutSucceeded':
      return { ...next, status: 'SUCCEEDED', channel_payout_no: event.channel_payout_no, paid_at: event.paid_at };
    case 'PayoutFailed':
      return { ...next, status: 'FAILED', failure: { code: event.code, message: event.message } };
    case 'PayoutRequiresManual':
      return { ...next, status: 'REQUIRES_MANUAL', failure: { code: 'OUTCOME_UNKNOWN', message: event.message } };
    case 'PayoutResolved': {
      const resolution = { outcome: event.outcome, reason: event.reason, actor: event.actor, at: event.at };
      if (event.outcome === 'succeeded') {
        const { failure: _failure, ...paid } = next;
        return { ...paid, status: 'SUCCEEDED', channel_payout_no: event.channel_payout_no, paid_at: event.at, resolution };
      }
      return { ...next, status: 'FAILED', failure: { code: 'RESOLVED_FAILED', message: event.reason }, resolution };
    }
    case 'PayoutReturned':
      return { ...next, status: 'RETURNED', failure: { code: event.code, message: 'returned by the receiving bank after it was paid' } };
  }
}

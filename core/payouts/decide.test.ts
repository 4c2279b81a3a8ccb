// The payout state machine as tables: each row a history, a command, and what must follow.

import { decidePayout } from './decide';
import { evolvePayout } from './evolve';
import type { PayoutCommand, PayoutEvent, PayoutInput, PayoutState, PayoutStatus, ProviderPayoutStatus } from './types';

const at = '2026-12-01T02:00:00.000Z';
const input: PayoutInput = { merchant_id: 'm1', merchant_payout_no: 'po-1', amount_minor: 5_000n, currency: 'CNY', channel_id: 'bank-1', bank_code: 'ICBC', payee_sealed: 'k1.x', payee_last4: '1234', purpose: 'settlement' };

function replay(events: PayoutEvent[]): PayoutState | undefined {
  return events.reduce<PayoutState | undefined>((state, event) => evolvePayout(state, event), undefined);
}

const created: PayoutEvent = { type: 'PayoutCreated', payout_id: 'o1', at, ...input };
const frozen: PayoutEvent = { type: 'PayoutFundsFrozen', at };
const submitted: PayoutEvent = { type: 'PayoutSubmitted', at };
const succeeded: PayoutEvent = { type: 'PayoutSucceeded', channel_payout_no: 'BP1', paid_at: at, at };
const failed: PayoutEvent = { type: 'PayoutFailed', code: 'ACCOUNT_FROZEN', message: 'frozen', at };

const provider = (status: ProviderPayoutStatus, exhausted = false): PayoutCommand => ({ type: 'provider', status, exhausted, at });
const ok: ProviderPayoutStatus = { kind: 'succeeded', channel_payout_no: 'BP1', paid_at: at };
const bad: ProviderPayoutStatus = { kind: 'failed', code: 'ACCOUNT_FROZEN', message: 'frozen' };
const back: ProviderPayoutStatus = { kind: 'returned', code: 'ACCOUNT_CLOSED', channel_payout_no: 'BP1' };

type Row = [name: string, history: PayoutEvent[], command: PayoutCommand, events: PayoutEvent['type'][], status: PayoutStatus | undefined];

const rows: Row[] = [
  ['create a new payout', [], { type: 'create', payout_id: 'o1', input, at }, ['PayoutCreated'], 'PENDING'],
  ['a retry of the create changes nothing', [created], { type: 'create', payout_id: 'o1', input, at }, [], 'PENDING'],
  ['the books froze the funds', [created], { type: 'freeze_result', frozen: true, at }, ['PayoutFundsFrozen'], 'PENDING'],
  ['the books refused: failed, nothing frozen', [created], { type: 'freeze_result', frozen: false, message: 'short', at }, ['PayoutFailed'], 'FAILED'],
  ['a second freeze result changes nothing', [created, frozen], { type: 'freeze_result', frozen: true, at }, [], 'PENDING'],
  ['the write-ahead after the freeze', [created, frozen], { type: 'submit', at }, ['PayoutSubmitted'], 'PROCESSING'],
  ['a repeated write-ahead changes nothing', [created, frozen, submitted], { type: 'submit', at }, [], 'PROCESSING'],
  ['the provider paid it', [created, frozen, submitted], provider(ok), ['PayoutSucceeded'], 'SUCCEEDED'],
  ['the provider failed it', [created, frozen, submitted], provider(bad), ['PayoutFailed'], 'FAILED'],
  ['the provider refused the submit', [created, frozen, submitted], { type: 'refused', code: 'PARAM_ERROR', message: 'account', at }, ['PayoutFailed'], 'FAILED'],
  ['still processing: wait for the next query', [created, frozen, submitted], provider({ kind: 'processing' }), [], 'PROCESSING'],
  ['still processing at the last query: manual', [created, frozen, submitted], provider({ kind: 'processing' }, true), ['PayoutRequiresManual'], 'REQUIRES_MANUAL'],
  ['unknown to the provider at the last query: manual', [created, frozen, submitted], provider({ kind: 'not_found' }, true), ['PayoutRequiresManual'], 'REQUIRES_MANUAL'],
  ['returned after success', [created, frozen, submitted, succeeded], provider(back), ['PayoutReturned'], 'RETURNED'],
  ['paid and returned before we heard: both', [created, frozen, submitted], provider(back), ['PayoutSucceeded', 'PayoutReturned'], 'RETURNED'],
  ['success repeated after success changes nothing', [created, frozen, submitted, succeeded], provider(ok), [], 'SUCCEEDED'],
  ['a late failure after success is ignored (only a return reverses it)', [created, frozen, submitted, succeeded], provider(bad), [], 'SUCCEEDED'],
  ['a late success after failure is ignored', [created, frozen, submitted, failed], provider(ok), [], 'FAILED'],
  ['a refusal after success changes nothing', [created, frozen, submitted, succeeded], { type: 'refused', code: 'X', message: 'x', at }, [], 'SUCCEEDED'],
];

describe('decidePayout', () => {
  test.each(rows)('%s', (_name, history, command, types, status) => {
    const before = replay(history);
    const decision = decidePayout(before, command);
    expect('events' in decision).toBe(true);
    if (!('events' in decision)) return;
    expect(decision.events.map((e) => e.type)).toEqual(types);
    const after = decision.events.reduce<PayoutState | undefined>((s, e) => evolvePayout(s, e), before);
    expect(after?.status).toBe(status);
  });

  test('the same merchant_payout_no with another amount is refused', () => {
    const decision = decidePayout(replay([created]), { type: 'create', payout_id: 'o1', input: { ...input, amount_minor: 6_000n }, at });
    expect(decision).toEqual({ rejection: expect.objectContaining({ reason: 'IDEMPOTENCY_KEY_REUSED' }) });
  });

  test('no submit before the funds are frozen', () => {
    expect(decidePayout(replay([created]), { type: 'submit', at })).toEqual({ rejection: expect.objectContaining({ reason: 'ILLEGAL_STATE' }) });
  });

  test('a command for a payout that does not exist is NOT_FOUND', () => {
    expect(decidePayout(undefined, provider(ok))).toEqual({ rejection: expect.objectContaining({ reason: 'NOT_FOUND' }) });
  });
});

describe('evolvePayout', () => {
  test('versions count events; the freeze is remembered; failure keeps its code', () => {
    const state = replay([created, frozen, submitted, failed])!;
    expect(state).toMatchObject({ version: 4, frozen: true, status: 'FAILED', failure: { code: 'ACCOUNT_FROZEN' }, submitted_at: at });
  });

  test('an event before the create is a defect', () => {
    expect(() => evolvePayout(undefined, frozen)).toThrow(/before PayoutCreated/);
  });
});

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
const manual: PayoutEvent = { type: 'PayoutRequiresManual', message: 'unknown', at };
const paid_by_hand: PayoutCommand = { type: 'resolve', outcome: 'succeeded', channel_payout_no: 'BANK-77', reason: 'bank statement line 12', actor: 'app:ops', at };
const not_paid: PayoutCommand = { type: 'resolve', outcome: 'failed', reason: 'the bank confirmed it never paid', actor: 'app:ops', at };
const resolved_paid: PayoutEvent = { type: 'PayoutResolved', outcome: 'succeeded', channel_payout_no: 'BANK-77', reason: 'r', actor: 'app:ops', at };

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
  ['an operator resolves a manual payout as paid', [created, frozen, submitted, manual], paid_by_hand, ['PayoutResolved'], 'SUCCEEDED'],
  ['an operator resolves a manual payout as not paid', [created, frozen, submitted, manual], not_paid, ['PayoutResolved'], 'FAILED'],
  ['the same resolution again changes nothing', [created, frozen, submitted, manual, resolved_paid], paid_by_hand, [], 'SUCCEEDED'],
  ['a return after a manual success reverses it', [created, frozen, submitted, manual, resolved_paid], provider(back), ['PayoutReturned'], 'RETURNED'],
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

  test('only a REQUIRES_MANUAL payout is resolved; another resolution of a resolved one is refused', () => {
    for (const history of [[created], [created, frozen, submitted], [created, frozen, submitted, succeeded], [created, frozen, submitted, failed]]) {
      expect(decidePayout(replay(history), not_paid)).toEqual({ rejection: expect.objectContaining({ reason: 'ILLEGAL_STATE' }) });
    }
    expect(decidePayout(replay([created, frozen, submitted, manual, resolved_paid]), not_paid)).toEqual({ rejection: expect.objectContaining({ reason: 'ILLEGAL_STATE' }) });
    expect(decidePayout(replay([created, frozen, submitted, manual, resolved_paid]), { ...paid_by_hand, channel_payout_no: 'OTHER' })).toEqual({ rejection: expect.objectContaining({ reason: 'ILLEGAL_STATE' }) });
  });

  test('a resolution records who, why and the bank reference; failed ones say RESOLVED_FAILED', () => {
    const paid = replay([created, frozen, submitted, manual, resolved_paid])!;
    expect(paid).toMatchObject({ status: 'SUCCEEDED', channel_payout_no: 'BANK-77', paid_at: at, resolution: { outcome: 'succeeded', actor: 'app:ops', reason: 'r' } });
    expect(paid.failure).toBeUndefined();
    const decision = decidePayout(replay([created, frozen, submitted, manual]), not_paid);
    const after = 'events' in decision ? decision.events.reduce<PayoutState | undefined>((s, e) => evolvePayout(s, e), replay([created, frozen, submitted, manual])) : undefined;
    expect(after).toMatchObject({ status: 'FAILED', failure: { code: 'RESOLVED_FAILED', message: 'the bank confirmed it never paid' }, resolution: { outcome: 'failed', actor: 'app:ops' } });
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

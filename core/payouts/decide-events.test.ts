// What the payout events carry and what the state keeps of them (decide.test.ts checks which
// events follow; this checks their content), which repeat of a create is a retry, and the
// commands that change nothing in a state they do not apply to. Every command has its own
// time so that a field taken from the wrong one shows.

import { decidePayout } from './decide';
import { evolvePayout } from './evolve';
import type { PayoutCommand, PayoutDecision, PayoutEvent, PayoutInput, PayoutState } from './types';

const t0 = '2026-12-01T02:00:00.000Z';
const t1 = '2026-12-01T02:00:01.000Z';
const t2 = '2026-12-01T02:00:02.000Z';
const t3 = '2026-12-01T02:00:03.000Z';
const t4 = '2026-12-01T02:00:04.000Z';
const input: PayoutInput = { merchant_id: 'm1', merchant_payout_no: 'po-1', amount_minor: 5_000n, currency: 'CNY', channel_id: 'bank-1', bank_code: 'ICBC', payee_sealed: 'k1.x', payee_last4: '1234', purpose: 'settlement' };

const created: PayoutEvent = { type: 'PayoutCreated', payout_id: 'o1', at: t0, ...input };
const frozen: PayoutEvent = { type: 'PayoutFundsFrozen', at: t1 };
const submitted: PayoutEvent = { type: 'PayoutSubmitted', at: t2 };
const succeeded: PayoutEvent = { type: 'PayoutSucceeded', channel_payout_no: 'BP1', paid_at: t3, at: t3 };

function replay(events: PayoutEvent[]): PayoutState | undefined {
  return events.reduce<PayoutState | undefined>((state, event) => evolvePayout(state, event), undefined);
}

function events(decision: PayoutDecision): PayoutEvent[] {
  if (!('events' in decision)) throw new Error(`refused: ${decision.rejection.reason}`);
  return decision.events;
}

const provider = (status: Extract<PayoutCommand, { type: 'provider' }>['status'], exhausted = false): PayoutCommand => ({ type: 'provider', status, exhausted, at: t4 });

describe('payout events carry what the command said', () => {
  test('create: the payout id, the time and the whole input', () => {
    expect(events(decidePayout(undefined, { type: 'create', payout_id: 'o9', input, at: t0 }))).toEqual([{ type: 'PayoutCreated', payout_id: 'o9', at: t0, ...input }]);
  });

  test('the books refused the freeze: failed INSUFFICIENT_BALANCE with their message, or a default naming the balance', () => {
    expect(events(decidePayout(replay([created]), { type: 'freeze_result', frozen: false, message: 'short by 1.00', at: t1 }))).toEqual([
      { type: 'PayoutFailed', code: 'INSUFFICIENT_BALANCE', message: 'short by 1.00', at: t1 },
    ]);
    expect(events(decidePayout(replay([created]), { type: 'freeze_result', frozen: false, at: t1 }))).toEqual([
      { type: 'PayoutFailed', code: 'INSUFFICIENT_BALANCE', message: 'the available balance cannot cover the payout', at: t1 },
    ]);
    // A member's withdrawal past its daily limit: the books' code.
    expect(events(decidePayout(replay([created]), { type: 'freeze_result', frozen: false, code: 'DAILY_LIMIT_EXCEEDED', message: 'over', at: t1 }))).toEqual([
      { type: 'PayoutFailed', code: 'DAILY_LIMIT_EXCEEDED', message: 'over', at: t1 },
    ]);
  });

  test('the same key for a withdrawal of another member is another payout', () => {
    const mine = replay([{ type: 'PayoutCreated', payout_id: 'o9', at: t0, ...input, member_id: 'u1' }]);
    expect(decidePayout(mine, { type: 'create', payout_id: 'o9', input: { ...input, member_id: 'u1' }, at: t1 })).toEqual({ events: [] });
    expect(decidePayout(mine, { type: 'create', payout_id: 'o9', input: { ...input, member_id: 'u2' }, at: t1 })).toMatchObject({ rejection: { reason: 'IDEMPOTENCY_KEY_REUSED' } });
    expect(decidePayout(mine, { type: 'create', payout_id: 'o9', input, at: t1 })).toMatchObject({ rejection: { reason: 'IDEMPOTENCY_KEY_REUSED' } });
  });

  test('freeze and write-ahead at the command time', () => {
    expect(events(decidePayout(replay([created]), { type: 'freeze_result', frozen: true, at: t1 }))).toEqual([{ type: 'PayoutFundsFrozen', at: t1 }]);
    expect(events(decidePayout(replay([created, frozen]), { type: 'submit', at: t2 }))).toEqual([{ type: 'PayoutSubmitted', at: t2 }]);
  });

  test('a refused submit fails with the provider code and message', () => {
    expect(events(decidePayout(replay([created, frozen, submitted]), { type: 'refused', code: 'PARAM_ERROR', message: 'account', at: t4 }))).toEqual([
      { type: 'PayoutFailed', code: 'PARAM_ERROR', message: 'account', at: t4 },
    ]);
  });

  test('the provider answers: paid (its number and paid time), failed (its code and message), returned after success', () => {
    const processing = replay([created, frozen, submitted]);
    expect(events(decidePayout(processing, provider({ kind: 'succeeded', channel_payout_no: 'BP7', paid_at: t3 })))).toEqual([
      { type: 'PayoutSucceeded', channel_payout_no: 'BP7', paid_at: t3, at: t4 },
    ]);
    expect(events(decidePayout(processing, provider({ kind: 'failed', code: 'ACCOUNT_FROZEN', message: 'frozen' })))).toEqual([
      { type: 'PayoutFailed', code: 'ACCOUNT_FROZEN', message: 'frozen', at: t4 },
    ]);
    expect(events(decidePayout(replay([created, frozen, submitted, succeeded]), provider({ kind: 'returned', code: 'ACCOUNT_CLOSED', channel_payout_no: 'BP1' })))).toEqual([
      { type: 'PayoutReturned', code: 'ACCOUNT_CLOSED', at: t4 },
    ]);
  });

  test('paid and returned before we heard: a success under the returned number, paid when we heard, then the return', () => {
    expect(events(decidePayout(replay([created, frozen, submitted]), provider({ kind: 'returned', code: 'ACCOUNT_CLOSED', channel_payout_no: 'BP8' })))).toEqual([
      { type: 'PayoutSucceeded', channel_payout_no: 'BP8', paid_at: t4, at: t4 },
      { type: 'PayoutReturned', code: 'ACCOUNT_CLOSED', at: t4 },
    ]);
  });

  test('open after the last query: manual, naming what the provider kept saying', () => {
    const processing = replay([created, frozen, submitted]);
    expect(events(decidePayout(processing, provider({ kind: 'processing' }, true)))).toEqual([
      { type: 'PayoutRequiresManual', message: "the provider's answer stayed processing after every query", at: t4 },
    ]);
    expect(events(decidePayout(processing, provider({ kind: 'not_found' }, true)))).toEqual([
      { type: 'PayoutRequiresManual', message: "the provider's answer stayed not_found after every query", at: t4 },
    ]);
    expect(events(decidePayout(processing, provider({ kind: 'not_found' })))).toEqual([]);
  });
});

describe('a repeated create', () => {
  const differing: [field: keyof PayoutInput, value: string | bigint][] = [
    ['merchant_id', 'm2'],
    ['amount_minor', 5_001n],
    ['currency', 'USD'],
    ['bank_code', 'ABC'],
    ['payee_last4', '9999'],
    ['purpose', 'refund'],
    ['channel_id', 'bank-2'],
  ];
  test.each(differing)('with another %s is refused IDEMPOTENCY_KEY_REUSED, naming the number and the payout', (field, value) => {
    const decision = decidePayout(replay([created]), { type: 'create', payout_id: 'o1', input: { ...input, [field]: value }, at: t1 });
    expect(decision).toEqual({ rejection: { reason: 'IDEMPOTENCY_KEY_REUSED', message: 'merchant_payout_no po-1 names another payout (o1)' } });
  });

  test('with the payee sealed again (a new nonce, same last four digits and bank) is a retry', () => {
    expect(events(decidePayout(replay([created]), { type: 'create', payout_id: 'o1', input: { ...input, payee_sealed: 'k1.y' }, at: t1 }))).toEqual([]);
  });
});

describe('commands that do not apply change nothing', () => {
  const freeze_refused: PayoutEvent = { type: 'PayoutFailed', code: 'INSUFFICIENT_BALANCE', message: 'short', at: t1 };
  test('a freeze result after the payout failed unfrozen', () => {
    expect(events(decidePayout(replay([created, freeze_refused]), { type: 'freeze_result', frozen: true, at: t2 }))).toEqual([]);
  });
  test('a submit after the payout failed unfrozen (not ILLEGAL_STATE: nothing to wait for)', () => {
    expect(events(decidePayout(replay([created, freeze_refused]), { type: 'submit', at: t2 }))).toEqual([]);
  });
  test('a refusal before the write-ahead', () => {
    expect(events(decidePayout(replay([created, frozen]), { type: 'refused', code: 'X', message: 'x', at: t2 }))).toEqual([]);
  });
  test('a provider answer before the write-ahead, even the last one', () => {
    expect(events(decidePayout(replay([created, frozen]), provider({ kind: 'succeeded', channel_payout_no: 'BP1', paid_at: t3 })))).toEqual([]);
    expect(events(decidePayout(replay([created, frozen]), provider({ kind: 'processing' }, true)))).toEqual([]);
  });
  test('the refusal for an unfrozen submit names the payout', () => {
    expect(decidePayout(replay([created]), { type: 'submit', at: t1 })).toEqual({ rejection: { reason: 'ILLEGAL_STATE', message: 'payout o1: funds not frozen yet' } });
  });
  test('any command but create for no payout is NOT_FOUND', () => {
    expect(decidePayout(undefined, { type: 'submit', at: t1 })).toEqual({ rejection: { reason: 'NOT_FOUND', message: 'no such payout' } });
  });
});

describe('evolvePayout keeps what each event says', () => {
  test('created: pending, not frozen, version 1, created and updated at its time, the input kept', () => {
    expect(replay([created])).toEqual({ payout_id: 'o1', ...input, status: 'PENDING', frozen: false, version: 1, created_at: t0, updated_at: t0 });
  });

  test('each later event: version + 1 and updated at its time; the first write-ahead time is kept', () => {
    const state = replay([created, frozen, submitted, { type: 'PayoutSubmitted', at: t3 }])!;
    expect(state).toMatchObject({ status: 'PROCESSING', frozen: true, version: 4, created_at: t0, updated_at: t3, submitted_at: t2 });
  });

  test('succeeded: the provider number and paid time', () => {
    expect(replay([created, frozen, submitted, { type: 'PayoutSucceeded', channel_payout_no: 'BP9', paid_at: t3, at: t4 }])).toMatchObject({
      status: 'SUCCEEDED', channel_payout_no: 'BP9', paid_at: t3, updated_at: t4,
    });
  });

  test('failed: its code and message', () => {
    expect(replay([created, frozen, submitted, { type: 'PayoutFailed', code: 'C', message: 'm', at: t3 }])!.failure).toEqual({ code: 'C', message: 'm' });
  });

  test('manual: OUTCOME_UNKNOWN with the message', () => {
    const state = replay([created, frozen, submitted, { type: 'PayoutRequiresManual', message: 'stayed open', at: t3 }])!;
    expect({ status: state.status, failure: state.failure }).toEqual({ status: 'REQUIRES_MANUAL', failure: { code: 'OUTCOME_UNKNOWN', message: 'stayed open' } });
  });

  test('returned: its code, the paid details kept', () => {
    const state = replay([created, frozen, submitted, succeeded, { type: 'PayoutReturned', code: 'ACCOUNT_CLOSED', at: t4 }])!;
    expect(state).toMatchObject({ status: 'RETURNED', channel_payout_no: 'BP1', paid_at: t3, failure: { code: 'ACCOUNT_CLOSED', message: 'returned by the receiving bank after it was paid' } });
  });

  test('a second create is a defect', () => {
    expect(() => replay([created, created])).toThrow('payout: created twice');
  });

  test('an event before the create is a defect naming the event', () => {
    expect(() => evolvePayout(undefined, submitted)).toThrow('payout: PayoutSubmitted before PayoutCreated');
  });
});

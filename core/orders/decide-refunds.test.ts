// decide() for refunds: the refundable amount, idempotency, the channel's refund policy, the
// refund state machine (retryable failures, manual payouts) and duplicate-payment refunds.
// States are folds of real events.

import type { RefundStatus } from '../../channels/channel';
import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { decide } from './decide';
import { evolve, fold } from './evolve';
import type { PaymentCommand, PaymentEvent, PaymentState } from './types';

const payment_id = paymentId(test_id_key, 'm_r', 'order-r');
const a1 = attemptId(payment_id, 1);
const amount_minor = 10_000n;
const paid_at = '2025-03-01T08:05:00.000Z';
const policy = { window_days: 365, count_max: 3 };

const created: PaymentEvent = {
  type: 'PaymentCreated', at: '2025-03-01T08:00:00.000Z', payment_id, merchant_id: 'm_r', merchant_order_no: 'order-r', amount_minor,
  currency: 'CNY', product: 'WECHAT_NATIVE', subject: 's', notify_url: '', metadata: {}, expires_at: '2025-03-01T08:30:00.000Z',
  fingerprint: 'f', payer_sealed: '', include_channels: [], exclude_channels: [],
};
const requested: PaymentEvent = { type: 'ChannelRequested', at: created.at, attempt_id: a1, attempt_no: 1, channel_id: 'wx_main' };
const succeeded: PaymentEvent = { type: 'AttemptSucceeded', at: paid_at, attempt_id: a1, channel_trade_no: '4200', amount_minor, paid_at };

function paid(): PaymentState {
  return fold([created, requested, succeeded])!;
}

function refundCommand(refund_id: string, amount: bigint, at = '2025-03-02T00:00:00.000Z'): Extract<PaymentCommand, { type: 'create_refund' }> {
  return { type: 'create_refund', at, merchant_id: 'm_r', refund_id, merchant_refund_no: `no-${refund_id}`, amount_minor: amount, reason: 'r', notify_url: '', fingerprint: `f-${refund_id}-${amount}`, policy };
}

function apply(state: PaymentState, command: PaymentCommand): PaymentState {
  const decision = decide(state, command);
  if (!('events' in decision)) throw new Error(`rejected: ${decision.rejection.reason}`);
  return decision.events.reduce<PaymentState>((s, e) => evolve(s, e), state);
}

function status(refund_id: string, s: RefundStatus, retries_max = 3): PaymentCommand {
  return { type: 'refund_status', at: '2025-03-02T00:01:00.000Z', refund_id, status: s, retries_max };
}

test('decide - a refund of a SUCCEEDED payment is requested, write-ahead, PENDING', () => {
  const decision = decide(paid(), refundCommand('r1', 4_000n));
  expect('events' in decision && decision.events.map((e) => e.type)).toEqual(['RefundRequested']);
  const state = apply(paid(), refundCommand('r1', 4_000n));
  expect(state.refunds[0]).toMatchObject({ refund_id: 'r1', attempt_id: a1, channel_id: 'wx_main', state: 'PENDING', kind: 'merchant' });
});

test('decide - refunds never exceed the paid amount: REFUND_EXCEEDS_PAID, counting pending ones', () => {
  const one = apply(paid(), refundCommand('r1', 6_000n));
  expect(decide(one, refundCommand('r2', 4_001n))).toEqual({ rejection: { reason: 'REFUND_EXCEEDS_PAID', message: 'refund of 4001 exceeds the 4000 still refundable' } });
  expect('events' in decide(one, refundCommand('r2', 4_000n))).toBe(true);
  // a failed refund gives its amount back
  const failed = apply(one, status('r1', { kind: 'failed', code: 'X', message: 'no', retryable: false }));
  expect('events' in decide(failed, refundCommand('r2', 10_000n))).toBe(true);
});

test('decide - an identical refund replay changes nothing; other parameters are IDEMPOTENCY_KEY_REUSED', () => {
  const one = apply(paid(), refundCommand('r1', 1_000n));
  expect(decide(one, refundCommand('r1', 1_000n))).toEqual({ events: [] });
  expect(decide(one, refundCommand('r1', 2_000n))).toMatchObject({ rejection: { reason: 'IDEMPOTENCY_KEY_REUSED' } });
});

test.each([
  ['an open payment', () => fold([created, requested])!],
  ['a closed payment', () => fold([created, requested, { type: 'CloseRequested', at: paid_at, reason: 'merchant' }, { type: 'PaymentClosed', at: paid_at, reason: 'merchant' }])!],
])('decide - a refund of %s is ILLEGAL_STATE', (_name, state) => {
  expect(decide(state(), refundCommand('r1', 1n))).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
});

test('decide - past the refund window the refund goes to REQUIRES_MANUAL at once', () => {
  const late = decide(paid(), refundCommand('r1', 1n, '2026-03-02T08:05:00.000Z'));
  expect('events' in late && late.events.map((e) => e.type)).toEqual(['RefundRequested', 'RefundRequiresManual']);
  expect('events' in late && late.events[1]).toMatchObject({ code: 'REFUND_WINDOW_PASSED' });
  const in_time = decide(paid(), refundCommand('r1', 1n, '2026-02-28T08:05:00.000Z'));
  expect('events' in in_time && in_time.events.map((e) => e.type)).toEqual(['RefundRequested']);
});

test('decide - beyond the channel refund count the refund goes to REQUIRES_MANUAL', () => {
  let state = paid();
  for (const id of ['r1', 'r2', 'r3']) state = apply(state, refundCommand(id, 1n));
  const fourth = decide(state, refundCommand('r4', 1n));
  expect('events' in fourth && fourth.events.map((e) => e.type)).toEqual(['RefundRequested', 'RefundRequiresManual']);
  expect('events' in fourth && fourth.events[1]).toMatchObject({ code: 'REFUND_COUNT_EXCEEDED' });
});

test('decide - refund status: pending submits, success settles and moves the payment, late news is ignored', () => {
  let state = apply(paid(), refundCommand('r1', 10_000n));
  state = apply(state, status('r1', { kind: 'pending', channel_refund_no: '5030' }));
  expect(state.refunds[0]).toMatchObject({ state: 'PROCESSING', channel_refund_no: '5030' });
  expect(decide(state, status('r1', { kind: 'pending' }))).toEqual({ events: [] });
  expect(decide(state, status('r1', { kind: 'succeeded', channel_refund_no: '5030', amount_minor: 9_999n, refunded_at: new Date() }))).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  state = apply(state, status('r1', { kind: 'succeeded', channel_refund_no: '5030', amount_minor: 10_000n, refunded_at: new Date('2025-03-02T00:02:00Z') }));
  expect(state.status).toBe('REFUNDED');
  expect(decide(state, status('r1', { kind: 'failed', code: 'X', message: 'late', retryable: false }))).toEqual({ events: [] });
  expect(decide(state, status('nope', { kind: 'pending' }))).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
});

test('decide - retryable failures are scheduled until the bound, then REQUIRES_MANUAL; not_found changes nothing', () => {
  let state = apply(paid(), refundCommand('r1', 100n));
  const busy: RefundStatus = { kind: 'failed', code: 'SYSTEM_ERROR', message: 'busy', retryable: true };
  expect(decide(state, status('r1', { kind: 'not_found' }))).toEqual({ events: [] });
  state = apply(state, status('r1', busy, 3));
  state = apply(state, status('r1', busy, 3));
  expect(state.refunds[0]).toMatchObject({ state: 'PROCESSING', retries: 2 });
  const third = decide(state, status('r1', busy, 3));
  expect('events' in third && third.events.map((e) => e.type)).toEqual(['RefundRequiresManual']);
  const manual = apply(paid(), refundCommand('r2', 100n));
  expect(apply(manual, status('r2', { kind: 'requires_manual', code: 'USER_ACCOUNT_ABNORMAL', message: 'closed' })).refunds[0]!.state).toBe('REQUIRES_MANUAL');
});

test('decide - a duplicate payment gets its own refund, once, in any status', () => {
  const closed = fold([created, requested, { type: 'CloseRequested', at: paid_at, reason: 'merchant' }, { type: 'PaymentClosed', at: paid_at, reason: 'merchant' }])!;
  const command: PaymentCommand = { type: 'refund_duplicate', at: paid_at, refund_id: 'd1', attempt_id: a1, channel_trade_no: '4201' };
  expect(decide(closed, command)).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
  const with_duplicate = evolve(closed, { type: 'DuplicatePaymentDetected', at: paid_at, attempt_id: a1, channel_trade_no: '4201', amount_minor });
  const state = apply(with_duplicate, command);
  expect(state.refunds[0]).toMatchObject({ refund_id: 'd1', kind: 'duplicate', amount_minor, attempt_id: a1 });
  expect(decide(state, command)).toEqual({ events: [] });
});

test('decide - a refund past the channel\'s window, paid by payout: SUCCEEDED with the payout recorded, once; any other refund refused', () => {
  const late = '2026-06-01T00:00:00.000Z'; // past the 365-day window
  const manual = apply(paid(), refundCommand('r1', 4_000n, late));
  expect(manual.refunds[0]).toMatchObject({ state: 'REQUIRES_MANUAL', failure: { code: 'REFUND_WINDOW_PASSED' } });
  const paid_out: PaymentCommand = { type: 'refund_paid_out', at: late, refund_id: 'r1', payout_id: 'o1', channel_id: 'bank1', channel_payout_no: 'B77', paid_at: late };
  const decision = decide(manual, paid_out);
  expect(decision).toEqual({ events: [{ type: 'RefundSucceeded', at: late, refund_id: 'r1', channel_refund_no: 'B77', refunded_at: late, payout: { payout_id: 'o1', channel_id: 'bank1' } }] });
  const done = apply(manual, paid_out);
  expect(done.refunds[0]).toMatchObject({ state: 'SUCCEEDED', payout_id: 'o1', channel_refund_no: 'B77', refunded_at: late });
  expect(done.refunds[0]!.failure).toBeUndefined();
  expect(done).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_minor: 4_000n });
  expect(decide(done, paid_out)).toEqual({ events: [] });
  expect(decide(done, { ...paid_out, payout_id: 'o2' })).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  // A refund the channel still carries, or one REQUIRES_MANUAL for another reason, is not paid by payout.
  const pending = apply(paid(), refundCommand('r2', 1_000n));
  expect(decide(pending, { ...paid_out, refund_id: 'r2' })).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  const stuck = apply(pending, status('r2', { kind: 'failed', code: 'ACCOUNT_CLOSED', message: 'closed', retryable: false }, 0));
  expect(decide(stuck, { ...paid_out, refund_id: 'r2' })).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  expect(decide(manual, { ...paid_out, refund_id: 'nope' })).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
  // A payout event only completes a REQUIRES_MANUAL refund.
  expect(() => evolve(pending, { type: 'RefundSucceeded', at: late, refund_id: 'r2', channel_refund_no: 'B', refunded_at: late, payout: { payout_id: 'o3', channel_id: 'bank1' } })).toThrow(/cannot apply to a PENDING refund/);
});

test('decide - an operator\'s re-check of a refund REQUIRES_MANUAL after it reached the channel: always audited; a final answer settles it, any other leaves it', () => {
  const at = '2025-03-03T00:00:00.000Z';
  const abnormal = apply(apply(paid(), refundCommand('r1', 4_000n)), status('r1', { kind: 'requires_manual', code: 'ABNORMAL', message: 'payer account abnormal' }));
  const recheck = (s?: RefundStatus): Extract<PaymentCommand, { type: 'refund_recheck' }> => ({ type: 'refund_recheck', at, merchant_id: 'm_r', refund_id: 'r1', operator: 'app:ops', reason: 'support says paid', ...(s === undefined ? {} : { status: s }) });
  const audit = { type: 'RefundRechecked', at, refund_id: 'r1', operator: 'app:ops', reason: 'support says paid' };
  // No final answer: recorded, the refund stays REQUIRES_MANUAL with what the channel said.
  for (const [answer, s] of [
    ['unknown: no answer could be read (see the log)', undefined],
    ['processing', { kind: 'pending' }],
    ['requires_manual: ABNORMAL still', { kind: 'requires_manual', code: 'ABNORMAL', message: 'still' }],
    ['failed: SYSTEM_ERROR busy (retryable)', { kind: 'failed', code: 'SYSTEM_ERROR', message: 'busy', retryable: true }],
    ['not_found', { kind: 'not_found' }],
  ] as const) {
    expect(decide(abnormal, recheck(s))).toEqual({ events: [{ ...audit, answer }] });
    expect(apply(abnormal, recheck(s)).refunds[0]).toMatchObject({ state: 'REQUIRES_MANUAL', recheck: { at, operator: 'app:ops', reason: 'support says paid', answer } });
  }
  // Paid: SUCCEEDED, the payment refunded.
  const done = apply(abnormal, recheck({ kind: 'succeeded', channel_refund_no: '5031', amount_minor: 4_000n, refunded_at: new Date(at) }));
  expect(done.refunds[0]).toMatchObject({ state: 'SUCCEEDED', channel_refund_no: '5031', refunded_at: at, recheck: { answer: 'succeeded: 5031' } });
  expect(done.refunds[0]!.failure).toBeUndefined();
  expect(done).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_minor: 4_000n });
  // Another amount than the refund's: recorded only, left for reconciliation.
  const odd = decide(abnormal, recheck({ kind: 'succeeded', channel_refund_no: '5031', amount_minor: 1n, refunded_at: new Date(at) }));
  expect('events' in odd && odd.events.map((e) => e.type)).toEqual(['RefundRechecked']);
  // Closed: FAILED, its amount refundable again.
  const closed = apply(abnormal, recheck({ kind: 'failed', code: 'CLOSED', message: 'closed', retryable: false }));
  expect(closed.refunds[0]).toMatchObject({ state: 'FAILED', failure: { code: 'CLOSED' } });
  expect(closed.refunded_minor).toBe(0n);
  // Refused: settled, still in flight, REQUIRES_MANUAL before any call, another merchant's, unknown.
  expect(decide(done, recheck())).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  expect(decide(apply(paid(), refundCommand('r1', 1n)), recheck())).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  const late = apply(paid(), refundCommand('r1', 1n, '2026-06-01T00:00:00.000Z'));
  expect(decide(late, recheck())).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE', message: expect.stringContaining('PayRefundByPayout') } });
  expect(decide(abnormal, { ...recheck(), merchant_id: 'm_other' })).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
  expect(decide(abnormal, { ...recheck(), refund_id: 'nope' })).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
  // Only a re-check's settlement moves a REQUIRES_MANUAL refund.
  expect(() => evolve(abnormal, { type: 'RefundFailed', at, refund_id: 'r1', code: 'X', message: 'x' })).toThrow(/cannot apply to a REQUIRES_MANUAL refund/);
});

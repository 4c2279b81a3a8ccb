// evolve(): the details evolve.test.ts's tables pass over — optional fields that are kept or
// left out, the failover failure that keeps the payment open, which recorded duplicate a
// duplicate refund must return, one refund or attempt changed and not its neighbours, and the
// helpers (refundableMinor, findAttempt, isOpen). Each test is a state a caller can reach.

import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { evolve, findAttempt, fold, isOpen, refundableMinor } from './evolve';
import type { PaymentEvent, PaymentState } from './types';

const payment_id = paymentId(test_id_key, 'm_1001', 'order-0002');
const amount_minor = 10_000n;
const a = (n: number): string => attemptId(payment_id, n);
const at = '2025-03-01T08:00:00.000Z';

const created: PaymentEvent = {
  type: 'PaymentCreated', at, payment_id, merchant_id: 'm_1001', merchant_order_no: 'order-0002', amount_minor, currency: 'CNY', product: 'WECHAT_NATIVE',
  subject: 's', notify_url: '', metadata: {}, expires_at: '2025-03-01T08:30:00.000Z', fingerprint: 'f'.repeat(64), payer_sealed: '', include_channels: [], exclude_channels: [],
};
const requested = (n: number, extra: { fee_minor?: bigint; reservation?: { channel_id: string; window: string } } = {}): PaymentEvent =>
  ({ type: 'ChannelRequested', at, attempt_id: a(n), attempt_no: n, channel_id: `ch${n}`, ...extra }) as PaymentEvent;
const action = (n: number): PaymentEvent => ({ type: 'AttemptActionRequired', at, attempt_id: a(n), next_action: { type: 'QR_CODE', value: 'weixin://x' }, channel_trade_no: `prepay-${n}` });
const succeeded = (n: number, channel_trade_no = `42000${n}`): PaymentEvent => ({ type: 'AttemptSucceeded', at, attempt_id: a(n), channel_trade_no, amount_minor, paid_at: at });
const failed = (n: number, final?: boolean): PaymentEvent => ({ type: 'AttemptFailed', at, attempt_id: a(n), code: 'C', message: 'm', ...(final === undefined ? {} : { final }) });
const duplicate = (n: number, channel_trade_no: string, amount = amount_minor): PaymentEvent => ({ type: 'DuplicatePaymentDetected', at, attempt_id: a(n), channel_trade_no, amount_minor: amount });
const refund = (refund_id: string, amount: bigint, kind: 'merchant' | 'duplicate' = 'merchant', n = 1, channel_trade_no?: string): PaymentEvent => ({
  type: 'RefundRequested', at, refund_id, merchant_refund_no: kind === 'merchant' ? `no-${refund_id}` : '', attempt_id: a(n), channel_id: 'ch1', amount_minor: amount,
  reason: '', notify_url: '', fingerprint: `f-${refund_id}`, kind, ...(channel_trade_no === undefined ? {} : { channel_trade_no }),
});

function build(...events: PaymentEvent[]): PaymentState {
  const state = fold(events);
  if (state === undefined) throw new Error('no events');
  return state;
}

const paid = (): PaymentEvent[] => [created, requested(1), action(1), succeeded(1)];

describe('evolve - optional attempt fields', () => {
  test('a channel request without a fee or reservation leaves both out; with them, keeps them', () => {
    const bare = build(created, requested(1)).attempts[0]!;
    expect({ fee: 'fee_minor' in bare, reservation: 'reservation' in bare }).toEqual({ fee: false, reservation: false });
    const reservation = { channel_id: 'ch1', window: 'd:2025-03-01' };
    expect(build(created, requested(1, { fee_minor: 60n, reservation })).attempts[0]).toMatchObject({ fee_minor: 60n, reservation });
  });

  test('the channel fee of a success is the winning attempt’s, not the first attempt’s', () => {
    const state = build(created, requested(1, { fee_minor: 10n }), failed(1, false), requested(2, { fee_minor: 25n }), succeeded(2));
    expect(state.fee_minor).toBe(25n);
  });

  test('an event without a channel_trade_no keeps the one the attempt has', () => {
    const pending: PaymentEvent = { type: 'AttemptPending', at, attempt_id: a(1) };
    expect(build(created, requested(1), action(1), pending).attempts[0]).toMatchObject({ state: 'pending', channel_trade_no: 'prepay-1' });
  });

  test('findAttempt finds the named attempt, not the first', () => {
    const state = build(created, requested(1), failed(1, false), requested(2));
    expect(findAttempt(state, a(2))?.attempt_no).toBe(2);
    expect(findAttempt(state, a(3))).toBeUndefined();
  });
});

describe('evolve - failures and closes', () => {
  test('a failover failure (final: false) keeps the payment open; final or unsaid ends it FAILED', () => {
    expect(build(created, requested(1), failed(1, false)).status).toBe('CREATED');
    expect(build(created, requested(1), failed(1, true)).status).toBe('FAILED');
    expect(build(created, requested(1), failed(1)).status).toBe('FAILED');
  });

  test('a payment closed before any attempt closes without one', () => {
    const state = build(created, { type: 'PaymentClosed', at, reason: 'merchant' });
    expect({ status: state.status, attempts: state.attempts }).toEqual({ status: 'CLOSED', attempts: [] });
  });

  test('isOpen: created, requiring action and processing are open; paid and closed are not', () => {
    expect(isOpen(build(created, requested(1)))).toBe(true);
    expect(isOpen(build(...paid()))).toBe(false);
    expect(isOpen(build(created, { type: 'PaymentClosed', at, reason: 'merchant' }))).toBe(false);
  });
});

describe('evolve - duplicates', () => {
  test('a duplicate naming an attempt the payment does not have is recorded, no attempt changed', () => {
    const before = build(...paid());
    const after = evolve(before, duplicate(7, 'dup-7'));
    expect({ duplicates: after.duplicates, attempts: after.attempts }).toEqual({ duplicates: [{ attempt_id: a(7), channel_trade_no: 'dup-7', amount_minor }], attempts: before.attempts });
  });

  test('the winning attempt paid with an empty transaction number: any transaction on it is the payment’s own', () => {
    const state = build(created, requested(1), succeeded(1, ''));
    expect(() => evolve(state, duplicate(1, '4200099'))).toThrow('evolve: the winning transaction is no duplicate');
  });
});

describe('evolve - refunds', () => {
  test('a refund of nothing is refused', () => {
    expect(() => build(...paid(), refund('r1', 0n))).toThrow('evolve: refunds must stay within the paid amount');
  });

  describe('a duplicate refund returns exactly a recorded duplicate', () => {
    // The duplicate: attempt 1 paid again under trade 'dup-1', 3000 minor units.
    const base = (): PaymentEvent[] => [...paid(), duplicate(1, 'dup-1', 3_000n)];
    test.each([
      ['another attempt', refund('d1', 3_000n, 'duplicate', 2, 'dup-1')],
      ['another amount', refund('d1', 2_999n, 'duplicate', 1, 'dup-1')],
      ['another transaction', refund('d1', 3_000n, 'duplicate', 1, 'dup-2')],
    ])('refused for %s', (_what, event) => {
      expect(() => build(...base(), event)).toThrow('evolve: a duplicate refund returns a recorded duplicate');
    });

    test('accepted naming its transaction (kept on the refund), or without one (none kept)', () => {
      expect(build(...base(), refund('d1', 3_000n, 'duplicate', 1, 'dup-1')).refunds[0]).toMatchObject({ kind: 'duplicate', channel_trade_no: 'dup-1', state: 'PENDING' });
      expect('channel_trade_no' in build(...base(), refund('d1', 3_000n, 'duplicate', 1)).refunds[0]!).toBe(false);
    });

    test('a pending duplicate refund does not take from what merchant refunds may still take', () => {
      expect(refundableMinor(build(...base(), refund('d1', 3_000n, 'duplicate', 1, 'dup-1')))).toBe(amount_minor);
    });
  });

  test('retries count up from the refund’s own count; failed and manual refunds keep code and message', () => {
    const retry: PaymentEvent = { type: 'RefundRetryScheduled', at, refund_id: 'r1', code: 'SYSTEM_ERROR', message: 'busy' };
    expect(build(...paid(), refund('r1', 100n), retry, retry).refunds[0]).toMatchObject({ retries: 2, failure: { code: 'SYSTEM_ERROR', message: 'busy' } });
    expect(build(...paid(), refund('r1', 100n), { type: 'RefundFailed', at, refund_id: 'r1', code: 'NOT_ENOUGH', message: 'balance' }).refunds[0]!.failure).toEqual({ code: 'NOT_ENOUGH', message: 'balance' });
    expect(build(...paid(), refund('r1', 100n), { type: 'RefundRequiresManual', at, refund_id: 'r1', code: 'ABNORMAL', message: 'closed' }).refunds[0]!.failure).toEqual({ code: 'ABNORMAL', message: 'closed' });
  });

  test('an event on one refund leaves the others as they were; a resubmit without a number keeps the refund’s', () => {
    const submitted: PaymentEvent = { type: 'RefundSubmitted', at, refund_id: 'r1', channel_refund_no: 'cr-1' };
    const state = build(...paid(), refund('r1', 100n), refund('r2', 200n), submitted, { type: 'RefundSubmitted', at, refund_id: 'r1' });
    expect(state.refunds.map((r) => [r.refund_id, r.state, r.channel_refund_no])).toEqual([['r1', 'PROCESSING', 'cr-1'], ['r2', 'PENDING', undefined]]);
  });
});

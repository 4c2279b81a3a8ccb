// evolve(): every event type in every status (allowed → the expected state, refused → a loud
// AssertionError naming the status), versioning, a realistic fold, its money invariants and
// that it never mutates the state it is given.

import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { merchantFeeMinor } from '../events/types';
import { event_allowed_from, evolve, fold, refundableMinor } from './evolve';
import type { PaymentEvent, PaymentEventType as AnyEventType, PaymentState, PaymentStatus } from './types';

/** Events whose legality the payment's status decides. Refund events are governed by the
 * refund's own state (refund_allowed_from) and are tested in their own block below. */
type PaymentEventType = Exclude<AnyEventType, `Refund${string}`>;

const payment_id = paymentId(test_id_key, 'm_1001', 'order-0001');
const amount_minor = 12_345n;
const a = (n: number): string => attemptId(payment_id, n);

let clock = Date.parse('2025-03-01T08:00:00.000Z');
/** A strictly increasing event time, so `updated_at` shows which event was applied last. */
function tick(): string {
  clock += 1_000;
  return new Date(clock).toISOString();
}

const ev = {
  created: (): PaymentEvent => ({
    type: 'PaymentCreated',
    at: tick(),
    payment_id,
    merchant_id: 'm_1001',
    merchant_order_no: 'order-0001',
    amount_minor,
    currency: 'CNY',
    product: 'WECHAT_NATIVE',
    subject: 'Coffee beans 1 kg',
    notify_url: 'https://merchant.example/notify',
    metadata: { cart: 'c-77' },
    expires_at: '2025-03-01T08:30:00.000Z',
    fingerprint: 'f'.repeat(64),
    payer_sealed: 'k1.sealed-payer',
    include_channels: [],
    exclude_channels: ['bank_b'],
  }),
  requested: (n: number, channel_id = 'wx_main'): PaymentEvent => ({ type: 'ChannelRequested', at: tick(), attempt_id: a(n), attempt_no: n, channel_id }),
  action: (n: number): PaymentEvent => ({
    type: 'AttemptActionRequired',
    at: tick(),
    attempt_id: a(n),
    next_action: { type: 'QR_CODE', value: `weixin://wxpay/bizpayurl?pr=${n}` },
    channel_trade_no: `prepay-${n}`,
  }),
  pending: (n: number): PaymentEvent => ({ type: 'AttemptPending', at: tick(), attempt_id: a(n), channel_trade_no: `wx-pending-${n}` }),
  succeeded: (n: number, amount = amount_minor): PaymentEvent => ({
    type: 'AttemptSucceeded',
    at: tick(),
    attempt_id: a(n),
    channel_trade_no: `4200000${n}`,
    amount_minor: amount,
    paid_at: '2025-03-01T08:05:00.000Z',
  }),
  failed: (n: number): PaymentEvent => ({ type: 'AttemptFailed', at: tick(), attempt_id: a(n), code: 'NOTENOUGH', message: 'insufficient balance' }),
  closeRequested: (): PaymentEvent => ({ type: 'CloseRequested', at: tick(), reason: 'merchant' }),
  closed: (): PaymentEvent => ({ type: 'PaymentClosed', at: tick(), reason: 'merchant' }),
  reversed: (n: number): PaymentEvent => ({ type: 'PaymentReversed', at: tick(), attempt_id: a(n), reason_code: 'RECON_NOT_AT_CHANNEL', reference: 'wx_main:2025-03-01:OURS_ONLY:payment:x' }),
  duplicate: (n: number): PaymentEvent => ({ type: 'DuplicatePaymentDetected', at: tick(), attempt_id: a(n), channel_trade_no: `dup-${n}`, amount_minor }),
  refundRequested: (refund_id: string, amount: bigint, attempt_no = 2, kind: 'merchant' | 'duplicate' = 'merchant'): PaymentEvent => ({
    type: 'RefundRequested', at: tick(), refund_id, merchant_refund_no: kind === 'merchant' ? `no-${refund_id}` : '', attempt_id: a(attempt_no),
    channel_id: 'wx_main', amount_minor: amount, reason: 'returned', notify_url: '', fingerprint: `f-${refund_id}`, kind,
  }),
  refundSubmitted: (refund_id: string): PaymentEvent => ({ type: 'RefundSubmitted', at: tick(), refund_id, channel_refund_no: `cr-${refund_id}` }),
  refundRetry: (refund_id: string): PaymentEvent => ({ type: 'RefundRetryScheduled', at: tick(), refund_id, code: 'SYSTEM_ERROR', message: 'busy' }),
  refundSucceeded: (refund_id: string): PaymentEvent => ({ type: 'RefundSucceeded', at: tick(), refund_id, channel_refund_no: `cr-${refund_id}`, refunded_at: '2025-03-02T08:00:00.000Z' }),
  refundFailed: (refund_id: string): PaymentEvent => ({ type: 'RefundFailed', at: tick(), refund_id, code: 'NOT_ENOUGH', message: 'balance' }),
  refundManual: (refund_id: string): PaymentEvent => ({ type: 'RefundRequiresManual', at: tick(), refund_id, code: 'USER_ACCOUNT_ABNORMAL', message: 'account closed' }),
};

function build(...events: PaymentEvent[]): PaymentState {
  const state = fold(events);
  if (state === undefined) throw new Error('build: no events');
  return state;
}

/** Deep-freezes a state so any write evolve makes to it throws (test files run in strict mode). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

type StatusOrNone = PaymentStatus | 'none';

/** One state per status, each built from real events. */
function stateOf(status: StatusOrNone): PaymentState | undefined {
  switch (status) {
    case 'none':
      return undefined;
    case 'CREATED':
      return build(ev.created(), ev.requested(1));
    case 'REQUIRES_ACTION':
      return build(ev.created(), ev.requested(1), ev.action(1));
    case 'PROCESSING':
      return build(ev.created(), ev.requested(1), ev.pending(1));
    // Two attempts, so a well-formed duplicate (on the losing attempt 1) exists.
    case 'SUCCEEDED':
      return build(ev.created(), ev.requested(1), ev.pending(1), ev.requested(2), ev.succeeded(2));
    case 'FAILED':
      return build(ev.created(), ev.requested(1), ev.failed(1));
    case 'CLOSED':
      return build(ev.created(), ev.requested(1), ev.closeRequested(), ev.closed());
    case 'PARTIALLY_REFUNDED':
      return build(ev.created(), ev.requested(1), ev.pending(1), ev.requested(2), ev.succeeded(2), ev.refundRequested('r1', 1000n), ev.refundSucceeded('r1'));
    case 'REFUNDED':
      return build(ev.created(), ev.requested(1), ev.pending(1), ev.requested(2), ev.succeeded(2), ev.refundRequested('r1', amount_minor), ev.refundSucceeded('r1'));
    case 'REVERSED':
      return build(ev.created(), ev.requested(1), ev.pending(1), ev.requested(2), ev.succeeded(2), ev.reversed(2));
  }
}

/** A well-formed event of `type` for `state`: it names an attempt the state has (the current
 * one, or for a duplicate one that did not win), the next attempt number, the paid amount. */
function wellFormed(type: PaymentEventType, state: PaymentState | undefined): PaymentEvent {
  const attempts = state?.attempts ?? [];
  const current_no = attempts.length === 0 ? 1 : attempts.length;
  switch (type) {
    case 'PaymentCreated':
      return ev.created();
    case 'ChannelRequested':
      return ev.requested(attempts.length + 1, 'ali_main');
    case 'AttemptActionRequired':
      return ev.action(current_no);
    case 'AttemptPending':
      return ev.pending(current_no);
    case 'PaymentHeld':
      return { type: 'PaymentHeld', at: '2026-12-01T00:00:08Z', rules: ['big'], review_expires_at: '2026-12-01T00:30:00Z' };
    case 'PaymentReleased':
      return { type: 'PaymentReleased', at: '2026-12-01T00:00:08Z' };
    case 'AttemptCodeRejected':
      return { type: 'AttemptCodeRejected', at: '2026-12-01T00:00:09Z', attempt_id: attemptId(payment_id, current_no), wrong_codes: 1 };
    case 'AttemptSucceeded':
      return ev.succeeded(current_no);
    case 'AttemptFailed':
      return ev.failed(current_no);
    case 'CloseRequested':
      return ev.closeRequested();
    case 'PaymentClosed':
      return ev.closed();
    case 'DuplicatePaymentDetected': {
      const loser = attempts.find((x) => x.attempt_id !== state?.winning_attempt_id);
      return ev.duplicate(loser?.attempt_no ?? 1);
    }
    case 'PaymentReversed':
      return ev.reversed(attempts.find((x) => x.attempt_id === state?.winning_attempt_id)?.attempt_no ?? current_no);
  }
}

const all_statuses: readonly StatusOrNone[] = [
  'none', 'CREATED', 'REQUIRES_ACTION', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CLOSED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'REVERSED',
];
const all_event_types = (Object.keys(event_allowed_from) as AnyEventType[]).filter((t): t is PaymentEventType => !t.startsWith('Refund'));

/** docs/architecture.md §3 written out independently, so a change to event_allowed_from is a
 * deliberate change here too (the table-driven tests below take their cases from it). */
const expected_allowed_from: Record<PaymentEventType, readonly StatusOrNone[]> = {
  PaymentCreated: ['none'],
  ChannelRequested: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  AttemptActionRequired: ['CREATED'],
  AttemptPending: ['CREATED', 'REQUIRES_ACTION'],
  AttemptCodeRejected: ['REQUIRES_ACTION'],
  PaymentHeld: ['CREATED'],
  PaymentReleased: ['CREATED'],
  AttemptSucceeded: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  AttemptFailed: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  CloseRequested: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  PaymentClosed: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING'],
  DuplicatePaymentDetected: ['CREATED', 'REQUIRES_ACTION', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CLOSED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'REVERSED'],
  PaymentReversed: ['SUCCEEDED'],
};

/** The status each event leaves the payment in; 'same' = the status it was applied in. */
const resulting_status: Record<PaymentEventType, PaymentStatus | 'same'> = {
  PaymentCreated: 'CREATED',
  ChannelRequested: 'CREATED',
  AttemptActionRequired: 'REQUIRES_ACTION',
  AttemptPending: 'PROCESSING',
  AttemptCodeRejected: 'same',
  PaymentHeld: 'same',
  PaymentReleased: 'same',
  AttemptSucceeded: 'SUCCEEDED',
  AttemptFailed: 'FAILED',
  CloseRequested: 'same',
  PaymentClosed: 'CLOSED',
  DuplicatePaymentDetected: 'same',
  PaymentReversed: 'REVERSED',
};

/** The fields each event must set, beyond status and version. */
function expectFields(before: PaymentState | undefined, event: PaymentEvent, after: PaymentState): void {
  expect(after.updated_at).toBe(event.at);
  const attempt = (id: string) => after.attempts.find((x) => x.attempt_id === id);
  switch (event.type) {
    case 'PaymentCreated':
      expect(after).toMatchObject({
        payment_id, merchant_id: 'm_1001', merchant_order_no: 'order-0001', amount_minor, currency: 'CNY',
        product: 'WECHAT_NATIVE', fingerprint: event.fingerprint, payer_sealed: event.payer_sealed,
        exclude_channels: ['bank_b'], attempts: [], duplicates: [], refunded_minor: 0n, fee_minor: 0n,
        created_at: event.at, expires_at: event.expires_at,
      });
      return;
    case 'ChannelRequested':
      expect(after.attempts).toHaveLength((before?.attempts.length ?? 0) + 1);
      expect(after.attempts[after.attempts.length - 1]).toEqual({ attempt_id: event.attempt_id, attempt_no: event.attempt_no, channel_id: 'ali_main', state: 'requested', requested_at: event.at });
      expect(after.next_action).toBeUndefined();
      return;
    case 'AttemptActionRequired':
      expect(attempt(event.attempt_id)).toMatchObject({ state: 'action_required', channel_trade_no: event.channel_trade_no });
      expect(after.next_action).toEqual(event.next_action);
      return;
    case 'AttemptPending':
      expect(attempt(event.attempt_id)).toMatchObject({ state: 'pending', channel_trade_no: event.channel_trade_no });
      return;
    case 'PaymentHeld':
      expect(after.held).toEqual({ rules: event.rules, held_at: event.at, review_expires_at: event.review_expires_at });
      expect(after.attempts).toEqual(before?.attempts);
      return;
    case 'PaymentReleased':
      expect(after.held).toBeUndefined();
      expect(after.attempts).toEqual(before?.attempts);
      return;
    case 'AttemptCodeRejected':
      expect(attempt(event.attempt_id)).toMatchObject({ state: 'action_required', wrong_codes: event.wrong_codes });
      expect(after.next_action).toEqual(before?.next_action);
      return;
    case 'AttemptSucceeded':
      expect(attempt(event.attempt_id)).toMatchObject({ state: 'succeeded', channel_trade_no: event.channel_trade_no });
      expect(after.winning_attempt_id).toBe(event.attempt_id);
      expect(after.paid_at).toBe(event.paid_at);
      expect(after.next_action).toBeUndefined();
      expect(after.closing).toBeUndefined();
      return;
    case 'AttemptFailed':
      expect(attempt(event.attempt_id)?.state).toBe('failed');
      expect(after.failure).toEqual({ code: event.code, message: event.message });
      expect(after.next_action).toBeUndefined();
      return;
    case 'CloseRequested':
      expect(after.closing).toBe(event.reason);
      expect(after.attempts).toEqual(before?.attempts);
      return;
    case 'PaymentClosed':
      expect(after.closed_reason).toBe(event.reason);
      expect(after.closing).toBeUndefined();
      expect(after.next_action).toBeUndefined();
      expect(after.attempts[after.attempts.length - 1]?.state).toBe('closed');
      return;
    case 'DuplicatePaymentDetected':
      expect(after.duplicates).toEqual([
        ...(before?.duplicates ?? []),
        { attempt_id: event.attempt_id, channel_trade_no: event.channel_trade_no, amount_minor: event.amount_minor },
      ]);
      expect(attempt(event.attempt_id)).toMatchObject({ state: 'succeeded', channel_trade_no: event.channel_trade_no });
      expect(after.winning_attempt_id).toBe(before?.winning_attempt_id);
      return;
    case 'PaymentReversed':
      expect(after.reversal).toEqual({ reason_code: event.reason_code, reference: event.reference, reversed_at: event.at });
      expect(after.attempts).toEqual(before?.attempts);
      expect(after.winning_attempt_id).toBe(before?.winning_attempt_id);
      return;
  }
}

describe('evolve', () => {
  const cases = all_event_types.flatMap((type) =>
    all_statuses.map((status) => ({ type, status, allowed: event_allowed_from[type].includes(status) })),
  );

  test('evolve - the table covers every event type and every status', () => {
    expect([...all_event_types].sort()).toEqual(Object.keys(resulting_status).sort());
    expect(Object.keys(event_allowed_from).filter((t) => t.startsWith('Refund')).sort()).toEqual(
      ['RefundFailed', 'RefundRechecked', 'RefundRequested', 'RefundRequiresManual', 'RefundRetryScheduled', 'RefundSubmitted', 'RefundSucceeded'],
    );
    expect(cases).toHaveLength(13 * 10);
    // Each built state really is in the status it is named for.
    for (const status of all_statuses) expect(stateOf(status)?.status ?? 'none').toBe(status);
  });

  test('evolve - each event is allowed from exactly the statuses of the design', () => {
    for (const type of all_event_types)
      expect({ type, from: [...event_allowed_from[type]].sort() }).toEqual({ type, from: [...expected_allowed_from[type]].sort() });
    // Only a payment that is still open (or none at all) moves; a final or paid one only records duplicates.
    for (const status of ['FAILED', 'CLOSED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'REVERSED'] as const) {
      expect(all_event_types.filter((type) => event_allowed_from[type].includes(status))).toEqual(['DuplicatePaymentDetected']);
    }
    // A SUCCEEDED payment records duplicates, and reconciliation may reverse it.
    expect(all_event_types.filter((type) => event_allowed_from[type].includes('SUCCEEDED')).sort()).toEqual(['DuplicatePaymentDetected', 'PaymentReversed']);
  });

  test.each(cases.filter((c) => c.allowed))('evolve - $type in $status is applied', ({ type, status }) => {
    const before = stateOf(status);
    const event = wellFormed(type, before);
    const after = evolve(before, event);
    const expected = resulting_status[type];
    expect(after.status).toBe(expected === 'same' ? status : expected);
    expect(after.version).toBe((before?.version ?? 0) + 1);
    expectFields(before, event, after);
  });

  test.each(cases.filter((c) => !c.allowed))('evolve - $type in $status throws', ({ type, status }) => {
    const before = stateOf(status);
    const event = wellFormed(type, before);
    const where = status === 'none' ? 'no state' : status;
    expect(() => evolve(before, event)).toThrow(expect.objectContaining({ name: 'AssertionError', message: `evolve: ${type} cannot apply in ${where}` }));
  });

  test('evolve - version counts the events applied, one per event', () => {
    const events = [ev.created(), ev.requested(1), ev.action(1), ev.requested(2), ev.pending(2), ev.closeRequested(), ev.closed(), ev.duplicate(1)];
    let state: PaymentState | undefined;
    events.forEach((event, i) => {
      state = evolve(state, event);
      expect(state.version).toBe(i + 1);
    });
  });

  test('evolve - a QR payment paid by the payer folds to SUCCEEDED with its winning attempt', () => {
    const before = [ev.created(), ev.requested(1), ev.action(1)]; // made first: their times come first
    const paid = ev.succeeded(1);
    const state = build(...before, paid);
    expect(state.status).toBe('SUCCEEDED');
    expect(state.version).toBe(4);
    expect(state.winning_attempt_id).toBe(a(1));
    expect(state.paid_at).toBe('2025-03-01T08:05:00.000Z');
    expect(state.next_action).toBeUndefined();
    expect(state.updated_at).toBe(paid.at);
    expect(state.attempts).toEqual([{ attempt_id: a(1), attempt_no: 1, channel_id: 'wx_main', state: 'succeeded', channel_trade_no: '42000001', requested_at: state.attempts[0]!.requested_at }]);
    expect(state.attempts[0]!.requested_at).toMatch(/^2025-03-01T08:/);
    expect(state.amount_minor).toBe(amount_minor);
  });

  test('evolve - an attempt keeps its channel_trade_no when a later event does not name one', () => {
    const state = build(ev.created(), ev.requested(1), ev.action(1), ev.failed(1));
    expect(state.attempts[0]).toMatchObject({ state: 'failed', channel_trade_no: 'prepay-1' });
  });

  test('evolve - a success while closing clears the close', () => {
    const state = build(ev.created(), ev.requested(1), ev.action(1), ev.closeRequested(), ev.succeeded(1));
    expect(state.status).toBe('SUCCEEDED');
    expect(state.closing).toBeUndefined();
  });

  test('evolve - AttemptSucceeded with a different amount throws', () => {
    const state = build(ev.created(), ev.requested(1), ev.pending(1));
    expect(() => evolve(state, ev.succeeded(1, amount_minor - 1n))).toThrow('evolve: a success must pay the payment amount');
    expect(() => evolve(state, ev.succeeded(1, amount_minor + 1n))).toThrow('evolve: a success must pay the payment amount');
  });

  test('evolve - DuplicatePaymentDetected of the winning transaction throws; another transaction on the winning attempt is recorded', () => {
    const state = build(ev.created(), ev.requested(1), ev.succeeded(1));
    const paid_trade_no = state.attempts[0]!.channel_trade_no!;
    expect(() => evolve(state, { ...ev.duplicate(1), channel_trade_no: paid_trade_no } as PaymentEvent)).toThrow('evolve: the winning transaction is no duplicate');
    const after = evolve(state, ev.duplicate(1));
    expect(after.duplicates).toEqual([{ attempt_id: a(1), channel_trade_no: 'dup-1', amount_minor }]);
    expect(after.attempts[0]!.channel_trade_no).toBe(paid_trade_no);
    expect(after.status).toBe('SUCCEEDED');
  });

  test('evolve - ChannelRequested out of order throws', () => {
    const state = build(ev.created(), ev.requested(1));
    expect(() => evolve(state, ev.requested(3))).toThrow('evolve: attempts are numbered in order');
    expect(() => evolve(state, ev.requested(1))).toThrow('evolve: attempts are numbered in order');
  });

  test('evolve - an event naming an unknown attempt throws', () => {
    const state = build(ev.created(), ev.requested(1));
    expect(() => evolve(state, ev.pending(2))).toThrow(`evolve: unknown attempt ${a(2)}`);
  });

  test.each(all_statuses.filter((status) => status !== 'none').flatMap((status) => all_event_types.filter((type) => event_allowed_from[type].includes(status)).map((type) => ({ type, status }))))(
    'evolve - $type in $status does not mutate its input',
    ({ type, status }) => {
      const before = stateOf(status);
      const snapshot = structuredClone(before);
      deepFreeze(before);
      const after = evolve(before, wellFormed(type, before));
      expect(after).not.toBe(before);
      expect(before).toEqual(snapshot);
    },
  );
});

describe('evolve - refunds', () => {
  const paid = () => build(ev.created(), ev.requested(1), ev.action(1), ev.succeeded(1));

  test('evolve - a partial refund makes PARTIALLY_REFUNDED, the rest makes REFUNDED', () => {
    let state = evolve(paid(), ev.refundRequested('r1', 1000n, 1));
    expect(state.status).toBe('SUCCEEDED');
    expect(state.refunds[0]).toMatchObject({ refund_id: 'r1', state: 'PENDING', amount_minor: 1000n, retries: 0 });
    expect(refundableMinor(state)).toBe(amount_minor - 1000n);
    state = evolve(state, ev.refundSubmitted('r1'));
    expect(state.refunds[0]).toMatchObject({ state: 'PROCESSING', channel_refund_no: 'cr-r1' });
    state = evolve(state, ev.refundSucceeded('r1'));
    expect(state.status).toBe('PARTIALLY_REFUNDED');
    expect(state.refunded_minor).toBe(1000n);
    state = evolve(evolve(state, ev.refundRequested('r2', amount_minor - 1000n, 1)), ev.refundSucceeded('r2'));
    expect(state.status).toBe('REFUNDED');
    expect(state.refunded_minor).toBe(amount_minor);
    expect(refundableMinor(state)).toBe(0n);
  });

  test('evolve - a failed refund gives its amount back; a retry keeps it held and counts', () => {
    let state = evolve(paid(), ev.refundRequested('r1', amount_minor, 1));
    expect(() => evolve(state, ev.refundRequested('r2', 1n, 1))).toThrow('evolve: refunds must stay within the paid amount');
    state = evolve(state, ev.refundRetry('r1'));
    expect(state.refunds[0]).toMatchObject({ state: 'PROCESSING', retries: 1, failure: { code: 'SYSTEM_ERROR' } });
    expect(refundableMinor(state)).toBe(0n);
    state = evolve(state, ev.refundFailed('r1'));
    expect(state.refunds[0]!.state).toBe('FAILED');
    expect(refundableMinor(state)).toBe(amount_minor);
    expect(state.status).toBe('SUCCEEDED');
  });

  test.each(['RefundSubmitted', 'RefundRetryScheduled', 'RefundSucceeded', 'RefundFailed', 'RefundRequiresManual'] as const)(
    'evolve - %s cannot move a settled refund',
    (type) => {
      const settled = evolve(evolve(paid(), ev.refundRequested('r1', 10n, 1)), ev.refundManual('r1'));
      const event = { RefundSubmitted: ev.refundSubmitted, RefundRetryScheduled: ev.refundRetry, RefundSucceeded: ev.refundSucceeded, RefundFailed: ev.refundFailed, RefundRequiresManual: ev.refundManual }[type]('r1');
      expect(() => evolve(settled, event)).toThrow(`evolve: ${type} cannot apply to a REQUIRES_MANUAL refund`);
      expect(() => evolve(paid(), { ...event, refund_id: 'nope' } as PaymentEvent)).toThrow('evolve: unknown refund nope');
    },
  );

  test('evolve - a merchant refund needs a paid payment; a duplicate refund needs a recorded duplicate', () => {
    const open = build(ev.created(), ev.requested(1), ev.action(1));
    expect(() => evolve(open, ev.refundRequested('r1', 10n, 1))).toThrow('evolve: a refund needs a paid payment, not REQUIRES_ACTION');
    const closed = build(ev.created(), ev.requested(1), ev.action(1), ev.closeRequested(), ev.closed());
    expect(() => evolve(closed, ev.refundRequested('d1', amount_minor, 1, 'duplicate'))).toThrow('evolve: a duplicate refund returns a recorded duplicate');
    const with_duplicate = evolve(closed, ev.duplicate(1));
    const refunded = evolve(evolve(with_duplicate, ev.refundRequested('d1', amount_minor, 1, 'duplicate')), ev.refundSucceeded('d1'));
    expect(refunded.status).toBe('CLOSED'); // returning a duplicate is not a refund of the payment
    expect(refunded.refunded_minor).toBe(0n);
    expect(refunded.refunds[0]).toMatchObject({ kind: 'duplicate', state: 'SUCCEEDED' });
  });

  test('evolve - a refund id is requested once', () => {
    const state = evolve(paid(), ev.refundRequested('r1', 10n, 1));
    expect(() => evolve(state, ev.refundRequested('r1', 10n, 1))).toThrow('evolve: refund r1 requested twice');
  });
});

describe('evolve - fees and updated_at', () => {
  test('evolve - the merchant fee agreed at creation is what the merchant is charged once paid; the channel cost stays apart', () => {
    const created = { ...ev.created(), merchant_fee_minor: 74n } as PaymentEvent;
    const open = build(created, { ...ev.requested(1), fee_minor: 47n } as PaymentEvent);
    expect(open.merchant_fee_minor).toBe(74n);
    expect(merchantFeeMinor(open)).toBe(0n); // nothing charged before it is paid
    const paid = evolve(open, ev.succeeded(1));
    expect(paid.fee_minor).toBe(47n);
    expect(merchantFeeMinor(paid)).toBe(74n);
    expect(merchantFeeMinor(evolve(paid, ev.refundRequested('r1', amount_minor, 1)))).toBe(74n);
    expect(merchantFeeMinor(build(ev.created(), ev.requested(1), ev.succeeded(1)))).toBe(0n); // none recorded: none charged
  });

  test('evolve - updated_at moves with every version, also when events share a millisecond or a writer clock is behind', () => {
    const created = ev.created();
    let state = evolve(undefined, created);
    const stamps = [state.updated_at];
    for (const event of [{ ...ev.requested(1), at: created.at }, { ...ev.action(1), at: '2000-01-01T00:00:00.000Z' }] as PaymentEvent[]) {
      state = evolve(state, event);
      stamps.push(state.updated_at);
    }
    const ms = stamps.map((s) => Date.parse(s));
    expect(ms[1]).toBeGreaterThan(ms[0]!);
    expect(ms[2]).toBeGreaterThan(ms[1]!);
    const later = evolve(state, ev.pending(1)); // a later event keeps its own time
    expect(later.updated_at).toBe(later.updated_at);
    expect(Date.parse(later.updated_at)).toBeGreaterThan(ms[2]!);
  });
});

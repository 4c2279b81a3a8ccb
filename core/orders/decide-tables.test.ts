// decide(): the rules an audit found guarded by no unit test, as tables — each failover guard
// (source, attempt state, attempt cap), a success on a superseded attempt, the refund policy's
// boundaries (paid only, the window's last millisecond, the count's last refund, duplicate
// refunds outside the count) and merchant scoping of every command a merchant can send.
// States are folds of events decide itself produced, so a table row is a reachable state.

import { attempts_per_payment_max, refund_count_max_default, refund_window_days_default } from '../constants';
import { attemptId, paymentId } from '../ids';
import type { ReservationRef } from '../routing/types';
import { test_id_key } from '../ids.fixture';
import { decide } from './decide';
import { evolve, fold } from './evolve';
import type { Decision, PaymentCommand, PaymentEvent, PaymentState, RefundPolicy } from './types';

const payment_id = paymentId(test_id_key, 'm_t', 'order-t');
const a = (n: number): string => attemptId(payment_id, n);
const amount_minor = 10_000n;
const created_at = '2025-03-01T08:00:00.000Z';
const at = '2025-03-01T08:05:00.000Z';
// Paid four days after creation, so a window counted from creation would show.
const paid_at = '2025-03-05T12:00:00.000Z';
const policy: RefundPolicy = { window_days: refund_window_days_default, count_max: refund_count_max_default };
const day_ms = 86_400_000;

const created: PaymentEvent = {
  type: 'PaymentCreated', at: created_at, payment_id, merchant_id: 'm_t', merchant_order_no: 'order-t', amount_minor,
  currency: 'CNY', product: 'WECHAT_NATIVE', subject: 's', notify_url: '', metadata: {}, expires_at: '2025-03-01T08:30:00.000Z',
  fingerprint: 'f', payer_sealed: '', include_channels: [], exclude_channels: [],
};
const requested1: PaymentEvent = { type: 'ChannelRequested', at: created_at, attempt_id: a(1), attempt_no: 1, channel_id: 'ch_1' };

function events(decision: Decision): PaymentEvent[] {
  if ('rejection' in decision) throw new Error(`expected events, got ${decision.rejection.reason}: ${decision.rejection.message}`);
  return decision.events;
}

function apply(state: PaymentState, command: PaymentCommand): PaymentState {
  return events(decide(state, command)).reduce<PaymentState>((s, e) => evolve(s, e), state);
}

const failed = { kind: 'failed', code: 'CHANNEL_DOWN', message: 'no route' } as const;
type Failover = NonNullable<Extract<PaymentCommand, { type: 'attempt_status' }>['failover']>;
const failover = (n: number): Failover => ({ channel_id: `ch_${n}`, fee_minor: BigInt(n) * 10n });
const failCommand = (attempt_id: string, source: 'pay' | 'query' | 'notification' | 'confirm', next?: Failover): PaymentCommand => ({
  type: 'attempt_status', at, attempt_id, status: failed, source, ...(next === undefined ? {} : { failover: next }),
});

/** A payment whose current attempt is attempt `n` (each earlier one failed over by decide). */
function onAttempt(n: number): PaymentState {
  let state = fold([created, requested1])!;
  for (let k = 1; k < n; k += 1) state = apply(state, failCommand(a(k), 'pay', failover(k + 1)));
  expect(state.attempts).toHaveLength(n);
  return state;
}

type AttemptStage = 'requested' | 'action_required' | 'pending';
function atStage(state: PaymentState, stage: AttemptStage): PaymentState {
  const attempt_id = state.attempts[state.attempts.length - 1]!.attempt_id;
  if (stage === 'action_required') return evolve(state, { type: 'AttemptActionRequired', at, attempt_id, next_action: { type: 'QR_CODE', value: 'weixin://x' } });
  if (stage === 'pending') return evolve(state, { type: 'AttemptPending', at, attempt_id });
  return state;
}

describe('decide - failover table: a failed attempt hands over only from the pay call of a requested attempt under the cap', () => {
  type Row = { source: 'pay' | 'query' | 'notification' | 'confirm'; stage: AttemptStage; attempt: number; with_failover: boolean; hands_over: boolean };
  const rows: Row[] = [];
  for (const source of ['pay', 'query', 'notification', 'confirm'] as const) {
    for (const stage of ['requested', 'action_required', 'pending'] as const) {
      for (const attempt of [1, attempts_per_payment_max - 1, attempts_per_payment_max]) {
        for (const with_failover of [true, false]) {
          const hands_over = with_failover && source === 'pay' && stage === 'requested' && attempt < attempts_per_payment_max;
          rows.push({ source, stage, attempt, with_failover, hands_over });
        }
      }
    }
  }

  test('decide - the failover table has every source × attempt stage × attempt number × failover offered', () => {
    expect(rows).toHaveLength(4 * 3 * 3 * 2);
    expect(rows.filter((r) => r.hands_over)).toHaveLength(2);
  });

  test.each(rows)('decide - failed from $source on a $stage attempt $attempt (failover offered: $with_failover) hands over: $hands_over', ({ source, stage, attempt, with_failover, hands_over }) => {
    const state = atStage(onAttempt(attempt), stage);
    const current = a(attempt);
    const out = events(decide(state, failCommand(current, source, with_failover ? failover(attempt + 1) : undefined)));
    if (!hands_over) {
      // Final: the payment fails; no new attempt, and evolve agrees.
      expect(out).toEqual([{ type: 'AttemptFailed', at, attempt_id: current, code: 'CHANNEL_DOWN', message: 'no route' }]);
      expect(out.reduce<PaymentState>((s, e) => evolve(s, e), state).status).toBe('FAILED');
      return;
    }
    expect(out).toEqual([
      { type: 'AttemptFailed', at, attempt_id: current, code: 'CHANNEL_DOWN', message: 'no route', final: false },
      { type: 'ChannelRequested', at, attempt_no: attempt + 1, attempt_id: a(attempt + 1), channel_id: `ch_${attempt + 1}`, fee_minor: BigInt(attempt + 1) * 10n },
    ]);
    const after = out.reduce<PaymentState>((s, e) => evolve(s, e), state);
    expect(after).toMatchObject({ status: 'CREATED', attempts: expect.arrayContaining([expect.objectContaining({ attempt_id: a(attempt + 1), state: 'requested', channel_id: `ch_${attempt + 1}` })]) });
  });

  test('decide - the cap: attempt 9 of 9 fails finally even from its pay call', () => {
    expect(attempts_per_payment_max).toBe(9);
    const last = onAttempt(attempts_per_payment_max);
    expect(events(decide(last, failCommand(a(9), 'pay', failover(10))))).toEqual([{ type: 'AttemptFailed', at, attempt_id: a(9), code: 'CHANNEL_DOWN', message: 'no route' }]);
  });

  test('decide - a failover carries the next channel\'s reservation when routing held one, and only then', () => {
    const reservation: ReservationRef = { reservation_id: 'rsv-2', channel_id: 'ch_2' };
    const out = events(decide(onAttempt(1), failCommand(a(1), 'pay', { ...failover(2), reservation })));
    expect(out[1]).toEqual({ type: 'ChannelRequested', at, attempt_no: 2, attempt_id: a(2), channel_id: 'ch_2', fee_minor: 20n, reservation });
    const without = events(decide(onAttempt(1), failCommand(a(1), 'pay', failover(2))));
    expect(without[1]).not.toHaveProperty('reservation');
  });

  test('decide - a failure of a superseded attempt, with a failover offered, changes nothing', () => {
    const state = onAttempt(2);
    expect(decide(state, failCommand(a(1), 'pay', failover(3)))).toEqual({ events: [] });
  });
});

describe('decide - a success on a superseded attempt', () => {
  const success = (attempt_id: string, channel_trade_no: string, amount = amount_minor): PaymentCommand => ({
    type: 'attempt_status', at, attempt_id, source: 'notification', status: { kind: 'succeeded', channel_trade_no, amount_minor: amount, paid_at: new Date(paid_at) },
  });

  test.each(['requested', 'action_required', 'pending'] as const)(
    'decide - while attempt 2 is %s, a success on attempt 1 is a duplicate payment: recorded, never the payment\'s win',
    (stage) => {
      const state = atStage(onAttempt(2), stage);
      const out = events(decide(state, success(a(1), 'T-old')));
      expect(out).toEqual([{ type: 'DuplicatePaymentDetected', at, attempt_id: a(1), channel_trade_no: 'T-old', amount_minor }]);
      const after = out.reduce<PaymentState>((s, e) => evolve(s, e), state);
      expect(after.status).toBe(state.status);
      expect(after.winning_attempt_id).toBeUndefined();
      expect(after.duplicates).toEqual([{ attempt_id: a(1), channel_trade_no: 'T-old', amount_minor }]);
      // The current attempt can still win the payment.
      const won = apply(after, success(a(2), 'T-new'));
      expect(won).toMatchObject({ status: 'SUCCEEDED', winning_attempt_id: a(2), paid_at });
      // And the superseded success reported again is no second duplicate.
      expect(decide(won, success(a(1), 'T-old'))).toEqual({ events: [] });
    },
  );

  test('decide - a superseded attempt paid with a wrong amount is a duplicate of that amount, not a rejection', () => {
    const out = events(decide(onAttempt(2), success(a(1), 'T-odd', 1n)));
    expect(out).toEqual([{ type: 'DuplicatePaymentDetected', at, attempt_id: a(1), channel_trade_no: 'T-odd', amount_minor: 1n }]);
  });
});

// ---- refund policy -------------------------------------------------------------------------

const succeeded1: PaymentEvent = { type: 'AttemptSucceeded', at: paid_at, attempt_id: a(1), channel_trade_no: 'T1', amount_minor, paid_at };
const paid = (): PaymentState => fold([created, requested1, succeeded1])!;

let refund_seq = 0;
function refund(amount: bigint, command_at: string, refund_policy: RefundPolicy = policy, merchant_id = 'm_t'): Extract<PaymentCommand, { type: 'create_refund' }> {
  refund_seq += 1;
  const refund_id = `r${refund_seq}`;
  return { type: 'create_refund', at: command_at, merchant_id, refund_id, merchant_refund_no: `no-${refund_id}`, amount_minor: amount, reason: 'r', notify_url: 'https://m.example/n', fingerprint: `f-${refund_id}`, policy: refund_policy };
}

const types = (decision: Decision): string[] | string => ('rejection' in decision ? decision.rejection.reason : decision.events.map((e) => e.type));
const manualCode = (decision: Decision): string | undefined => {
  const manual = events(decision).find((e) => e.type === 'RefundRequiresManual');
  return manual === undefined ? undefined : (manual as Extract<PaymentEvent, { type: 'RefundRequiresManual' }>).code;
};
const soon = '2025-03-06T00:00:00.000Z';

describe('decide - refunds are allowed only on a paid payment', () => {
  const refunded = (): PaymentState => {
    const r = refund(amount_minor, soon);
    return apply(apply(paid(), r), { type: 'refund_status', at: soon, refund_id: r.refund_id, status: { kind: 'succeeded', channel_refund_no: 'c', amount_minor, refunded_at: new Date(soon) }, retries_max: 3 });
  };
  const partially = (): PaymentState => {
    const r = refund(1_000n, soon);
    return apply(apply(paid(), r), { type: 'refund_status', at: soon, refund_id: r.refund_id, status: { kind: 'succeeded', channel_refund_no: 'c', amount_minor: 1_000n, refunded_at: new Date(soon) }, retries_max: 3 });
  };
  const table: { name: string; state: () => PaymentState; expected: string[] | string }[] = [
    { name: 'CREATED', state: () => fold([created, requested1])!, expected: 'ILLEGAL_STATE' },
    { name: 'REQUIRES_ACTION', state: () => atStage(onAttempt(1), 'action_required'), expected: 'ILLEGAL_STATE' },
    { name: 'PROCESSING', state: () => atStage(onAttempt(1), 'pending'), expected: 'ILLEGAL_STATE' },
    { name: 'FAILED', state: () => apply(onAttempt(1), failCommand(a(1), 'query')), expected: 'ILLEGAL_STATE' },
    { name: 'CLOSED', state: () => fold([created, requested1, { type: 'CloseRequested', at, reason: 'merchant' }, { type: 'PaymentClosed', at, reason: 'merchant' }])!, expected: 'ILLEGAL_STATE' },
    { name: 'SUCCEEDED', state: paid, expected: ['RefundRequested'] },
    { name: 'PARTIALLY_REFUNDED', state: partially, expected: ['RefundRequested'] },
    // Fully refunded: nothing is left, and the status itself refuses before the amount does.
    { name: 'REFUNDED', state: refunded, expected: 'ILLEGAL_STATE' },
  ];

  test.each(table)('decide - a refund of a $name payment: $expected', ({ name, state, expected }) => {
    const s = state();
    expect(s.status).toBe(name);
    const decision = decide(s, refund(1n, soon));
    expect(types(decision)).toEqual(expected);
    if (expected === 'ILLEGAL_STATE') expect(decision).toEqual({ rejection: { reason: 'ILLEGAL_STATE', message: `payment is ${name}: only a SUCCEEDED or PARTIALLY_REFUNDED payment can be refunded` } });
  });

  test('decide - a refund is recorded against the winning attempt and its channel, with every field the merchant gave', () => {
    const won_second = apply(onAttempt(2), { type: 'attempt_status', at, attempt_id: a(2), source: 'notification', status: { kind: 'succeeded', channel_trade_no: 'T2', amount_minor, paid_at: new Date(paid_at) } });
    const command = refund(300n, soon);
    expect(events(decide(won_second, command))).toEqual([{
      type: 'RefundRequested', at: soon, refund_id: command.refund_id, merchant_refund_no: command.merchant_refund_no, attempt_id: a(2), channel_id: 'ch_2',
      amount_minor: 300n, reason: 'r', notify_url: 'https://m.example/n', fingerprint: command.fingerprint, kind: 'merchant',
    }]);
  });

  test('decide - exactly the refundable amount is allowed; one minor unit more is REFUND_EXCEEDS_PAID', () => {
    expect(types(decide(paid(), refund(amount_minor, soon)))).toEqual(['RefundRequested']);
    expect(decide(paid(), refund(amount_minor + 1n, soon))).toEqual({ rejection: { reason: 'REFUND_EXCEEDS_PAID', message: `refund of ${amount_minor + 1n} exceeds the ${amount_minor} still refundable` } });
  });
});

describe('decide - the refund window: counted from payment, its last millisecond included', () => {
  const paid_ms = Date.parse(paid_at);
  const iso = (ms: number): string => new Date(ms).toISOString();

  test.each([
    { label: 'one day after payment', offset_ms: day_ms, manual: false },
    { label: 'exactly 365 days after payment', offset_ms: 365 * day_ms, manual: false },
    { label: '365 days and 1 ms after payment', offset_ms: 365 * day_ms + 1, manual: true },
    { label: '366 days after payment', offset_ms: 366 * day_ms, manual: true },
  ])('decide - a refund $label (window 365 days): requires manual payout: $manual', ({ offset_ms, manual }) => {
    const decision = decide(paid(), refund(1n, iso(paid_ms + offset_ms)));
    expect(types(decision)).toEqual(manual ? ['RefundRequested', 'RefundRequiresManual'] : ['RefundRequested']);
    if (manual) {
      expect(events(decision)[1]).toMatchObject({ type: 'RefundRequiresManual', code: 'REFUND_WINDOW_PASSED', message: 'the channel refunds within 365 days of payment', at: iso(paid_ms + offset_ms) });
    }
  });

  test('decide - the window starts at payment, not at creation (paid 4 days after creation)', () => {
    const created_ms = Date.parse(created_at);
    // 365 days after creation but before 365 days after payment: still in the window.
    expect(types(decide(paid(), refund(1n, iso(created_ms + 365 * day_ms + day_ms))))).toEqual(['RefundRequested']);
  });

  test('decide - the window is the channel\'s policy, not a constant (a 180-day channel)', () => {
    const short: RefundPolicy = { window_days: 180, count_max: 50 };
    expect(types(decide(paid(), refund(1n, iso(paid_ms + 180 * day_ms), short)))).toEqual(['RefundRequested']);
    const late = decide(paid(), refund(1n, iso(paid_ms + 180 * day_ms + 1), short));
    expect(manualCode(late)).toBe('REFUND_WINDOW_PASSED');
    expect(events(late)[1]).toMatchObject({ message: 'the channel refunds within 180 days of payment' });
  });

  test('decide - a refund past the window holds its amount like any other (write-ahead, then manual)', () => {
    const late = refund(4_000n, iso(paid_ms + 400 * day_ms));
    const state = apply(paid(), late);
    expect(state.refunds[0]).toMatchObject({ refund_id: late.refund_id, state: 'REQUIRES_MANUAL', failure: { code: 'REFUND_WINDOW_PASSED' } });
    expect(decide(state, refund(6_001n, soon))).toMatchObject({ rejection: { reason: 'REFUND_EXCEEDS_PAID' } });
  });
});

describe('decide - the refund count: the channel\'s 50th refund is allowed, the 51st goes to a manual payout', () => {
  /** A paid payment with `count` merchant refunds of 1 minor unit each already requested. */
  function withRefunds(count: number, refund_policy = policy): PaymentState {
    let state = paid();
    for (let i = 0; i < count; i += 1) state = apply(state, refund(1n, soon, refund_policy));
    return state;
  }

  test('decide - refunds 1..49 exist: the 50th is an ordinary refund', () => {
    const state = withRefunds(refund_count_max_default - 1);
    expect(state.refunds.every((r) => r.state === 'PENDING')).toBe(true);
    expect(types(decide(state, refund(1n, soon)))).toEqual(['RefundRequested']);
  });

  test('decide - refunds 1..50 exist: the 51st is recorded and handed to a manual payout', () => {
    const state = withRefunds(refund_count_max_default);
    const decision = decide(state, refund(1n, soon));
    expect(types(decision)).toEqual(['RefundRequested', 'RefundRequiresManual']);
    expect(events(decision)[1]).toMatchObject({ code: 'REFUND_COUNT_EXCEEDED', message: 'the channel takes at most 50 refunds of one payment' });
  });

  test('decide - the count is the channel\'s policy: with count_max 3, the 3rd is ordinary, the 4th manual', () => {
    const three: RefundPolicy = { window_days: 365, count_max: 3 };
    expect(types(decide(withRefunds(2, three), refund(1n, soon, three)))).toEqual(['RefundRequested']);
    expect(manualCode(decide(withRefunds(3, three), refund(1n, soon, three)))).toBe('REFUND_COUNT_EXCEEDED');
  });

  test('decide - failed and manual refunds still count (each was a refund the channel saw or we promised)', () => {
    const three: RefundPolicy = { window_days: 365, count_max: 3 };
    let state = withRefunds(3, three);
    state = apply(state, { type: 'refund_status', at: soon, refund_id: state.refunds[0]!.refund_id, status: { kind: 'failed', code: 'X', message: 'no', retryable: false }, retries_max: 3 });
    expect(manualCode(decide(state, refund(1n, soon, three)))).toBe('REFUND_COUNT_EXCEEDED');
  });

  test('decide - refunds of duplicate payments do not count toward the merchant\'s refund limit', () => {
    const three: RefundPolicy = { window_days: 365, count_max: 3 };
    let state = withRefunds(2, three);
    // Three duplicate payments on the winning attempt, each refunded automatically.
    for (const trade_no of ['D1', 'D2', 'D3']) {
      state = apply(state, { type: 'attempt_status', at, attempt_id: a(1), source: 'notification', status: { kind: 'succeeded', channel_trade_no: trade_no, amount_minor, paid_at: new Date(paid_at) } });
      state = apply(state, { type: 'refund_duplicate', at, refund_id: `dup-${trade_no}`, attempt_id: a(1), channel_trade_no: trade_no });
    }
    expect(state.refunds.filter((r) => r.kind === 'duplicate')).toHaveLength(3);
    // Two merchant refunds so far: the third is still ordinary, and the duplicates' money is
    // not the merchant's refundable amount either.
    expect(types(decide(state, refund(amount_minor - 2n, soon, three)))).toEqual(['RefundRequested']);
  });

  test('decide - the window is checked before the count (a late 51st refund says the window passed)', () => {
    const state = withRefunds(refund_count_max_default);
    expect(manualCode(decide(state, refund(1n, new Date(Date.parse(paid_at) + 400 * day_ms).toISOString())))).toBe('REFUND_WINDOW_PASSED');
  });
});

describe('decide - merchant scoping of every command a merchant can send', () => {
  const open = (): PaymentState => atStage(onAttempt(1), 'action_required');
  const states: Record<string, () => PaymentState> = {
    CREATED: () => onAttempt(1),
    REQUIRES_ACTION: open,
    SUCCEEDED: paid,
    CLOSED: () => fold([created, requested1, { type: 'CloseRequested', at, reason: 'merchant' }, { type: 'PaymentClosed', at, reason: 'merchant' }])!,
  };
  const commands = (merchant_id: string): Record<string, PaymentCommand> => ({
    ClosePayment: { type: 'close', at, reason: 'merchant', merchant_id },
    ConfirmPayment: { type: 'attempt_status', at, merchant_id, attempt_id: a(1), source: 'confirm', status: { kind: 'succeeded', channel_trade_no: 'T9', amount_minor, paid_at: new Date(at) } },
    'ConfirmPayment (wrong code)': { type: 'attempt_status', at, merchant_id, attempt_id: a(1), source: 'confirm', status: { kind: 'failed', code: '13', message: 'wrong code' } },
    CreateRefund: refund(1n, soon, policy, merchant_id),
    // A payment id names its merchant, so a create never reaches another's payment; were one
    // to, it would be refused the same way rather than answered as a replay or a conflict.
    CreatePayment: { ...created, type: 'create', merchant_id, channel_id: 'ch_1' } as PaymentCommand,
  });
  const rows = Object.keys(states).flatMap((state) => Object.keys(commands('m_x')).map((command) => ({ state, command })));

  test.each(rows)('decide - $command by another merchant on a $state payment is NOT_FOUND, like an absent payment', ({ state, command }) => {
    expect(decide(states[state]!(), commands('m_other')[command]!)).toEqual({ rejection: { reason: 'NOT_FOUND', message: 'no such payment' } });
  });

  test.each(rows)('decide - $command by the owner on a $state payment is not refused as absent', ({ state, command }) => {
    const decision = decide(states[state]!(), commands('m_t')[command]!);
    expect(decision).not.toEqual({ rejection: { reason: 'NOT_FOUND', message: 'no such payment' } });
  });

  test('decide - an empty merchant id is a merchant that owns nothing, not paycore\'s own command', () => {
    expect(decide(open(), { type: 'close', at, reason: 'merchant', merchant_id: '' })).toEqual({ rejection: { reason: 'NOT_FOUND', message: 'no such payment' } });
  });
});

// ---- what mutation testing found unchecked (test/mutation/equivalent.md lists the rest) ------

describe('decide - details a mutant could change unnoticed', () => {
  const no_such_payment = { rejection: { reason: 'NOT_FOUND', message: 'no such payment' } };

  test('decide - every command but create on no payment is NOT_FOUND, "no such payment"', () => {
    const commands: PaymentCommand[] = [
      { type: 'close', at, reason: 'expired' },
      { type: 'close_result', at, outcome: 'closed' },
      { type: 'attempt_status', at, attempt_id: a(1), source: 'query', status: { kind: 'not_found' } },
      refund(1n, soon),
      { type: 'refund_duplicate', at, refund_id: 'd1', attempt_id: a(1), channel_trade_no: 'D1' },
      { type: 'refund_status', at, refund_id: 'r1', status: { kind: 'not_found' }, retries_max: 3 },
    ];
    for (const command of commands) expect(decide(undefined, command)).toEqual(no_such_payment);
  });

  test('decide - paycore\'s own command carrying merchant_id: undefined is not a merchant\'s', () => {
    expect(events(decide(onAttempt(1), { type: 'close', at, reason: 'expired', merchant_id: undefined }))).toEqual([{ type: 'CloseRequested', at, reason: 'expired' }]);
  });

  test('decide - create carries routing\'s fee and reservation onto attempt 1 when it has them', () => {
    const reservation: ReservationRef = { reservation_id: 'rsv-1', channel_id: 'ch_1' };
    const { type: _t, ...fields } = created as Extract<PaymentEvent, { type: 'PaymentCreated' }>;
    const out = events(decide(undefined, { ...fields, type: 'create', channel_id: 'ch_1', fee_minor: 60n, reservation }));
    expect(out[1]).toEqual({ type: 'ChannelRequested', at: created_at, attempt_no: 1, attempt_id: a(1), channel_id: 'ch_1', fee_minor: 60n, reservation });
    const bare = events(decide(undefined, { ...fields, type: 'create', channel_id: 'ch_1' }));
    expect(bare[1]).toEqual({ type: 'ChannelRequested', at: created_at, attempt_no: 1, attempt_id: a(1), channel_id: 'ch_1' });
    // Absent, not present as undefined (toEqual would not tell the two apart).
    expect(Object.keys(bare[1]!).sort()).toEqual(['at', 'attempt_id', 'attempt_no', 'channel_id', 'type']);
  });

  test('decide - a merchant close of a settled payment says why, by status', () => {
    const failed_payment = apply(onAttempt(1), failCommand(a(1), 'query'));
    expect(decide(paid(), { type: 'close', at, reason: 'merchant' })).toEqual({ rejection: { reason: 'ILLEGAL_STATE', message: 'payment is SUCCEEDED: it cannot be closed' } });
    expect(decide(failed_payment, { type: 'close', at, reason: 'merchant' })).toEqual({ rejection: { reason: 'ILLEGAL_STATE', message: 'payment is FAILED: only an unpaid open payment can be closed' } });
  });

  test('decide - NOT_FOUND messages name what was not found', () => {
    expect(decide(paid(), { type: 'attempt_status', at, attempt_id: a(7), source: 'query', status: { kind: 'not_found' } })).toEqual({ rejection: { reason: 'NOT_FOUND', message: `no attempt ${a(7)} on this payment` } });
    expect(decide(paid(), { type: 'refund_status', at, refund_id: 'r-x', status: { kind: 'not_found' }, retries_max: 3 })).toEqual({ rejection: { reason: 'NOT_FOUND', message: 'no refund r-x on this payment' } });
    expect(decide(paid(), { type: 'refund_duplicate', at, refund_id: 'd1', attempt_id: a(1), channel_trade_no: 'D9' })).toEqual({ rejection: { reason: 'NOT_FOUND', message: `no duplicate payment on attempt ${a(1)}` } });
    const once = apply(paid(), refund(5n, soon));
    const r = once.refunds[0]!;
    expect(decide(once, { ...refund(6n, soon), refund_id: r.refund_id, merchant_refund_no: r.merchant_refund_no })).toEqual({ rejection: { reason: 'IDEMPOTENCY_KEY_REUSED', message: `merchant_refund_no ${r.merchant_refund_no} was used with other parameters` } });
  });

  test('decide - only the payer\'s confirmation of a waiting step-up is news; a confirm of an attempt never asked for a code is not', () => {
    expect(decide(onAttempt(1), { type: 'attempt_status', at, attempt_id: a(1), source: 'confirm', status: { kind: 'pending', channel_trade_no: 'q' } })).toEqual({ events: [] });
    expect(events(decide(atStage(onAttempt(1), 'action_required'), { type: 'attempt_status', at, attempt_id: a(1), source: 'confirm', status: { kind: 'pending', channel_trade_no: 'q' } })))
      .toEqual([{ type: 'AttemptPending', at, attempt_id: a(1), channel_trade_no: 'q' }]);
  });

  const success = (attempt_id: string, channel_trade_no: string): PaymentCommand => ({
    type: 'attempt_status', at, attempt_id, source: 'notification', status: { kind: 'succeeded', channel_trade_no, amount_minor, paid_at: new Date(paid_at) },
  });

  test('decide - a success without a transaction number, or on a payment paid without one, counts as a repeat (reconciliation settles the rest)', () => {
    expect(decide(paid(), success(a(1), ''))).toEqual({ events: [] });
    const paid_without_number = fold([created, requested1, { ...succeeded1, channel_trade_no: '' } as PaymentEvent])!;
    expect(decide(paid_without_number, success(a(1), 'T-new'))).toEqual({ events: [] });
  });

  test('decide - a transaction recorded as a duplicate on one attempt is another payment on a different attempt', () => {
    // a1 superseded and paid late as D1 (a duplicate); a2 wins with T2; a2 then reports D1.
    let state = apply(onAttempt(2), success(a(1), 'D1'));
    state = apply(state, success(a(2), 'T2'));
    expect(events(decide(state, success(a(2), 'D1')))).toEqual([{ type: 'DuplicatePaymentDetected', at, attempt_id: a(2), channel_trade_no: 'D1', amount_minor }]);
    expect(decide(state, success(a(1), 'D1'))).toEqual({ events: [] });
  });

  test('decide - a duplicate\'s refund is matched by attempt and transaction both, and carries only what paycore knows', () => {
    let state = apply(onAttempt(2), success(a(1), 'D1'));
    state = apply(state, success(a(2), 'T2'));
    expect(decide(state, { type: 'refund_duplicate', at, refund_id: 'd1', attempt_id: a(2), channel_trade_no: 'D1' })).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
    expect(decide(state, { type: 'refund_duplicate', at, refund_id: 'd1', attempt_id: a(1), channel_trade_no: 'T2' })).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
    expect(events(decide(state, { type: 'refund_duplicate', at, refund_id: 'd1', attempt_id: a(1), channel_trade_no: 'D1' }))).toEqual([{
      type: 'RefundRequested', at, refund_id: 'd1', merchant_refund_no: '', attempt_id: a(1), channel_id: 'ch_1', amount_minor,
      reason: 'duplicate payment', notify_url: '', fingerprint: '', kind: 'duplicate', channel_trade_no: 'D1',
    }]);
  });

  test('decide - refund status messages: a wrong amount names both, the last retry counts the tries', () => {
    const state = apply(paid(), refund(100n, soon));
    const refund_id = state.refunds[0]!.refund_id;
    expect(decide(state, { type: 'refund_status', at, refund_id, retries_max: 3, status: { kind: 'succeeded', channel_refund_no: 'c', amount_minor: 99n, refunded_at: new Date(soon) } }))
      .toEqual({ rejection: { reason: 'ILLEGAL_STATE', message: 'channel reported 99 refunded on a refund of 100' } });
    const busy = { kind: 'failed', code: 'SYSTEM_ERROR', message: 'busy', retryable: true } as const;
    const retried = apply(state, { type: 'refund_status', at, refund_id, retries_max: 3, status: busy });
    expect(events(decide(retried, { type: 'refund_status', at, refund_id, retries_max: 2, status: busy })))
      .toEqual([{ type: 'RefundRequiresManual', at, refund_id, code: 'SYSTEM_ERROR', message: 'still failing after 2 tries: busy' }]);
  });
});

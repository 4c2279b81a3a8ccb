// decide(): what each command means in each payment state, table-driven, with states built by
// folding real events; and the property that decide never produces an event evolve refuses.

import type { AttemptStatus } from '../../channels/channel';
import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { decide } from './decide';
import { evolve, fold } from './evolve';
import type { CloseReason, Decision, PaymentCommand, PaymentEvent, PaymentEventType, PaymentState } from './types';

const payment_id = paymentId(test_id_key, 'm_1001', 'order-0001');
const amount_minor = 12_345n;
const fingerprint = 'a'.repeat(64);
const a1 = attemptId(payment_id, 1);
const a2 = attemptId(payment_id, 2);
const at = '2025-03-01T08:10:00.000Z';
const paid_at = new Date('2025-03-01T08:09:30.000Z');

const createCommand: Extract<PaymentCommand, { type: 'create' }> = {
  type: 'create',
  at: '2025-03-01T08:00:00.000Z',
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
  fingerprint,
  payer_sealed: 'k1.sealed-payer',
  include_channels: ['wx_main', 'wx_backup'],
  exclude_channels: [],
  channel_id: 'wx_main',
};

// ---- a small builder: states are folds of real events ----------------------------------

const ev = {
  requested: (n: number): PaymentEvent => ({ type: 'ChannelRequested', at, attempt_no: n, attempt_id: attemptId(payment_id, n), channel_id: n === 1 ? 'wx_main' : 'wx_backup' }),
  action: (n: number): PaymentEvent => ({ type: 'AttemptActionRequired', at, attempt_id: attemptId(payment_id, n), next_action: { type: 'QR_CODE', value: 'weixin://wxpay/bizpayurl?pr=abc' }, channel_trade_no: `prepay-${n}` }),
  pending: (n: number): PaymentEvent => ({ type: 'AttemptPending', at, attempt_id: attemptId(payment_id, n) }),
  succeeded: (n: number): PaymentEvent => ({ type: 'AttemptSucceeded', at, attempt_id: attemptId(payment_id, n), channel_trade_no: `42000${n}`, amount_minor, paid_at: paid_at.toISOString() }),
  failed: (n: number): PaymentEvent => ({ type: 'AttemptFailed', at, attempt_id: attemptId(payment_id, n), code: 'NOTENOUGH', message: 'insufficient balance' }),
  closeRequested: (reason: CloseReason): PaymentEvent => ({ type: 'CloseRequested', at, reason }),
  closed: (reason: CloseReason): PaymentEvent => ({ type: 'PaymentClosed', at, reason }),
};

/** The payment as the create command makes it, then `more` events folded on. */
function payment(...more: PaymentEvent[]): PaymentState {
  const created = decide(undefined, createCommand);
  if (!('events' in created)) throw new Error('builder: create was rejected');
  const state = fold([...created.events, ...more]);
  if (state === undefined) throw new Error('builder: no state');
  return state;
}

/** Named states: the payment statuses decide distinguishes, each reached by real events. */
const states = {
  'no state': () => undefined,
  'CREATED (attempt requested)': () => payment(),
  REQUIRES_ACTION: () => payment(ev.action(1)),
  PROCESSING: () => payment(ev.pending(1)),
  'closing (REQUIRES_ACTION, expiry)': () => payment(ev.action(1), ev.closeRequested('expired')),
  'closing (CREATED, merchant)': () => payment(ev.closeRequested('merchant')),
  SUCCEEDED: () => payment(ev.action(1), ev.succeeded(1)),
  'SUCCEEDED (second attempt won)': () => payment(ev.pending(1), ev.requested(2), ev.succeeded(2)),
  CLOSED: () => payment(ev.action(1), ev.closeRequested('merchant'), ev.closed('merchant')),
  FAILED: () => payment(ev.pending(1), ev.failed(1)),
} satisfies Record<string, () => PaymentState | undefined>;
type StateName = keyof typeof states;

// ---- outcome: a compact, comparable summary of a decision ------------------------------

type Outcome = 'none' | `reject ${string}` | PaymentEventType[];

function outcomeOf(decision: Decision): Outcome {
  if ('rejection' in decision) return `reject ${decision.rejection.reason}`;
  if (decision.events.length === 0) return 'none';
  return decision.events.map((e) => e.type);
}

function events(decision: Decision): PaymentEvent[] {
  if ('rejection' in decision) throw new Error(`expected events, got ${decision.rejection.reason}: ${decision.rejection.message}`);
  return decision.events;
}

const attemptStatus = (attempt_id: string, status: AttemptStatus, source: 'pay' | 'query' | 'notification' = 'query'): PaymentCommand =>
  ({ type: 'attempt_status', at, attempt_id, status, source });

const statuses = {
  succeeded: { kind: 'succeeded', channel_trade_no: '4200009999', amount_minor, paid_at },
  action_required: { kind: 'action_required', next_action: { type: 'QR_CODE', value: 'weixin://wxpay/bizpayurl?pr=new' }, channel_trade_no: 'prepay-new' },
  pending: { kind: 'pending', channel_trade_no: 'wx-accepted' },
  failed: { kind: 'failed', code: 'ORDERCLOSED', message: 'order closed by payer bank' },
  closed: { kind: 'closed' },
  not_found: { kind: 'not_found' },
} satisfies Record<AttemptStatus['kind'], AttemptStatus>;
type Kind = keyof typeof statuses;
const sources = ['pay', 'query', 'notification'] as const;

describe('decide - create', () => {
  test('decide - create on no state is PaymentCreated then ChannelRequested for attempt 1 on the routed channel', () => {
    const out = events(decide(undefined, createCommand));
    expect(out).toHaveLength(2);
    const { type: _type, channel_id: _channel, ...fields } = createCommand;
    expect(out[0]).toEqual({ type: 'PaymentCreated', ...fields });
    expect(out[1]).toEqual({ type: 'ChannelRequested', at: createCommand.at, attempt_no: 1, attempt_id: attemptId(payment_id, 1), channel_id: 'wx_main' });
    expect(a1).toBe(`${payment_id}a1`);
  });

  test.each(['CREATED (attempt requested)', 'REQUIRES_ACTION', 'SUCCEEDED', 'CLOSED', 'FAILED'] as const)(
    'decide - create replayed with the same fingerprint on %s is no events',
    (name) => {
      expect(outcomeOf(decide(states[name](), { ...createCommand, at: '2025-03-01T08:20:00.000Z', channel_id: 'wx_backup' }))).toBe('none');
    },
  );

  test.each(['CREATED (attempt requested)', 'SUCCEEDED', 'CLOSED'] as const)('decide - create with another fingerprint on %s is IDEMPOTENCY_KEY_REUSED', (name) => {
    const decision = decide(states[name](), { ...createCommand, amount_minor: 99n, fingerprint: 'b'.repeat(64) });
    expect(decision).toEqual({ rejection: { reason: 'IDEMPOTENCY_KEY_REUSED', message: expect.stringContaining('order-0001') } });
  });
});

describe('decide - close', () => {
  const close = (reason: CloseReason): PaymentCommand => ({ type: 'close', at, reason });

  const table: { name: StateName; reason: CloseReason; expected: Outcome; }[] = [
    { name: 'no state', reason: 'merchant', expected: 'reject NOT_FOUND' },
    { name: 'no state', reason: 'expired', expected: 'reject NOT_FOUND' },
    { name: 'CREATED (attempt requested)', reason: 'merchant', expected: ['CloseRequested'] },
    { name: 'REQUIRES_ACTION', reason: 'merchant', expected: ['CloseRequested'] },
    { name: 'PROCESSING', reason: 'merchant', expected: ['CloseRequested'] },
    { name: 'REQUIRES_ACTION', reason: 'expired', expected: ['CloseRequested'] },
    { name: 'PROCESSING', reason: 'expired', expected: ['CloseRequested'] },
    { name: 'closing (REQUIRES_ACTION, expiry)', reason: 'merchant', expected: 'none' },
    { name: 'closing (CREATED, merchant)', reason: 'merchant', expected: 'none' },
    { name: 'closing (CREATED, merchant)', reason: 'expired', expected: 'none' },
    { name: 'CLOSED', reason: 'merchant', expected: 'none' },
    { name: 'CLOSED', reason: 'expired', expected: 'none' },
    { name: 'SUCCEEDED', reason: 'merchant', expected: 'reject ILLEGAL_STATE' },
    { name: 'FAILED', reason: 'merchant', expected: 'reject ILLEGAL_STATE' },
    { name: 'SUCCEEDED', reason: 'expired', expected: 'none' },
    { name: 'FAILED', reason: 'expired', expected: 'none' },
  ];

  test.each(table)('decide - $reason close of $name is $expected', ({ name, reason, expected }) => {
    const decision = decide(states[name](), close(reason));
    expect(outcomeOf(decision)).toEqual(expected);
    if (Array.isArray(expected)) expect(events(decision)).toEqual([{ type: 'CloseRequested', at, reason }]);
  });

  test('decide - close of a SUCCEEDED payment is ILLEGAL_STATE naming the status', () => {
    expect(decide(states.SUCCEEDED(), close('merchant'))).toEqual({ rejection: { reason: 'ILLEGAL_STATE', message: expect.stringContaining('SUCCEEDED') } });
    expect(decide(states.FAILED(), close('merchant'))).toEqual({ rejection: { reason: 'ILLEGAL_STATE', message: expect.stringContaining('FAILED') } });
  });
});

describe('decide - close_result', () => {
  const result = (outcome: 'closed' | 'already_paid'): PaymentCommand => ({ type: 'close_result', at, outcome });

  test.each([
    { name: 'closing (CREATED, merchant)' as const, reason: 'merchant' },
    { name: 'closing (REQUIRES_ACTION, expiry)' as const, reason: 'expired' },
  ])('decide - close_result closed while $name is PaymentClosed with reason $reason', ({ name, reason }) => {
    const state = states[name]();
    const out = events(decide(state, result('closed')));
    expect(out).toEqual([{ type: 'PaymentClosed', at, reason }]);
    const after = evolve(state, out[0]!);
    expect(after).toMatchObject({ status: 'CLOSED', closed_reason: reason, closing: undefined });
  });

  test.each(['closing (CREATED, merchant)', 'closing (REQUIRES_ACTION, expiry)'] as const)('decide - close_result already_paid while %s is no events', (name) => {
    expect(outcomeOf(decide(states[name](), result('already_paid')))).toBe('none');
  });

  test.each(['CREATED (attempt requested)', 'REQUIRES_ACTION', 'PROCESSING', 'SUCCEEDED', 'CLOSED', 'FAILED'] as const)(
    'decide - close_result when %s is not closing is no events',
    (name) => {
      expect(outcomeOf(decide(states[name](), result('closed')))).toBe('none');
      expect(outcomeOf(decide(states[name](), result('already_paid')))).toBe('none');
    },
  );

  test('decide - close_result on no state is NOT_FOUND', () => {
    expect(outcomeOf(decide(undefined, result('closed')))).toBe('reject NOT_FOUND');
  });
});

describe('decide - attempt_status', () => {
  // Expected outcome of a status about attempt 1 (the current attempt, or the winner when paid).
  // A pair [pay, query/notification] where the source matters.
  type Cell = Outcome | { pay: Outcome; other: Outcome };
  const table_states = ['CREATED (attempt requested)', 'REQUIRES_ACTION', 'PROCESSING', 'closing (REQUIRES_ACTION, expiry)', 'SUCCEEDED', 'CLOSED', 'FAILED'] as const;
  type TableState = (typeof table_states)[number];
  const S: PaymentEventType[] = ['AttemptSucceeded'];
  const D: PaymentEventType[] = ['DuplicatePaymentDetected'];
  const C: PaymentEventType[] = ['PaymentClosed'];
  const F: PaymentEventType[] = ['AttemptFailed'];
  const table: Record<Kind, Record<TableState, Cell>> = {
    succeeded: {
      'CREATED (attempt requested)': S, REQUIRES_ACTION: S, PROCESSING: S, 'closing (REQUIRES_ACTION, expiry)': S,
      // SUCCEEDED: the state was paid as 420001; this success names another transaction
      // (4200009999): the payer paid twice. The same transaction again is 'none' (below).
      SUCCEEDED: D, CLOSED: D, FAILED: D,
    },
    action_required: {
      'CREATED (attempt requested)': ['AttemptActionRequired'], REQUIRES_ACTION: 'none', PROCESSING: 'none', 'closing (REQUIRES_ACTION, expiry)': 'none',
      SUCCEEDED: 'none', CLOSED: 'none', FAILED: 'none',
    },
    pending: {
      'CREATED (attempt requested)': { pay: ['AttemptPending'], other: 'none' }, REQUIRES_ACTION: 'none', PROCESSING: 'none', 'closing (REQUIRES_ACTION, expiry)': 'none',
      SUCCEEDED: 'none', CLOSED: 'none', FAILED: 'none',
    },
    failed: {
      'CREATED (attempt requested)': F, REQUIRES_ACTION: F, PROCESSING: F, 'closing (REQUIRES_ACTION, expiry)': F,
      SUCCEEDED: 'none', CLOSED: 'none', FAILED: 'none',
    },
    closed: {
      'CREATED (attempt requested)': C, REQUIRES_ACTION: C, PROCESSING: C, 'closing (REQUIRES_ACTION, expiry)': C,
      SUCCEEDED: 'none', CLOSED: 'none', FAILED: 'none',
    },
    not_found: {
      'CREATED (attempt requested)': 'none', REQUIRES_ACTION: 'none', PROCESSING: 'none', 'closing (REQUIRES_ACTION, expiry)': C,
      SUCCEEDED: 'none', CLOSED: 'none', FAILED: 'none',
    },
  };

  const cases = (Object.keys(table) as Kind[]).flatMap((kind) =>
    table_states.flatMap((name) =>
      sources.map((source) => {
        const cell = table[kind][name];
        const expected = typeof cell === 'object' && !Array.isArray(cell) ? (source === 'pay' ? cell.pay : cell.other) : cell;
        return { kind, name, source, expected };
      }),
    ),
  );

  test('decide - the attempt_status table covers every kind × source × state', () => {
    expect(cases).toHaveLength(6 * 3 * 7);
  });

  test.each(cases)('decide - $kind from $source on $name is $expected', ({ kind, name, source, expected }) => {
    const state = states[name]();
    const decision = decide(state, attemptStatus(a1, statuses[kind], source));
    expect(outcomeOf(decision)).toEqual(expected);
    if (!Array.isArray(expected)) return;
    const [event] = events(decision);
    // The fields each event carries, taken from the channel's answer and the state.
    switch (event!.type) {
      case 'AttemptSucceeded':
        expect(event).toEqual({ type: 'AttemptSucceeded', at, attempt_id: a1, channel_trade_no: '4200009999', amount_minor, paid_at: paid_at.toISOString() });
        break;
      case 'DuplicatePaymentDetected':
        expect(event).toEqual({ type: 'DuplicatePaymentDetected', at, attempt_id: a1, channel_trade_no: '4200009999', amount_minor });
        break;
      case 'AttemptActionRequired':
        expect(event).toEqual({ type: 'AttemptActionRequired', at, attempt_id: a1, next_action: statuses.action_required.next_action, channel_trade_no: 'prepay-new' });
        break;
      case 'AttemptPending':
        expect(event).toEqual({ type: 'AttemptPending', at, attempt_id: a1, channel_trade_no: 'wx-accepted' });
        break;
      case 'AttemptFailed':
        expect(event).toEqual({ type: 'AttemptFailed', at, attempt_id: a1, code: 'ORDERCLOSED', message: 'order closed by payer bank' });
        break;
      case 'PaymentClosed':
        // The closing reason when a close was under way; otherwise the channel closed it.
        expect(event).toEqual({ type: 'PaymentClosed', at, reason: state?.closing ?? 'channel' });
        expect(event).toEqual({ type: 'PaymentClosed', at, reason: name.startsWith('closing') ? 'expired' : 'channel' });
        break;
      default:
        throw new Error(`unexpected ${event!.type}`);
    }
  });

  test.each(['CREATED (attempt requested)', 'REQUIRES_ACTION', 'PROCESSING', 'closing (REQUIRES_ACTION, expiry)'] as const)(
    'decide - succeeded with a wrong amount on %s is ILLEGAL_STATE',
    (name) => {
      for (const wrong of [amount_minor - 1n, amount_minor + 1n, amount_minor * 100n]) {
        const decision = decide(states[name](), attemptStatus(a1, { ...statuses.succeeded, amount_minor: wrong }, 'notification'));
        expect(decision).toEqual({ rejection: { reason: 'ILLEGAL_STATE', message: expect.stringContaining(String(wrong)) } });
      }
    },
  );

  test('decide - succeeded with another amount after close is a duplicate of that amount', () => {
    const out = events(decide(states.CLOSED(), attemptStatus(a1, { ...statuses.succeeded, amount_minor: 1n }, 'notification')));
    expect(out).toEqual([{ type: 'DuplicatePaymentDetected', at, attempt_id: a1, channel_trade_no: '4200009999', amount_minor: 1n }]);
  });

  test('decide - succeeded on the losing attempt of a SUCCEEDED payment is DuplicatePaymentDetected', () => {
    const state = states['SUCCEEDED (second attempt won)']();
    expect(state.winning_attempt_id).toBe(a2);
    expect(outcomeOf(decide(state, attemptStatus(a1, statuses.succeeded, 'notification')))).toEqual(['DuplicatePaymentDetected']);
    // The winner's own transaction reported again is nothing (another transaction would be a duplicate).
    expect(outcomeOf(decide(state, attemptStatus(a2, { ...statuses.succeeded, channel_trade_no: '420002' }, 'notification')))).toBe('none');
  });

  test('decide - a duplicate success reported twice is recorded once', () => {
    const state = states.CLOSED();
    const first = events(decide(state, attemptStatus(a1, statuses.succeeded, 'notification')));
    const after = first.reduce<PaymentState>((s, e) => evolve(s, e), state);
    expect(after.duplicates).toHaveLength(1);
    expect(outcomeOf(decide(after, attemptStatus(a1, statuses.succeeded, 'query')))).toBe('none');
  });

  test('decide - a second provider transaction on the winning attempt is a duplicate payment; the same one again is nothing', () => {
    const state = states.SUCCEEDED(); // a1 paid as 420001
    expect(outcomeOf(decide(state, attemptStatus(a1, { ...statuses.succeeded, channel_trade_no: '420001' }, 'notification')))).toBe('none');
    const second = events(decide(state, attemptStatus(a1, { ...statuses.succeeded, channel_trade_no: '420001-second' }, 'notification')));
    expect(second).toEqual([{ type: 'DuplicatePaymentDetected', at, attempt_id: a1, channel_trade_no: '420001-second', amount_minor }]);
    const after = second.reduce<PaymentState>((s, e) => evolve(s, e), state);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.attempts[0]!.channel_trade_no).toBe('420001'); // the payment stays the first transaction
    expect(after.duplicates).toEqual([{ attempt_id: a1, channel_trade_no: '420001-second', amount_minor }]);
    for (const trade_no of ['420001', '420001-second']) {
      expect(outcomeOf(decide(after, attemptStatus(a1, { ...statuses.succeeded, channel_trade_no: trade_no }, 'query')))).toBe('none');
    }
  });

  test('decide - a third transaction after a close-time duplicate on the same attempt is recorded too', () => {
    const state = [{ type: 'DuplicatePaymentDetected', at, attempt_id: a1, channel_trade_no: 'T1', amount_minor } as PaymentEvent].reduce<PaymentState>((s, e) => evolve(s, e), states.CLOSED());
    const out = events(decide(state, attemptStatus(a1, { ...statuses.succeeded, channel_trade_no: 'T2' }, 'notification')));
    expect(out.map((e) => e.type)).toEqual(['DuplicatePaymentDetected']);
  });

  test('decide - a status about a superseded attempt of an open payment moves nothing', () => {
    const state = payment(ev.pending(1), ev.requested(2));
    for (const kind of ['action_required', 'pending', 'failed', 'closed', 'not_found'] as const) {
      expect(outcomeOf(decide(state, attemptStatus(a1, statuses[kind], 'pay')))).toBe('none');
    }
  });

  test.each(Object.keys(states).filter((name) => name !== 'no state') as StateName[])('decide - a status about an unknown attempt on %s is NOT_FOUND', (name) => {
    for (const kind of Object.keys(statuses) as Kind[]) {
      expect(outcomeOf(decide(states[name](), attemptStatus(attemptId(payment_id, 7), statuses[kind], 'notification')))).toBe('reject NOT_FOUND');
      expect(outcomeOf(decide(states[name](), attemptStatus(attemptId(paymentId(test_id_key, 'm_1001', 'other'), 1), statuses[kind], 'notification')))).toBe('reject NOT_FOUND');
    }
  });

  test('decide - attempt_status on no state is NOT_FOUND', () => {
    expect(outcomeOf(decide(undefined, attemptStatus(a1, statuses.succeeded, 'notification')))).toBe('reject NOT_FOUND');
  });
});

describe('decide - property', () => {
  // Every command the actor can hand in, against every state above.
  const commands: PaymentCommand[] = [
    createCommand,
    { ...createCommand, fingerprint: 'c'.repeat(64) },
    ...(['merchant', 'expired', 'channel'] as const).map((reason): PaymentCommand => ({ type: 'close', at, reason })),
    ...(['closed', 'already_paid'] as const).map((outcome): PaymentCommand => ({ type: 'close_result', at, outcome })),
    ...[a1, a2, attemptId(payment_id, 3)].flatMap((attempt_id) =>
      (Object.keys(statuses) as Kind[]).flatMap((kind) =>
        sources.flatMap((source) => [
          attemptStatus(attempt_id, statuses[kind], source),
          ...(kind === 'succeeded' ? [attemptStatus(attempt_id, { ...statuses.succeeded, amount_minor: amount_minor + 1n }, source)] : []),
        ]),
      ),
    ),
  ];

  test('decide - never produces an event evolve refuses (every state × every command)', () => {
    let with_events = 0;
    for (const [name, make] of Object.entries(states)) {
      for (const command of commands) {
        const state = make();
        const decision = decide(state, command);
        if ('rejection' in decision) continue;
        if (decision.events.length > 0) with_events += 1;
        let next = state;
        try {
          for (const event of decision.events) next = evolve(next, event);
        } catch (error) {
          throw new Error(`${name}, ${JSON.stringify(command, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}: ${(error as Error).message}`, { cause: error });
        }
        if (decision.events.length > 0) expect(next!.version).toBe((state?.version ?? 0) + decision.events.length);
      }
    }
    // The property is only as strong as the decisions that produced events.
    expect(with_events).toBeGreaterThan(40);
  });

  test('decide - a command applied twice produces events at most once (every state × every command)', () => {
    for (const [name, make] of Object.entries(states)) {
      for (const command of commands) {
        const state = make();
        const first = decide(state, command);
        if ('rejection' in first || first.events.length === 0) continue;
        const next = first.events.reduce<PaymentState | undefined>((s, e) => evolve(s, e), state);
        const second = decide(next, command);
        expect({ name, command: command.type, outcome: outcomeOf(second) }).toEqual({ name, command: command.type, outcome: 'none' });
      }
    }
  });
});

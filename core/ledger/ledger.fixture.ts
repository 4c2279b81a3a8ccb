// Random payment histories for the ledger's property tests: real events folded with the
// orders' own evolve(), grouped into stream messages the way the actor stores them.

import fc from 'fast-check';
import { evolve } from '../orders/evolve';
import type { PaymentEvent, PaymentState } from '../orders/types';
import type { StreamMessage } from './store';

export interface RefundPlan {
  /** Share of what is still refundable, in per mille (at least 1 minor unit). */
  share_pm: number;
  outcome: 'SUCCEEDED' | 'FAILED' | 'REQUIRES_MANUAL' | 'PENDING';
}

export interface PaymentPlan {
  merchant_id: string;
  channel_id: string;
  amount_minor: bigint;
  merchant_fee_minor: bigint;
  channel_fee_minor: bigint;
  paid: boolean;
  duplicates: ('SUCCEEDED' | 'FAILED' | 'PENDING')[];
  refunds: RefundPlan[];
}

export const payment_plan: fc.Arbitrary<PaymentPlan> = fc
  .record({
    merchant_id: fc.constantFrom('m_a', 'm_b', 'm_c'),
    channel_id: fc.constantFrom('wx1', 'ali1'),
    amount_minor: fc.bigInt({ min: 1n, max: 10_000_000n }),
    fee_pm: fc.integer({ min: 0, max: 60 }),
    cost_pm: fc.integer({ min: 0, max: 60 }),
    paid: fc.boolean(),
    duplicates: fc.array(fc.constantFrom('SUCCEEDED' as const, 'FAILED' as const, 'PENDING' as const), { maxLength: 2 }),
    refunds: fc.array(fc.record({ share_pm: fc.integer({ min: 1, max: 1000 }), outcome: fc.constantFrom('SUCCEEDED' as const, 'FAILED' as const, 'REQUIRES_MANUAL' as const, 'PENDING' as const) }), { maxLength: 3 }),
  })
  .map(({ fee_pm, cost_pm, ...plan }) => ({
    ...plan,
    merchant_fee_minor: (plan.amount_minor * BigInt(fee_pm)) / 1000n,
    channel_fee_minor: (plan.amount_minor * BigInt(cost_pm)) / 1000n,
  }));

let clock_ms = Date.parse('2026-03-01T02:00:00.000Z');
const at = (): string => new Date((clock_ms += 7)).toISOString();

/** The messages of one payment's history, in order (the first carries the creation and its
 * write-ahead ChannelRequested, like the actor's). */
export function historyOf(plan: PaymentPlan, payment_id: string): { events: PaymentEvent[]; state: PaymentState }[] {
  const messages: { events: PaymentEvent[]; state: PaymentState }[] = [];
  let state: PaymentState | undefined;
  const append = (...events: PaymentEvent[]): void => {
    for (const event of events) state = evolve(state, event);
    messages.push({ events, state: state! });
  };
  const attempt_id = `${payment_id}a1`;
  append(
    {
      type: 'PaymentCreated', at: at(), payment_id, merchant_id: plan.merchant_id, merchant_order_no: `o-${payment_id}`, amount_minor: plan.amount_minor, currency: 'CNY',
      product: 'WECHAT_NATIVE', subject: 'tea', notify_url: '', metadata: {}, expires_at: '2026-03-02T00:00:00.000Z', fingerprint: 'f', payer_sealed: '',
      include_channels: [], exclude_channels: [], merchant_fee_minor: plan.merchant_fee_minor,
    },
    { type: 'ChannelRequested', at: at(), attempt_id, attempt_no: 1, channel_id: plan.channel_id, fee_minor: plan.channel_fee_minor },
  );
  if (plan.paid) append({ type: 'AttemptSucceeded', at: at(), attempt_id, channel_trade_no: `t-${payment_id}`, amount_minor: plan.amount_minor, paid_at: at() });
  else append({ type: 'AttemptFailed', at: at(), attempt_id, code: 'DECLINED', message: 'declined' });
  plan.duplicates.forEach((outcome, index) => {
    const channel_trade_no = `dup-${payment_id}-${index}`;
    const refund_id = `rd-${payment_id}-${index}`;
    append({ type: 'DuplicatePaymentDetected', at: at(), attempt_id, channel_trade_no, amount_minor: plan.amount_minor });
    append({ type: 'RefundRequested', at: at(), refund_id, merchant_refund_no: '', attempt_id, channel_id: plan.channel_id, amount_minor: plan.amount_minor, reason: 'duplicate', notify_url: '', fingerprint: '', kind: 'duplicate', channel_trade_no });
    if (outcome !== 'PENDING') append(outcomeEvent(refund_id, outcome));
  });
  if (!plan.paid) return messages;
  plan.refunds.forEach((refund, index) => {
    let held = 0n;
    for (const r of state!.refunds) if (r.kind === 'merchant' && r.state !== 'FAILED') held += r.amount_minor;
    const refundable = plan.amount_minor - held;
    if (refundable <= 0n) return;
    const amount_minor = maxBig(1n, (refundable * BigInt(refund.share_pm)) / 1000n);
    const refund_id = `r-${payment_id}-${index}`;
    append({ type: 'RefundRequested', at: at(), refund_id, merchant_refund_no: `rn-${index}`, attempt_id, channel_id: plan.channel_id, amount_minor, reason: '', notify_url: '', fingerprint: `rf-${index}`, kind: 'merchant' });
    if (refund.outcome !== 'PENDING') append(outcomeEvent(refund_id, refund.outcome));
  });
  return messages;
}

function outcomeEvent(refund_id: string, outcome: 'SUCCEEDED' | 'FAILED' | 'REQUIRES_MANUAL'): PaymentEvent {
  if (outcome === 'SUCCEEDED') return { type: 'RefundSucceeded', at: at(), refund_id, channel_refund_no: `cr-${refund_id}`, refunded_at: at() };
  if (outcome === 'FAILED') return { type: 'RefundFailed', at: at(), refund_id, code: 'X', message: 'x' };
  return { type: 'RefundRequiresManual', at: at(), refund_id, code: 'X', message: 'x' };
}

let payment_counter = 0;

const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** Interleaves the payments' histories into one stream (per-payment order kept), numbering
 * the messages 1, 2, 3, ... like stream sequences. */
export function streamOf(plans: readonly PaymentPlan[], interleave: readonly number[]): StreamMessage[] {
  const queues = plans.map((plan) => historyOf(plan, `p${String((payment_counter += 1)).padStart(8, '0')}`));
  const stream: StreamMessage[] = [];
  let pick = 0;
  while (queues.some((q) => q.length > 0)) {
    const open = queues.filter((q) => q.length > 0);
    const queue = open[(interleave[pick++ % Math.max(1, interleave.length)] ?? 0) % open.length]!;
    const message = queue.shift()!;
    stream.push({ seq: stream.length + 1, events: message.events, state: message.state });
  }
  return stream;
}

export interface Expected {
  /** Per merchant: pending + available + frozen. */
  merchant_total: Map<string, bigint>;
  suspense: bigint;
  fee_income: bigint;
  channel_fee_expense: bigint;
  channel_receivable: bigint;
  refunds_in_transit: bigint;
}

/** What the books must say, computed from the payments' final states alone (not from the
 * posting rules). `fee_returned` is the refund-fee policy's share per succeeded refund. */
export function expectedBooks(finals: readonly PaymentState[], fee_returned: (state: PaymentState, refund_minor: bigint) => bigint): Expected {
  const books: Expected = { merchant_total: new Map(), suspense: 0n, fee_income: 0n, channel_fee_expense: 0n, channel_receivable: 0n, refunds_in_transit: 0n };
  const add = (merchant_id: string, amount: bigint): void => void books.merchant_total.set(merchant_id, (books.merchant_total.get(merchant_id) ?? 0n) + amount);
  for (const state of finals) {
    add(state.merchant_id, 0n);
    if (state.winning_attempt_id !== undefined) {
      add(state.merchant_id, state.amount_minor - state.merchant_fee_minor);
      books.fee_income += state.merchant_fee_minor;
      books.channel_fee_expense += state.fee_minor;
      books.channel_receivable += state.amount_minor - state.fee_minor;
    }
    // The channel charges its fee on a duplicate (the attempt's fee, pro rata) and returns it,
    // pro rata, when a refund (a duplicate's or a merchant's) succeeds.
    const channel_fee = (attempt_id: string, amount_minor: bigint): bigint =>
      ((state.attempts.find((a) => a.attempt_id === attempt_id)?.fee_minor ?? 0n) * amount_minor) / state.amount_minor;
    for (const duplicate of state.duplicates) {
      books.suspense += duplicate.amount_minor;
      books.channel_receivable += duplicate.amount_minor - channel_fee(duplicate.attempt_id, duplicate.amount_minor);
      books.channel_fee_expense += channel_fee(duplicate.attempt_id, duplicate.amount_minor);
    }
    for (const refund of state.refunds) {
      if (refund.state === 'FAILED') continue;
      if (refund.kind === 'merchant') add(state.merchant_id, -refund.amount_minor);
      else books.suspense -= refund.amount_minor;
      if (refund.state === 'SUCCEEDED') {
        books.channel_receivable -= refund.amount_minor;
        books.channel_receivable += channel_fee(refund.attempt_id, refund.amount_minor);
        books.channel_fee_expense -= channel_fee(refund.attempt_id, refund.amount_minor);
        if (refund.kind === 'merchant') {
          const returned = fee_returned(state, refund.amount_minor);
          add(state.merchant_id, returned);
          books.fee_income -= returned;
        }
      } else {
        books.refunds_in_transit += refund.amount_minor;
      }
    }
  }
  return books;
}

// The 短款 action on a real PostgreSQL, with the orders module's own decide/evolve behind a
// client in memory and a channel whose query answers as told: a payment the channel never took
// is reversed once, also when the process dies between the reversal and its trail event; one
// the channel has becomes UNLISTED.

import type { AttemptStatus, Channel } from '../../channels/channel';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import { attemptId, paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { LedgerStore } from '../ledger/store';
import { default_book_settings, postingsOf } from '../ledger/rules';
import { decide } from '../orders/decide';
import { fold } from '../orders/evolve';
import type { PaymentEvent, PaymentState } from '../orders/types';
import type { ActorCommand } from '../orders/protocol';
import { actOnDay, type ActDeps } from './act';
import { migrate, ReconStore } from './store';

let db: TestDatabase;
let books: LedgerStore;
let store: ReconStore;
const day = '2026-03-04';
const at = '2026-03-01T02:00:00.000Z';

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  await migrate(db.url);
  books = new LedgerStore(db.url);
  store = new ReconStore(books);
});

afterAll(async () => {
  await books?.close();
  await db?.drop();
});

/** A SUCCEEDED payment's events, decided by the orders module's own decide. */
function paidPayment(order: string): { payment_id: string; events: PaymentEvent[] } {
  const payment_id = paymentId(test_id_key, 'm_a', order);
  const created = decide(undefined, {
    type: 'create', at, payment_id, merchant_id: 'm_a', merchant_order_no: order, amount_minor: 10_000n, currency: 'CNY', product: 'WECHAT_NATIVE', subject: 's',
    notify_url: '', metadata: {}, expires_at: '2026-03-01T03:00:00.000Z', fingerprint: 'f', payer_sealed: 'sealed', include_channels: [], exclude_channels: [],
    merchant_fee_minor: 60n, channel_id: 'wx1', fee_minor: 30n,
  });
  if (!('events' in created)) throw new Error(created.rejection.message);
  const events = [...created.events, { type: 'AttemptSucceeded', at, attempt_id: attemptId(payment_id, 1), channel_trade_no: `T-${order}`, amount_minor: 10_000n, paid_at: at } as const];
  return { payment_id, events };
}

/** The orders module as recon sees it: get and send, decide/evolve over events in memory. */
function ordersOf(payments: Map<string, PaymentEvent[]>): ActDeps['orders'] & { sent: ActorCommand[] } {
  const sent: ActorCommand[] = [];
  const stateOf = (payment_id: string): PaymentState => fold(payments.get(payment_id)!)!;
  return {
    sent,
    get: (payment_id) => Promise.resolve(payments.has(payment_id) ? { state: stateOf(payment_id), seq: payments.get(payment_id)!.length } : undefined),
    send(command) {
      sent.push(command);
      if (command.type !== 'reverse') return Promise.reject(new Error(`unexpected ${command.type}`));
      const decision = decide(stateOf(command.payment_id), { type: 'reverse', at: '2026-03-04T01:00:00.000Z', reason_code: command.reason_code, reference: command.reference });
      if ('rejection' in decision) return Promise.reject(new Error(decision.rejection.message));
      payments.get(command.payment_id)!.push(...decision.events);
      return Promise.resolve(stateOf(command.payment_id));
    },
  };
}

const channelAnswering = (status: AttemptStatus): Channel => ({ channel_id: 'wx1', query: () => Promise.resolve(status) }) as unknown as Channel;

/** A 短款 difference as a run commits it. */
async function shortDifference(group: string): Promise<bigint> {
  const key = `wx1:${day}:OURS_ONLY:payment:${group}`;
  const row = await books.pool.query<{ difference_id: bigint }>(
    `INSERT INTO recon_differences (difference_key, channel_id, business_date, class, kind, grp, currency, channel_minor, ours_minor, state, action, detail)
     VALUES ($1, 'wx1', $2, 'OURS_ONLY', 'payment', $3, 'CNY', 0, 10000, 'open', 'reverse', '{"channel": [], "ours": []}') RETURNING difference_id`,
    [key, day, group],
  );
  return row.rows[0]!.difference_id;
}

const reversals = (events: PaymentEvent[]) => events.filter((e) => e.type === 'PaymentReversed').length;

test('recon act - 短款 the channel never took: reversed once, also when the process dies between the reversal and its trail event', async () => {
  const { payment_id, events } = paidPayment('short-1');
  const payments = new Map([[payment_id, events]]);
  const orders = ordersOf(payments);
  const id = await shortDifference(attemptId(payment_id, 1));
  const channel = channelAnswering({ kind: 'not_found' });
  // The process dies after the orders module reversed the payment, before the trail event.
  const dying = { pool: store.pool, record: () => Promise.reject(new Error('process killed')) } as unknown as ReconStore;
  await expect(actOnDay({ orders }, dying, channel, day)).rejects.toThrow('process killed');
  expect(reversals(payments.get(payment_id)!)).toBe(1);
  expect((await store.difference(id))!.state).toBe('open');
  // The next run acts again: the same reversal, which the orders module takes as done.
  expect(await actOnDay({ orders }, store, channel, day)).toBe(1);
  expect(orders.sent.map((c) => c.type)).toEqual(['reverse', 'reverse']);
  expect(reversals(payments.get(payment_id)!)).toBe(1);
  const after = fold(payments.get(payment_id)!)!;
  expect(after).toMatchObject({ status: 'REVERSED', reversal: { reason_code: 'RECON_NOT_AT_CHANNEL', reference: `wx1:${day}:OURS_ONLY:payment:${attemptId(payment_id, 1)}` } });
  // The books post the reversal once: one message, keyed by its version.
  const postings = postingsOf(payments.get(payment_id)!.slice(-1), after, default_book_settings).map((p) => p.txn_code);
  expect(postings).toEqual(['PAYMENT_REVERSED', 'PAYMENT_REVERSED_CHANNEL_FEE']);
  const difference = (await store.difference(id))!;
  expect({ state: difference.state, class: difference.class }).toEqual({ state: 'resolved', class: 'OURS_ONLY' });
  expect(difference.resolution).toMatch(/短款 reversed: the channel's query answers not_found/);
  expect((await store.trailOf(id)).filter((e) => e.actor === 'recon:act')).toHaveLength(1);
  // Acted on: a further run does nothing.
  expect(await actOnDay({ orders }, store, channel, day)).toBe(0);
  expect(orders.sent).toHaveLength(2);
});

test('recon act - 短款 the channel says it took: UNLISTED for an operator, never reversed; a pending answer leaves it open', async () => {
  const paid = paidPayment('short-2');
  const pending = paidPayment('short-3');
  const payments = new Map([[paid.payment_id, paid.events], [pending.payment_id, pending.events]]);
  const orders = ordersOf(payments);
  const taken = await shortDifference(attemptId(paid.payment_id, 1));
  const answers = new Map<string, AttemptStatus>([
    [attemptId(paid.payment_id, 1), { kind: 'succeeded', channel_trade_no: 'T-short-2', amount_minor: 10_000n, paid_at: new Date(at) }],
    [attemptId(pending.payment_id, 1), { kind: 'pending' }],
  ]);
  const waiting = await shortDifference(attemptId(pending.payment_id, 1));
  const channel = { channel_id: 'wx1', query: (ref: { attempt_id: string }) => Promise.resolve(answers.get(ref.attempt_id)!) } as unknown as Channel;
  await actOnDay({ orders }, store, channel, day);
  expect(orders.sent).toEqual([]);
  expect((await store.difference(taken))!).toMatchObject({ class: 'UNLISTED', action: 'investigate', state: 'open' });
  expect((await store.trailOf(taken)).at(-1)!.note).toMatch(/\[OURS_ONLY -> UNLISTED, action investigate\]$/);
  expect((await store.difference(waiting))!).toMatchObject({ class: 'OURS_ONLY', action: 'reverse', state: 'open' });
  expect((await store.trailOf(waiting)).at(-1)!.note).toMatch(/answers pending/);
  expect(fold(payments.get(paid.payment_id)!)!.status).toBe('SUCCEEDED');
});

// Splits in the books on a real PostgreSQL (a database of its own per run): random paid
// payments with refunds of every outcome, projected one message at a time, and splits of
// random sizes allocated between the messages. Whatever the order, the shares kept by the
// receivers plus the refunds never exceed the payment, a split that would is refused, every
// refund took the shares back first (and a failed one gave them back), and the books balance.

import fc from 'fast-check';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import { evolve } from '../orders/evolve';
import type { PaymentEvent } from '../orders/types';
import { expectedBooks, historyOf, payment_plan } from './ledger.fixture';
import { allocateSplit, confirmSplit, orphanClaims, planChannelReturns, receiverOwner, releaseOrphanClaim, type AllocateResult, type PostingTx } from './splits';
import { close_lock_key, LedgerStore, openDate } from './store';

let db: TestDatabase;
let store: LedgerStore;
let seq = 0;
let counter = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  store = new LedgerStore(db.url);
});
afterAll(async () => {
  await store?.close();
  await db?.drop();
});

const consumer = 'SPLIT_TEST';

type Receivers = { receiver_id: string; amount_minor: bigint; member?: true }[];

function allocate(split_id: string, merchant_id: string, payment_id: string, receivers: Receivers): Promise<AllocateResult> {
  return store.transaction(async (client, created) => {
    await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
    const open_date = await openDate(client);
    const post = (posting: Parameters<LedgerStore['post']>[2]) => store.post(client, created, posting, open_date);
    return allocateSplit({ client, post }, { split_id, merchant_id, payment_id, currency: 'CNY', receivers, at: new Date().toISOString() });
  });
}

async function merchantTotal(merchant_id: string): Promise<bigint> {
  const result = await store.pool.query<{ sum: bigint }>(
    `SELECT coalesce(sum(balance_minor), 0)::bigint AS sum FROM accounts WHERE owner = $1 AND code IN ('merchant_pending', 'merchant_available', 'merchant_frozen')`,
    [merchant_id],
  );
  return result.rows[0]!.sum;
}

async function receiverBalance(owner: string): Promise<bigint> {
  const result = await store.pool.query<{ balance_minor: bigint }>(`SELECT balance_minor FROM accounts WHERE code = 'split_receiver' AND owner = $1`, [owner]);
  return result.rows[0]?.balance_minor ?? 0n;
}

const split_plan = fc.array(
  fc.record({ after_pm: fc.integer({ min: 0, max: 1000 }), share_pm: fc.integer({ min: 1, max: 800 }), receivers: fc.integer({ min: 1, max: 3 }) }),
  { minLength: 1, maxLength: 4 },
);

test('splits between any messages of a paid payment: kept shares + refunds ≤ paid, refunds return the shares first, the books balance', async () => {
  await fc.assert(
    fc.asyncProperty(payment_plan.map((plan) => ({ ...plan, paid: true, duplicates: [] })), split_plan, async (plan, splits) => {
      const payment_id = `ps${String((counter += 1)).padStart(8, '0')}`;
      const history = historyOf(plan, payment_id);
      const paid_index = history.findIndex((m) => m.events.some((e) => e.type === 'AttemptSucceeded'));
      const before = await merchantTotal(plan.merchant_id);
      const allocated: { split_id: string; receivers: { owner: string; amount_minor: bigint }[] }[] = [];
      for (const [index, message] of history.entries()) {
        await store.applyMessages(consumer, [{ seq: (seq += 1), events: message.events, state: message.state }]);
        for (const [n, split] of splits.entries()) {
          const at = paid_index + Math.floor((split.after_pm * (history.length - paid_index)) / 1001);
          if (at !== index) continue;
          const each = (plan.amount_minor * BigInt(split.share_pm)) / 1000n / BigInt(split.receivers) + 1n;
          const receivers = Array.from({ length: split.receivers }, (_, r) => ({ receiver_id: `r${counter}x${n}x${r}`, amount_minor: each }));
          const split_id = `s-${payment_id}-${n}`;
          const result = await allocate(split_id, plan.merchant_id, payment_id, receivers);
          expect(['allocated', 'refused']).toContain(result.kind);
          if (result.kind === 'refused') expect(result.code).toBe('EXCEEDS_SPLITTABLE');
          else {
            const owners = receivers.map((r) => ({ owner: receiverOwner(plan.merchant_id, r.receiver_id), amount_minor: r.amount_minor }));
            allocated.push({ split_id, receivers: owners });
          }
          // Allocating again posts nothing twice.
          if (result.kind === 'allocated') expect(await allocate(split_id, plan.merchant_id, payment_id, receivers)).toEqual({ kind: 'allocated' });
        }
      }
      const final = history[history.length - 1]!.state;
      let refunds = 0n;
      let requested = 0n;
      for (const r of final.refunds) if (r.kind === 'merchant' && r.state !== 'FAILED') refunds += r.amount_minor;
      for (const r of final.refunds) if (r.kind === 'merchant') requested += r.amount_minor;
      const rows = await store.pool.query<{ amount_minor: bigint; returned_minor: bigint }>('SELECT amount_minor, returned_minor FROM split_receivers WHERE payment_id = $1', [payment_id]);
      let kept = 0n;
      let split_total = 0n;
      for (const row of rows.rows) {
        kept += row.amount_minor - row.returned_minor;
        split_total += row.amount_minor;
      }
      // Never more out than paid; the receivers' balances are their shares less what refunds took back.
      expect(kept + refunds).toBeLessThanOrEqual(plan.amount_minor);
      expect(kept).toBeGreaterThanOrEqual(0n);
      let balances = 0n;
      for (const split of allocated) for (const r of split.receivers) balances += await receiverBalance(r.owner);
      expect(balances).toBe(kept);
      expect(split_total).toBe(allocated.reduce((sum, s) => sum + s.receivers.reduce((t, r) => t + r.amount_minor, 0n), 0n));
      // A refund returns shares only while any are held, and no more than itself; a failed one gave them back.
      const returns = await store.pool.query<{ refund_id: string; amount_minor: bigint; reversed: boolean }>(
        'SELECT t.refund_id, t.amount_minor, t.reversed FROM split_returns t JOIN split_receivers r USING (split_id, line_no) WHERE r.payment_id = $1', [payment_id],
      );
      let returned = 0n;
      let ever_returned = 0n;
      for (const t of returns.rows) {
        const refund = final.refunds.find((r) => r.refund_id === t.refund_id)!;
        expect(t.reversed).toBe(refund.state === 'FAILED');
        if (!t.reversed) returned += t.amount_minor;
        ever_returned += t.amount_minor;
      }
      expect(returned).toBe(split_total - kept);
      expect(ever_returned).toBeLessThanOrEqual(requested);
      // The merchant holds what the payment's final state says, less the shares kept by receivers.
      const expected = expectedBooks([final], () => 0n).merchant_total.get(plan.merchant_id)!;
      expect((await merchantTotal(plan.merchant_id)) - before).toBe(expected - kept);
      expect((await store.trialBalance()).balanced).toBe(true);
    }),
    { numRuns: 40 },
  );
}, 120_000);

test('a refund while the shares are held takes them back first, in the order they were split; its failure gives them back', async () => {
  const plan = { merchant_id: 'm_fix', channel_id: 'wx1', amount_minor: 10_000n, merchant_fee_minor: 0n, channel_fee_minor: 0n, paid: true, duplicates: [], refunds: [{ share_pm: 500, outcome: 'FAILED' as const }] };
  const history = historyOf(plan, 'pfixed0001');
  await store.applyMessages(consumer, history.slice(0, 2).map((m) => ({ seq: (seq += 1), ...m })));
  expect(await allocate('s-fixed-1', 'm_fix', 'pfixed0001', [{ receiver_id: 'ann', amount_minor: 3_000n }, { receiver_id: 'ben', amount_minor: 4_000n }])).toEqual({ kind: 'allocated' });
  // 10_000 − 7_000 left: 3_001 does not fit.
  expect(await allocate('s-fixed-2', 'm_fix', 'pfixed0001', [{ receiver_id: 'cat', amount_minor: 3_001n }])).toMatchObject({ kind: 'refused', code: 'EXCEEDS_SPLITTABLE' });
  // The refund of 5_000: ann's 3_000, then 2_000 of ben's.
  await store.applyMessages(consumer, [{ seq: (seq += 1), ...history[2]! }]);
  expect(await receiverBalance(receiverOwner('m_fix', 'ann'))).toBe(0n);
  expect(await receiverBalance(receiverOwner('m_fix', 'ben'))).toBe(2_000n);
  // While the refund is pending: 10_000 − 5_000 refunding − 2_000 still split = 3_000 left.
  expect(await allocate('s-fixed-3', 'm_fix', 'pfixed0001', [{ receiver_id: 'cat', amount_minor: 3_001n }])).toMatchObject({ kind: 'refused' });
  // It fails: the shares go back to ann and ben.
  await store.applyMessages(consumer, [{ seq: (seq += 1), ...history[3]! }]);
  expect(await receiverBalance(receiverOwner('m_fix', 'ann'))).toBe(3_000n);
  expect(await receiverBalance(receiverOwner('m_fix', 'ben'))).toBe(4_000n);
  expect(await allocate('s-fixed-4', 'm_fix', 'pfixed0001', [{ receiver_id: 'cat', amount_minor: 3_000n }])).toEqual({ kind: 'allocated' });
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('the books refuse or defer a split of a payment they cannot split', async () => {
  expect(await allocate('s-none', 'm_fix', 'pnothere', [{ receiver_id: 'ann', amount_minor: 1n }])).toMatchObject({ kind: 'not_yet' });
  expect(await allocate('s-other', 'm_other', 'pfixed0001', [{ receiver_id: 'ann', amount_minor: 1n }])).toMatchObject({ kind: 'refused', code: 'PAYMENT_NOT_PAID' });
  const unpaid = historyOf({ merchant_id: 'm_fix', channel_id: 'wx1', amount_minor: 500n, merchant_fee_minor: 0n, channel_fee_minor: 0n, paid: false, duplicates: [], refunds: [] }, 'punpaid001');
  await store.applyMessages(consumer, unpaid.map((m) => ({ seq: (seq += 1), ...m })));
  expect(await allocate('s-unpaid', 'm_fix', 'punpaid001', [{ receiver_id: 'ann', amount_minor: 1n }])).toMatchObject({ kind: 'refused', code: 'PAYMENT_NOT_PAID' });
});

test('a payment reconciliation reverses (the channel never took it) takes every share back, and is split no more', async () => {
  const plan = { merchant_id: 'm_rev', channel_id: 'wx1', amount_minor: 8_000n, merchant_fee_minor: 0n, channel_fee_minor: 0n, paid: true, duplicates: [], refunds: [] };
  const history = historyOf(plan, 'prevers001');
  await store.applyMessages(consumer, history.map((m) => ({ seq: (seq += 1), ...m })));
  expect(await allocate('s-rev-1', 'm_rev', 'prevers001', [{ receiver_id: 'ann', amount_minor: 2_500n }, { receiver_id: 'ben', amount_minor: 1_500n }])).toEqual({ kind: 'allocated' });
  const paid = history[history.length - 1]!.state;
  const reversal: PaymentEvent = { type: 'PaymentReversed', at: new Date().toISOString(), attempt_id: paid.winning_attempt_id!, reason_code: 'SHORT', reference: 'd1' };
  await store.applyMessages(consumer, [{ seq: (seq += 1), events: [reversal], state: evolve(paid, reversal) }]);
  expect(await receiverBalance(receiverOwner('m_rev', 'ann'))).toBe(0n);
  expect(await receiverBalance(receiverOwner('m_rev', 'ben'))).toBe(0n);
  expect(await allocate('s-rev-2', 'm_rev', 'prevers001', [{ receiver_id: 'ann', amount_minor: 1n }])).toMatchObject({ kind: 'refused', code: 'PAYMENT_NOT_PAID' });
  expect((await store.trialBalance()).balanced).toBe(true);
});

async function walletOf(owner: string): Promise<{ wallet: bigint; frozen: bigint }> {
  const result = await store.pool.query<{ code: string; balance_minor: bigint }>(`SELECT code, balance_minor FROM accounts WHERE owner = $1 AND code IN ('member_wallet', 'member_frozen')`, [owner]);
  const of = (code: string) => result.rows.find((row) => row.code === code)?.balance_minor ?? 0n;
  return { wallet: of('member_wallet'), frozen: of('member_frozen') };
}

test('a share to a member wallet: the wallet credited; a refund takes back what the wallet still holds and the merchant pays the rest; the funding check counts only that; a failed refund gives back what was taken', async () => {
  const plan = { merchant_id: 'm_mem', channel_id: 'wx1', amount_minor: 10_000n, merchant_fee_minor: 0n, channel_fee_minor: 0n, paid: true, duplicates: [], refunds: [{ share_pm: 800, outcome: 'FAILED' as const }] };
  const history = historyOf(plan, 'pmember001');
  await store.applyMessages(consumer, history.slice(0, 2).map((m) => ({ seq: (seq += 1), ...m })));
  const member = receiverOwner('m_mem', 'u1');
  expect(await allocate('s-mem-1', 'm_mem', 'pmember001', [{ receiver_id: 'u1', amount_minor: 6_000n, member: true }, { receiver_id: 'ann', amount_minor: 1_000n }])).toEqual({ kind: 'allocated' });
  expect(await walletOf(member)).toEqual({ wallet: 6_000n, frozen: 0n });
  expect(await receiverBalance(member)).toBe(0n);
  expect(await receiverBalance(receiverOwner('m_mem', 'ann'))).toBe(1_000n);
  // The member withdraws 4_000 (in flight: frozen, no longer the wallet's to give back).
  await store.transaction(async (client, created) => {
    await store.post(client, created, {
      entry_key: 'w-mem-1', txn_code: 'MEMBER_WITHDRAW_FREEZE', merchant_id: 'm_mem', currency: 'CNY', at: new Date().toISOString(),
      lines: [{ code: 'member_wallet', owner: member, debit_minor: 4_000n, credit_minor: 0n }, { code: 'member_frozen', owner: member, debit_minor: 0n, credit_minor: 4_000n }],
    }, await openDate(client));
  });
  // The funding check counts of the member's share only what its wallet holds (2_000), not the
  // 6_000 split: 3_000 with the merchant + 2_000 + ann's 1_000 cover 6_000, not 8_000.
  await expect(store.reserveRefund('r-mem-big', 'm_mem', 'CNY', 6_001n, 'pmember001')).rejects.toMatchObject({ reason: 'FAILED_PRECONDITION' });
  await store.reserveRefund('r-mem-ok', 'm_mem', 'CNY', 6_000n, 'pmember001');
  await store.pool.query(`DELETE FROM refund_reservations WHERE refund_id = 'r-mem-ok'`);
  // The refund of 8_000: the member's wallet gives what it holds (2_000), ann her 1_000, the merchant the rest.
  await store.applyMessages(consumer, [{ seq: (seq += 1), ...history[2]! }]);
  expect(await walletOf(member)).toEqual({ wallet: 0n, frozen: 4_000n });
  expect(await receiverBalance(receiverOwner('m_mem', 'ann'))).toBe(0n);
  const returned = await store.pool.query<{ receiver_id: string; returned_minor: bigint }>(`SELECT receiver_id, returned_minor FROM split_receivers WHERE split_id = 's-mem-1' ORDER BY line_no`);
  expect(returned.rows).toEqual([{ receiver_id: 'u1', returned_minor: 2_000n }, { receiver_id: 'ann', returned_minor: 1_000n }]);
  expect((await store.trialBalance()).balanced).toBe(true);
  // It fails: what was taken goes back, to the wallet and to ann.
  await store.applyMessages(consumer, [{ seq: (seq += 1), ...history[3]! }]);
  expect(await walletOf(member)).toEqual({ wallet: 2_000n, frozen: 4_000n });
  expect(await receiverBalance(receiverOwner('m_mem', 'ann'))).toBe(1_000n);
  expect((await store.trialBalance()).balanced).toBe(true);
});

/** A payment paid on a channel that carries shares back inside its refunds (Alipay), split at it
 * (allocated in flight, then confirmed), and a refund planned in the books to carry them. */
async function carriedRefund(payment_id: string, receiver_id: string, share: bigint, refund_amount: bigint) {
  const plan = { merchant_id: 'm_ali', channel_id: 'ali1', amount_minor: 10_000n, merchant_fee_minor: 0n, channel_fee_minor: 0n, paid: true, duplicates: [], refunds: [] };
  const history = historyOf(plan, payment_id);
  await store.applyMessages(consumer, history.map((m) => ({ seq: (seq += 1), ...m })));
  const split_id = `s-${payment_id}`;
  const posting = <T>(work: (tx: PostingTx) => Promise<T>) => store.transaction(async (client, created) => {
    await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
    const open_date = await openDate(client);
    return work({ client, post: (p: Parameters<LedgerStore['post']>[2]) => store.post(client, created, p, open_date) });
  });
  const of = { merchant_id: 'm_ali', payment_id, currency: 'CNY' };
  const at = new Date().toISOString();
  expect(await posting((tx) => allocateSplit(tx, { split_id, ...of, receivers: [{ receiver_id, amount_minor: share }], at, channel_id: 'ali1' }))).toEqual({ kind: 'allocated' });
  await posting((tx) => confirmSplit(tx, { ...of, split_id, at }, [true]));
  const refund_id = `r-${payment_id}`;
  const planned = await posting((tx) => planChannelReturns(tx, of, refund_id, refund_amount, at));
  expect(planned).toMatchObject({ kind: 'planned', returns: [{ receiver_id, amount_minor: share }] });
  const paid = history[history.length - 1]!.state;
  const requested: PaymentEvent = {
    type: 'RefundRequested', at, refund_id, merchant_refund_no: `rn-${payment_id}`, attempt_id: paid.winning_attempt_id!, channel_id: 'ali1', amount_minor: refund_amount,
    reason: '', notify_url: '', fingerprint: 'g', kind: 'merchant', share_returns: [{ account: receiver_id, amount_minor: share }],
  };
  let state = evolve(paid, requested);
  await store.applyMessages(consumer, [{ seq: (seq += 1), events: [requested], state }]);
  const next = async (event: PaymentEvent) => {
    state = evolve(state, event);
    await store.applyMessages(consumer, [{ seq: (seq += 1), events: [event], state }]);
  };
  return { refund_id, split_id, next };
}

test("a refund carrying shares (Alipay) that goes REQUIRES_MANUAL after reaching its channel keeps them taken back, in doubt: neither the receiver's nor splittable again", async () => {
  const { refund_id, next } = await carriedRefund('palimanual', '2088000000000301', 4_000n, 6_000n);
  expect(await receiverBalance(receiverOwner('m_ali', '2088000000000301'))).toBe(0n);
  await next({ type: 'RefundSubmitted', at: new Date().toISOString(), refund_id, channel_refund_no: '' });
  // The channel's answer is unknown (retries exhausted on an ambiguous outcome): Alipay may have refunded it, shares and all.
  await next({ type: 'RefundRequiresManual', at: new Date().toISOString(), refund_id, code: 'SYSTEM_ERROR', message: 'still failing after 3 tries' });
  expect(await receiverBalance(receiverOwner('m_ali', '2088000000000301'))).toBe(0n);
  // 10_000 − the 6_000 refund in doubt = 4_000; nothing of the share the refund carried is split again.
  expect(await allocate('s-palimanual-2', 'm_ali', 'palimanual', [{ receiver_id: 'x', amount_minor: 4_001n }])).toMatchObject({ kind: 'refused', code: 'EXCEEDS_SPLITTABLE' });
  expect((await store.pool.query('SELECT 1 FROM split_returns WHERE refund_id = $1 AND NOT reversed', [refund_id])).rows).toHaveLength(1);
  expect((await store.trialBalance()).balanced).toBe(true);
}, 30_000);

test('a refund carrying shares that goes REQUIRES_MANUAL before any call (past the channel\'s window) gives them back at once; paid by payout, they stay the receiver\'s', async () => {
  const { refund_id, next } = await carriedRefund('paliwindow', '2088000000000302', 4_000n, 6_000n);
  await next({ type: 'RefundRequiresManual', at: new Date().toISOString(), refund_id, code: 'REFUND_WINDOW_PASSED', message: 'the channel refunds within 90 days of payment' });
  expect(await receiverBalance(receiverOwner('m_ali', '2088000000000302'))).toBe(4_000n);
  await next({ type: 'RefundSucceeded', at: new Date().toISOString(), refund_id, channel_refund_no: 'b1', refunded_at: new Date().toISOString(), payout: { payout_id: 'po1', channel_id: 'bank1' } });
  expect(await receiverBalance(receiverOwner('m_ali', '2088000000000302'))).toBe(4_000n);
  expect((await store.trialBalance()).balanced).toBe(true);
}, 30_000);

test('an orphan claim is given back only as read: a retry renewing it meanwhile keeps it; given back, a retry of the same refund takes the shares again once, and a refund reaching the books after its claim was given back takes them again', async () => {
  const payment_id = 'paliorphan';
  const plan = { merchant_id: 'm_ali', channel_id: 'ali1', amount_minor: 10_000n, merchant_fee_minor: 0n, channel_fee_minor: 0n, paid: true, duplicates: [], refunds: [] };
  const history = historyOf(plan, payment_id);
  await store.applyMessages(consumer, history.map((m) => ({ seq: (seq += 1), ...m })));
  const posting = <T>(work: (tx: PostingTx) => Promise<T>) => store.transaction(async (client, created) => {
    await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
    const open_date = await openDate(client);
    return work({ client, post: (p: Parameters<LedgerStore['post']>[2]) => store.post(client, created, p, open_date) });
  });
  const of = { merchant_id: 'm_ali', payment_id, currency: 'CNY' };
  const at = new Date().toISOString();
  const ann = receiverOwner('m_ali', '2088000000000311');
  await posting((tx) => allocateSplit(tx, { split_id: 's-orphan', ...of, receivers: [{ receiver_id: '2088000000000311', amount_minor: 3_000n }], at, channel_id: 'ali1' }));
  await posting((tx) => confirmSplit(tx, { ...of, split_id: 's-orphan', at }, [true]));
  const refund_id = 'r-orphan';
  await posting((tx) => planChannelReturns(tx, of, refund_id, 5_000n, at));
  const read = (await orphanClaims(store.pool, 0, 1_000)).find((c) => c.refund_id === refund_id)!;
  expect(read).toMatchObject({ payment_id, generation: 1, returns: [{ split_id: 's-orphan', line_no: 1 }] });
  // A retry renews the claim after the sweep read it: the sweep gives nothing back.
  await new Promise((resolve) => setTimeout(resolve, 5));
  expect(await posting((tx) => planChannelReturns(tx, of, refund_id, 5_000n, at))).toMatchObject({ kind: 'planned', returns: [{ amount_minor: 3_000n }] });
  expect(await posting((tx) => releaseOrphanClaim(tx, of, read, read.returns, at))).toBe(false);
  expect(await receiverBalance(ann)).toBe(0n);
  // While claimed, the refund's 5_000 is held out of splits: 10_000 − 5_000 (the share is taken back) = 5_000.
  expect(await allocate('s-orphan-probe-1', 'm_ali', payment_id, [{ receiver_id: 'x', amount_minor: 5_001n }])).toMatchObject({ kind: 'refused', code: 'EXCEEDS_SPLITTABLE' });
  // Read again and given back: the share is the receiver's, the claim holds the payment no more (10_000 − 3_000 split).
  const again = (await orphanClaims(store.pool, 0, 1_000)).find((c) => c.refund_id === refund_id)!;
  expect(await posting((tx) => releaseOrphanClaim(tx, of, again, again.returns, at))).toBe(true);
  expect(await posting((tx) => releaseOrphanClaim(tx, of, again, again.returns, at))).toBe(false);
  expect(await receiverBalance(ann)).toBe(3_000n);
  expect((await orphanClaims(store.pool, 0, 1_000)).map((c) => c.refund_id)).not.toContain(refund_id);
  expect(await allocate('s-orphan-probe-2', 'm_ali', payment_id, [{ receiver_id: 'x', amount_minor: 7_001n }])).toMatchObject({ kind: 'refused', code: 'EXCEEDS_SPLITTABLE' });
  expect(await allocate('s-orphan-probe-3', 'm_ali', payment_id, [{ receiver_id: 'x', amount_minor: 5_001n }])).toEqual({ kind: 'allocated' });
  // The same refund retried: taken again (generation 2), once however often it is retried.
  expect(await posting((tx) => planChannelReturns(tx, of, refund_id, 5_000n, at))).toEqual({ kind: 'planned', returns: [{ split_id: 's-orphan', line_no: 1, receiver_id: '2088000000000311', amount_minor: 3_000n }] });
  expect(await posting((tx) => planChannelReturns(tx, of, refund_id, 5_000n, at))).toEqual({ kind: 'planned', returns: [{ split_id: 's-orphan', line_no: 1, receiver_id: '2088000000000311', amount_minor: 3_000n }] });
  expect(await receiverBalance(ann)).toBe(0n);
  // Given back once more (the retry never got to the order actor either), and then the refund reaches the books after all
  // (a gateway slower than the bound): the projection takes the share again, since the refund carries it.
  const third = (await orphanClaims(store.pool, 0, 1_000)).find((c) => c.refund_id === refund_id)!;
  expect(third.generation).toBe(2);
  expect(await posting((tx) => releaseOrphanClaim(tx, of, third, third.returns, at))).toBe(true);
  expect(await receiverBalance(ann)).toBe(3_000n);
  const paid = history[history.length - 1]!.state;
  const requested: PaymentEvent = {
    type: 'RefundRequested', at, refund_id, merchant_refund_no: 'rn-orphan', attempt_id: paid.winning_attempt_id!, channel_id: 'ali1', amount_minor: 5_000n,
    reason: '', notify_url: '', fingerprint: 'g', kind: 'merchant', share_returns: [{ account: '2088000000000311', amount_minor: 3_000n }],
  };
  await store.applyMessages(consumer, [{ seq: (seq += 1), events: [requested], state: evolve(paid, requested) }]);
  expect(await receiverBalance(ann)).toBe(0n);
  expect((await store.pool.query("SELECT amount_minor, generation FROM split_returns WHERE refund_id = $1 AND split_id = 's-orphan' AND NOT reversed", [refund_id])).rows).toEqual([{ amount_minor: 3_000n, generation: 3 }]);
  expect((await store.trialBalance()).balanced).toBe(true);
}, 30_000);

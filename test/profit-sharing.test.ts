// Integration: splits made at the payment's channel (WeChat Pay 分账) through paycore (node
// dist/workers/main.js) and the sandbox PSP over HTTP, the books in a PostgreSQL database of
// this run's own. Channel wxps is a WeChat Pay channel configured for profit sharing and the
// only route of WECHAT_NATIVE here: its payments are created with settle_info.profit_sharing,
// and a split of one is written ahead (PROCESSING), sent as a profit-sharing order whose
// out_order_no is the split id, and posted for good once WeChat finished it. A refund takes the
// receivers' shares back through WeChat first (return-orders), then refunds.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { LedgerStore } from '../core/ledger/store';
import { splitId } from '../core/ids';
import { split_service } from '../core/gateway/splits';
import { PaymentStatus, Product, type CreateRefundRequest, type CreateRefundResponse, type Payment } from '../proto/gen/paycore/v1/payment';
import { SplitStatus, type CreateSplitResponse, type GetSplitResponse, type ListSplitsResponse, type Split } from '../proto/gen/paycore/v1/split';
import { eventually, refusal, routingTable, sandboxRoute, startStack, type Stack } from './harness';

type SplitClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

interface SandboxShares {
  orders: {
    out_trade_no: string; out_order_no: string; order_id: string; state: string; requests: number; finishes: boolean; unfrozen?: number;
    receivers: { type: string; account: string; amount: number; result: string }[];
  }[];
  returns: { out_order_no: string; out_return_no: string; return_mchid: string; amount: number; result: string; requests: number }[];
}

const merchant = 'm_it';
let db: TestDatabase;
let store: LedgerStore;
let stack: Stack;
let client: SplitClient;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false }); // paycore migrates it at boot
  const routing = routingTable([sandboxRoute('wxps', ['WECHAT_NATIVE'])]) as { merchants: { merchant_id: string; fee_rates: Record<string, unknown> }[] };
  for (const m of routing.merchants) if (m.merchant_id === merchant) m.fee_rates = { WECHAT_NATIVE: { rate_bp: 60, fixed_minor: '0', min_minor: '0' } };
  stack = await startStack({
    routing,
    env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_REFUND_BACKOFF_MS: '300,600,1000', PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0' },
    extra_channels: (settings) => [{ channel_id: 'wxps', provider: 'wechatpay', products: ['WECHAT_NATIVE'], settings: { ...settings, profit_sharing: 'true' } }],
  });
  store = new LedgerStore(db.url);
  client = stack.serviceClient<SplitClient>(split_service, 'SplitService');
});

afterAll(async () => {
  client?.close();
  await stack?.stop();
  await store?.close();
  await db?.drop();
});

function call<T>(on: SplitClient, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => on[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

async function paidPayment(amount: bigint): Promise<Payment> {
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `ps-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'profit sharing' });
  await stack.pay(`${payment.paymentId}a1`);
  const paid = await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'payment SUCCEEDED');
  // The books must have seen it paid before a split can be allocated.
  await eventually(async () => ((await store.pool.query("SELECT 1 FROM payments WHERE payment_id = $1 AND status = 'SUCCEEDED'", [payment.paymentId])).rows.length > 0 ? true : undefined), 20_000, 'the books see it paid');
  return paid;
}

function createRefund(request: Partial<CreateRefundRequest>): Promise<CreateRefundResponse> {
  const full: CreateRefundRequest = { merchantId: merchant, merchantRefundNo: `rf-${randomBytes(6).toString('hex')}`, paymentId: '', merchantOrderNo: '', amount: 0n, reason: '', notifyUrl: '', ...request };
  return new Promise((resolve, reject) =>
    stack.client.raw.createRefund(full, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (error, value) => (error ? reject(error) : resolve(value!))),
  );
}

const split = (payment_id: string, receivers: [string, bigint][]) => ({
  merchantId: merchant, merchantSplitNo: `sp-${randomBytes(5).toString('hex')}`, paymentId: payment_id, description: 'courier',
  receivers: receivers.map(([receiverId, amount]) => ({ receiverId, amount, returnedAmount: 0n, name: '分账接收方有限公司' })),
});

async function finished(split_id: string): Promise<Split> {
  return eventually(async () => {
    const got = (await call<GetSplitResponse>(client, 'getSplit', { merchantId: merchant, splitId: split_id })).split!;
    return got.status === SplitStatus.SPLIT_STATUS_SUCCEEDED || got.status === SplitStatus.SPLIT_STATUS_FAILED ? got : undefined;
  }, 30_000, `split ${split_id} finished`);
}

async function atSandbox(attempt_id: string): Promise<SandboxShares> {
  return (await fetch(`${stack.sandbox.url}/sandbox/wechatpay/profitsharing?out_trade_no_prefix=${attempt_id}`)).json() as Promise<SandboxShares>;
}

async function receiverBalance(receiver_id: string): Promise<bigint> {
  return (await store.balances(`${merchant}/${receiver_id}`)).find((row) => row.code === 'split_receiver')?.balance_minor ?? 0n;
}

/** The books follow the split's log (the provider's answer is recorded, then posted): waits
 * until no share of the payment is in flight any more. */
async function settledInBooks(payment_id: string): Promise<void> {
  await eventually(async () => ((await inFlight(payment_id)) === 0 ? true : undefined), 10_000, 'no share in flight');
}

async function inFlight(payment_id: string): Promise<number> {
  return (await store.pool.query('SELECT 1 FROM split_receivers WHERE payment_id = $1 AND in_flight', [payment_id])).rows.length;
}

test('profit sharing - a WeChat-paid payment splits through WeChat: written ahead, one profit-sharing order (out_order_no = split id) with the receivers at the sandbox, posted once finished; the books balance', async () => {
  const payment = await paidPayment(100_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const request = split(payment.paymentId, [['1900000201', 30_000n], ['1900000202', 20_000n]]);
  const created = (await call<CreateSplitResponse>(client, 'createSplit', request)).split!;
  expect(created.splitId).toBe(splitId(stack.id_key, merchant, request.merchantSplitNo));
  // WeChat answers PROCESSING: the shares are held meanwhile.
  expect(created).toMatchObject({ status: SplitStatus.SPLIT_STATUS_PROCESSING, channelId: 'wxps' });
  const done = await finished(created.splitId);
  expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, channelId: 'wxps', amount: 50_000n });
  const shares = await atSandbox(attempt_id);
  expect(shares.orders).toHaveLength(1);
  expect(shares.orders[0]).toMatchObject({ out_order_no: created.splitId, state: 'FINISHED', requests: 1, order_id: done.channelSplitNo });
  expect(shares.orders[0]!.receivers.map((r) => [r.type, r.account, r.amount, r.result])).toEqual([
    ['MERCHANT_ID', '1900000201', 30_000, 'SUCCESS'], ['MERCHANT_ID', '1900000202', 20_000, 'SUCCESS'],
  ]);
  expect(await receiverBalance('1900000201')).toBe(30_000n);
  expect(await receiverBalance('1900000202')).toBe(20_000n);
  await settledInBooks(payment.paymentId);
  // The same key again: the same split, no second order.
  expect((await call<CreateSplitResponse>(client, 'createSplit', request)).split!.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect((await atSandbox(attempt_id)).orders).toHaveLength(1);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('profit sharing - a MERCHANT_ID receiver needs its full name: without one CreateSplit is INVALID_ARGUMENT naming receivers[i].name and nothing is recorded; with one WeChat gets it encrypted (the sandbox opens it), GetSplit never returns it', async () => {
  const payment = await paidPayment(10_000n);
  const unnamed = { ...split(payment.paymentId, [['1900000216', 1_000n], ['1900000217', 1_000n]]) };
  unnamed.receivers[1] = { ...unnamed.receivers[1]!, name: '' };
  expect(await refusal(call(client, 'createSplit', unnamed))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, fields: ['receivers[1].name'] });
  expect(await refusal(call(client, 'getSplit', { merchantId: merchant, splitId: splitId(stack.id_key, merchant, unnamed.merchantSplitNo) }))).toMatchObject({ reason: 'NOT_FOUND' });
  const too_long = split(payment.paymentId, [['1900000216', 1_000n]]);
  too_long.receivers[0] = { ...too_long.receivers[0]!, name: '名'.repeat(72) };
  expect(await refusal(call(client, 'createSplit', too_long))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, fields: ['receivers[0].name'] });
  const named = split(payment.paymentId, [['1900000216', 1_000n]]);
  named.receivers[0] = { ...named.receivers[0]!, name: '杭州某某配送服务有限公司' };
  const done = await finished((await call<CreateSplitResponse>(client, 'createSplit', named)).split!.splitId);
  expect(done.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect(done.receivers.map((r) => r.name)).toEqual(['']);
  const added = (await (await fetch(`${stack.sandbox.url}/sandbox/wechatpay/profitsharing/receivers`)).json()) as { receivers: { account: string; name?: string }[] };
  expect(added.receivers.find((r) => r.account === '1900000216')?.name).toBe('杭州某某配送服务有限公司');
});

test('profit sharing - the merchant\'s last split (finish) is sent with unfreeze_unsplit: WeChat unfreezes what it leaves to the merchant; a later split is refused at WeChat and moves nothing', async () => {
  const payment = await paidPayment(100_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const last = (await call<CreateSplitResponse>(client, 'createSplit', { ...split(payment.paymentId, [['1900000213', 40_000n]]), finish: true })).split!;
  expect(last.finish).toBe(true);
  expect((await finished(last.splitId)).status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  const order = (await atSandbox(attempt_id)).orders.find((o) => o.out_order_no === last.splitId);
  expect(order).toMatchObject({ state: 'FINISHED', finishes: true, unfrozen: 60_000 });
  const later = (await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['1900000214', 1_000n]]))).split!;
  expect(later.finish).toBe(false);
  expect(await finished(later.splitId)).toMatchObject({ status: SplitStatus.SPLIT_STATUS_FAILED, failureCode: 'INVALID_REQUEST' });
  await settledInBooks(payment.paymentId);
  expect(await receiverBalance('1900000214')).toBe(0n);
  expect((await atSandbox(attempt_id)).orders).toHaveLength(1);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('profit sharing - an unfreeze (finish, no receivers) is an order at /v3/profitsharing/orders/unfreeze: WeChat unfreezes all that is left, nothing moves in the books; ListSplits shows the channel and its order number', async () => {
  const payment = await paidPayment(20_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const first = (await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['1900000215', 5_000n]]))).split!;
  expect((await finished(first.splitId)).status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  const unfreeze = (await call<CreateSplitResponse>(client, 'createSplit', { ...split(payment.paymentId, []), finish: true })).split!;
  const done = await finished(unfreeze.splitId);
  expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, amount: 0n, finish: true, channelId: 'wxps' });
  const order = (await atSandbox(attempt_id)).orders.find((o) => o.out_order_no === unfreeze.splitId);
  expect(order).toMatchObject({ state: 'FINISHED', finishes: true, unfrozen: 15_000, receivers: [], order_id: done.channelSplitNo });
  // ListSplits reads the books' row: the channel, its order number and finish as GetSplit has them.
  await settledInBooks(payment.paymentId);
  const listed = await eventually(async () => {
    const page = await call<ListSplitsResponse>(client, 'listSplits', { merchantId: merchant, paymentId: payment.paymentId, pageSize: 0, pageToken: '' });
    return page.splits.every((s) => s.status === SplitStatus.SPLIT_STATUS_SUCCEEDED) ? page.splits : undefined;
  }, 10_000, 'both listed SUCCEEDED');
  const got = (await finished(first.splitId));
  expect(listed.map((s) => [s.splitId, s.channelId, s.channelSplitNo, s.finish]).sort()).toEqual(
    [[first.splitId, 'wxps', got.channelSplitNo, false], [unfreeze.splitId, 'wxps', done.channelSplitNo, true]].sort(),
  );
  expect(got.channelSplitNo).not.toBe('');
  // No receivers without finish: refused naming the field.
  expect(await refusal(call(client, 'createSplit', split(payment.paymentId, [])))).toMatchObject({ reason: 'INVALID_FIELD', fields: ['receivers'] });
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('profit sharing - a 5xx after the write-ahead (WeChat saw nothing): the follow-up finds no order and sends the same one; one order at the sandbox', async () => {
  const payment = await paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  await stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share'], fail_status: 503, times: 1 });
  const created = (await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['1900000205', 1_000n]]))).split!;
  expect(created.status).toBe(SplitStatus.SPLIT_STATUS_PROCESSING);
  expect((await atSandbox(attempt_id)).orders).toHaveLength(0);
  expect((await finished(created.splitId)).status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect((await atSandbox(attempt_id)).orders).toEqual([expect.objectContaining({ out_order_no: created.splitId, requests: 1 })]);
  expect(await receiverBalance('1900000205')).toBe(1_000n);
});

test('profit sharing - WeChat refuses the split (more than the order has left): FAILED, the held shares back with the merchant', async () => {
  const payment = await paidPayment(10_000n);
  // The books allow 9_940 (fee 60); WeChat refuses once its own limit is passed: take the order
  // at the sandbox near its total with a first split, then ask for what the books still allow.
  const first = (await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['1900000206', 9_000n]]))).split!;
  expect((await finished(first.splitId)).status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  await stack.fault({ scope: { provider: 'wechatpay', out_trade_no: `${payment.paymentId}a1` }, operations: ['share'], reject_before_create: { status: 400, code: 'NOT_ENOUGH', message: '分账金额不足' }, times: 1 });
  const refused = (await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['1900000207', 900n]]))).split!;
  const done = await finished(refused.splitId);
  expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_FAILED, failureCode: 'NOT_ENOUGH' });
  await settledInBooks(payment.paymentId);
  expect(await receiverBalance('1900000207')).toBe(0n);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('profit sharing - paycore killed with SIGKILL while WeChat holds its answer to the order: after a restart the follow-up queries it; exactly one profit-sharing order at the sandbox, the books balanced', async () => {
  const payment = await paidPayment(20_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const request = split(payment.paymentId, [['1900000208', 5_000n]]);
  const split_id = splitId(stack.id_key, merchant, request.merchantSplitNo);
  await stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share'], latency_ms: 10_000, times: 1 });
  const creating = call(client, 'createSplit', request).then(() => 'answered', () => 'refused');
  await eventually(async () => ((await atSandbox(attempt_id)).orders.length === 1 ? true : undefined), 15_000, 'the order made at the sandbox');
  await stack.paycore.kill('SIGKILL');
  expect(await creating).toBe('refused');
  client.close();
  await stack.restart();
  client = stack.serviceClient<SplitClient>(split_service, 'SplitService');
  const done = await finished(split_id);
  expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, channelId: 'wxps' });
  expect((await atSandbox(attempt_id)).orders).toEqual([expect.objectContaining({ out_order_no: split_id, requests: 1, state: 'FINISHED' })]);
  expect(await receiverBalance('1900000208')).toBe(5_000n);
  await settledInBooks(payment.paymentId);
  expect((await store.trialBalance()).balanced).toBe(true);
}, 120_000);

test("profit sharing - a refund after a split returns the receivers' shares through WeChat first (return-orders), in the order split, then refunds; without the returns WeChat would refuse it", async () => {
  const payment = await paidPayment(20_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const done = await finished((await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['1900000209', 6_000n], ['1900000210', 4_000n]]))).split!.splitId);
  expect(done.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  // A refund the order actor refuses (more than paid: the merchant's balance, with another
  // payment's, would fund it) takes no share back.
  await paidPayment(30_000n);
  expect(await refusal(createRefund({ paymentId: payment.paymentId, amount: 20_001n }))).toMatchObject({ reason: 'REFUND_EXCEEDS_PAID' });
  expect((await atSandbox(attempt_id)).returns).toEqual([]);
  // 15_000 + the 10_000 shared > 20_000: WeChat refunds it only once the shares are back.
  const refund = (await createRefund({ paymentId: payment.paymentId, amount: 15_000n })).refund!;
  const returns = (await atSandbox(attempt_id)).returns;
  expect(returns.map((r) => [r.return_mchid, r.amount, r.result, r.out_return_no])).toEqual([
    ['1900000209', 6_000, 'SUCCESS', `${refund.refundId}_${done.splitId}_1`], ['1900000210', 4_000, 'SUCCESS', `${refund.refundId}_${done.splitId}_2`],
  ]);
  await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED ? p : undefined;
  }, 20_000, 'refund settled');
  const after = (await call<GetSplitResponse>(client, 'getSplit', { merchantId: merchant, splitId: done.splitId })).split!;
  expect(after.receivers.map((r) => [r.receiverId, r.returnedAmount])).toEqual([['1900000209', 6_000n], ['1900000210', 4_000n]]);
  expect(await receiverBalance('1900000209')).toBe(0n);
  expect(await receiverBalance('1900000210')).toBe(0n);
  // The same refund again: no second return.
  await createRefund({ paymentId: payment.paymentId, amount: 15_000n, merchantRefundNo: refund.merchantRefundNo });
  expect((await atSandbox(attempt_id)).returns).toHaveLength(2);
  await eventually(async () => ((await store.trialBalance()).balanced ? true : undefined), 10_000, 'the books balanced');
});

test('profit sharing - concurrent splits and refunds racing on one payment never exceed paid − refunded − fees, in the books and at WeChat, which agree on what the receivers hold', async () => {
  const amount = 100_000n;
  const payment = await paidPayment(amount);
  const attempt_id = `${payment.paymentId}a1`;
  const oneSplit = (i: number) => call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [[`19000003${String(i).padStart(2, '0')}`, 15_000n]])).then((r) => r.split!);
  // A refund meeting a split WeChat is still making is refused (ILLEGAL_STATE): the merchant
  // retries it with the same key until it is made.
  const oneRefund = async () => {
    const merchantRefundNo = `rf-${randomBytes(6).toString('hex')}`;
    return eventually(() => createRefund({ paymentId: payment.paymentId, amount: 12_000n, merchantRefundNo }).then(() => 12_000n, async (error: unknown) => {
      const reason = (await refusal(Promise.reject(error))).reason;
      return reason === 'ILLEGAL_STATE' || reason === 'DEPENDENCY_DOWN' ? undefined : 0n;
    }), 30_000, 'the refund made');
  };
  const [created, accepted] = await Promise.all([
    Promise.all(Array.from({ length: 8 }, (_, i) => oneSplit(i))), Promise.all(Array.from({ length: 5 }, oneRefund)),
  ]);
  const final = await Promise.all(created.map((s) => finished(s.splitId)));
  const refunded = accepted.reduce((sum, a) => sum + a, 0n);
  expect(refunded).toBe(60_000n); // each made once no split of the payment was in flight
  await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.refundedAmount + (await failedRefunds(payment.paymentId)) === refunded && (await inFlight(payment.paymentId)) === 0 ? p : undefined;
  }, 30_000, 'every refund settled');
  const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
  let kept = 0n;
  for (const s of final) {
    if (s.status !== SplitStatus.SPLIT_STATUS_SUCCEEDED) continue;
    const got = (await call<GetSplitResponse>(client, 'getSplit', { merchantId: merchant, splitId: s.splitId })).split!;
    kept += got.receivers[0]!.amount - got.receivers[0]!.returnedAmount;
  }
  expect(final.some((s) => s.status === SplitStatus.SPLIT_STATUS_SUCCEEDED)).toBe(true);
  expect(kept + p.refundedAmount).toBeLessThanOrEqual(amount - 600n);
  // WeChat's view: what its orders gave and its returns took back equals the books' shares.
  const shares = await atSandbox(attempt_id);
  const given = shares.orders.flatMap((o) => o.receivers).filter((r) => r.result === 'SUCCESS').reduce((sum, r) => sum + BigInt(r.amount), 0n);
  const returned = shares.returns.filter((r) => r.result === 'SUCCESS').reduce((sum, r) => sum + BigInt(r.amount), 0n);
  expect(given - returned).toBe(kept);
  expect(given - returned + p.refundedAmount).toBeLessThanOrEqual(amount);
  await eventually(async () => ((await store.trialBalance()).balanced ? true : undefined), 10_000, 'the books balanced');
}, 120_000);

async function failedRefunds(payment_id: string): Promise<bigint> {
  const result = await store.pool.query<{ sum: bigint }>("SELECT coalesce(sum(amount_minor), 0)::bigint AS sum FROM refunds WHERE payment_id = $1 AND state = 'FAILED'", [payment_id]);
  return result.rows[0]!.sum;
}

test('profit sharing - a refund while WeChat is still making a split of the payment is refused ILLEGAL_STATE, nothing returned; once it finished, the same refund is made', async () => {
  const payment = await paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  // WeChat sits on its answer: the split stays PROCESSING, its share in flight.
  await stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share', 'share_query'], latency_ms: 3_000, times: 2 });
  const creating = call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['1900000211', 2_000n]]));
  await eventually(async () => ((await inFlight(payment.paymentId)) === 1 ? true : undefined), 10_000, 'the share in flight');
  const merchantRefundNo = `rf-${randomBytes(6).toString('hex')}`;
  expect(await refusal(createRefund({ paymentId: payment.paymentId, amount: 9_000n, merchantRefundNo }))).toMatchObject({ reason: 'ILLEGAL_STATE' });
  expect((await atSandbox(attempt_id)).returns).toEqual([]);
  const done = await finished((await creating).split!.splitId);
  expect(done.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  await settledInBooks(payment.paymentId);
  await createRefund({ paymentId: payment.paymentId, amount: 9_000n, merchantRefundNo });
  expect((await atSandbox(attempt_id)).returns.map((r) => [r.return_mchid, r.amount, r.result])).toEqual([['1900000211', 2_000, 'SUCCESS']]);
}, 60_000);

test("profit sharing - WeChat refuses a return: the share is the receiver's again in the books and the refund is not made", async () => {
  const payment = await paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const done = await finished((await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['1900000212', 3_000n]]))).split!.splitId);
  await settledInBooks(payment.paymentId);
  await stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share_return'], reject_before_create: { status: 400, code: 'ACCOUNT_ABNORMAL', message: '原分账接收方账户异常' }, times: 1 });
  const refused = await refusal(createRefund({ paymentId: payment.paymentId, amount: 9_000n }));
  expect(refused).toMatchObject({ reason: 'ILLEGAL_STATE' });
  const got = (await call<GetSplitResponse>(client, 'getSplit', { merchantId: merchant, splitId: done.splitId })).split!;
  expect(got.receivers.map((r) => r.returnedAmount)).toEqual([0n]);
  expect(await receiverBalance('1900000212')).toBe(3_000n);
  const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
  expect(p.status).toBe(PaymentStatus.PAYMENT_STATUS_SUCCEEDED); // no refund made
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('profit sharing - split rules on CreatePayment of a payment on a profit-sharing channel are made at WeChat too', async () => {
  const payment = await stack.client.createPayment({
    merchantId: merchant, merchantOrderNo: `ps-${randomBytes(6).toString('hex')}`, amount: 20_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE,
    subject: 'rules', splitRules: [{ receiverId: '1900000213', amount: 1_000n, ratioBp: 0, name: '分账接收方有限公司' }],
  });
  await stack.pay(`${payment.paymentId}a1`);
  const order = await eventually(async () => (await atSandbox(`${payment.paymentId}a1`)).orders.find((o) => o.state === 'FINISHED'), 30_000, 'the rules split at WeChat');
  expect(order.receivers.map((r) => [r.account, r.amount])).toEqual([['1900000213', 1_000]]);
  const got = await finished(order.out_order_no);
  expect(got).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, merchantSplitNo: `rules:${payment.paymentId}`, channelId: 'wxps' });
});

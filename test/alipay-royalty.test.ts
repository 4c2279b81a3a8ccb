// Integration: splits made at the payment's channel through Alipay 交易分账, by paycore (node
// dist/workers/main.js) and the sandbox PSP over HTTP, the books in a PostgreSQL database of this
// run's own. Channel alips is an Alipay channel configured for profit sharing and the only route
// of ALIPAY_PC here (profit sharing takes no 当面付 product: Alipay returns their royalty pro rata
// by itself): its payments are created with extend_params.royalty_freeze, a split is
// written ahead (PROCESSING), sent as alipay.trade.order.settle whose out_request_no is the split
// id, settled by its query, and posted for good once Alipay processed it. A refund takes the
// receivers' shares back inside itself (refund_royalty_parameters), written ahead with it.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { LedgerStore } from '../core/ledger/store';
import { refundId } from '../core/ids';
import { SplitBooks } from '../core/splits/books';
import { split_service } from '../core/gateway/splits';
import { PaymentStatus, Product, RefundStatus, type CreateRefundRequest, type CreateRefundResponse, type GetRefundResponse, type Payment } from '../proto/gen/paycore/v1/payment';
import { SplitStatus, type CreateSplitResponse, type GetSplitResponse, type Split } from '../proto/gen/paycore/v1/split';
import { eventually, refusal, routingTable, sandboxRoute, startStack, type Stack } from './harness';

type SplitClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

interface RoyaltyView {
  settles: {
    out_trade_no: string; out_request_no: string; settle_no: string; finishes: boolean; processed: boolean; requests: number; unfrozen_amount?: string;
    royalty_detail_list: { trans_in: string; amount: string; state: string; returned_amount: string }[];
  }[];
}

interface AlipayRefundView { out_request_no: string; refund_amount: string; refund_royalty_parameters: { trans_out: string; amount: string }[] }

const merchant = 'm_it';
let db: TestDatabase;
let store: LedgerStore;
let stack: Stack;
let client: SplitClient;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false }); // paycore migrates it at boot
  stack = await startStack({
    routing: routingTable([sandboxRoute('alips', ['ALIPAY_PC'], { provider: 'alipay' })]),
    // A short channel timeout: an answer held past it is ambiguous (the scenario below).
    channel_timeout_ms: 2_000,
    // A short orphan bound: a claim whose refund never came to exist is given back in seconds.
    env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_REFUND_BACKOFF_MS: '300,600,1000', PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0', PAYCORE_SPLIT_CLAIM_ORPHAN_AFTER_MS: '1500' },
    extra_channels: (_wechat, { alipay }) => [{ channel_id: 'alips', provider: 'alipay', products: ['ALIPAY_PC'], settings: { ...alipay, profit_sharing: 'true' } }],
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

function call<T>(method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

const sandbox = async <T>(path: string): Promise<T> => (await fetch(`${stack.sandbox.url}${path}`)).json() as Promise<T>;

async function paidPayment(amount: bigint): Promise<Payment> {
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `ar-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_ALIPAY_PC, subject: 'royalty' });
  // The payer opens the signed page: the trade exists at Alipay from then on.
  expect((await fetch(payment.nextAction!.value)).status).toBe(200);
  const paid = await fetch(`${stack.sandbox.url}/sandbox/alipay/orders/${payment.paymentId}a1/pay`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  expect(paid.status).toBe(200);
  const got = await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 15_000, 'payment SUCCEEDED');
  await eventually(async () => ((await store.pool.query("SELECT 1 FROM payments WHERE payment_id = $1 AND status = 'SUCCEEDED'", [payment.paymentId])).rows.length > 0 ? true : undefined), 20_000, 'the books see it paid');
  return got;
}

function createRefund(request: Partial<CreateRefundRequest>): Promise<CreateRefundResponse> {
  const full: CreateRefundRequest = { merchantId: merchant, merchantRefundNo: `rf-${randomBytes(6).toString('hex')}`, paymentId: '', merchantOrderNo: '', amount: 0n, reason: '', notifyUrl: '', ...request };
  return new Promise((resolve, reject) =>
    stack.client.raw.createRefund(full, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (error, value) => (error ? reject(error) : resolve(value!))),
  );
}

const split = (payment_id: string, receivers: [string, bigint][], finish = false) => ({
  merchantId: merchant, merchantSplitNo: `sp-${randomBytes(5).toString('hex')}`, paymentId: payment_id, description: 'courier', finish,
  receivers: receivers.map(([receiverId, amount]) => ({ receiverId, amount, returnedAmount: 0n })),
});

async function finished(split_id: string): Promise<Split> {
  return eventually(async () => {
    const got = (await call<GetSplitResponse>('getSplit', { merchantId: merchant, splitId: split_id })).split!;
    return got.status === SplitStatus.SPLIT_STATUS_SUCCEEDED || got.status === SplitStatus.SPLIT_STATUS_FAILED ? got : undefined;
  }, 30_000, `split ${split_id} finished`);
}

async function receiverBalance(receiver_id: string): Promise<bigint> {
  return (await store.balances(`${merchant}/${receiver_id}`)).find((row) => row.code === 'split_receiver')?.balance_minor ?? 0n;
}

async function settledInBooks(payment_id: string): Promise<void> {
  await eventually(async () => ((await store.pool.query('SELECT 1 FROM split_receivers WHERE payment_id = $1 AND in_flight', [payment_id])).rows.length === 0 ? true : undefined), 10_000, 'no share in flight');
}

async function refundState(payment_id: string, refund_id: string): Promise<RefundStatus> {
  return eventually(async () => {
    const got = (await new Promise<GetRefundResponse>((resolve, reject) =>
      stack.client.raw.getRefund({ merchantId: merchant, refundId: refund_id, merchantRefundNo: '' }, (error, value) => (error ? reject(error) : resolve(value!))))).refund!;
    return got.status === RefundStatus.REFUND_STATUS_SUCCEEDED || got.status === RefundStatus.REFUND_STATUS_FAILED ? got.status : undefined;
  }, 30_000, `refund ${refund_id} of ${payment_id} final`);
}

async function balanced(): Promise<void> {
  await eventually(async () => ((await store.trialBalance()).balanced ? true : undefined), 10_000, 'the books balanced');
}

test('alipay royalty - an Alipay payment frozen for royalty splits at Alipay: written ahead, one settle (out_request_no = split id) with the receivers, posted once processed; the books balance', async () => {
  const payment = await paidPayment(100_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const orders = await sandbox<{ orders: { royalty_freeze: boolean }[] }>(`/sandbox/alipay/orders?out_trade_no_prefix=${attempt_id}`);
  expect(orders.orders).toEqual([expect.objectContaining({ royalty_freeze: true })]);
  const request = split(payment.paymentId, [['2088000000000201', 30_000n], ['2088000000000202', 20_000n]]);
  const created = (await call<CreateSplitResponse>('createSplit', request)).split!;
  expect(created).toMatchObject({ status: SplitStatus.SPLIT_STATUS_PROCESSING, channelId: 'alips' });
  const done = await finished(created.splitId);
  expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, channelId: 'alips', amount: 50_000n });
  const at = await sandbox<RoyaltyView>(`/sandbox/alipay/royalty?out_trade_no_prefix=${attempt_id}`);
  expect(at.settles).toEqual([
    expect.objectContaining({ out_request_no: created.splitId, settle_no: done.channelSplitNo, processed: true, requests: 1, finishes: false }),
  ]);
  expect(at.settles[0]!.royalty_detail_list.map((d) => [d.trans_in, d.amount, d.state])).toEqual([['2088000000000201', '300.00', 'SUCCESS'], ['2088000000000202', '200.00', 'SUCCESS']]);
  await settledInBooks(payment.paymentId);
  expect(await receiverBalance('2088000000000201')).toBe(30_000n);
  expect(await receiverBalance('2088000000000202')).toBe(20_000n);
  // The same key again: the same split, no second settle.
  expect((await call<CreateSplitResponse>('createSplit', request)).split!.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect((await sandbox<RoyaltyView>(`/sandbox/alipay/royalty?out_trade_no_prefix=${attempt_id}`)).settles).toHaveLength(1);
  // The last split (finish): royalty_finish, Alipay unfreezes the rest; a later one is refused there.
  const last = await finished((await call<CreateSplitResponse>('createSplit', split(payment.paymentId, [['2088000000000203', 10_000n]], true))).split!.splitId);
  expect(last.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  const settles = (await sandbox<RoyaltyView>(`/sandbox/alipay/royalty?out_trade_no_prefix=${attempt_id}`)).settles;
  const finishing = settles.find((s) => s.out_request_no === last.splitId);
  expect(finishing).toMatchObject({ finishes: true, unfrozen_amount: expect.any(String) });
  const later = await finished((await call<CreateSplitResponse>('createSplit', split(payment.paymentId, [['2088000000000204', 1_000n]]))).split!.splitId);
  expect(later).toMatchObject({ status: SplitStatus.SPLIT_STATUS_FAILED, failureCode: 'ACQ.TRADE_SETTLE_ERROR' });
  await settledInBooks(payment.paymentId);
  expect(await receiverBalance('2088000000000204')).toBe(0n);
  await balanced();
});

test('alipay royalty - a settle answered 502 after the write-ahead (Alipay saw nothing): the follow-up query finds no settle and sends the same one; one settle at the sandbox', async () => {
  const payment = await paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  await stack.fault({ scope: { provider: 'alipay', out_trade_no: attempt_id }, operations: ['share'], fail_status: 502, times: 1 });
  const created = (await call<CreateSplitResponse>('createSplit', split(payment.paymentId, [['2088000000000205', 1_000n]]))).split!;
  expect(created.status).toBe(SplitStatus.SPLIT_STATUS_PROCESSING);
  expect((await finished(created.splitId)).status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect((await sandbox<RoyaltyView>(`/sandbox/alipay/royalty?out_trade_no_prefix=${attempt_id}`)).settles).toEqual([expect.objectContaining({ out_request_no: created.splitId, requests: 1 })]);
  await settledInBooks(payment.paymentId);
  expect(await receiverBalance('2088000000000205')).toBe(1_000n);
  await balanced();
});

test("alipay royalty - a refund after a split takes the receivers' shares back inside the refund (refund_royalty_parameters), exactly what the books took", async () => {
  const payment = await paidPayment(20_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const done = await finished((await call<CreateSplitResponse>('createSplit', split(payment.paymentId, [['2088000000000206', 6_000n], ['2088000000000207', 4_000n]]))).split!.splitId);
  expect(done.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  await settledInBooks(payment.paymentId);
  // 15_000 + the 10_000 shared > 20_000: Alipay refunds it only with the shares back.
  const refund = (await createRefund({ paymentId: payment.paymentId, amount: 15_000n })).refund!;
  expect(await refundState(payment.paymentId, refund.refundId)).toBe(RefundStatus.REFUND_STATUS_SUCCEEDED);
  const refunds = (await sandbox<{ refunds: AlipayRefundView[] }>(`/sandbox/alipay/refunds?out_trade_no_prefix=${attempt_id}`)).refunds;
  expect(refunds).toEqual([expect.objectContaining({
    out_request_no: refund.refundId, refund_amount: '150.00',
    refund_royalty_parameters: [{ trans_out: '2088000000000206', amount: '60.00' }, { trans_out: '2088000000000207', amount: '40.00' }],
  })]);
  const after = (await call<GetSplitResponse>('getSplit', { merchantId: merchant, splitId: done.splitId })).split!;
  expect(after.receivers.map((r) => [r.receiverId, r.returnedAmount])).toEqual([['2088000000000206', 6_000n], ['2088000000000207', 4_000n]]);
  // What the books took back is what the refund carried.
  const taken = await store.pool.query<{ sum: bigint }>('SELECT coalesce(sum(amount_minor), 0)::bigint AS sum FROM split_returns WHERE refund_id = $1 AND NOT reversed', [refund.refundId]);
  expect(taken.rows[0]!.sum).toBe(10_000n);
  const at = (await sandbox<RoyaltyView>(`/sandbox/alipay/royalty?out_trade_no_prefix=${attempt_id}`)).settles[0]!;
  expect(at.royalty_detail_list.map((d) => d.returned_amount)).toEqual(['60.00', '40.00']);
  expect(await receiverBalance('2088000000000206')).toBe(0n);
  expect(await receiverBalance('2088000000000207')).toBe(0n);
  // The same refund again: the same refund, nothing more taken back.
  await createRefund({ paymentId: payment.paymentId, amount: 15_000n, merchantRefundNo: refund.merchantRefundNo });
  expect((await sandbox<{ refunds: AlipayRefundView[] }>(`/sandbox/alipay/refunds?out_trade_no_prefix=${attempt_id}`)).refunds).toHaveLength(1);
  await balanced();
});

test('alipay royalty - a refund whose answer is lost (held past the channel timeout) is settled by the refund query; the resend carries the same shares; one refund at the sandbox', async () => {
  const payment = await paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const done = await finished((await call<CreateSplitResponse>('createSplit', split(payment.paymentId, [['2088000000000208', 8_000n]]))).split!.splitId);
  expect(done.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  await settledInBooks(payment.paymentId);
  await stack.fault({ scope: { provider: 'alipay', out_trade_no: attempt_id }, operations: ['refund'], latency_ms: 3_000, times: 1 });
  const refund = (await createRefund({ paymentId: payment.paymentId, amount: 9_000n })).refund!;
  expect(await refundState(payment.paymentId, refund.refundId)).toBe(RefundStatus.REFUND_STATUS_SUCCEEDED);
  const refunds = (await sandbox<{ refunds: AlipayRefundView[] }>(`/sandbox/alipay/refunds?out_trade_no_prefix=${attempt_id}`)).refunds;
  expect(refunds).toEqual([expect.objectContaining({ out_request_no: refund.refundId, refund_royalty_parameters: [{ trans_out: '2088000000000208', amount: '80.00' }] })]);
  expect(await receiverBalance('2088000000000208')).toBe(0n);
  await balanced();
});

test("alipay royalty - a refund Alipay refuses for good gives the shares it carried back to their receivers in the books; a refund the order actor refuses takes none", async () => {
  const payment = await paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const done = await finished((await call<CreateSplitResponse>('createSplit', split(payment.paymentId, [['2088000000000209', 5_000n]]))).split!.splitId);
  expect(done.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  await settledInBooks(payment.paymentId);
  await stack.fault({ scope: { provider: 'alipay', out_trade_no: attempt_id }, operations: ['refund'], reject_before_create: { status: 400, code: 'ACQ.TRADE_STATUS_ERROR', message: '交易状态不合法' }, times: 1 });
  const refund = (await createRefund({ paymentId: payment.paymentId, amount: 8_000n })).refund!;
  expect(await refundState(payment.paymentId, refund.refundId)).toBe(RefundStatus.REFUND_STATUS_FAILED);
  await eventually(async () => ((await receiverBalance('2088000000000209')) === 5_000n ? true : undefined), 10_000, 'the share the receiver\'s again');
  const got = (await call<GetSplitResponse>('getSplit', { merchantId: merchant, splitId: done.splitId })).split!;
  expect(got.receivers.map((r) => r.returnedAmount)).toEqual([0n]);
  expect((await sandbox<{ refunds: AlipayRefundView[] }>(`/sandbox/alipay/refunds?out_trade_no_prefix=${attempt_id}`)).refunds).toEqual([]);
  // More than is left to refund: refused before anything is taken back.
  expect(await refusal(createRefund({ paymentId: payment.paymentId, amount: 10_001n }))).toMatchObject({ reason: 'REFUND_EXCEEDS_PAID' });
  expect(await receiverBalance('2088000000000209')).toBe(5_000n);
  // A refund the receivers' shares are needed for is made with them after all.
  const again = (await createRefund({ paymentId: payment.paymentId, amount: 8_000n })).refund!;
  expect(await refundState(payment.paymentId, again.refundId)).toBe(RefundStatus.REFUND_STATUS_SUCCEEDED);
  expect(await receiverBalance('2088000000000209')).toBe(0n);
  await balanced();
});

test("alipay royalty - shares taken back for a refund that never reached the order actor (the gateway stopped in between, no retry) are given back by the orphan sweep; the same refund retried later takes them once and Alipay carries them; a refund that exists is never swept", async () => {
  const payment = await paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const done = await finished((await call<CreateSplitResponse>('createSplit', split(payment.paymentId, [['2088000000000210', 5_000n]]))).split!.splitId);
  expect(done.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  await settledInBooks(payment.paymentId);
  // The crash point: the books took the share back and claimed the refund (what CreateRefund does
  // before create_refund), and the refund was never created.
  const merchant_refund_no = `rf-orphan-${randomBytes(5).toString('hex')}`;
  const refund_id = refundId(stack.id_key, merchant, merchant_refund_no);
  expect(await new SplitBooks(store).planReturns(payment.paymentId, refund_id, 8_000n)).toMatchObject({ kind: 'planned', returns: [{ receiver_id: '2088000000000210', amount_minor: 5_000n }] });
  expect(await receiverBalance('2088000000000210')).toBe(0n);
  // The sweep reads the order's log (no such refund) and gives the share back; the claim no longer holds the payment.
  await eventually(async () => ((await receiverBalance('2088000000000210')) === 5_000n ? true : undefined), 20_000, 'the orphan claim given back');
  expect((await store.pool.query('SELECT released FROM channel_refund_claims WHERE refund_id = $1', [refund_id])).rows).toEqual([{ released: true }]);
  expect((await call<GetSplitResponse>('getSplit', { merchantId: merchant, splitId: done.splitId })).split!.receivers.map((r) => r.returnedAmount)).toEqual([0n]);
  // The merchant retries the same refund after all: the share is taken back once more, once, and carried.
  const refund = (await createRefund({ paymentId: payment.paymentId, amount: 8_000n, merchantRefundNo: merchant_refund_no })).refund!;
  expect(refund.refundId).toBe(refund_id);
  expect(await refundState(payment.paymentId, refund_id)).toBe(RefundStatus.REFUND_STATUS_SUCCEEDED);
  const refunds = (await sandbox<{ refunds: AlipayRefundView[] }>(`/sandbox/alipay/refunds?out_trade_no_prefix=${attempt_id}`)).refunds;
  expect(refunds).toEqual([expect.objectContaining({ out_request_no: refund_id, refund_royalty_parameters: [{ trans_out: '2088000000000210', amount: '50.00' }] })]);
  await eventually(async () => ((await store.pool.query('SELECT 1 FROM refunds WHERE refund_id = $1', [refund_id])).rows.length > 0 ? true : undefined), 10_000, 'the refund in the books');
  // The refund exists: its claim is no orphan, its share stays returned.
  expect(await new SplitBooks(store).orphanClaims(0, 1_000)).not.toContainEqual(expect.objectContaining({ refund_id }));
  expect(await receiverBalance('2088000000000210')).toBe(0n);
  expect((await store.pool.query('SELECT amount_minor, generation FROM split_returns WHERE refund_id = $1 AND NOT reversed', [refund_id])).rows).toEqual([{ amount_minor: 5_000n, generation: 2 }]);
  await balanced();
});

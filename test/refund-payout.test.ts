// Integration: a refund the channel can no longer carry (past its count of refunds per payment,
// REQUIRES_MANUAL), paid by a payout (代付退款) to the payer's account an operator supplies —
// through paycore (node dist/workers/main.js) with its books in a PostgreSQL database of this
// run's own, WeChat Pay and the bank gateway in the sandbox. The refund ends SUCCEEDED with the
// payout recorded on it, one payout at the bank, and the books balanced.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { LedgerStore } from '../core/ledger/store';
import type { AccountCode } from '../core/ledger/rules';
import { payout_admin_service } from '../core/gateway/payout-admin';
import { payoutId } from '../core/ids';
import { PaymentStatus, Product, RefundStatus, type CreateRefundRequest, type CreateRefundResponse, type GetRefundResponse, type Payment, type Refund } from '../proto/gen/paycore/v1/payment';
import { PayoutStatus, type PayRefundByPayoutResponse } from '../proto/gen/paycore/v1/payout';
import { eventually, refusal, startStack, type Stack } from './harness';

type AdminClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const merchant = 'm_ref';
let db: TestDatabase;
let store: LedgerStore;
let stack: Stack;
let admin: AdminClient;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  stack = await startStack({ env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0' } });
  store = new LedgerStore(db.url);
  admin = stack.serviceClient<AdminClient>(payout_admin_service, 'PayoutAdminService');
});

afterAll(async () => {
  admin?.close();
  await stack?.stop();
  await store?.close();
  await db?.drop();
});

function unary<T>(run: (cb: (error: grpc.ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value as T))));
}

function call<T>(method: string, request: unknown): Promise<T> {
  return unary<T>((cb) => admin[method]!(request, cb));
}

function createRefund(payment_id: string, amount: bigint): Promise<Refund> {
  const request: CreateRefundRequest = {
    merchantId: merchant, merchantRefundNo: `rf-${randomBytes(6).toString('hex')}`, paymentId: payment_id, merchantOrderNo: '', amount, reason: '', notifyUrl: '',
  };
  const deadline = Date.now() + 15_000;
  return unary<CreateRefundResponse>((cb) => stack.client.raw.createRefund(request, new grpc.Metadata(), { deadline }, cb)).then((r) => r.refund!);
}

function getRefund(refund_id: string): Promise<Refund> {
  return unary<GetRefundResponse>((cb) => stack.client.raw.getRefund({ refundId: refund_id, merchantId: merchant, merchantRefundNo: '' }, new grpc.Metadata(), cb)).then((r) => r.refund!);
}

async function balance(code: AccountCode, owner: string): Promise<bigint> {
  return (await store.balances(owner)).find((row) => row.code === code && row.currency === 'CNY')?.balance_minor ?? 0n;
}

async function paidPayment(amount: bigint): Promise<Payment> {
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `rp-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'refund by payout' });
  await stack.pay(`${payment.paymentId}a1`);
  const paid = await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'payment SUCCEEDED');
  // The refund funding check counts what the books hold: wait for the payment to be posted.
  await eventually(async () => ((await balance('merchant_pending', merchant)) >= amount ? true : undefined), 15_000, 'the payment in the books');
  return paid;
}

const payee = { accountNo: '6222020200117788', accountName: 'Chen Qi', bankCode: 'ICBC' };

test('refund by payout - a refund past the channel\'s count, paid by payout: SUCCEEDED with the payout recorded, one payout at the bank, the books balanced', async () => {
  const payment = await paidPayment(5_000n);
  // WeChat Pay takes at most 50 refunds of one payment: the 51st needs another route.
  const refunds = [];
  for (let i = 0; i < 50; i += 1) refunds.push(await createRefund(payment.paymentId, 1n));
  const manual = await createRefund(payment.paymentId, 100n);
  expect(manual).toMatchObject({ status: RefundStatus.REFUND_STATUS_REQUIRES_MANUAL, failure: { code: 'REFUND_COUNT_EXCEEDED' } });

  const request = { merchantId: merchant, refundId: manual.refundId, payee, channelId: '' };
  const paid = await call<PayRefundByPayoutResponse>('payRefundByPayout', request);
  expect(paid.payout).toMatchObject({
    status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED, amount: 100n, channelId: 'bank1', purpose: 'refund', accountLast4: '7788', merchantPayoutNo: `refund:${manual.refundId}`,
  });
  expect(paid.refund).toMatchObject({
    refundId: manual.refundId, status: RefundStatus.REFUND_STATUS_SUCCEEDED, payoutId: paid.payout!.payoutId, channelRefundNo: paid.payout!.channelPayoutNo,
  });
  expect(paid.refund!.failure).toBeUndefined();
  expect(await getRefund(manual.refundId)).toMatchObject({ status: RefundStatus.REFUND_STATUS_SUCCEEDED, payoutId: paid.payout!.payoutId });
  const after = await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.refundedAmount === 150n ? p : undefined;
  }, 15_000, 'every refund settled');
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED);

  // The same request again: the same payout, nothing more at the bank.
  const again = await call<PayRefundByPayoutResponse>('payRefundByPayout', request);
  expect(again.payout!.payoutId).toBe(paid.payout!.payoutId);
  const at_bank = await fetch(`${stack.sandbox.url}/sandbox/bankgw/payouts?out_trade_no_prefix=${paid.payout!.payoutId}`).then((r) => r.json() as Promise<{ payouts: { payout_status: string; submissions: number }[] }>);
  expect(at_bank.payouts).toEqual([expect.objectContaining({ payout_status: 'SUCCESS', submissions: 1 })]);

  // The books: the refund's money left refunds in transit (WeChat Pay's) against the bank
  // channel's receivable; nothing frozen or posted as a payout of the merchant's own money.
  const entry = await eventually(async () => (await store.entriesOf(payment.paymentId)).find((e) => e.txn_code === 'REFUND_PAYOUT_SETTLED'), 15_000, 'the refund posted as paid out');
  expect(entry.lines).toEqual([
    { code: 'refunds_in_transit', owner: 'wx1', debit_minor: 100n, credit_minor: 0n },
    { code: 'channel_receivable', owner: 'bank1', debit_minor: 0n, credit_minor: 100n },
  ]);
  await eventually(async () => ((await balance('refunds_in_transit', 'wx1')) === 0n ? true : undefined), 15_000, 'no refund left in transit');
  expect(await balance('merchant_frozen', merchant)).toBe(0n);
  expect((await store.trialBalance()).balanced).toBe(true);

  // A refund the channel carried is not paid by payout; nor one of another merchant; bad fields are named.
  expect(await refusal(call('payRefundByPayout', { ...request, refundId: refunds[0]!.refundId }))).toMatchObject({ reason: 'ILLEGAL_STATE' });
  expect(await refusal(call('payRefundByPayout', { ...request, merchantId: 'm_sa' }))).toMatchObject({ reason: 'NOT_FOUND' });
  const bad = await refusal(call('payRefundByPayout', { merchantId: merchant, refundId: 'r1', payee: { ...payee, bankCode: 'x' }, channelId: '' }));
  expect(bad.fields.sort()).toEqual(['payee.bank_code', 'refund_id']);
});

test('refund by payout - a refund payout the bank refuses can be paid again by a new attempt (refund:<id>:2) to a corrected account: exactly one payout paid, the refund SUCCEEDED with it', async () => {
  const payment = await paidPayment(5_000n);
  for (let i = 0; i < 50; i += 1) await createRefund(payment.paymentId, 1n);
  const manual = await createRefund(payment.paymentId, 200n);
  expect(manual).toMatchObject({ status: RefundStatus.REFUND_STATUS_REQUIRES_MANUAL, failure: { code: 'REFUND_COUNT_EXCEEDED' } });
  const first_id = payoutId(stack.id_key, merchant, `refund:${manual.refundId}`);
  await fetch(`${stack.sandbox.url}/sandbox/faults`, {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ scope: { provider: 'bankgw', out_trade_no: first_id }, operations: ['payout'], reject_before_create: { status: 400, code: 'ACCOUNT_INVALID', message: 'no such account' }, times: 1 }),
  });
  const request = { merchantId: merchant, refundId: manual.refundId, payee: { ...payee, accountNo: '6222020200110000' }, channelId: '' };
  const refused = await call<PayRefundByPayoutResponse>('payRefundByPayout', request);
  expect(refused.payout).toMatchObject({ payoutId: first_id, status: PayoutStatus.PAYOUT_STATUS_FAILED });
  expect(refused.refund).toMatchObject({ status: RefundStatus.REFUND_STATUS_REQUIRES_MANUAL });

  // The operator corrects the account: a new attempt, paid.
  const corrected = { ...request, payee };
  const paid = await call<PayRefundByPayoutResponse>('payRefundByPayout', corrected);
  expect(paid.payout).toMatchObject({ status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED, merchantPayoutNo: `refund:${manual.refundId}:2`, accountLast4: '7788', amount: 200n });
  expect(paid.refund).toMatchObject({ status: RefundStatus.REFUND_STATUS_SUCCEEDED, payoutId: paid.payout!.payoutId });
  // Once paid: the same payout again, whichever account; never a third attempt.
  expect((await call<PayRefundByPayoutResponse>('payRefundByPayout', corrected)).payout!.payoutId).toBe(paid.payout!.payoutId);
  expect(await refusal(call('payRefundByPayout', request))).toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
  const at_bank = await fetch(`${stack.sandbox.url}/sandbox/bankgw/payouts?out_trade_no_prefix=${paid.payout!.payoutId}`).then((r) => r.json() as Promise<{ payouts: { payout_status: string }[] }>);
  expect(at_bank.payouts).toEqual([expect.objectContaining({ payout_status: 'SUCCESS' })]);
  const first_at_bank = await fetch(`${stack.sandbox.url}/sandbox/bankgw/payouts?out_trade_no_prefix=${first_id}`).then((r) => r.json() as Promise<{ payouts: unknown[] }>);
  expect(first_at_bank.payouts).toEqual([]);
  await eventually(async () => ((await store.entriesOf(payment.paymentId)).some((e) => e.txn_code === 'REFUND_PAYOUT_SETTLED') ? true : undefined), 60_000, 'the refund posted as paid out');
  await eventually(async () => ((await balance('refunds_in_transit', 'wx1')) === 0n ? true : undefined), 60_000, 'no refund left in transit');
  expect(await balance('merchant_frozen', merchant)).toBe(0n);
  expect((await store.trialBalance()).balanced).toBe(true);
});

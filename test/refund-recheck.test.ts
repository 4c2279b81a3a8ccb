// Integration: an operator's re-check of a refund that went REQUIRES_MANUAL after it reached the
// provider (PayoutAdminService RecheckRefund) — through paycore (node dist/workers/main.js) with
// its books in a PostgreSQL database of this run's own, WeChat Pay in the sandbox. The refund
// settles ABNORMAL at WeChat Pay (REQUIRES_MANUAL here, final for the actor); the merchant then
// handles it at the provider (异常退款: the sandbox settles it SUCCESS or CLOSED) and a late
// callback changes nothing; the re-check queries WeChat Pay once and applies its final answer.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { LedgerStore } from '../core/ledger/store';
import { payout_admin_service } from '../core/gateway/payout-admin';
import { PaymentStatus, Product, RefundStatus, type CreateRefundRequest, type CreateRefundResponse, type GetRefundResponse, type Payment, type Refund } from '../proto/gen/paycore/v1/payment';
import type { RecheckRefundResponse } from '../proto/gen/paycore/v1/payout';
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

function recheck(request: { merchantId: string; refundId: string; reason: string }): Promise<RecheckRefundResponse> {
  return unary<RecheckRefundResponse>((cb) => admin.recheckRefund!(request, cb));
}

function createRefund(payment_id: string, amount: bigint): Promise<Refund> {
  const request: CreateRefundRequest = {
    merchantId: merchant, merchantRefundNo: `rc-${randomBytes(6).toString('hex')}`, paymentId: payment_id, merchantOrderNo: '', amount, reason: '', notifyUrl: '',
  };
  const deadline = Date.now() + 15_000;
  return unary<CreateRefundResponse>((cb) => stack.client.raw.createRefund(request, new grpc.Metadata(), { deadline }, cb)).then((r) => r.refund!);
}

function getRefund(refund_id: string): Promise<Refund> {
  return unary<GetRefundResponse>((cb) => stack.client.raw.getRefund({ refundId: refund_id, merchantId: merchant, merchantRefundNo: '' }, new grpc.Metadata(), cb)).then((r) => r.refund!);
}

async function paidPayment(amount: bigint): Promise<Payment> {
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `rr-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'refund re-check' });
  await stack.pay(`${payment.paymentId}a1`);
  const paid = await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'payment SUCCEEDED');
  // The refund funding check counts what the books hold: wait for the payment to be posted.
  await eventually(async () => ((await store.balances(merchant)).some((row) => row.code === 'merchant_pending' && row.balance_minor >= amount) ? true : undefined), 15_000, 'the payment in the books');
  return paid;
}

/** A refund WeChat Pay settled ABNORMAL: REQUIRES_MANUAL after it reached the provider. */
async function abnormalRefund(payment: Payment, amount: bigint): Promise<Refund> {
  await stack.fault({ scope: { out_trade_no: `${payment.paymentId}a1` }, refund_status: 'ABNORMAL', times: 1 });
  const refund = await createRefund(payment.paymentId, amount);
  return eventually(async () => {
    const r = await getRefund(refund.refundId);
    return r.status === RefundStatus.REFUND_STATUS_REQUIRES_MANUAL ? r : undefined;
  }, 15_000, 'refund REQUIRES_MANUAL (ABNORMAL)');
}

/** The merchant handled the abnormal refund at WeChat Pay (异常退款): it settles there. */
async function settleAtProvider(refund_id: string, status: 'SUCCESS' | 'CLOSED'): Promise<void> {
  const response = await fetch(`${stack.sandbox.url}/sandbox/wechatpay/refunds/${refund_id}/settle`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status }),
  });
  expect(response.status).toBe(200);
}

test('refund re-check - an ABNORMAL refund the provider later paid: the re-check while abnormal changes nothing and says so; after the provider paid it, SUCCEEDED, the payment refunded, audited', async () => {
  const payment = await paidPayment(3_000n);
  const manual = await abnormalRefund(payment, 1_000n);
  expect(manual.failure).toMatchObject({ code: 'ABNORMAL' });

  // Still abnormal at WeChat Pay: the refund stays REQUIRES_MANUAL and the answer is told.
  const early = await recheck({ merchantId: merchant, refundId: manual.refundId, reason: 'payer says the card works again' });
  expect(early.refund).toMatchObject({ refundId: manual.refundId, status: RefundStatus.REFUND_STATUS_REQUIRES_MANUAL });
  expect(early.providerAnswer).toMatch(/^requires_manual: ABNORMAL/);

  await settleAtProvider(manual.refundId, 'SUCCESS');
  const done = await recheck({ merchantId: merchant, refundId: manual.refundId, reason: 'WeChat Pay support: abnormal refund paid to the new card' });
  expect(done.providerAnswer).toMatch(/^succeeded/);
  expect(done.refund).toMatchObject({ refundId: manual.refundId, status: RefundStatus.REFUND_STATUS_SUCCEEDED, amount: 1_000n });
  expect(done.refund!.failure).toBeUndefined();
  expect(await getRefund(manual.refundId)).toMatchObject({ status: RefundStatus.REFUND_STATUS_SUCCEEDED });
  const after = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
  expect(after).toMatchObject({ status: PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED, refundedAmount: 1_000n });

  // Settled now: another re-check is refused, naming why.
  const again = await refusal(recheck({ merchantId: merchant, refundId: manual.refundId, reason: 'again' }));
  expect(again).toMatchObject({ reason: 'ILLEGAL_STATE' });

  // The books post the refund settled; they stay balanced.
  await eventually(async () => (await store.entriesOf(payment.paymentId)).find((e) => e.txn_code === 'REFUND_SETTLED'), 15_000, 'the refund posted settled');
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('refund re-check - an ABNORMAL refund the provider closed: FAILED, nothing refunded', async () => {
  const payment = await paidPayment(2_000n);
  const manual = await abnormalRefund(payment, 500n);
  await settleAtProvider(manual.refundId, 'CLOSED');
  const done = await recheck({ merchantId: merchant, refundId: manual.refundId, reason: 'WeChat Pay closed the abnormal refund' });
  expect(done.providerAnswer).toMatch(/^failed: CLOSED/);
  expect(done.refund).toMatchObject({ status: RefundStatus.REFUND_STATUS_FAILED, failure: { code: 'CLOSED' } });
  const after = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
  expect(after).toMatchObject({ status: PaymentStatus.PAYMENT_STATUS_SUCCEEDED, refundedAmount: 0n });
  // The books reverse the refund: its money is the merchant's again.
  await eventually(async () => (await store.entriesOf(payment.paymentId)).find((e) => e.txn_code === 'REFUND_REVERSED'), 15_000, 'the refund reversed in the books');
});

test('refund re-check - refused: another merchant\'s refund NOT_FOUND, a refund past the channel\'s count ILLEGAL_STATE (paid by payout), bad fields named', async () => {
  const payment = await paidPayment(5_000n);
  const manual = await abnormalRefund(payment, 100n);
  expect(await refusal(recheck({ merchantId: 'm_sa', refundId: manual.refundId, reason: 'x' }))).toMatchObject({ reason: 'NOT_FOUND' });
  for (let i = 0; i < 49; i += 1) await createRefund(payment.paymentId, 1n);
  const past = await createRefund(payment.paymentId, 100n);
  expect(past).toMatchObject({ status: RefundStatus.REFUND_STATUS_REQUIRES_MANUAL, failure: { code: 'REFUND_COUNT_EXCEEDED' } });
  const refused = await refusal(recheck({ merchantId: merchant, refundId: past.refundId, reason: 'x' }));
  expect(refused).toMatchObject({ reason: 'ILLEGAL_STATE' });
  const bad = await refusal(recheck({ merchantId: merchant, refundId: 'r1', reason: ' ' }));
  expect(bad.fields.sort()).toEqual(['reason', 'refund_id']);
});

// Integration: every RPC naming a payment or refund is scoped to the merchant it is called
// for. Merchant B holding merchant A's payment_id or refund_id gets NOT_FOUND, and nothing
// changes — not in paycore's event log, not at the provider (the sandbox's control API).
// A refund refused for any reason leaves its merchant_refund_no free.
//
// The stack's client is authenticated as an app allowed for every merchant, A and B alike, so
// the edge lets these calls through and what is tested here is the check behind it: the
// payment's actor (and reads of the event log) refusing a merchant that does not own the
// payment. The edge's own refusal of an app not allowed for a merchant is tested with authn.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { decodeServiceError } from '../core/errors';
import { PaymentStatus, Product, RefundStatus, type ConfirmPaymentResponse, type CreateRefundResponse, type GetRefundResponse, type Payer, type Payment } from '../proto/gen/paycore/v1/payment';
import { bindTestCard, eventually, startStack, type Stack } from './harness';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack?.stop();
});

const merchant_a = 'm_sa';
const merchant_b = 'm_sb';
const deadline = (): { deadline: number } => ({ deadline: Date.now() + 15_000 });

function call<T>(run: (cb: (error: grpc.ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value as T))));
}

/** The failure reason and field names of a call that must fail ('ok' if it did not). */
async function outcome(promise: Promise<unknown>): Promise<{ reason: string; fields: string[] }> {
  try {
    await promise;
    return { reason: 'ok', fields: [] };
  } catch (error) {
    const decoded = decodeServiceError(error as grpc.ServiceError);
    return { reason: decoded.reason ?? "", fields: decoded.violations.map((v) => v.field) };
  }
}

function no(kind: string): string {
  return `${kind}-${randomBytes(6).toString('hex')}`;
}

function payer(elements: Partial<Payer>): Payer {
  return { clientIp: '', openid: '', authCode: '', cardToken: '', bankCode: '', ...elements };
}

const get = (paymentId: string, merchantId: string) => stack.client.getPayment({ paymentId, merchantId });
const close = (paymentId: string, merchantId: string) => stack.client.closePayment({ paymentId, merchantId });
const confirm = (paymentId: string, merchantId: string, verificationCode: string) =>
  call<ConfirmPaymentResponse>((cb) => stack.client.raw.confirmPayment({ paymentId, merchantId, merchantOrderNo: '', verificationCode }, new grpc.Metadata(), deadline(), cb)).then((r) => r.payment!);
const createRefund = (merchantId: string, paymentId: string, merchantRefundNo: string, amount: bigint) =>
  call<CreateRefundResponse>((cb) => stack.client.raw.createRefund({ merchantId, merchantRefundNo, paymentId, merchantOrderNo: '', amount, reason: '', notifyUrl: '' }, new grpc.Metadata(), deadline(), cb)).then((r) => r.refund!);
const getRefund = (refundId: string, merchantId: string) =>
  call<GetRefundResponse>((cb) => stack.client.raw.getRefund({ refundId, merchantId, merchantRefundNo: '' }, new grpc.Metadata(), deadline(), cb)).then((r) => r.refund!);

async function sandbox<T>(path: string): Promise<T> {
  return (await (await fetch(`${stack.sandbox.url}${path}`)).json()) as T;
}

async function openPayment(merchant_id: string): Promise<Payment> {
  return stack.client.createPayment({ merchantId: merchant_id, merchantOrderNo: no('o'), amount: 3_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'scope' });
}

async function paidPayment(merchant_id: string): Promise<Payment> {
  const payment = await openPayment(merchant_id);
  await stack.pay(`${payment.paymentId}a1`);
  return eventually(async () => {
    const p = await get(payment.paymentId, merchant_id);
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'payment SUCCEEDED');
}

test('scope - ClosePayment for merchant B on A\'s open payment: NOT_FOUND, open here and at the provider', async () => {
  const payment = await openPayment(merchant_a);
  expect(await outcome(close(payment.paymentId, merchant_b))).toEqual({ reason: 'NOT_FOUND', fields: [] });
  const after = await get(payment.paymentId, merchant_a);
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(after.version).toBe(payment.version);
  const orders = await stack.orders(`${payment.paymentId}a`);
  expect(orders.map((o) => o.trade_state)).toEqual(['NOTPAY']);
});

test('scope - ConfirmPayment for merchant B with A\'s right SMS code: NOT_FOUND, nothing sent to UnionPay', async () => {
  const payment = await stack.client.createPayment({
    merchantId: merchant_a, merchantOrderNo: no('o'), amount: 1_234n, currency: 'CNY', product: Product.PRODUCT_UNIONPAY_QUICK, subject: 'scope', payer: payer({ cardToken: await bindTestCard(stack, merchant_a) }),
  });
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  const sms = await sandbox<{ sms_code: string }>(`/sandbox/unionpay/sms?order_id=${payment.paymentId}a1`);
  expect(await outcome(confirm(payment.paymentId, merchant_b, sms.sms_code))).toEqual({ reason: 'NOT_FOUND', fields: [] });
  const after = await get(payment.paymentId, merchant_a);
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(after.version).toBe(payment.version);
  const { orders } = await sandbox<{ orders: { status: string; consume_requests: number }[] }>(`/sandbox/unionpay/orders?out_trade_no_prefix=${payment.paymentId}a`);
  expect(orders.map((o) => o.status)).toEqual(['SMS_SENT']);
  // A itself can still complete it: the foreign call used nothing up.
  expect([PaymentStatus.PAYMENT_STATUS_SUCCEEDED, PaymentStatus.PAYMENT_STATUS_PROCESSING]).toContain(
    (await confirm(payment.paymentId, merchant_a, sms.sms_code)).status,
  );
});

test('scope - CreateRefund for merchant B on A\'s paid payment: NOT_FOUND, no refund here or at the provider, the refund no stays free', async () => {
  const payment = await paidPayment(merchant_a);
  const refund_no = no('rf');
  expect(await outcome(createRefund(merchant_b, payment.paymentId, refund_no, 1_000n))).toEqual({ reason: 'NOT_FOUND', fields: [] });
  const after = await get(payment.paymentId, merchant_a);
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
  expect(after.refundedAmount).toBe(0n);
  expect(after.version).toBe(payment.version);
  const { refunds } = await sandbox<{ refunds: unknown[] }>(`/sandbox/wechatpay/refunds?out_trade_no_prefix=${payment.paymentId}a`);
  expect(refunds).toEqual([]);
  // B's merchant_refund_no was not used up by the refused call.
  const own = await paidPayment(merchant_b);
  const refund = await createRefund(merchant_b, own.paymentId, refund_no, 1_000n);
  expect(refund.paymentId).toBe(own.paymentId);
});

test('scope - reads by id for merchant B: GetPayment, WatchPayment and GetRefund answer NOT_FOUND', async () => {
  const payment = await paidPayment(merchant_a);
  const refund = await createRefund(merchant_a, payment.paymentId, no('rf'), 500n);
  expect(await outcome(get(payment.paymentId, merchant_b))).toEqual({ reason: 'NOT_FOUND', fields: [] });
  expect(await outcome(stack.client.watch({ paymentId: payment.paymentId, merchantId: merchant_b }, 10_000))).toEqual({ reason: 'NOT_FOUND', fields: [] });
  expect(await outcome(getRefund(refund.refundId, merchant_b))).toEqual({ reason: 'NOT_FOUND', fields: [] });
  expect((await getRefund(refund.refundId, merchant_a)).refundId).toBe(refund.refundId);
});

test('scope - every RPC taking a payment_id or refund_id requires merchant_id', async () => {
  const payment = await paidPayment(merchant_a);
  const refund = await createRefund(merchant_a, payment.paymentId, no('rf'), 500n);
  const missing = { reason: 'INVALID_FIELD', fields: ['merchant_id'] };
  expect(await outcome(get(payment.paymentId, ''))).toEqual(missing);
  expect(await outcome(stack.client.watch({ paymentId: payment.paymentId }, 10_000))).toEqual(missing);
  expect(await outcome(close(payment.paymentId, ''))).toEqual(missing);
  expect(await outcome(confirm(payment.paymentId, '', '123456'))).toEqual(missing);
  expect(await outcome(createRefund('', payment.paymentId, no('rf'), 100n))).toEqual(missing);
  expect(await outcome(getRefund(refund.refundId, ''))).toEqual(missing);
});

test('scope - a refund refused for exceeding the paid amount or an unpaid payment leaves its merchant_refund_no free', async () => {
  const paid = await paidPayment(merchant_a);
  const refund_no = no('rf');
  expect((await outcome(createRefund(merchant_a, paid.paymentId, refund_no, 3_001n))).reason).toBe('REFUND_EXCEEDS_PAID');
  const unpaid = await openPayment(merchant_a);
  expect((await outcome(createRefund(merchant_a, unpaid.paymentId, refund_no, 100n))).reason).toBe('ILLEGAL_STATE');
  const other = await paidPayment(merchant_a);
  const refund = await createRefund(merchant_a, other.paymentId, refund_no, 3_000n);
  expect(refund.paymentId).toBe(other.paymentId);
  expect([RefundStatus.REFUND_STATUS_PENDING, RefundStatus.REFUND_STATUS_PROCESSING, RefundStatus.REFUND_STATUS_SUCCEEDED]).toContain(refund.status);
});

test('scope - payment ids are keyed: not the unkeyed SHA-256 of the merchant key anyone could compute', async () => {
  const payment = await openPayment(merchant_a);
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha256');
  for (const part of ['paycore.payment_id.v1', merchant_a, payment.merchantOrderNo]) {
    const bytes = Buffer.from(part, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length, 0);
    hash.update(length).update(bytes);
  }
  const digest = hash.digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = '';
  for (const byte of digest) bits += byte.toString(2).padStart(8, '0');
  let unkeyed = 'p';
  for (let i = 0; i < 25; i += 1) unkeyed += alphabet[parseInt(bits.slice(i * 5, i * 5 + 5), 2)];
  expect(payment.paymentId).toMatch(/^p[a-z2-7]{25}$/);
  expect(payment.paymentId).not.toBe(unkeyed);
});

test('scope - one merchant_refund_no raced on two payments: one refund, on one payment; the other is refused and keeps nothing', async () => {
  const [first, second] = await Promise.all([paidPayment(merchant_a), paidPayment(merchant_a)]);
  const refund_no = no('rf');
  const outcomes = await Promise.all(
    [first, second].map((p) =>
      createRefund(merchant_a, p.paymentId, refund_no, 1_000n).then(
        (r) => r.paymentId,
        (e: grpc.ServiceError) => decodeServiceError(e).reason,
      ),
    ),
  );
  const winner = outcomes.find((o) => o === first.paymentId || o === second.paymentId);
  expect(winner).toBeDefined();
  expect(outcomes.filter((o) => o === 'IDEMPOTENCY_KEY_REUSED')).toHaveLength(1);
  const loser = winner === first.paymentId ? second : first;
  expect((await get(loser.paymentId, merchant_a)).refundedAmount).toBe(0n);
  expect((await get(loser.paymentId, merchant_a)).version).toBe(loser.version);
  const { refunds } = await sandbox<{ refunds: unknown[] }>(`/sandbox/wechatpay/refunds?out_trade_no_prefix=${loser.paymentId}a`);
  expect(refunds).toEqual([]);
});

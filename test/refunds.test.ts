// Integration: refunds through paycore and the sandbox's WeChat Pay refunds — partial and
// full, concurrent refunds racing for the last amount, idempotency, the count limit, and the
// automatic refund of a duplicate payment.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { decodeServiceError } from '../core/errors';
import { PaymentStatus, Product, RefundStatus, type CreateRefundRequest, type CreateRefundResponse, type GetRefundResponse, type Payment, type Refund } from '../proto/gen/paycore/v1/payment';
import { eventually, startStack, type Stack } from './harness';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { PAYCORE_REFUND_BACKOFF_MS: '300,600,1000' } });
});

afterAll(async () => {
  await stack?.stop();
});

const merchant = 'm_ref';

function call<T>(run: (cb: (error: grpc.ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value as T))));
}

function createRefund(request: Partial<CreateRefundRequest>): Promise<Refund> {
  const full: CreateRefundRequest = { merchantId: merchant, merchantRefundNo: '', paymentId: '', merchantOrderNo: '', amount: 0n, reason: '', notifyUrl: '', ...request };
  return call<CreateRefundResponse>((cb) =>
    stack.client.raw.createRefund(full, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, cb),
  ).then((r) => r.refund!);
}

function getRefund(request: { refundId?: string; merchantId?: string; merchantRefundNo?: string }): Promise<Refund> {
  return call<GetRefundResponse>((cb) => stack.client.raw.getRefund({ refundId: '', merchantId: '', merchantRefundNo: '', ...request }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, cb)).then((r) => r.refund!);
}

async function paidPayment(amount = 5_000n): Promise<Payment> {
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `ref-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'refunds' });
  await stack.pay(`${payment.paymentId}a1`);
  return eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'payment SUCCEEDED');
}

function refundNo(): string {
  return `rf-${randomBytes(6).toString('hex')}`;
}

async function settled(refund_id: string): Promise<Refund> {
  return eventually(async () => {
    const r = await getRefund({ refundId: refund_id, merchantId: merchant });
    return r.status === RefundStatus.REFUND_STATUS_SUCCEEDED ||
      r.status === RefundStatus.REFUND_STATUS_FAILED ||
      r.status === RefundStatus.REFUND_STATUS_REQUIRES_MANUAL
      ? r
      : undefined;
  }, 15_000, `refund ${refund_id} settled`);
}

test('refunds - a partial refund, then the rest: PARTIALLY_REFUNDED, then REFUNDED', async () => {
  const payment = await paidPayment();
  const first_no = refundNo();
  const first = await createRefund({ merchantRefundNo: first_no, paymentId: payment.paymentId, amount: 2_000n, reason: 'one item back' });
  expect(first.paymentId).toBe(payment.paymentId);
  expect([RefundStatus.REFUND_STATUS_PENDING, RefundStatus.REFUND_STATUS_PROCESSING, RefundStatus.REFUND_STATUS_SUCCEEDED]).toContain(first.status);
  expect((await settled(first.refundId)).status).toBe(RefundStatus.REFUND_STATUS_SUCCEEDED);
  expect((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant })).status).toBe(PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED);

  const by_key = await getRefund({ merchantId: merchant, merchantRefundNo: first_no });
  expect(by_key.refundId).toBe(first.refundId);
  expect(by_key.channelRefundNo).not.toBe('');

  const rest = await createRefund({ merchantRefundNo: refundNo(), merchantOrderNo: payment.merchantOrderNo, amount: 3_000n });
  expect((await settled(rest.refundId)).status).toBe(RefundStatus.REFUND_STATUS_SUCCEEDED);
  const after = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_REFUNDED);
  expect(after.refundedAmount).toBe(5_000n);
});

test('refunds - concurrent refunds racing for the last amount never overdraw', async () => {
  const payment = await paidPayment(5_000n);
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, () =>
      createRefund({ merchantRefundNo: refundNo(), paymentId: payment.paymentId, amount: 1_000n }).then(
        (refund) => ({ ok: true as const, refund }),
        (error: grpc.ServiceError) => ({ ok: false as const, reason: decodeServiceError(error).reason }),
      ),
    ),
  );
  const accepted = outcomes.filter((o) => o.ok);
  expect(accepted).toHaveLength(5);
  expect(outcomes.filter((o) => !o.ok).map((o) => (o.ok ? '' : o.reason))).toEqual(Array(5).fill('REFUND_EXCEEDS_PAID'));
  for (const o of accepted) if (o.ok) expect((await settled(o.refund.refundId)).status).toBe(RefundStatus.REFUND_STATUS_SUCCEEDED);
  const after = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
  expect(after.refundedAmount).toBe(5_000n);
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_REFUNDED);
});

test('refunds - a replay returns the refund; other parameters, another payment or an unpaid one are refused', async () => {
  const payment = await paidPayment();
  const no = refundNo();
  const refund = await createRefund({ merchantRefundNo: no, paymentId: payment.paymentId, amount: 100n });
  const replay = await createRefund({ merchantRefundNo: no, paymentId: payment.paymentId, amount: 100n });
  expect(replay.refundId).toBe(refund.refundId);
  const reason = (p: Promise<unknown>) => p.then(() => 'ok', (e: grpc.ServiceError) => decodeServiceError(e).reason);
  expect(await reason(createRefund({ merchantRefundNo: no, paymentId: payment.paymentId, amount: 200n }))).toBe('IDEMPOTENCY_KEY_REUSED');
  const other = await paidPayment();
  expect(await reason(createRefund({ merchantRefundNo: no, paymentId: other.paymentId, amount: 100n }))).toBe('IDEMPOTENCY_KEY_REUSED');
  const unpaid = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `ref-${randomBytes(6).toString('hex')}`, amount: 100n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'x' });
  expect(await reason(createRefund({ merchantRefundNo: refundNo(), paymentId: unpaid.paymentId, amount: 100n }))).toBe('ILLEGAL_STATE');
  expect(await reason(createRefund({ merchantRefundNo: refundNo(), paymentId: payment.paymentId, amount: 0n }))).toBe('INVALID_FIELD');
  expect(await reason(getRefund({ merchantId: merchant, merchantRefundNo: 'never-made' }))).toBe('NOT_FOUND');
});

test('refunds - beyond the channel refund count a refund is REQUIRES_MANUAL with the reason', async () => {
  const payment = await paidPayment(100n);
  for (let i = 0; i < 50; i += 1) await createRefund({ merchantRefundNo: refundNo(), paymentId: payment.paymentId, amount: 1n });
  const extra = await createRefund({ merchantRefundNo: refundNo(), paymentId: payment.paymentId, amount: 1n });
  expect(extra.status).toBe(RefundStatus.REFUND_STATUS_REQUIRES_MANUAL);
  expect(extra.failure?.code).toBe('REFUND_COUNT_EXCEEDED');
});

test('refunds - a payment after the close is refunded automatically and recorded on the payment', async () => {
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `ref-${randomBytes(6).toString('hex')}`, amount: 700n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'dup' });
  await stack.fault({ scope: { out_trade_no: `${payment.paymentId}a1` }, success_after_close: true });
  expect((await stack.client.closePayment({ paymentId: payment.paymentId, merchantId: merchant })).status).toBe(PaymentStatus.PAYMENT_STATUS_CLOSED);
  await stack.pay(`${payment.paymentId}a1`);
  const orders = await eventually(async () => {
    const list = await stack.orders(`${payment.paymentId}a1`);
    return list[0] !== undefined && (list[0] as unknown as { refunded_total?: number }).refunded_total === 700 ? list : undefined;
  }, 15_000, 'the duplicate refunded at the channel');
  expect(orders).toHaveLength(1);
  const after = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_CLOSED);
  expect(after.duplicates).toHaveLength(1);
});

/** Opens the payer's page where the product has one, then pays at the sandbox's provider. */
async function payAtProvider(payment: Payment, provider: 'wechatpay' | 'alipay' | 'bankgw'): Promise<void> {
  if (provider === 'bankgw') expect((await fetch(payment.nextAction!.value)).status).toBe(200);
  const body = provider === 'bankgw' ? { result: 'SUCCESS' } : {};
  const response = await fetch(`${stack.sandbox.url}/sandbox/${provider}/orders/${payment.paymentId}a1/pay`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  expect(response.status).toBe(200);
}

async function sandboxRefunds(provider: 'wechatpay' | 'alipay' | 'bankgw', out_trade_no: string): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${stack.sandbox.url}/sandbox/${provider}/refunds?out_trade_no_prefix=${out_trade_no}`);
  return ((await response.json()) as { refunds: Record<string, unknown>[] }).refunds;
}

test.each([
  ['WeChat Pay', Product.PRODUCT_WECHAT_NATIVE, 'wechatpay', 'amount_refund'],
  ['Alipay', Product.PRODUCT_ALIPAY_QR, 'alipay', 'refund_amount'],
  ['the bank gateway', Product.PRODUCT_BANK_B2C, 'bankgw', 'refund_amount'],
] as const)('refunds - %s: the payer paying one attempt twice is a duplicate payment, recorded and refunded by itself', async (_name, product, provider, amount_field) => {
  const payment = await stack.client.createPayment({
    merchantId: merchant, merchantOrderNo: `ref-${randomBytes(6).toString('hex')}`, amount: 900n, currency: 'CNY', product, subject: 'paid twice',
    ...(product === Product.PRODUCT_BANK_B2C ? { payer: { clientIp: '', openid: '', authCode: '', cardToken: '', bankCode: 'ICBC' } } : {}),
  });
  const out_trade_no = `${payment.paymentId}a1`;
  await stack.fault({ scope: { out_trade_no }, pay_twice: true, times: 1 });
  await payAtProvider(payment, provider);
  const after = await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED && p.duplicates.length > 0 ? p : undefined;
  }, 15_000, 'the second payment recorded as a duplicate');
  expect(after.duplicates).toHaveLength(1);
  expect(after.duplicates[0]).toMatchObject({ attemptId: out_trade_no, amount: 900n });
  expect(after.duplicates[0]!.channelTradeNo).not.toBe('');
  expect(after.duplicates[0]!.channelTradeNo).not.toBe(after.channelTradeNo);
  // The duplicate goes back to the payer at the channel; the payment itself stays paid, untouched.
  const refunds = await eventually(async () => {
    const list = await sandboxRefunds(provider, out_trade_no);
    return list.length > 0 ? list : undefined;
  }, 15_000, 'the duplicate refunded at the channel');
  expect(refunds).toHaveLength(1);
  expect(String(refunds[0]![amount_field])).toMatch(/^(900|9\.00)$/);
  const final = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
  expect(final.status).toBe(PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
  expect(final.refundedAmount).toBe(0n);
});

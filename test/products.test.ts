// Integration: every product end to end through paycore and the sandbox PSP — WeChat Pay
// and Alipay payment codes, Alipay QR / APP / WAP / PC, UnionPay quick pay with its SMS
// step-up (ConfirmPayment), and the bank gateway's B2C and B2B redirects.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { decodeServiceError } from '../core/errors';
import { NextActionType, PaymentStatus, Product, type CreatePaymentRequest, type Payer, type Payment } from '../proto/gen/paycore/v1/payment';
import { bindTestCard, eventually, startStack, type Stack } from './harness';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack?.stop();
});

function payer(elements: Partial<Payer>): Payer {
  return { clientIp: '', openid: '', authCode: '', cardToken: '', bankCode: '', ...elements };
}

function create(product: Product, more: Partial<CreatePaymentRequest> = {}): Promise<Payment> {
  return stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `pr-${randomBytes(6).toString('hex')}`, amount: 1_234n, currency: 'CNY', product, subject: 'every product', ...more });
}

async function settledAs(payment_id: string, status: PaymentStatus): Promise<Payment> {
  return eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment_id, merchantId: 'm_it' });
    return p.status === status ? p : undefined;
  }, 10_000, `${payment_id} ${PaymentStatus[status]}`);
}

const control = (path: string, body: unknown = {}) =>
  fetch(`${stack.sandbox.url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

function confirm(payment_id: string, verification_code: string): Promise<Payment> {
  return new Promise((resolve, reject) =>
    stack.client.raw.confirmPayment({ paymentId: payment_id, merchantId: 'm_it', merchantOrderNo: '', verificationCode: verification_code }, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (error, value) =>
      error ? reject(error) : resolve(value!.payment!),
    ),
  );
}

test('products - a WeChat payment code is charged through WeChat Pay and succeeds at once', async () => {
  const payment = await create(Product.PRODUCT_BARCODE, { payer: payer({ authCode: '134567890123456789' }) });
  expect(payment.channelId).toBe('wx1');
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
  expect(payment.channelTradeNo).not.toBe('');
});

test('products - an Alipay payment code goes to Alipay (routing reads the code), also when the payer is still confirming', async () => {
  const payment = await create(Product.PRODUCT_BARCODE, { payer: payer({ authCode: '281234567890123456' }) });
  expect(payment.channelId).toBe('ali1');
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_SUCCEEDED);

  const order_no = `pr-${randomBytes(6).toString('hex')}`;
  await stack.fault({ scope: { out_trade_no: `${stack.paymentId('m_it', order_no)}a1` }, barcode_userpaying: true } as never);
  const waiting = await create(Product.PRODUCT_BARCODE, { merchantOrderNo: order_no, payer: payer({ authCode: '281234567890123457' }) });
  expect(waiting.status).toBe(PaymentStatus.PAYMENT_STATUS_PROCESSING);
  expect((await control(`/sandbox/alipay/orders/${waiting.paymentId}a1/pay`)).status).toBe(200);
  await settledAs(waiting.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
});

test('products - Alipay QR: precreate, the payer pays, the notification settles it', async () => {
  const payment = await create(Product.PRODUCT_ALIPAY_QR);
  expect(payment.channelId).toBe('ali1');
  expect(payment.nextAction?.type).toBe(NextActionType.NEXT_ACTION_TYPE_QR_CODE);
  expect((await control(`/sandbox/alipay/orders/${payment.paymentId}a1/pay`)).status).toBe(200);
  const paid = await settledAs(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
  expect(paid.channelTradeNo).not.toBe('');
});

test.each([
  ['ALIPAY_WAP', Product.PRODUCT_ALIPAY_WAP],
  ['ALIPAY_PC', Product.PRODUCT_ALIPAY_PC],
])('products - %s: a signed redirect, the payer opens it and pays, SUCCEEDED', async (_name, product) => {
  const payment = await create(product);
  expect(payment.nextAction?.type).toBe(NextActionType.NEXT_ACTION_TYPE_REDIRECT);
  expect((await fetch(payment.nextAction!.value)).status).toBe(200); // the payer opens the cashier
  expect((await control(`/sandbox/alipay/orders/${payment.paymentId}a1/pay`)).status).toBe(200);
  await settledAs(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
});

test('products - Alipay APP returns the signed order string for the SDK', async () => {
  const payment = await create(Product.PRODUCT_ALIPAY_APP);
  expect(payment.nextAction?.type).toBe(NextActionType.NEXT_ACTION_TYPE_SDK_PARAMS);
  expect(Object.values(payment.nextAction!.params).join('&')).toContain('sign');
});

test('products - UnionPay quick pay: SMS_CODE, the code from the cardholder, ConfirmPayment, SUCCEEDED', async () => {
  const payment = await create(Product.PRODUCT_UNIONPAY_QUICK, { payer: payer({ cardToken: await bindTestCard(stack, 'm_it') }) });
  expect(payment.channelId).toBe('up1');
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(payment.nextAction?.type).toBe(NextActionType.NEXT_ACTION_TYPE_SMS_CODE);
  const sms = (await (await fetch(`${stack.sandbox.url}/sandbox/unionpay/sms?order_id=${payment.paymentId}a1`)).json()) as { sms_code: string };
  const confirmed = await confirm(payment.paymentId, sms.sms_code);
  expect([PaymentStatus.PAYMENT_STATUS_SUCCEEDED, PaymentStatus.PAYMENT_STATUS_PROCESSING]).toContain(confirmed.status);
  await settledAs(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
  // Nothing left to confirm now.
  const again = await confirm(payment.paymentId, sms.sms_code).then(() => 'ok', (e: grpc.ServiceError) => decodeServiceError(e).reason);
  expect(again).toBe('ILLEGAL_STATE');
});

test('products - UnionPay quick pay: a wrong SMS code leaves the payment waiting (INVALID_FIELD naming the code) and the right one pays; five wrong codes fail it', async () => {
  const token = await bindTestCard(stack, 'm_it');
  const refused = (payment_id: string, code: string) => confirm(payment_id, code).then(() => undefined, (e: grpc.ServiceError) => decodeServiceError(e));
  const payment = await create(Product.PRODUCT_UNIONPAY_QUICK, { payer: payer({ cardToken: token }) });
  const sms = (await (await fetch(`${stack.sandbox.url}/sandbox/unionpay/sms?order_id=${payment.paymentId}a1`)).json()) as { sms_code: string };
  const wrong = sms.sms_code === '000000' ? '111111' : '000000';
  const first = await refused(payment.paymentId, wrong);
  expect(first).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, violations: [{ field: 'verification_code', description: expect.stringContaining('4 tries left') }] });
  expect((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect([PaymentStatus.PAYMENT_STATUS_SUCCEEDED, PaymentStatus.PAYMENT_STATUS_PROCESSING]).toContain((await confirm(payment.paymentId, sms.sms_code)).status);
  await settledAs(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED);

  const unlucky = await create(Product.PRODUCT_UNIONPAY_QUICK, { payer: payer({ cardToken: token }) });
  for (let i = 0; i < 4; i += 1) expect(await refused(unlucky.paymentId, wrong)).toMatchObject({ reason: 'INVALID_FIELD' });
  const result = await confirm(unlucky.paymentId, wrong);
  expect(result.status).toBe(PaymentStatus.PAYMENT_STATUS_FAILED);
  expect(result.failure?.code).toBe('WRONG_CODE');
});

test.each([
  ['BANK_B2C', Product.PRODUCT_BANK_B2C],
  ['BANK_B2B', Product.PRODUCT_BANK_B2B],
])('products - %s: redirect to the bank, the payer pays there, the notification settles it', async (_name, product) => {
  const payment = await create(product, { payer: payer({ bankCode: 'ICBC' }) });
  expect(payment.channelId).toBe('bank1');
  expect(payment.nextAction?.type).toBe(NextActionType.NEXT_ACTION_TYPE_REDIRECT);
  expect((await fetch(payment.nextAction!.value)).status).toBe(200);
  expect((await control(`/sandbox/bankgw/orders/${payment.paymentId}a1/pay`, { result: 'SUCCESS' })).status).toBe(200);
  await settledAs(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
});

test('products - ListPaymentOptions names the products with an eligible channel, by scene', async () => {
  const options = await new Promise<{ options: { product: Product }[] }>((resolve, reject) =>
    stack.client.raw.listPaymentOptions({ merchantId: 'm_it', amount: 1_000n, currency: 'CNY', scene: 'PC' }, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (e, v) => (e ? reject(e) : resolve(v!))),
  );
  const products = options.options.map((o) => Product[o.product]);
  expect(products).toEqual(expect.arrayContaining(['PRODUCT_WECHAT_NATIVE', 'PRODUCT_ALIPAY_QR', 'PRODUCT_ALIPAY_PC']));
  expect(products).not.toContain('PRODUCT_WECHAT_JSAPI'); // not a PC payer's product
});

test.each([
  ['a card token UnionPay cannot take', Product.PRODUCT_UNIONPAY_QUICK, { cardToken: 'tok-6222-0200' }, 'payer.card_token'],
  ['a bank the bank gateway does not serve', Product.PRODUCT_BANK_B2C, { bankCode: 'ABC' }, 'payer.bank_code'],
] as const)('products - %s is refused at routing with INVALID_ARGUMENT naming the field, and nothing is stored', async (_name, product, elements, field) => {
  const order_no = `pr-${randomBytes(6).toString('hex')}`;
  const refused = await create(product, { merchantOrderNo: order_no, payer: payer(elements) }).then(
    (p) => ({ code: grpc.status.OK, reason: PaymentStatus[p.status], violations: [] as { field: string }[] }),
    (e: grpc.ServiceError) => decodeServiceError(e),
  );
  expect(refused.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(refused.reason).toBe('INVALID_FIELD');
  expect(refused.violations.map((v) => v.field)).toEqual([field]);
  const lookup = await stack.client.getPayment({ merchantId: 'm_it', merchantOrderNo: order_no }).then(() => 'found', (e: grpc.ServiceError) => decodeServiceError(e).reason);
  expect(lookup).toBe('NOT_FOUND');
  expect(await stack.orders(stack.paymentId('m_it', order_no))).toHaveLength(0);
});

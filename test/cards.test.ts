// Integration: card binding (绑卡/开通) for UnionPay quick pay through paycore and the
// sandbox's 开通 (77/00 SMS, 79/00 open with the code, 74/01 delete): a wrong code leaves
// tries, the right one binds, the bound card pays end to end, a token not bound for the
// merchant is refused at the edge with nothing stored, and an unbound card pays no more. The
// card's elements appear in no log line and nowhere in clear in the card bucket.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { cardsBucket } from '../core/cards/store';
import { BindingStatus, PaymentStatus, Product, type CardElements, type Payer, type Payment } from '../proto/gen/paycore/v1/payment';
import { bindTestCard, eventually, nats_url, startStack, type Stack, refusal } from './harness';

let stack: Stack;
let nc: NatsConnection;

beforeAll(async () => {
  stack = await startStack();
  nc = await connect({ servers: nats_url });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await stack?.stop();
});

const card: CardElements = { cardNo: '6222021234567890123', holderName: '李四', idNumber: '440305199001011234', phone: '13912345678' };

function payer(elements: Partial<Payer>): Payer {
  return { clientIp: '', openid: '', authCode: '', cardToken: '', bankCode: '', ...elements };
}


const sandbox = async <T>(path: string): Promise<T> => (await (await fetch(`${stack.sandbox.url}${path}`)).json()) as T;

function quickPay(merchant_id: string, card_token: string, merchant_order_no = `cd-${randomBytes(6).toString('hex')}`): Promise<Payment> {
  return stack.client.createPayment({ merchantId: merchant_id, merchantOrderNo: merchant_order_no, amount: 2_345n, currency: 'CNY', product: Product.PRODUCT_UNIONPAY_QUICK, subject: 'bound card', payer: payer({ cardToken: card_token }) });
}

test('cards - bind with a wrong code then the right one; the bound card pays end to end; unbound, it pays no more', async () => {
  const binding = await stack.client.bindCard({ merchantId: 'm_it', merchantBindingNo: `b-${randomBytes(6).toString('hex')}`, payerId: 'alice', card });
  expect(binding).toMatchObject({ status: BindingStatus.BINDING_STATUS_SMS_SENT, cardLast4: '0123', channelId: 'up1', cardToken: '' });
  expect(binding.phoneHint).toMatch(/^138\*{4}\d{4}$/);
  const sms = await sandbox<{ sms_code: string }>(`/sandbox/unionpay/bindings?order_id=${binding.bindingId}`);
  const wrong = sms.sms_code === '000000' ? '111111' : '000000';
  expect(await refusal(stack.client.confirmBinding('m_it', binding.bindingId, wrong))).toEqual({ code: grpc.status.INVALID_ARGUMENT, reason: 'INVALID_FIELD', fields: ['verification_code'] });
  // Another merchant cannot confirm it.
  expect(await refusal(stack.client.confirmBinding('m_sa', binding.bindingId, sms.sms_code))).toMatchObject({ reason: 'NOT_FOUND' });
  const bound = await stack.client.confirmBinding('m_it', binding.bindingId, sms.sms_code);
  expect(bound).toMatchObject({ status: BindingStatus.BINDING_STATUS_BOUND, wrongCodes: 1 });
  expect(bound.cardToken).toMatch(/^[0-9A-Za-z]{1,64}$/);
  expect((await stack.client.listCards('m_it', 'alice')).map((c) => [c.cardToken, c.cardLast4])).toEqual([[bound.cardToken, '0123']]);
  expect(await stack.client.listCards('m_sa', 'alice')).toEqual([]);

  const payment = await quickPay('m_it', bound.cardToken);
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  const pay_sms = await sandbox<{ sms_code: string }>(`/sandbox/unionpay/sms?order_id=${payment.paymentId}a1`);
  await new Promise<Payment>((resolve, reject) => stack.client.raw.confirmPayment({ paymentId: payment.paymentId, merchantId: 'm_it', merchantOrderNo: '', verificationCode: pay_sms.sms_code }, (e, v) => (e ? reject(e) : resolve(v!.payment!))));
  await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? true : undefined), 10_000, 'the bound card paid');

  await stack.client.unbindCard('m_it', bound.cardToken);
  expect(await stack.client.listCards('m_it', 'alice')).toEqual([]);
  expect((await sandbox<{ token_active: boolean }>(`/sandbox/unionpay/bindings?order_id=${binding.bindingId}`)).token_active).toBe(false);
  expect(await refusal(quickPay('m_it', bound.cardToken))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, fields: ['payer.card_token'] });
  expect(await refusal(stack.client.unbindCard('m_it', bound.cardToken))).toMatchObject({ reason: 'NOT_FOUND' });

  // The elements: in no log line, and nowhere in clear in the bucket.
  for (const element of [card.cardNo, card.idNumber, card.phone, card.holderName]) expect(stack.paycore.output).not.toContain(element);
  const jsm = await jetstreamManager(nc);
  const stored = await jsm.streams.getMessage(`KV_${cardsBucket(stack.prefix)}`, { last_by_subj: `$KV.${cardsBucket(stack.prefix)}.b.${binding.bindingId}` });
  for (const element of [card.cardNo, card.idNumber, card.phone]) expect(stored!.string()).not.toContain(element);
}, 60_000);

test('cards - a token not bound for the merchant is refused at the edge naming payer.card_token; nothing stored or sent', async () => {
  const other_merchants_card = await bindTestCard(stack, 'm_sa');
  for (const token of ['6222020000000001tok', other_merchants_card]) {
    const order_no = `cd-${randomBytes(6).toString('hex')}`;
    expect(await refusal(quickPay('m_it', token, order_no))).toEqual({ code: grpc.status.INVALID_ARGUMENT, reason: 'INVALID_FIELD', fields: ['payer.card_token'] });
    const payment_id = stack.paymentId('m_it', order_no);
    expect(await refusal(stack.client.getPayment({ paymentId: payment_id, merchantId: 'm_it' }))).toMatchObject({ reason: 'NOT_FOUND' });
    expect((await fetch(`${stack.sandbox.url}/sandbox/unionpay/sms?order_id=${payment_id}a1`)).status).toBe(404);
  }
});

test('cards - a replay texts the code again; other elements under the same key are refused; five wrong codes fail the binding', async () => {
  const key = `b-${randomBytes(6).toString('hex')}`;
  const first = await stack.client.bindCard({ merchantId: 'm_it', merchantBindingNo: key, payerId: 'bob', card });
  const again = await stack.client.bindCard({ merchantId: 'm_it', merchantBindingNo: key, payerId: 'bob', card });
  expect(again.bindingId).toBe(first.bindingId);
  expect((await sandbox<{ sends: number }>(`/sandbox/unionpay/bindings?order_id=${first.bindingId}`)).sends).toBe(2);
  expect(await refusal(stack.client.bindCard({ merchantId: 'm_it', merchantBindingNo: key, payerId: 'bob', card: { ...card, phone: '13900000000' } }))).toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
  expect(await refusal(stack.client.bindCard({ merchantId: 'm_it', merchantBindingNo: key, payerId: 'bob', card: { ...card, cardNo: '12' } }))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, fields: ['card.card_no'] });

  const sms = await sandbox<{ sms_code: string }>(`/sandbox/unionpay/bindings?order_id=${first.bindingId}`);
  const wrong = sms.sms_code === '000000' ? '111111' : '000000';
  for (let i = 0; i < 4; i += 1) expect(await refusal(stack.client.confirmBinding('m_it', first.bindingId, wrong))).toMatchObject({ fields: ['verification_code'] });
  const failed = await stack.client.confirmBinding('m_it', first.bindingId, wrong);
  expect(failed).toMatchObject({ status: BindingStatus.BINDING_STATUS_FAILED, failureCode: 'WRONG_CODE', wrongCodes: 5, cardToken: '' });
  expect(await refusal(stack.client.confirmBinding('m_it', first.bindingId, sms.sms_code))).toMatchObject({ reason: 'ILLEGAL_STATE' });
});

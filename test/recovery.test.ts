// Integration: what happens when things go wrong — expiry, lost and duplicate callbacks,
// success after close, and the paycore process killed in the middle of a channel call.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { decodeJson } from '../core/codec';
import { names } from '../core/names';
import { eventsOf, stored_message_schema, type StoredMessage } from '../core/events/stored';
import { PaymentStatus, Product } from '../proto/gen/paycore/v1/payment';
import { eventually, nats_url, startStack, type Stack } from './harness';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { PAYCORE_EXPIRE_SECONDS_MIN: '1' } });
});

afterAll(async () => {
  await stack?.stop();
});

function native(expire_seconds = 0) {
  return {
    merchantId: 'm_rec',
    merchantOrderNo: `rec-${randomBytes(6).toString('hex')}`,
    amount: 500n,
    currency: 'CNY',
    product: Product.PRODUCT_WECHAT_NATIVE,
    subject: 'recovery',
    expireSeconds: expire_seconds,
  };
}

async function statusOf(payment_id: string): Promise<PaymentStatus> {
  return (await stack.client.getPayment({ paymentId: payment_id, merchantId: 'm_rec' })).status;
}

function until(payment_id: string, wanted: PaymentStatus, timeout_ms: number) {
  return eventually(async () => ((await statusOf(payment_id)) === wanted ? true : undefined), timeout_ms, `${payment_id} ${PaymentStatus[wanted]}`);
}

/** Every event stored for a payment, in order, read straight from JetStream. */
async function events(payment_id: string): Promise<{ event: StoredMessage['event'] }[]> {
  const nc = await connect({ servers: nats_url });
  const jsm = await jetstreamManager(nc);
  const n = names(stack.prefix);
  const found: { event: StoredMessage['event'] }[] = [];
  let seq = 0;
  for (;;) {
    const message = await jsm.direct.getMessage(n.events_stream, { seq: seq + 1, next_by_subj: n.events(payment_id) });
    if (message === null) break;
    for (const event of eventsOf(decodeJson<StoredMessage>(message.data, stored_message_schema))) found.push({ event });
    seq = message.seq;
  }
  await nc.close();
  return found;
}

test('recovery - an unpaid payment expires: closed at the channel, then CLOSED', async () => {
  const payment = await stack.client.createPayment(native(2));
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  const watching = stack.client.watching({ paymentId: payment.paymentId, merchantId: 'm_rec' }, 15_000);
  // The expiry timer runs on its own clock: on a slow machine the watch's snapshot may come
  // after the close request. From the snapshot on, the watch sees every change: the close
  // request (still REQUIRES_ACTION, one version on), then CLOSED.
  const from_version = Number((await watching.first).version);
  const seen = await watching.all;
  const expected = [[3, 'PAYMENT_STATUS_REQUIRES_ACTION'], [4, 'PAYMENT_STATUS_REQUIRES_ACTION'], [5, 'PAYMENT_STATUS_CLOSED']].filter(([version]) => (version as number) >= from_version);
  expect(seen.map((p) => [Number(p.version), PaymentStatus[p.status]])).toEqual(expected);
  expect((await stack.orders(`${payment.paymentId}a`))[0]!.trade_state).toBe('CLOSED');
  const log = await events(payment.paymentId);
  expect(log.map((m) => m.event.type)).toEqual(['PaymentCreated', 'ChannelRequested', 'AttemptActionRequired', 'CloseRequested', 'PaymentClosed']);
  expect(log.at(-1)!.event).toMatchObject({ type: 'PaymentClosed', reason: 'expired' });
});

test('recovery - a lost callback is recovered by query', async () => {
  const request = native();
  const payment = await stack.client.createPayment(request);
  await stack.fault({ scope: { out_trade_no: `${payment.paymentId}a1` }, drop_callbacks: true });
  expect((await stack.pay(`${payment.paymentId}a1`)).status).toBe(200);
  await until(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 10_000);
  const callbacks = (await (await fetch(`${stack.sandbox.url}/sandbox/callbacks?out_trade_no_prefix=${payment.paymentId}`)).json()) as { callbacks: unknown[] };
  expect(callbacks.callbacks).toHaveLength(0); // nothing reached paycore: the query did it
});

test('recovery - duplicate callbacks apply once', async () => {
  const payment = await stack.client.createPayment(native());
  await stack.fault({ scope: { out_trade_no: `${payment.paymentId}a1` }, duplicate_callbacks: 3 });
  await stack.pay(`${payment.paymentId}a1`);
  await until(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 10_000);
  await eventually(async () => {
    const response = await fetch(`${stack.sandbox.url}/sandbox/callbacks?out_trade_no_prefix=${payment.paymentId}`);
    const { callbacks } = (await response.json()) as { callbacks: { status: number | null }[] };
    return callbacks.length >= 4 && callbacks.every((c) => c.status !== null) ? callbacks : undefined;
  }, 10_000, 'all callbacks answered');
  const types = (await events(payment.paymentId)).map((m) => m.event.type);
  expect(types.filter((t) => t === 'AttemptSucceeded')).toHaveLength(1);
  expect(types).not.toContain('DuplicatePaymentDetected');
});

test('recovery - a payer paying after the close is a duplicate payment, recorded on the CLOSED payment', async () => {
  const payment = await stack.client.createPayment(native());
  await stack.fault({ scope: { out_trade_no: `${payment.paymentId}a1` }, success_after_close: true });
  expect((await stack.client.closePayment({ paymentId: payment.paymentId, merchantId: 'm_rec' })).status).toBe(PaymentStatus.PAYMENT_STATUS_CLOSED);
  expect((await stack.pay(`${payment.paymentId}a1`)).status).toBe(200);
  const after = await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_rec' });
    return p.duplicates.length > 0 ? p : undefined;
  }, 10_000, 'duplicate recorded');
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_CLOSED);
  expect(after.duplicates[0]).toMatchObject({ attemptId: `${payment.paymentId}a1`, amount: 500n });
});

test('recovery - paycore killed with SIGKILL during the channel call: resolved by query after restart, one provider order', async () => {
  const request = native();
  const expected_id = stack.paymentId('m_rec', request.merchantOrderNo);
  const out_trade_no = `${expected_id}a1`;
  // The sandbox takes the order, then sits on its answer: the call is in flight.
  await stack.fault({ scope: { out_trade_no }, operations: ['create'], latency_ms: 10_000, times: 1 });
  const creating = stack.client.createPayment(request).then(
    () => 'answered',
    (error: grpc.ServiceError) => error.code,
  );
  await eventually(async () => ((await stack.orders(out_trade_no)).length === 1 ? true : undefined), 10_000, 'provider order created');
  await stack.paycore.kill('SIGKILL');
  expect(await creating).toBe(grpc.status.UNAVAILABLE);

  await stack.restart();
  // The first pending-attempt query finds the order unpaid and re-issues the same attempt,
  // which the provider answers with the same order: the QR code is back.
  await until(expected_id, PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION, 15_000);
  const replay = await stack.client.createPayment(request);
  expect(replay.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(replay.nextAction?.value).toMatch(/^weixin:/);

  await stack.pay(out_trade_no);
  await until(expected_id, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 10_000);
  const orders = await stack.orders(`${expected_id}a`);
  expect(orders).toHaveLength(1);
  expect(orders[0]!.trade_state).toBe('SUCCESS');
  const types = (await events(expected_id)).map((m) => m.event.type);
  expect(types.filter((t) => t === 'ChannelRequested')).toHaveLength(1);
  expect(types.filter((t) => t === 'AttemptSucceeded')).toHaveLength(1);
  expect(types.at(-1)).toBe('AttemptSucceeded');
});

test('recovery - paycore killed with SIGKILL right after a create: the payment still expires (its creation holds its timers)', async () => {
  const payment = await stack.client.createPayment(native(3));
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  // No timer was published for it: the creation message on the event log carries them.
  await stack.paycore.kill('SIGKILL');
  await stack.restart();
  await until(payment.paymentId, PaymentStatus.PAYMENT_STATUS_CLOSED, 30_000);
  const closed = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_rec' });
  expect(closed.updatedAt!.getTime()).toBeGreaterThanOrEqual(closed.expiresAt!.getTime());
  const log = await events(payment.paymentId);
  expect(log.at(-1)!.event).toMatchObject({ type: 'PaymentClosed', reason: 'expired' });
  expect((await stack.orders(`${payment.paymentId}a`))[0]!.trade_state).toBe('CLOSED');
});

// ---- payment codes: the provider's flow (pay, query while the payer confirms, reverse / cancel) ----

const payment_codes = {
  wechatpay: { auth_code: '134567890123456789', orders: '/sandbox/wechatpay/orders', pay: '/sandbox/wechatpay/orders' },
  alipay: { auth_code: '281234567890123456', orders: '/sandbox/alipay/orders', pay: '/sandbox/alipay/orders' },
} as const;

function barcode(provider: keyof typeof payment_codes, merchant_order_no: string, expire_seconds = 0) {
  return {
    merchantId: 'm_rec', merchantOrderNo: merchant_order_no, amount: 500n, currency: 'CNY', product: Product.PRODUCT_BARCODE, subject: 'payment code', expireSeconds: expire_seconds,
    payer: { clientIp: '', openid: '', authCode: payment_codes[provider].auth_code, cardToken: '', bankCode: '' },
  };
}

async function sandboxOrder(provider: keyof typeof payment_codes, out_trade_no: string): Promise<Record<string, unknown> | undefined> {
  const response = await fetch(`${stack.sandbox.url}${payment_codes[provider].orders}?out_trade_no_prefix=${out_trade_no}`);
  return ((await response.json()) as { orders: Record<string, unknown>[] }).orders[0];
}

test.each(['wechatpay', 'alipay'] as const)('recovery - %s payment code: a lost answer, then the retry refused as a duplicate order, is queried, not failed: the payer confirms, SUCCEEDED', async (provider) => {
  const order_no = `rec-${randomBytes(6).toString('hex')}`;
  const out_trade_no = `${stack.paymentId('m_rec', order_no)}a1`;
  const scope = { out_trade_no };
  // The first call takes effect (the payer is asked to confirm) but its answer is lost; the
  // re-issued call is refused because the order exists.
  await stack.fault({ scope, operations: ['barcode'], latency_ms: 6_000, times: 1 });
  await stack.fault({ scope, barcode_userpaying: true, times: 1 });
  await stack.fault({ scope, barcode_repeat_refused: true } as never);
  const created = await stack.client.createPayment(barcode(provider, order_no));
  expect(created.status).not.toBe(PaymentStatus.PAYMENT_STATUS_FAILED);
  await eventually(async () => ((await sandboxOrder(provider, out_trade_no))?.create_requests as number) >= 2 ? true : undefined, 15_000, 'the payment code re-issued');
  await until(created.paymentId, PaymentStatus.PAYMENT_STATUS_PROCESSING, 15_000);
  const paid = await fetch(`${stack.sandbox.url}${payment_codes[provider].pay}/${out_trade_no}/pay`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  expect(paid.status).toBe(200);
  await until(created.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 15_000);
  const after = await stack.client.getPayment({ paymentId: created.paymentId, merchantId: 'm_rec' });
  expect(after.duplicates).toHaveLength(0);
  expect((await events(created.paymentId)).map((m) => m.event.type)).not.toContain('AttemptFailed');
});

test.each([
  ['wechatpay', 'trade_state', 'REVOKED'],
  ['alipay', 'cancelled', true],
] as const)('recovery - %s payment code the payer never confirms: at expiry the order is reversed (撤销), the payment CLOSED', async (provider, field, expected) => {
  const order_no = `rec-${randomBytes(6).toString('hex')}`;
  const out_trade_no = `${stack.paymentId('m_rec', order_no)}a1`;
  await stack.fault({ scope: { out_trade_no }, barcode_userpaying: true, times: 1 });
  const created = await stack.client.createPayment(barcode(provider, order_no, 2));
  expect(created.status).toBe(PaymentStatus.PAYMENT_STATUS_PROCESSING);
  await until(created.paymentId, PaymentStatus.PAYMENT_STATUS_CLOSED, 15_000);
  expect((await sandboxOrder(provider, out_trade_no))?.[field]).toBe(expected);
});

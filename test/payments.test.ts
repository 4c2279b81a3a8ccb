// Integration: real NATS, Redis, the sandbox PSP over HTTP and paycore over gRPC.

import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { decodeServiceError } from '../core/errors';
import { NextActionType, PaymentStatus, Product, type Payment } from '../proto/gen/paycore/v1/payment';
import { eventually, startStack, type Stack } from './harness';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack?.stop();
});

function orderNo(): string {
  return `it-${randomBytes(6).toString('hex')}`;
}

function native(merchant_order_no: string, amount = 1999n) {
  return { merchantId: 'm_it', merchantOrderNo: merchant_order_no, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'integration tea' };
}

async function rejection(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return decodeServiceError(error as grpc.ServiceError);
  }
  throw new Error('expected the call to fail');
}

test('payments - create, QR code, sandbox pay, callback, SUCCEEDED; WatchPayment sees every state', async () => {
  const payment = await stack.client.createPayment(native(orderNo()));
  expect(payment.paymentId).toBe(stack.paymentId('m_it', payment.merchantOrderNo));
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(payment.nextAction?.type).toBe(NextActionType.NEXT_ACTION_TYPE_QR_CODE);
  expect(payment.nextAction?.value).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
  expect(payment.channelId).toBe('wx1');
  expect(payment.amount).toBe(1999n);

  const watching = stack.client.watching({ paymentId: payment.paymentId, merchantId: 'm_it' }, 15_000);
  // The watch has its first message (the snapshot) before the payer pays, so it must see the change.
  expect((await watching.first).status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  const paid = await stack.pay(`${payment.paymentId}a1`);
  expect(paid.status).toBe(200);
  const seen = await watching.all;
  expect(seen.map((p) => PaymentStatus[p.status])).toEqual(['PAYMENT_STATUS_REQUIRES_ACTION', 'PAYMENT_STATUS_SUCCEEDED']);
  const versions = seen.map((p) => p.version);
  expect(versions[1]! - versions[0]!).toBe(1n);
  const final = seen[1]!;
  expect(final.channelTradeNo).toMatch(/^42\d+/);
  expect(final.paidAt).toBeInstanceOf(Date);

  const got = await stack.client.getPayment({ merchantId: 'm_it', merchantOrderNo: payment.merchantOrderNo });
  expect(got.status).toBe(PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
  expect(got.version).toBe(final.version);
  const orders = await stack.orders(`${payment.paymentId}a`);
  expect(orders).toHaveLength(1);
  expect(orders[0]!.trade_state).toBe('SUCCESS');
  expect(orders[0]!.amount_total).toBe(1999);
});

test('payments - an identical replay returns the current payment; other parameters are IDEMPOTENCY_KEY_REUSED', async () => {
  const no = orderNo();
  const first = await stack.client.createPayment(native(no));
  const replay = await stack.client.createPayment(native(no));
  expect(replay.paymentId).toBe(first.paymentId);
  expect(replay.version).toBe(first.version);
  expect(replay.nextAction?.value).toBe(first.nextAction?.value);

  const mismatch = await rejection(stack.client.createPayment(native(no, 2000n)));
  expect(mismatch.code).toBe(grpc.status.FAILED_PRECONDITION);
  expect(mismatch.reason).toBe('IDEMPOTENCY_KEY_REUSED');
  expect(mismatch.message).toMatch(/^IDEMPOTENCY_KEY_REUSED/);
  const orders = await stack.orders(`${first.paymentId}a`);
  expect(orders.map((o) => o.create_requests)).toEqual([1]);
});

test('payments - 50 concurrent identical creates make one payment and one provider order', async () => {
  const no = orderNo();
  const results = await Promise.all(Array.from({ length: 50 }, () => stack.client.createPayment(native(no))));
  const ids = new Set(results.map((p) => p.paymentId));
  expect(ids.size).toBe(1);
  const [payment_id] = [...ids];
  for (const p of results) expect(p.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  const orders = await stack.orders(`${payment_id}a`);
  expect(orders).toHaveLength(1);
  expect(orders[0]!.create_requests).toBe(1);
  const stored = await stack.client.getPayment({ paymentId: payment_id, merchantId: 'm_it' });
  expect(stored.version).toBe(3n); // Created, ChannelRequested, AttemptActionRequired: nothing twice
});

test('payments - close: the channel closes the order, the payment is CLOSED, and a paid one cannot be closed', async () => {
  const open = await stack.client.createPayment(native(orderNo()));
  const closed = await stack.client.closePayment({ paymentId: open.paymentId, merchantId: 'm_it' });
  expect(closed.status).toBe(PaymentStatus.PAYMENT_STATUS_CLOSED);
  expect((await stack.orders(`${open.paymentId}a`))[0]!.trade_state).toBe('CLOSED');
  const again = await stack.client.closePayment({ merchantId: 'm_it', merchantOrderNo: open.merchantOrderNo });
  expect(again.status).toBe(PaymentStatus.PAYMENT_STATUS_CLOSED);
  expect(again.version).toBe(closed.version);
  expect((await stack.pay(`${open.paymentId}a1`)).status).toBe(409); // the payer can no longer pay

  const paid = await stack.client.createPayment(native(orderNo()));
  await stack.pay(`${paid.paymentId}a1`);
  await eventually(async () => ((await stack.client.getPayment({ paymentId: paid.paymentId, merchantId: 'm_it' })).status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? true : undefined), 10_000, 'SUCCEEDED');
  const refused = await rejection(stack.client.closePayment({ paymentId: paid.paymentId, merchantId: 'm_it' }));
  expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
  expect(refused.reason).toBe('ILLEGAL_STATE');
});

test('payments - bad input is INVALID_ARGUMENT naming every bad field, and nothing is stored', async () => {
  const no = orderNo();
  const bad = await rejection(
    stack.client.createPayment({ ...native(no), amount: 0n, currency: 'cny', subject: '', notifyUrl: 'ftp://x' }),
  );
  expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(bad.reason).toBe('INVALID_FIELD');
  expect(bad.violations.map((v) => v.field).sort()).toEqual(['amount', 'currency', 'notify_url', 'subject']);
  const missing = await rejection(stack.client.getPayment({ merchantId: 'm_it', merchantOrderNo: no }));
  expect(missing.code).toBe(grpc.status.NOT_FOUND);
  expect(missing.reason).toBe('NOT_FOUND');
  const jsapi = await rejection(stack.client.createPayment({ ...native(orderNo()), product: Product.PRODUCT_WECHAT_JSAPI }));
  expect(jsapi.violations.map((v) => v.field)).toEqual(['payer.openid']);
});

test('payments - an order no channel can take (currency, excluded channel) is NO_ROUTE, and nothing is stored', async () => {
  const no = orderNo();
  const refused = await rejection(stack.client.createPayment({ ...native(no), currency: 'USD' }));
  expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
  expect(refused.reason).toBe('NO_ROUTE');
  const excluded = await rejection(stack.client.createPayment({ ...native(no), routeHints: { includeChannels: [], excludeChannels: ['wx1'] } }));
  expect(excluded.reason).toBe('NO_ROUTE');
  expect((await rejection(stack.client.getPayment({ merchantId: 'm_it', merchantOrderNo: no }))).reason).toBe('NOT_FOUND');
});

test('payments - JSAPI and APP return signed SDK parameters, H5 a redirect', async () => {
  const jsapi: Payment = await stack.client.createPayment({ ...native(orderNo()), product: Product.PRODUCT_WECHAT_JSAPI, payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', clientIp: '', authCode: '', cardToken: '', bankCode: '' } });
  expect(jsapi.nextAction?.type).toBe(NextActionType.NEXT_ACTION_TYPE_SDK_PARAMS);
  expect(jsapi.nextAction?.params.package).toMatch(/^prepay_id=/);
  expect(jsapi.nextAction?.params.paySign).toBeTruthy();
  const app = await stack.client.createPayment({ ...native(orderNo()), product: Product.PRODUCT_WECHAT_APP });
  expect(app.nextAction?.params.package).toBe('Sign=WXPay');
  const h5 = await stack.client.createPayment({ ...native(orderNo()), product: Product.PRODUCT_WECHAT_H5, payer: { clientIp: '203.0.113.7', openid: '', authCode: '', cardToken: '', bankCode: '' } });
  expect(h5.nextAction?.type).toBe(NextActionType.NEXT_ACTION_TYPE_REDIRECT);
  expect(h5.nextAction?.value).toMatch(/^https?:\/\//);
});

test('payments - grpc.health.v1 says SERVING and reflection lists PaymentService', async () => {
  const checker = healthClient();
  const status = await new Promise<string>((resolve, reject) =>
    checker.check({ service: 'paycore.v1.PaymentService' }, { deadline: Date.now() + 5_000 }, (error, reply) => (error ? reject(error) : resolve(String(reply?.status)))),
  );
  expect(status).toBe('SERVING');
  checker.close();

  const services = await reflectionServices();
  expect(services).toContain('paycore.v1.PaymentService');
  expect(services).toContain('grpc.health.v1.Health');
});

interface HealthClient extends grpc.Client {
  check(request: { service: string }, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply?: { status: string }) => void): void;
}

/** Health answers over TLS without a client certificate or app key: load balancers have none. */
function healthClient(): HealthClient {
  const loader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
  const { protoPath } = require('grpc-health-check') as { protoPath: string };
  const definition = grpc.loadPackageDefinition(loader.loadSync(protoPath, { keepCase: true, enums: String })) as unknown as {
    grpc: { health: { v1: { Health: { service: grpc.ServiceDefinition } } } };
  };
  return stack.serviceClient<HealthClient>(definition.grpc.health.v1.Health.service, 'Health', { ca: stack.auth().ca!, server_name: 'localhost' });
}

function reflectionServices(): Promise<string[]> {
  const loader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
  const proto_file = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1alpha/reflection.proto');
  const definition = grpc.loadPackageDefinition(loader.loadSync(proto_file, { keepCase: true })) as unknown as {
    grpc: { reflection: { v1alpha: { ServerReflection: { service: grpc.ServiceDefinition } } } };
  };
  const client = stack.serviceClient<
    grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, { list_services_response?: { service: { name: string }[] } }> }
  >(
    definition.grpc.reflection.v1alpha.ServerReflection.service, 'ServerReflection');
  return new Promise((resolve, reject) => {
    const stream = client.ServerReflectionInfo();
    stream.on('data', (reply: { list_services_response?: { service: { name: string }[] } }) => {
      resolve(reply.list_services_response?.service.map((entry) => entry.name) ?? []);
      stream.end();
      client.close();
    });
    stream.on('error', reject);
    stream.write({ list_services: '*' });
  });
}

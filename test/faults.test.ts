// Integration: paycore against its OWN nats-server and redis-server (started here on free
// ports), stopped and restarted under it. What a caller sees while a dependency is down
// (UNAVAILABLE with reason DEPENDENCY_DOWN, fast, no internal text), and that paycore comes
// back by itself — with its routing configuration — when the dependency does.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { PaycoreClient } from '../testing/client';
import { decodeServiceError } from '../core/errors';
import { app_admin_service } from '../core/gateway/app-admin';
import { NextActionType, PaymentStatus, Product, type Payment } from '../proto/gen/paycore/v1/payment';
import { eventually, healthStatus, startPrivateNats, startPrivateRedis, startStack, type DependencyServer, type Stack } from './harness';

let nats: DependencyServer;
let redis: DependencyServer;
let stack: Stack;

beforeAll(async () => {
  nats = await startPrivateNats();
  redis = await startPrivateRedis();
  stack = await startStack({ nats_url: nats.url, redis_url: redis.url, create_deadline_ms: 1_000, env: { PAYCORE_WORKERS: '2' } });
}, 60_000);

afterAll(async () => {
  if (nats !== undefined && !nats.running) await nats.start();
  if (redis !== undefined && !redis.running) await redis.start();
  await stack?.stop();
  await nats?.close();
  await redis?.close();
});

function order(): { merchantId: string; merchantOrderNo: string; amount: bigint; currency: string; product: Product; subject: string } {
  return { merchantId: 'm_it', merchantOrderNo: `flt-${randomBytes(6).toString('hex')}`, amount: 1_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'faults' };
}

interface Failure {
  code: number;
  reason?: string;
  message: string;
  elapsed_ms: number;
}

/** Runs a call that must fail; its status, reason, message and how long it took. */
async function failure(call: () => Promise<unknown>): Promise<Failure> {
  const started = Date.now();
  try {
    await call();
  } catch (error) {
    const decoded = decodeServiceError(error as grpc.ServiceError);
    return { code: decoded.code, reason: decoded.reason, message: decoded.message, elapsed_ms: Date.now() - started };
  }
  throw new Error('the call succeeded');
}

function paymentOptions(merchant_id: string): Promise<unknown> {
  return new Promise((resolve, reject) =>
    stack.client.raw.listPaymentOptions({ merchantId: merchant_id, amount: 1_000n, currency: 'CNY', scene: 'PC' }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (error, reply) => (error ? reject(error) : resolve(reply))),
  );
}

const address = (): string => `127.0.0.1:${stack.paycore.grpc_port}`;

/** A failure that the contract calls a dependency outage: retryable, named, no internals. */
function expectDependencyDown(f: Failure, within_ms: number): void {
  expect({ code: grpc.status[f.code], reason: f.reason }).toEqual({ code: 'UNAVAILABLE', reason: 'DEPENDENCY_DOWN' });
  expect(f.message).not.toMatch(/Error|Stream isn't writeable|MaxRetries|TIMEOUT|ECONNREFUSED/);
  expect(f.elapsed_ms).toBeLessThan(within_ms);
}

test('faults - Redis unreachable: creates and payment options answer UNAVAILABLE DEPENDENCY_DOWN at once, and serve again after', async () => {
  await stack.client.createPayment(order()); // warm
  await redis.kill();
  try {
    await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'NOT_SERVING' ? true : undefined), 10_000, 'NOT_SERVING');
    expectDependencyDown(await failure(() => stack.client.createPayment(order())), 3_000);
    expectDependencyDown(await failure(() => paymentOptions('m_it')), 3_000);
  } finally {
    await redis.start();
  }
  await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING again');
  const after = await stack.client.createPayment(order());
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
});

test('faults - Redis unreachable: an app-key call is refused DEPENDENCY_DOWN (no replay check, no entry); a certificate call is not', async () => {
  const admin = stack.serviceClient<grpc.Client & Record<string, (request: unknown, callback: (error: grpc.ServiceError | null, value: unknown) => void) => void>>(app_admin_service, 'AppAdminService');
  const adminCall = <T>(method: string, request: unknown): Promise<T> =>
    new Promise((resolve, reject) => admin[method]!(request, (e, v) => (e ? reject(e) : resolve(v as T))));
  await adminCall('upsertApp', { app: { appId: 'keyed', merchantIds: ['m_it'], allMerchants: false, roles: ['payments:read'], keys: [] } });
  const rotated = await adminCall<{ keyId: string; secret: string }>('rotateAppKey', { appId: 'keyed' });
  admin.close();
  const keyed = new PaycoreClient(stack.address, { ca: stack.auth().ca!, server_name: 'localhost', app_key: { app_id: 'keyed', key_id: rotated.keyId, secret: rotated.secret } });
  const absent = { merchantId: 'm_it', merchantOrderNo: 'flt-absent' };
  try {
    expect((await failure(() => keyed.getPayment(absent))).code).toBe(grpc.status.NOT_FOUND);
    await redis.kill();
    try {
      expectDependencyDown(await failure(() => keyed.getPayment(absent)), 3_000);
      // Reads need NATS only, and a client certificate needs no Redis to be checked.
      expect((await failure(() => stack.client.getPayment(absent))).code).toBe(grpc.status.NOT_FOUND);
    } finally {
      await redis.start();
    }
    await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING again');
    // The app and its key came back with the configuration (its durable store).
    await eventually(async () => ((await failure(() => keyed.getPayment(absent))).code === grpc.status.NOT_FOUND ? true : undefined), 20_000, 'the app key accepted again');
  } finally {
    keyed.close();
  }
});

test('faults - a Redis restart (empty) does not stop payments: the configuration comes back from its durable store', async () => {
  await redis.kill();
  await redis.start(); // keeps nothing on disk: an empty Redis
  // Health is SERVING only while paycore can route: once it says so, a create must succeed.
  await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING after the restart');
  const payment = await stack.client.createPayment(order());
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(payment.channelId).toBe('wx1');
  const options = (await paymentOptions('m_it')) as { options: unknown[] };
  expect(options.options.length).toBeGreaterThan(0);
  // One instance won the rebuild and re-derived what Redis lost besides the configuration.
  await eventually(async () => (stack.paycore.output.includes('caps usage re-derived from the event log') ? true : undefined), 10_000, 'the re-derivation log line');
});

test('faults - NATS down: reads and creates answer UNAVAILABLE DEPENDENCY_DOWN fast, and a refused create is never executed later', async () => {
  const existing: Payment = await stack.client.createPayment(order());
  await nats.kill();
  const refused = [order(), order(), order()];
  try {
    await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'NOT_SERVING' ? true : undefined), 10_000, 'NOT_SERVING');
    expectDependencyDown(await failure(() => stack.client.getPayment({ merchantId: 'm_it', paymentId: existing.paymentId })), 1_500);
    for (const request of refused) expectDependencyDown(await failure(() => stack.client.createPayment(request)), 1_500);
  } finally {
    await nats.start();
  }
  await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING again');
  // A create made after the restart works, and reaches the actors: everything before it
  // that could still be delivered has been by now.
  const after = await eventually(async () => stack.client.createPayment(order()).catch(() => undefined), 20_000, 'a create after NATS is back');
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  for (const request of refused) {
    const lookup = await failure(() =>
      stack.client.getPayment({ merchantId: request.merchantId, paymentId: stack.paymentId(request.merchantId, request.merchantOrderNo) }),
    );
    expect(grpc.status[lookup.code]).toBe('NOT_FOUND');
  }
  expect((await stack.client.getPayment({ merchantId: 'm_it', paymentId: existing.paymentId })).status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
});

test('faults - timer pumps fire only once every shard has a subscriber: none fails for want of a responder across a restart and a NATS reconnect', async () => {
  // Open payments whose pending-attempt queries fall due every ~2 s (PAYCORE_QUERY_BACKOFF_MS).
  for (let i = 0; i < 24; i += 1) await stack.client.createPayment(order());
  const failed = (): number => (stack.paycore.output.match(/timer handling failed|timer command failed/g) ?? []).length;

  await stack.paycore.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 2_500)); // every query timer is due now
  await stack.restart();
  await new Promise((r) => setTimeout(r, 3_000));
  const after_restart = failed();

  await nats.kill();
  await new Promise((r) => setTimeout(r, 2_500));
  await nats.start();
  await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING after NATS is back');
  await new Promise((r) => setTimeout(r, 3_000));
  expect({ after_restart, after_reconnect: failed() - after_restart }).toEqual({ after_restart: 0, after_reconnect: 0 });
});

test('faults - a provider whose create hangs: the caller gets the pending payment with next action POLL within the create deadline, the action once the provider answers', async () => {
  const request = order();
  const payment_id = stack.paymentId(request.merchantId, request.merchantOrderNo);
  await stack.fault({ scope: { out_trade_no_prefix: payment_id }, operations: ['create'], latency_ms: 2_500, times: 1 });
  const started = Date.now();
  const pending = await stack.client.createPayment(request);
  const elapsed_ms = Date.now() - started;
  expect({ status: PaymentStatus[pending.status], action: NextActionType[pending.nextAction?.type ?? 0] }).toEqual({ status: 'PAYMENT_STATUS_CREATED', action: 'NEXT_ACTION_TYPE_POLL' });
  expect(elapsed_ms).toBeLessThan(2_000); // the create deadline (1 s) and some, not the provider's 2.5 s
  // The provider's late answer (the QR code) is applied when it comes, without a new order.
  const ready = await eventually(async () => {
    const p = await stack.client.getPayment({ merchantId: request.merchantId, paymentId: payment_id });
    return p.status === PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION ? p : undefined;
  }, 15_000, 'the QR code after the late answer');
  expect(NextActionType[ready.nextAction?.type ?? 0]).toBe('NEXT_ACTION_TYPE_QR_CODE');
  expect((await stack.orders(`${payment_id}a`)).length).toBe(1);
});

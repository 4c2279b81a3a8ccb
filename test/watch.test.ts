// WatchPayment over real gRPC: errors answered with a status at once, and the bounds (per app,
// in total, lifetime) answered RESOURCE_EXHAUSTED / OVERLOADED. Also the admin services on
// their own port.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { makeClient } from '../testing/auth-client';
import { PaycoreClient } from '../testing/client';
import { decodeServiceError } from '../core/errors';
import { overloaded_retry_after_ms } from '../core/constants';
import { app_admin_service } from '../core/gateway/app-admin';
import type { App } from '../proto/gen/paycore/v1/admin';
import { Product, type Payment } from '../proto/gen/paycore/v1/payment';
import { startStack, type Stack } from './harness';

type AnyClient = grpc.Client & Record<string, (request: unknown, callback: (error: grpc.ServiceError | null, value: unknown) => void) => void>;

function call<T>(client: AnyClient, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(request, (error, value) => (error ? reject(error) : resolve(value as T))));
}

async function upsertApp(stack: Stack, address: string, app_id: string): Promise<void> {
  const client = makeClient<AnyClient>(app_admin_service, 'AppAdminService', address, stack.auth());
  try {
    await call<{ app: App }>(client, 'upsertApp', { app: { appId: app_id, merchantIds: ['m_it'], allMerchants: false, roles: ['payments:read'], keys: [] } });
  } finally {
    client.close();
  }
}

async function openPayment(stack: Stack): Promise<Payment> {
  return stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `w-${randomBytes(5).toString('hex')}`, amount: 100n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'watch' });
}

interface Watch {
  /** Resolves with the first payment sent (the watch was admitted), or rejects with its error. */
  first: Promise<Payment>;
  /** Resolves with the stream's final status. */
  status: Promise<grpc.StatusObject>;
  /** Rejects with the stream's error, decoded. */
  error: Promise<{ code: number; reason?: string; message: string; metadata: Record<string, string> }>;
  cancel(): void;
}

/** A watch with a long deadline: a status that comes at all comes from paycore, not the deadline. */
function watch(client: PaycoreClient, payment_id: string, deadline_ms = 60_000): Watch {
  const stream = client.raw.watchPayment({ paymentId: payment_id, merchantId: 'm_it', merchantOrderNo: '' }, new grpc.Metadata(), { deadline: Date.now() + deadline_ms });
  const first = new Promise<Payment>((resolve, reject) => {
    stream.once('data', (response: { payment: Payment }) => resolve(response.payment));
    stream.once('error', reject);
  });
  const error = new Promise<{ code: number; reason?: string; message: string; metadata: Record<string, string> }>((resolve) => stream.once('error', (e: grpc.ServiceError) => resolve(decodeServiceError(e))));
  const status = new Promise<grpc.StatusObject>((resolve) => stream.once('status', resolve));
  first.catch(() => undefined);
  return { first, status, error, cancel: () => stream.cancel() };
}

describe('bounds', () => {
  let stack: Stack;
  const clients: PaycoreClient[] = [];
  const as = (app_id: string): PaycoreClient => {
    const client = new PaycoreClient(stack.address, stack.auth(app_id));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    stack = await startStack({ env: { PAYCORE_WATCHES_PER_APP_MAX: '2', PAYCORE_WATCHES_MAX: '3' } });
    for (const app_id of ['watcher_a', 'watcher_b', 'watcher_c']) await upsertApp(stack, stack.address, app_id);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await stack?.stop();
  });

  test('watch - an unknown payment is NOT_FOUND at once, not at the deadline', async () => {
    const unknown = watch(as('watcher_a'), `p${'a'.repeat(25)}`, 120_000);
    expect(await unknown.error).toMatchObject({ code: grpc.status.NOT_FOUND, reason: 'NOT_FOUND' });
  });

  test('watch - another merchant\'s payment is NOT_FOUND at once, and its watch place is given back', async () => {
    const theirs = await stack.client.createPayment({ merchantId: 'm_ref', merchantOrderNo: `w-${randomBytes(5).toString('hex')}`, amount: 100n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'watch' });
    const client = as('watcher_a');
    for (let i = 0; i < 3; i += 1) {
      // Three refusals in a row with a bound of 2: a refused watch holds no place.
      expect(await watch(client, theirs.paymentId, 120_000).error).toMatchObject({ code: grpc.status.NOT_FOUND, reason: 'NOT_FOUND' });
    }
  });

  test('watch - beyond the bound per app and the bound in total: RESOURCE_EXHAUSTED OVERLOADED; a place given back is used again', async () => {
    // Refused with the retry hint every OVERLOADED refusal carries (docs/api.md).
    const overloaded = { code: grpc.status.RESOURCE_EXHAUSTED, reason: 'OVERLOADED', metadata: { retry_after_ms: String(overloaded_retry_after_ms) } };
    const a = as('watcher_a');
    const payments = await Promise.all([0, 1, 2, 3].map(() => openPayment(stack)));
    const a1 = watch(a, payments[0]!.paymentId);
    const a2 = watch(a, payments[1]!.paymentId);
    await a1.first;
    await a2.first;
    const a3 = watch(a, payments[2]!.paymentId);
    expect(await a3.error).toMatchObject(overloaded);
    expect((await a3.error).message).toMatch(/watcher_a may hold at most 2/);

    const b1 = watch(as('watcher_b'), payments[2]!.paymentId);
    await b1.first;
    const c1 = watch(as('watcher_c'), payments[3]!.paymentId);
    expect(await c1.error).toMatchObject(overloaded);
    expect((await c1.error).message).toMatch(/at most 3 watches/);

    a1.cancel();
    await a1.status;
    // The cancelled watch's place frees once the gateway sees the cancellation.
    for (;;) {
      const retry = watch(as('watcher_c'), payments[3]!.paymentId);
      const admitted = await retry.first.then(() => true, () => false);
      if (admitted) {
        retry.cancel();
        break;
      }
      expect(await retry.error).toMatchObject(overloaded);
      await new Promise((r) => setTimeout(r, 100));
    }
    a2.cancel();
    b1.cancel();
  });
});

describe('lifetime and admin port', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { PAYCORE_WATCH_LIFETIME_MS: '1000', PAYCORE_ADMIN_GRPC_PORT: '0' } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  test('watch - a watch past its lifetime ends RESOURCE_EXHAUSTED OVERLOADED (the client watches again)', async () => {
    const payment = await openPayment(stack);
    const long = watch(stack.client, payment.paymentId, 120_000);
    expect((await long.first).paymentId).toBe(payment.paymentId);
    const error = await long.error;
    expect(error).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, reason: 'OVERLOADED' });
    expect(error.message).toMatch(/at most 1000 ms/);
  });

  test('watch - with PAYCORE_ADMIN_GRPC_PORT the admin services answer there and not on the payments port', async () => {
    const admin_address = `127.0.0.1:${stack.paycore.admin_grpc_port}`;
    expect(stack.paycore.admin_grpc_port).not.toBe(stack.paycore.grpc_port);
    const on_admin = makeClient<AnyClient>(app_admin_service, 'AppAdminService', admin_address, stack.auth());
    const on_main = makeClient<AnyClient>(app_admin_service, 'AppAdminService', stack.address, stack.auth());
    try {
      const listed = await call<{ apps: App[] }>(on_admin, 'listApps', {});
      expect(listed.apps.map((a) => a.appId)).toContain('it_admin');
      const refused = await call(on_main, 'listApps', {}).then(() => undefined, (e: grpc.ServiceError) => e.code);
      expect(refused).toBe(grpc.status.UNIMPLEMENTED);
    } finally {
      on_admin.close();
      on_main.close();
    }
  });
});

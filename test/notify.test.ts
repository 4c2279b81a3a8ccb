// Integration: merchant notifications through paycore — a merchant endpoint that verifies
// every signature, fails on purpose, and a restart in the middle of the retry schedule; the
// dead letter listed and re-sent over NotificationAdminService.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { names } from '../core/names';
import { merchant_admin_service } from '../core/gateway/admin';
import { notification_admin_service } from '../core/gateway/notify-admin';
import { verifyNotification } from '../core/notify';
import type { ListDeadLettersResponse } from '../proto/gen/paycore/v1/admin';
import { PaymentStatus, Product } from '../proto/gen/paycore/v1/payment';
import { eventually, nats_url, startStack, type Stack } from './harness';

const secret = 'notify-secret-of-m_it'; // what the stack's routing table gives merchant m_it

interface Received {
  id: string;
  type: string;
  attempt: string;
  verified: boolean;
  data: Record<string, unknown>;
}

/** A merchant endpoint: answers `plan(n)` to the n-th request it gets (1-based). */
class Merchant {
  readonly received: Received[] = [];
  server!: Server;
  constructor(public plan: (n: number) => number) {}

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const body = JSON.parse(raw.toString()) as { id: string; type: string; data: Record<string, unknown> };
        const verified = verifyNotification(secret, String(req.headers['paycore-signature']), raw);
        this.received.push({ id: body.id, type: body.type, attempt: String(req.headers['paycore-attempt']), verified, data: body.data });
        res.writeHead(this.plan(this.received.length));
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/paycore`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { PAYCORE_NOTIFY_SCHEDULE_MS: '0,400,800', PAYCORE_NOTIFY_TIMEOUT_MS: '2000' } });
});

afterAll(async () => {
  await stack?.stop();
});

async function paid(notify_url: string): Promise<string> {
  const payment = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `nt-${randomBytes(6).toString('hex')}`, amount: 880n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'notify', notifyUrl: notify_url });
  await stack.pay(`${payment.paymentId}a1`);
  await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? true : undefined), 10_000, 'paid');
  return payment.paymentId;
}

function adminClient(): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  return stack.serviceClient(notification_admin_service, 'NotificationAdminService');
}

function call<T>(client: grpc.Client & Record<string, (...args: unknown[]) => unknown>, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

/** paycore_notify_attempts_total{result="delivered"} on the stack's /metrics (0 when absent). */
async function deliveredCount(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('paycore_notify_attempts_total{result="delivered"}'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

test('notify - a merchant failing twice gets the signed notification on attempt 3, same id each time, across a restart', async () => {
  const merchant = new Merchant((n) => (n <= 2 ? 500 : 204));
  const url = await merchant.start();
  try {
    const payment_id = await paid(url);
    await eventually(async () => (merchant.received.length >= 1 ? true : undefined), 10_000, 'first attempt');
    // paycore stops between attempts; the schedule resumes from the stream after the restart.
    await stack.paycore.kill('SIGTERM');
    await stack.restart();
    await eventually(async () => (merchant.received.length >= 3 ? true : undefined), 15_000, 'third attempt');
    // Nothing more may come after the 2xx: wait until paycore has recorded the delivery (the
    // restarted process counts it once), not for a time that must be long enough.
    await eventually(async () => ((await deliveredCount()) >= 1 ? true : undefined), 15_000, 'the delivery recorded');
    expect(await deliveredCount()).toBe(1);
    expect(merchant.received.map((r) => r.attempt)).toEqual(['1', '2', '3']);
    expect(new Set(merchant.received.map((r) => r.id)).size).toBe(1);
    expect(merchant.received.every((r) => r.verified)).toBe(true);
    expect(merchant.received[0]).toMatchObject({ type: 'payment.succeeded' });
    expect(merchant.received[0]!.data).toMatchObject({ payment_id, amount: '880', status: 'SUCCEEDED' });
  } finally {
    await merchant.stop();
  }
});

test('notify - after the last attempt the notification is dead-lettered, listed, and re-sent by an operator', async () => {
  const merchant = new Merchant(() => 503);
  const url = await merchant.start();
  const admin = adminClient();
  try {
    const payment_id = await paid(url);
    const letter = await eventually(async () => {
      const reply = await call<ListDeadLettersResponse>(admin, 'listDeadLetters', { merchantId: 'm_it', limit: 10, afterSeq: 0n });
      return reply.deadLetters.find((d) => d.paymentId === payment_id);
    }, 15_000, 'dead letter');
    expect(letter.attempts).toBe(3);
    expect(letter.lastError).toBe('http_503');
    expect(merchant.received).toHaveLength(3);

    merchant.plan = () => 200; // the merchant fixed its endpoint
    await call(admin, 'resendNotification', { notificationId: letter.notificationId });
    await eventually(async () => (merchant.received.length === 4 ? true : undefined), 10_000, 're-sent notification');
    expect(merchant.received[3]).toMatchObject({ id: letter.notificationId, verified: true });
    const after = await call<ListDeadLettersResponse>(admin, 'listDeadLetters', { merchantId: 'm_it', limit: 10, afterSeq: 0n });
    expect(after.deadLetters.find((d) => d.paymentId === payment_id)).toBeUndefined();
  } finally {
    admin.close();
    await merchant.stop();
  }
});

test('notify - merchant metadata whose keys end in _minor is the caller\'s text: created, read, watched and notified unchanged', async () => {
  const merchant = new Merchant(() => 200);
  const url = await merchant.start();
  try {
    const metadata = { order_total_minor: '12.50', count_minor: '3', note: 'x' };
    const payment = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `nt-${randomBytes(6).toString('hex')}`, amount: 880n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'metadata', notifyUrl: url, metadata });
    expect(payment.metadata).toEqual(metadata);
    const watching = stack.client.watching({ paymentId: payment.paymentId, merchantId: 'm_it' }, 15_000);
    await watching.first; // the snapshot: every change after it is delivered
    await stack.pay(`${payment.paymentId}a1`);
    const seen = await watching.all;
    expect(seen.at(-1)!.status).toBe(PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
    expect(seen.at(-1)!.metadata).toEqual(metadata);
    expect((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).metadata).toEqual(metadata);
    const got = await eventually(async () => merchant.received.find((r) => r.type === 'payment.succeeded'), 15_000, 'the notification');
    expect(got.verified).toBe(true);
    expect(got.data.metadata).toEqual(metadata);
  } finally {
    await merchant.stop();
  }
});

test('notify - the merchant is told (and GetPayment shows) the merchant\'s fee from its own rate, not what the channel costs us', async () => {
  // m_fee pays 60 bp (min 1) on WECHAT_NATIVE; the channel wx1 costs 38 bp (testing/stack.ts).
  const admin = stack.serviceClient<grpc.Client & Record<string, (...args: unknown[]) => unknown>>(merchant_admin_service, 'MerchantAdminService');
  await call(admin, 'upsertMerchant', {
    merchant: { merchantId: 'm_fee', products: [Product.PRODUCT_WECHAT_NATIVE], channelIds: ['wx1'], notifySecret: secret, feeRates: [{ product: Product.PRODUCT_WECHAT_NATIVE, fee: { rateBp: 60, fixed: 0n, min: 1n } }] },
  });
  admin.close();
  const merchant = new Merchant(() => 200);
  const url = await merchant.start();
  try {
    const order_no = `nt-${randomBytes(6).toString('hex')}`;
    // Every actor thread learns of the new merchant when it next polls the table's version.
    const payment = await eventually(
      () => stack.client.createPayment({ merchantId: 'm_fee', merchantOrderNo: order_no, amount: 10_005n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'fee', notifyUrl: url }).catch(() => undefined),
      10_000, 'the merchant known to routing',
    );
    await stack.pay(`${payment.paymentId}a1`);
    const got = await eventually(async () => merchant.received.find((r) => r.type === 'payment.succeeded'), 15_000, 'the notification');
    // 10 005 × 0.60 % = 60.03 → 60 (half-up); the channel's 38 bp would be 38.
    expect(got.data.fee).toBe('60');
    const paid = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_fee' });
    expect(paid.fee).toBe(60n);
    expect(paid.updatedAt!.getTime()).toBeGreaterThan(payment.updatedAt!.getTime());
  } finally {
    await merchant.stop();
  }
});

test('notify - an event the notifier cannot read is set aside loudly: counted for the alert, never dropped in silence', async () => {
  const metric = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('paycore_notify_unreadable_total{') && l.includes('stage="event"'));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };
  const before = await metric();
  const nc = await connect({ servers: nats_url });
  try {
    // Money as a JSON number: the codec refuses it (never a float for money).
    const payment_id = stack.paymentId('m_it', `nt-${randomBytes(6).toString('hex')}`);
    await jetstream(nc).publish(names(stack.prefix).events(payment_id), new TextEncoder().encode(JSON.stringify({ event: { type: 'AttemptSucceeded', amount_minor: 5 }, state: { payment_id, amount_minor: 5 } })));
  } finally {
    await nc.close();
  }
  await eventually(async () => ((await metric()) > before ? true : undefined), 15_000, 'the unreadable event counted');
});

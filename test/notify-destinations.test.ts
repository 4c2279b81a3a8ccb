// Integration: merchant notify URLs against the real stack started without a notification
// allow-list (as production runs): a URL naming loopback, a private network or a metadata
// address is refused at the edge, naming notify_url, and nothing is created; and merchants'
// notify secrets are sealed wherever paycore keeps them (Redis and the JetStream KV copy).

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { decodeServiceError } from '../core/errors';
import { ConfigStore } from '../core/routing/config-store';
import { PaymentStatus, Product } from '../proto/gen/paycore/v1/payment';
import { eventually, nats_url, startStack, type Stack } from './harness';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { PAYCORE_NOTIFY_ALLOW_HOSTS: '', PAYCORE_NOTIFY_ALLOW_CIDRS: '' } });
});

afterAll(async () => {
  await stack?.stop();
});

async function refusal(promise: Promise<unknown>): Promise<{ reason: string; fields: string[] }> {
  try {
    await promise;
    return { reason: 'ok', fields: [] };
  } catch (error) {
    const decoded = decodeServiceError(error as grpc.ServiceError);
    return { reason: decoded.reason ?? '', fields: decoded.violations.map((v) => v.field) };
  }
}

test.each([
  'http://127.0.0.1:8080/notify', 'http://localhost/notify', 'http://[::1]/notify', 'http://10.0.0.8/notify', 'http://192.168.1.20/notify',
  'http://169.254.169.254/latest/meta-data/', 'http://100.100.100.200/latest/meta-data/', 'http://[fd00:ec2::254]/', 'http://[::ffff:127.0.0.1]/notify',
])('notify destinations - CreatePayment with notify_url %s is INVALID_FIELD and creates nothing', async (notify_url) => {
  const order_no = `nd-${randomBytes(6).toString('hex')}`;
  const create = stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: order_no, amount: 100n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'ssrf', notifyUrl: notify_url });
  expect(await refusal(create)).toEqual({ reason: 'INVALID_FIELD', fields: ['notify_url'] });
  expect(await refusal(stack.client.getPayment({ merchantId: 'm_it', merchantOrderNo: order_no }))).toEqual({ reason: 'NOT_FOUND', fields: [] });
});

test('notify destinations - a public notify URL is accepted', async () => {
  const payment = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `nd-${randomBytes(6).toString('hex')}`, amount: 100n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'ok', notifyUrl: 'https://merchant.example.com/paycore/notify' });
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
});

test('notify destinations - notify secrets are sealed in Redis and in the JetStream KV copy', async () => {
  const clear = 'notify-secret-of-m_it'; // what the stack's routing file gave m_it
  const redis = new Redis(process.env.PAYCORE_REDIS_URL ?? 'redis://127.0.0.1:6379/0');
  const nc = await connect({ servers: nats_url });
  try {
    const in_redis = await eventually(async () => {
      const all = await redis.hgetall(`{${stack.prefix}:rt}:secrets`);
      return Object.keys(all).length > 0 ? all : undefined;
    }, 10_000, 'secrets in Redis');
    expect(in_redis.m_it).toMatch(/^k1\./);
    for (const value of Object.values(in_redis)) expect(value).not.toContain('notify-secret-of-');
    const snapshot = await (await ConfigStore.open(jetstream(nc), stack.prefix)).snapshot();
    const in_kv = snapshot.get('secrets');
    expect(in_kv?.get('m_it')).toMatch(/^k1\./);
    for (const value of in_kv?.values() ?? []) expect(value).not.toContain('notify-secret-of-');
    expect(JSON.stringify([...in_kv!.values(), ...Object.values(in_redis)])).not.toContain(clear);
  } finally {
    redis.disconnect();
    await nc.close();
  }
});

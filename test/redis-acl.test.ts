// Integration: paycore against a redis-server that has no default user, only an ACL user
// scoped to this run's keys and channels: with PAYCORE_REDIS_USERNAME / _PASSWORD it routes
// a whole payment; without credentials Redis refuses the connection (NOAUTH).

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { PaymentStatus, Product } from '../proto/gen/paycore/v1/payment';
import { startPrivateRedis, type DependencyServer } from '../bench/deps';
import { eventually, startStack, uniquePrefix, type Stack } from './harness';

const password = randomBytes(12).toString('hex');
let redis: DependencyServer;
let stack: Stack;
let prefix: string;

beforeAll(async () => {
  prefix = uniquePrefix();
  // Only this run's keys ({<prefix>:rt}…, <prefix>:…) and pub/sub channels; nothing dangerous.
  redis = await startPrivateRedis(['--user', 'default', 'off', '--user', 'paycore', 'on', `>${password}`, `~{${prefix}:*`, `~${prefix}:*`, `&${prefix}*`, `&{${prefix}*`, '+@all', '-@dangerous', '+info']);
  stack = await startStack({ prefix, redis_url: redis.url, env: { PAYCORE_REDIS_USERNAME: 'paycore', PAYCORE_REDIS_PASSWORD: password } });
});

afterAll(async () => {
  await stack?.stop();
  await redis?.close();
});

test('redis acl - paycore routes and settles a payment as its ACL user', async () => {
  const payment = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `ra-${randomBytes(6).toString('hex')}`, amount: 900n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'acl' });
  expect(payment.channelId).toBe('wx1');
  await stack.pay(`${payment.paymentId}a1`);
  await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? true : undefined), 15_000, 'paid');
});

test('redis acl - without credentials the server refuses', async () => {
  const anonymous = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const errors: string[] = [];
  anonymous.on('error', (error: Error) => errors.push(error.message));
  try {
    const failure = await anonymous.connect().then(() => anonymous.get(`{${prefix}:rt}:version`)).then(() => undefined, (error: Error) => error.message);
    expect([failure, ...errors].join(' ')).toMatch(/NOAUTH/);
  } finally {
    anonymous.disconnect();
  }
});

// Integration: paycore against a redis-server that speaks only TLS (a private CA) and has no
// default user, only an ACL user scoped to this run's keys and channels: with rediss://,
// PAYCORE_REDIS_TLS_CA_FILE and PAYCORE_REDIS_USERNAME / _PASSWORD it routes a whole payment;
// without credentials Redis refuses (NOAUTH); in plain text nothing is answered.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureDevPki } from '../testing/dev/dev-certs';
import { Redis } from 'ioredis';
import { PaymentStatus, Product } from '../proto/gen/paycore/v1/payment';
import { startPrivateRedis, type DependencyServer } from '../testing/deps';
import { eventually, startStack, uniquePrefix, type Stack } from './harness';

const password = randomBytes(12).toString('hex');
let redis: DependencyServer;
let stack: Stack;
let prefix: string;
let redis_url: string;
// A CA and a server certificate for 127.0.0.1 (the development PKI's).
const pki = ensureDevPki(mkdtempSync(path.join(tmpdir(), 'paycore-redis-tls-')));

beforeAll(async () => {
  prefix = uniquePrefix();
  // Only this run's keys ({<prefix>:rt}…, <prefix>:…) and pub/sub channels; nothing dangerous.
  redis = await startPrivateRedis((port) => [
    '--port', '0', '--tls-port', String(port), '--tls-cert-file', pki.server_cert_file, '--tls-key-file', pki.server_key_file, '--tls-ca-cert-file', pki.ca_file, '--tls-auth-clients', 'no',
    '--user', 'default', 'off', '--user', 'paycore', 'on', `>${password}`, `~{${prefix}:*`, `~${prefix}:*`, `&${prefix}*`, `&{${prefix}*`, '+@all', '-@dangerous', '+info',
  ]);
  redis_url = `rediss://127.0.0.1:${redis.port}/0`;
  stack = await startStack({ prefix, redis_url, env: { PAYCORE_REDIS_USERNAME: 'paycore', PAYCORE_REDIS_PASSWORD: password, PAYCORE_REDIS_TLS_CA_FILE: pki.ca_file } });
});

afterAll(async () => {
  await stack?.stop();
  await redis?.close();
  rmSync(pki.dir, { recursive: true, force: true });
});

test('redis acl - paycore routes and settles a payment as its ACL user, over TLS', async () => {
  const payment = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `ra-${randomBytes(6).toString('hex')}`, amount: 900n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'acl' });
  expect(payment.channelId).toBe('wx1');
  await stack.pay(`${payment.paymentId}a1`);
  await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? true : undefined), 15_000, 'paid');
});

test('redis acl - without credentials the server refuses', async () => {
  const anonymous = new Redis(redis_url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, tls: { ca: readFileSync(pki.ca_file) } });
  const errors: string[] = [];
  anonymous.on('error', (error: Error) => errors.push(error.message));
  try {
    const failure = await anonymous.connect().then(() => anonymous.get(`{${prefix}:rt}:version`)).then(() => undefined, (error: Error) => error.message);
    expect([failure, ...errors].join(' ')).toMatch(/NOAUTH/);
  } finally {
    anonymous.disconnect();
  }
});

test('redis acl - in plain text the TLS port answers nothing', async () => {
  const plain = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000, username: 'paycore', password });
  plain.on('error', () => undefined);
  try {
    const outcome = await Promise.race([
      plain.connect().then(() => plain.get(`{${prefix}:rt}:version`)).then(() => 'answered', () => 'refused'),
      new Promise((resolve) => setTimeout(() => resolve('refused'), 5_000)),
    ]);
    expect(outcome).toBe('refused');
  } finally {
    plain.disconnect();
  }
});

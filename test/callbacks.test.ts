// Integration: a provider callback speaks only for the channel it arrived on. Two channels
// share one WeChat Pay account and its keys (the dangerous case: each verifies the other's
// signatures). A validly signed callback for an attempt of wx1, delivered to /notify/wx_twin,
// changes nothing; the same bytes delivered to /notify/wx1 settle the payment.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PaymentStatus, Product } from '../proto/gen/paycore/v1/payment';
import { eventually, startStack, type Stack } from './harness';

interface Captured {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let stack: Stack;
let capture: Server;
const captured: Captured[] = [];

beforeAll(async () => {
  // Providers post to PAYCORE_PUBLIC_URL: point it at a recorder, so the test holds a real,
  // signed callback and decides where it is delivered.
  capture = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      captured.push({ path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(500, { 'content-type': 'application/json' }).end('{"code":"FAIL","message":"recorded"}');
    });
  });
  const capture_port = await new Promise<number>((resolve) => capture.listen(0, '127.0.0.1', () => resolve((capture.address() as AddressInfo).port)));
  stack = await startStack({
    extra_channels: (settings) => [{ channel_id: 'wx_twin', provider: 'wechatpay', products: ['WECHAT_NATIVE'], settings }],
    // No pending-attempt query inside the test: only callbacks may move the payment.
    env: { PAYCORE_PUBLIC_URL: `http://127.0.0.1:${capture_port}`, PAYCORE_QUERY_BACKOFF_MS: '600000' },
  });
});

afterAll(async () => {
  await stack?.stop();
  await new Promise((resolve) => capture?.close(resolve));
});

function deliver(callback: Captured, path: string): Promise<Response> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(callback.headers)) {
    if (typeof value === 'string' && !['host', 'content-length', 'connection'].includes(name)) headers[name] = value;
  }
  return fetch(`http://127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}${path}`, { method: 'POST', headers, body: callback.body });
}

test('callbacks - a signed callback for wx1\'s attempt delivered to /notify/wx_twin is refused and changes nothing', async () => {
  const payment = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `cb-${randomBytes(6).toString('hex')}`, amount: 1_500n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'callbacks' });
  expect(payment.channelId).toBe('wx1');
  expect((await stack.pay(`${payment.paymentId}a1`)).status).toBe(200);
  const callback = await eventually(async () => captured.find((c) => c.path === '/notify/wx1'), 10_000, 'the provider callback');

  const misdelivered = await deliver(callback, '/notify/wx_twin');
  expect(misdelivered.status).toBeGreaterThanOrEqual(400);
  const after = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' });
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(after.version).toBe(payment.version);

  // The very same bytes on the channel the attempt was sent to: valid, and they settle it.
  expect((await deliver(callback, '/notify/wx1')).ok).toBe(true);
  const paid = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' });
  expect(paid.status).toBe(PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
});

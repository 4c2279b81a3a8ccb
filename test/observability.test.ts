// Integration: /metrics on a live paycore (gateway and actor threads aggregated) and W3C
// trace context carried from a gRPC caller through NATS into the actor and the channel call,
// exported over OTLP/HTTP to a receiver in this test.

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { Product, type CreatePaymentRequest, type Payment } from '../proto/gen/paycore/v1/payment';
import { eventually, startStack, type Stack } from './harness';

function request(merchant_order_no: string): CreatePaymentRequest {
  return {
    merchantId: 'm_obs', merchantOrderNo: merchant_order_no, amount: 300n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE,
    subject: 'observability', payer: undefined, notifyUrl: '', expireSeconds: 0, routeHints: undefined, metadata: {}, splitRules: [],
  };
}

/** Sample value of one series, or undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (wanted) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('observability - /metrics shows gRPC, payments, channel calls, actors and runtime, with no ids in labels', async () => {
    const paid = await stack.client.createPayment(request(`obs-${randomBytes(5).toString('hex')}`));
    await stack.pay(`${paid.paymentId}a1`);
    const closed = await stack.client.createPayment(request(`obs-${randomBytes(5).toString('hex')}`));
    await stack.client.closePayment({ paymentId: closed.paymentId, merchantId: 'm_obs' });
    await stack.client.createPayment({ ...request('obs-bad'), amount: 0n }).catch(() => undefined);
    await eventually(async () => ((await stack.client.getPayment({ paymentId: paid.paymentId, merchantId: 'm_obs' })).status === 4 ? true : undefined), 10_000, 'paid');

    const text = await (await fetch(`http://127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}/metrics`)).text();
    expect(sample(text, 'paycore_grpc_requests_total', { method: 'CreatePayment', code: 'OK' })).toBe(2);
    expect(sample(text, 'paycore_grpc_requests_total', { method: 'CreatePayment', code: 'INVALID_ARGUMENT' })).toBe(1);
    expect(sample(text, 'paycore_grpc_request_duration_seconds_count', { method: 'ClosePayment' })).toBe(1);
    expect(sample(text, 'paycore_payments_total', { product: 'WECHAT_NATIVE', channel: 'wx1', status: 'SUCCEEDED' })).toBe(1);
    expect(sample(text, 'paycore_payments_total', { product: 'WECHAT_NATIVE', channel: 'wx1', status: 'CLOSED' })).toBe(1);
    // The completion SLI: the payer paid moments ago (the sandbox's paid_at), well inside 60 s.
    expect(sample(text, 'paycore_payment_completion_seconds_count', { channel: 'wx1' })).toBe(1);
    expect(sample(text, 'paycore_payment_completion_seconds_bucket', { channel: 'wx1', le: '60' })).toBe(1);
    expect(sample(text, 'paycore_channel_call_duration_seconds_count', { channel: 'wx1', operation: 'pay', outcome: 'ok' })).toBe(2);
    expect(sample(text, 'paycore_channel_call_duration_seconds_count', { channel: 'wx1', operation: 'close', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'paycore_channel_callbacks_total', { channel: 'wx1', result: 'accepted' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'paycore_route_decisions_total', { product: 'WECHAT_NATIVE', channel: 'wx1' })).toBe(2);
    expect(sample(text, 'paycore_actors_live')).toBeGreaterThanOrEqual(2); // summed over both threads
    // two creates (intent + answer each), the payment (1), the close (request + result)
    expect(sample(text, 'paycore_jetstream_publish_duration_seconds_count', { stream: 'events' })).toBe(7);
    // A create publishes no timer (its creation message carries its expiry and first query):
    // at most a later query round of each payment, if its first query found it still open.
    expect(sample(text, 'paycore_jetstream_publish_duration_seconds_count', { stream: 'timers' }) ?? 0).toBeLessThanOrEqual(2);
    expect(sample(text, 'paycore_dependency_up', { dependency: 'nats' })).toBe(1);
    expect(sample(text, 'paycore_dependency_up', { dependency: 'redis' })).toBe(1);
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeDefined();
    expect(sample(text, 'paycore_actor_mailbox_depth')).toBe(0);
    // Bounded label sets: no payment id, merchant id or order number anywhere in the labels.
    expect(text).not.toContain(paid.paymentId);
    expect(text).not.toContain('m_obs');
  });
});

describe('tracing', () => {
  let stack: Stack;
  let receiver: Server;
  const spans: { trace_id: string; name: string; kind: number; service: string }[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: {
            resource: { attributes: { key: string; value: { stringValue?: string } }[] };
            scopeSpans: { spans: { traceId: string; name: string; kind: number }[] }[];
          }[];
        };
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ trace_id: span.traceId, name: span.name, kind: span.kind, service });
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    stack = await startStack({ env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' } });
  });
  afterAll(async () => {
    await stack?.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  test("observability - a caller's trace id reaches the gateway, the actor and the channel call", async () => {
    const trace_id = randomBytes(16).toString('hex');
    const metadata = new grpc.Metadata();
    metadata.set('traceparent', `00-${trace_id}-${randomBytes(8).toString('hex')}-01`);
    const payment = await new Promise<Payment>((resolve, reject) =>
      stack.client.raw.createPayment(request(`trace-${randomBytes(5).toString('hex')}`), metadata, { deadline: Date.now() + 10_000 }, (error, value) => (error ? reject(error) : resolve(value!.payment!))),
    );
    expect(payment.nextAction?.value).toBeTruthy();
    const names = await eventually(async () => {
      const mine = spans.filter((s) => s.trace_id === trace_id).map((s) => s.name);
      return ['paycore.v1.PaymentService/CreatePayment', 'actor create', 'channel pay'].every((n) => mine.includes(n)) ? mine : undefined;
    }, 10_000, 'spans of the trace');
    expect(names).toContain('paycore.v1.PaymentService/CreatePayment');
    expect(spans.every((s) => s.service === 'paycore')).toBe(true);
  });

  test("observability - a closing caller's trace id reaches the merchant's notification", async () => {
    const seen: string[] = [];
    const merchant = createServer((req, res) => {
      seen.push(String(req.headers.traceparent ?? ''));
      req.resume();
      req.on('end', () => {
        res.writeHead(204);
        res.end();
      });
    });
    await new Promise<void>((resolve) => merchant.listen(0, '127.0.0.1', resolve));
    try {
      const notify_url = `http://127.0.0.1:${(merchant.address() as AddressInfo).port}/n`;
      const payment = await stack.client.createPayment({ ...request(`trace-${randomBytes(5).toString('hex')}`), notifyUrl: notify_url });
      const trace_id = randomBytes(16).toString('hex');
      const metadata = new grpc.Metadata();
      metadata.set('traceparent', `00-${trace_id}-${randomBytes(8).toString('hex')}-01`);
      await new Promise<Payment>((resolve, reject) =>
        stack.client.raw.closePayment({ paymentId: payment.paymentId, merchantId: 'm_obs', merchantOrderNo: '' }, metadata, { deadline: Date.now() + 10_000 }, (e, v) => (e ? reject(e) : resolve(v!.payment!))),
      );
      const header = await eventually(async () => seen.find((h) => h !== ''), 10_000, 'the notification');
      expect(header.split('-')[1]).toBe(trace_id);
      await eventually(async () => (spans.some((s) => s.trace_id === trace_id && s.name === 'notify deliver') ? true : undefined), 10_000, 'the notify span');
    } finally {
      await new Promise((resolve) => merchant.close(resolve));
    }
  });
});

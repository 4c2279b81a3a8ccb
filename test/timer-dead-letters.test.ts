// Integration: a timer that keeps failing is retried on a capped backoff, then dead-lettered
// with its reason (counted on /metrics for the alert), listed and re-driven by an operator —
// never retried forever, never dropped silently.

import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import * as grpc from '@grpc/grpc-js';
import { timer_admin_service } from '../core/gateway/timer-admin';
import { attemptId } from '../core/ids';
import type { ListDeadTimersResponse, RedriveTimerResponse } from '../proto/gen/paycore/v1/admin';
import { names } from '../core/names';
import { EventStore } from '../core/orders/store';
import { TimerScheduler } from '../core/orders/timers';
import { eventually, nats_url, startStack, type Stack } from './harness';

let stack: Stack;
let nc: NatsConnection;

beforeAll(async () => {
  stack = await startStack({ env: { PAYCORE_TIMER_RETRY_BACKOFF_MS: '200,400' } });
  nc = await connect({ servers: nats_url });
});

afterAll(async () => {
  await nc?.close();
  await stack?.stop();
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** An open payment whose attempt is on a channel this deployment does not have: every query
 * timer for it fails (INTERNAL), however often it is retried. */
async function failingPayment(): Promise<string> {
  const n = names(stack.prefix);
  const store = new EventStore(jetstream(nc), await jetstreamManager(nc), n);
  const order_no = `td-${randomBytes(6).toString('hex')}`;
  const payment_id = stack.paymentId('m_rec', order_no);
  const at = new Date().toISOString();
  await store.append(payment_id, undefined, [
    {
      type: 'PaymentCreated', at, payment_id, merchant_id: 'm_rec', merchant_order_no: order_no, amount_minor: 300n, currency: 'CNY', product: 'WECHAT_NATIVE',
      subject: 'dead timer', notify_url: '', metadata: {}, expires_at: new Date(Date.now() + 3_600_000).toISOString(), fingerprint: 'f'.repeat(64), payer_sealed: '',
      include_channels: [], exclude_channels: [],
    },
    { type: 'ChannelRequested', at, attempt_id: attemptId(payment_id, 1), attempt_no: 1, channel_id: 'ghost' },
  ]);
  await new TimerScheduler(jetstream(nc), n).schedule({ kind: 'query', payment_id, due_at: at, round: 0 });
  return payment_id;
}

function admin(): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  return stack.serviceClient(timer_admin_service, 'TimerAdminService');
}

function call<T>(client: grpc.Client & Record<string, (...args: unknown[]) => unknown>, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

test('timer dead letters - a timer that keeps failing is retried twice on the backoff, then dead-lettered and counted, listed with its reason, and re-driven', async () => {
  const payment_id = await failingPayment();
  await eventually(async () => ((await metric('paycore_timer_dead_letters')) >= 1 ? true : undefined), 20_000, 'the timer dead-lettered');
  const client = admin();
  try {
    const listed = await call<ListDeadTimersResponse>(client, 'listDeadTimers', { limit: 0, afterSeq: 0n });
    const dead = listed.deadTimers.find((d) => d.paymentId === payment_id)!;
    expect(dead).toMatchObject({ kind: 'query', failures: 3, round: 0 });
    expect(dead.reason).toContain('INTERNAL');
    // Re-driven: scheduled again (and, the cause still there, failing its way back here).
    const redriven = await call<RedriveTimerResponse>(client, 'redriveTimer', { seq: dead.seq });
    expect(redriven.paymentId).toBe(payment_id);
    const again = await eventually(async () => {
      const page = await call<ListDeadTimersResponse>(client, 'listDeadTimers', { limit: 0, afterSeq: 0n });
      return page.deadTimers.find((d) => d.paymentId === payment_id && d.seq > dead.seq);
    }, 20_000, 'the re-driven timer back in the dead letters');
    expect(again.failures).toBe(3);
    const page = await call<ListDeadTimersResponse>(client, 'listDeadTimers', { limit: 0, afterSeq: 0n });
    expect(page.deadTimers.some((d) => d.seq === dead.seq)).toBe(false); // the re-driven letter is gone
    const missing = await call(client, 'redriveTimer', { seq: dead.seq }).then(() => 0, (e: grpc.ServiceError) => e.code);
    expect(missing).toBe(grpc.status.NOT_FOUND);
  } finally {
    client.close();
  }
});

// Back-pressure inside an actor-host thread (issue 18 item 4), on a real stack: one thread
// whose bound on the commands it holds is 3 (PAYCORE_ACTOR_COMMANDS_MAX), and a provider
// whose create hangs, so three creates stay in the thread waiting for it. A fourth command is
// refused at once with RESOURCE_EXHAUSTED OVERLOADED and the retry hint: nothing written,
// nothing sent to the provider. Once the held creates end (the channel's timeout) the same
// create, retried with the same key, goes through. A timer refused that way is handed back,
// never counted toward its dead letter.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { overloaded_retry_after_ms } from '../core/constants';
import { decodeServiceError } from '../core/errors';
import { names } from '../core/names';
import { TimerScheduler } from '../core/orders/timers';
import { PaymentStatus, Product, type Payment } from '../proto/gen/paycore/v1/payment';
import { eventually, nats_url, startStack, type Stack } from './harness';

/** The channel call's timeout: how long the held creates stay in the thread. */
const channel_timeout_ms = 4_000;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    channel_timeout_ms,
    // The create's turn waits for the channel's answer (or its timeout), not a deadline of 3 s.
    create_deadline_ms: 30_000,
    // A timer that fails twice is dead-lettered at once; no query runs unless a test schedules it.
    env: { PAYCORE_WORKERS: '1', PAYCORE_ACTOR_COMMANDS_MAX: '3', PAYCORE_TIMER_RETRY_BACKOFF_MS: '200,400', PAYCORE_QUERY_BACKOFF_MS: '600000' },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const create = (merchant_order_no: string): Promise<Payment> =>
  stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: merchant_order_no, amount: 100n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'bp' });

/** Three creates the provider takes and answers none of (within the channel's timeout): once
 * each reached it, the thread holds three commands. Resolves with their answers. */
async function holdThread(): Promise<Promise<unknown>[]> {
  await stack.fault({ scope: { provider: 'wechatpay' }, operations: ['create'], latency_ms: 120_000 });
  const held_orders = [0, 1, 2].map(() => `bp-${randomBytes(5).toString('hex')}`);
  const held = held_orders.map((order) => create(order).then((p) => p, (e: grpc.ServiceError) => e));
  await eventually(async () => {
    const sent = await Promise.all(held_orders.map((o) => stack.orders(`${stack.paymentId('m_it', o)}a`)));
    return sent.every((orders) => orders.length === 1) ? true : undefined;
  }, 30_000, 'the three creates at the provider');
  return held;
}

/** A counter or gauge of the stack's /metrics (0 when absent); `labels` as printed. */
async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

test('backpressure - a thread holding its bound of commands refuses the next at once, OVERLOADED with a retry hint, unsent; retried later with the same key it goes through', async () => {
  const held = await holdThread();

  const refused_order = `bp-${randomBytes(5).toString('hex')}`;
  const refused = await create(refused_order).then(() => undefined, (e: grpc.ServiceError) => decodeServiceError(e));
  expect(refused).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, reason: 'OVERLOADED', metadata: { retry_after_ms: String(overloaded_retry_after_ms) } });
  expect(refused?.message).toMatch(/holds 3 commands, its bound/);
  // The held creates end at the channel's timeout: acknowledged CREATED, the outcome at the
  // provider unknown (its queries settle it).
  for (const answer of await Promise.all(held)) expect(answer).toMatchObject({ status: PaymentStatus.PAYMENT_STATUS_CREATED });
  await fetch(`${stack.sandbox.url}/sandbox/faults`, { method: 'DELETE' });
  const payment_id = stack.paymentId('m_it', refused_order);
  // Nothing of the refused create was kept or sent.
  expect(await stack.orders(`${payment_id}a`)).toEqual([]);
  const absent = await stack.client.getPayment({ merchantId: 'm_it', paymentId: payment_id }).then(() => undefined, (e: grpc.ServiceError) => decodeServiceError(e));
  expect(absent).toMatchObject({ code: grpc.status.NOT_FOUND });
  const retried = await create(refused_order);
  expect(retried.paymentId).toBe(payment_id);
  expect(await stack.orders(`${payment_id}a`)).toHaveLength(1);
});

test('backpressure - a timer the full thread refuses is handed back, not counted toward its dead letter, and runs once the thread has room', async () => {
  // A payment paid at the provider whose callback was lost: only a query settles it.
  const order = `bpt-${randomBytes(5).toString('hex')}`;
  const payment_id = stack.paymentId('m_it', order);
  await stack.fault({ scope: { out_trade_no: `${payment_id}a1` }, drop_callbacks: true });
  expect((await create(order)).status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect((await stack.pay(`${payment_id}a1`)).status).toBe(200);

  const held = await holdThread();
  const refused_before = await metric('paycore_actor_commands_total', '{type="timer",result="OVERLOADED"}');
  const nc = await connect({ servers: nats_url });
  try {
    await new TimerScheduler(jetstream(nc), names(stack.prefix)).schedule({ kind: 'query', payment_id, due_at: new Date().toISOString(), round: 0 });
  } finally {
    await nc.close();
  }
  // Refused while the thread is full: with a backoff of 200 and 400 ms, counting these would
  // dead-letter it long before the held creates end.
  await eventually(async () => ((await metric('paycore_actor_commands_total', '{type="timer",result="OVERLOADED"}')) > refused_before ? true : undefined), 20_000, 'the timer refused OVERLOADED');
  await Promise.all(held);
  await fetch(`${stack.sandbox.url}/sandbox/faults`, { method: 'DELETE' });
  await eventually(async () => {
    const payment = await stack.client.getPayment({ merchantId: 'm_it', paymentId: payment_id });
    return payment.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? true : undefined;
  }, 30_000, 'the query settling the payment');
  expect(await metric('paycore_timer_dead_letters')).toBe(0);
});

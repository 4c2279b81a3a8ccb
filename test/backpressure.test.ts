// Back-pressure inside an actor-host thread (issue 18 item 4), on a real stack: one thread
// whose bound on the commands it holds is 3 (PAYCORE_ACTOR_COMMANDS_MAX), and a provider
// whose create hangs, so three creates stay in the thread waiting for it. A fourth command is
// refused at once with RESOURCE_EXHAUSTED OVERLOADED and the retry hint: nothing written,
// nothing sent to the provider. Once the held creates end (the channel's timeout) the same
// create, retried with the same key, goes through.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { overloaded_retry_after_ms } from '../core/constants';
import { decodeServiceError } from '../core/errors';
import { PaymentStatus, Product, type Payment } from '../proto/gen/paycore/v1/payment';
import { eventually, startStack, type Stack } from './harness';

/** The channel call's timeout: how long the held creates stay in the thread. */
const channel_timeout_ms = 4_000;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    channel_timeout_ms,
    // The create's turn waits for the channel's answer (or its timeout), not a deadline of 3 s.
    create_deadline_ms: 30_000,
    env: { PAYCORE_WORKERS: '1', PAYCORE_ACTOR_COMMANDS_MAX: '3' },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const create = (merchant_order_no: string): Promise<Payment> =>
  stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: merchant_order_no, amount: 100n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'bp' });

test('backpressure - a thread holding its bound of commands refuses the next at once, OVERLOADED with a retry hint, unsent; retried later with the same key it goes through', async () => {
  // The provider takes every create and answers none within the channel's timeout.
  await stack.fault({ scope: { provider: 'wechatpay' }, operations: ['create'], latency_ms: 120_000 });
  const held_orders = [0, 1, 2].map(() => `bp-${randomBytes(5).toString('hex')}`);
  const held = held_orders.map((order) => create(order).then((p) => p, (e: grpc.ServiceError) => e));
  // Each held create reached the provider: the thread holds three commands.
  await eventually(async () => {
    const sent = await Promise.all(held_orders.map((o) => stack.orders(`${stack.paymentId('m_it', o)}a`)));
    return sent.every((orders) => orders.length === 1) ? true : undefined;
  }, 30_000, 'the three creates at the provider');

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

// Smoke load in the test suite: a few seconds of creates at a modest open-model rate, and a
// sample paid through the sandbox PSP, driven by the bench driver (a forked process) against a
// real stack. Fails on any error, a lost payment or a double charge — never on timing.

import { randomBytes } from 'node:crypto';
import { PaymentStatus } from '../proto/gen/paycore/v1/payment';
import { Coordinator } from '../bench/driver/coordinator';
import type { ScenarioName, StepPlan, StepResult } from '../bench/driver/protocol';
import { CreateTemplate, benchCreateShape } from '../bench/driver/requests';
import { startStack, type Stack } from './harness';

const merchant_id = 'm_smoke';
let stack: Stack;
let driver: Coordinator;

beforeAll(async () => {
  stack = await startStack();
  driver = new Coordinator(1);
  await driver.start();
});

afterAll(async () => {
  await driver?.stop();
  await stack?.stop();
});

function plan(scenario: ScenarioName, rate_per_second: number, duration_ms: number): StepPlan {
  return {
    scenario,
    model: { kind: 'open', rate_per_second, in_flight_max: 1_000 },
    duration_ms,
    target: stack.address,
    tls: stack.tls_files,
    sandbox_url: stack.sandbox.url,
    merchant_id,
    id_key_hex: stack.env.PAYCORE_ID_KEY!,
    order_prefix: `smoke${randomBytes(3).toString('hex')}${scenario === 'create_qr' ? 'q' : 'p'}`,
    replay_keys: 0,
    poll_interval_ms: 20,
    deadline_ms: 20_000,
  };
}

/** The order numbers the (single) driver process used: sequence 0 .. issued-1. */
function orderNumbers(step: StepPlan, result: StepResult): string[] {
  const template = new CreateTemplate(benchCreateShape(merchant_id, `${step.order_prefix}p0-`));
  return Array.from({ length: result.issued }, (_, sequence) => template.orderNo(sequence));
}

test('smoke load - 200 creates at 50/s and 40 paid: no error, none lost, none charged twice', async () => {
  const creates = plan('create_qr', 50, 4_000);
  const pays = plan('create_pay', 20, 2_000);
  const created = await driver.run('paycore', creates);
  const paid = await driver.run('paycore', pays);
  expect(created.errors).toEqual({});
  expect(paid.errors).toEqual({});
  expect(created.issued).toBe(200);
  expect(created.succeeded).toBe(200);
  expect(paid.issued).toBe(40);
  expect(paid.succeeded).toBe(40);

  const expected = new Map<string, PaymentStatus>();
  for (const no of orderNumbers(creates, created)) expected.set(stack.paymentId(merchant_id, no), PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  for (const no of orderNumbers(pays, paid)) expected.set(stack.paymentId(merchant_id, no), PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
  expect(expected.size).toBe(240);

  // Not lost: every payment is stored with its amount and the status its scenario left it in.
  const wrong: string[] = [];
  for (const [payment_id, status] of expected) {
    const payment = await stack.client.getPayment({ paymentId: payment_id, merchantId: merchant_id });
    if (payment.amount !== 1999n || payment.status !== status || payment.merchantId !== merchant_id) {
      wrong.push(`${payment_id}: ${payment.amount} ${PaymentStatus[payment.status]}`);
    }
  }
  expect(wrong).toEqual([]);

  // Not charged twice: one provider order per payment (attempt 1), created once, and only
  // the paid ones paid. Every payment id starts with 'p'; this sandbox serves this test only.
  const orders = await stack.orders('p');
  expect(orders).toHaveLength(expected.size);
  for (const order of orders) {
    const payment_id = order.out_trade_no.replace(/a1$/, '');
    expect(order.out_trade_no).toBe(`${payment_id}a1`);
    expect(expected.has(payment_id)).toBe(true);
    expect(order.create_requests).toBe(1);
    expect(order.amount_total).toBe(1999);
    expect(order.trade_state).toBe(expected.get(payment_id) === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? 'SUCCESS' : 'NOTPAY');
  }
});

test('smoke load - the merchant mix (create, get, pay, SUCCEEDED, refund in full): no error, every payment REFUNDED', async () => {
  const mix = { ...plan('mix', 10, 2_000), order_prefix: `smoke${randomBytes(3).toString('hex')}m` };
  const result = await driver.run('paycore', mix);
  expect(result.errors).toEqual({});
  expect(result.issued).toBe(20);
  expect(result.succeeded).toBe(20);
  const ids = orderNumbers(mix, result).map((no) => stack.paymentId(merchant_id, no));
  const pending = new Set(ids);
  const deadline = Date.now() + 20_000;
  while (pending.size > 0 && Date.now() < deadline) {
    for (const payment_id of [...pending]) {
      const payment = await stack.client.getPayment({ paymentId: payment_id, merchantId: merchant_id });
      if (payment.status === PaymentStatus.PAYMENT_STATUS_REFUNDED && payment.refundedAmount === 1999n) pending.delete(payment_id);
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 200));
  }
  expect([...pending]).toEqual([]);
});

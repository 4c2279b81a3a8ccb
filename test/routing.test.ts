// Integration: routing through paycore with two channels on the sandbox — failover to the
// next channel when the first refuses before accepting, and a channel degraded through the
// sandbox losing its traffic (circuit open) and winning it back once it recovers.

import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { decodeJson } from '../core/codec';
import { names } from '../core/names';
import { stored_message_schema, type StoredMessage } from '../core/events/stored';
import type { PaymentState } from '../core/orders/types';
import { createRouting, type Routing } from '../core/routing/routing';
import { PaymentStatus, Product, type Payment } from '../proto/gen/paycore/v1/payment';
import { eventually, nats_url, routingTable, sandboxRoute, startStack, type Stack } from './harness';
import { Sealer } from '../core/seal';

const mchid_b = '1900000002';
let stack: Stack;
let redis: Redis;
let table: Routing;

beforeAll(async () => {
  const products = ['WECHAT_NATIVE'];
  stack = await startStack({
    sandbox_mchids: [mchid_b],
    extra_channels: (settings) => [{ channel_id: 'wx_cheap', provider: 'wechatpay', products, settings: { ...settings, mchid: mchid_b } }],
    routing: withMerchantRate(routingTable([
      sandboxRoute('wx_cheap', products, { fee: { rate_bp: 20, fixed_minor: '0', min_minor: '0' } }),
      sandboxRoute('wx1', products, { fee: { rate_bp: 60, fixed_minor: '0', min_minor: '0' } }),
    ])),
    channel_timeout_ms: 2_000,
    // No exploration: these tests assert which channel wins.
    env: { PAYCORE_CIRCUIT_COOLDOWN_MS: '1500', PAYCORE_CIRCUIT_VOLUME_MIN: '6', PAYCORE_EXPLORATION_SHARE: '0' },
  });
  redis = new Redis('redis://127.0.0.1:6379/0');
  table = createRouting(redis, stack.prefix, { sealer: new Sealer(Buffer.from(stack.env.PAYCORE_DATA_KEY!, 'hex')) });
  await table.cache.start();
});

afterAll(async () => {
  await table?.cache.stop();
  redis?.disconnect();
  await stack?.stop();
});

/** m_it pays 100 bp on WECHAT_NATIVE, whichever channel carries it. */
function withMerchantRate(table: Record<string, unknown>): Record<string, unknown> {
  const merchants = (table.merchants as Record<string, unknown>[]).map((m) =>
    m.merchant_id === 'm_it' ? { ...m, fee_rates: { WECHAT_NATIVE: { rate_bp: 100, fixed_minor: '0', min_minor: '0' } } } : m);
  return { ...table, merchants };
}

/** The payment as the event log holds it (internal fields included). */
async function storedState(payment_id: string): Promise<PaymentState> {
  const nc = await connect({ servers: nats_url });
  try {
    const n = names(stack.prefix);
    const message = await (await jetstreamManager(nc)).direct.getMessage(n.events_stream, { last_by_subj: n.events(payment_id) });
    return decodeJson<StoredMessage>(message!.data, stored_message_schema).state;
  } finally {
    await nc.close();
  }
}

function create(): Promise<Payment> {
  return stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `rt-${randomBytes(6).toString('hex')}`, amount: 10_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'routing' });
}

test('routing - the cheaper channel wins and its cost is recorded on the payment; the merchant sees its own fee', async () => {
  const payment = await create();
  expect(payment.channelId).toBe('wx_cheap');
  await stack.pay(`${payment.paymentId}a1`);
  const paid = await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'paid');
  expect((await storedState(payment.paymentId)).fee_minor).toBe(20n); // the channel's cost: 10 000 × 20 bp
  expect(paid.fee).toBe(100n); // the merchant's fee: 10 000 × 100 bp
});

test('routing - a channel degraded through the sandbox loses its traffic, opens its circuit, and wins it back', async () => {
  await stack.fault({ scope: { mchid: mchid_b }, operations: ['create'], fail_status: 500 });
  const chosen: string[] = [];
  // Each failure counts against wx_cheap's health; once the circuit opens, wx1 takes the orders.
  await eventually(async () => {
    chosen.push((await create()).channelId);
    return chosen.slice(-3).every((c) => c === 'wx1') ? true : undefined;
  }, 30_000, 'traffic moved off the degraded channel');
  expect(chosen[0]).toBe('wx_cheap');
  // Its pending attempts keep failing (queried, re-issued, refused) until the failure volume
  // opens the circuit: then ExplainRoute names it.
  const explained = await eventually(async () => {
    const decision = await table.decisions.explain({ payment_id: 'p0', merchant_id: 'm_it', product: 'WECHAT_NATIVE', amount_minor: 10_000n, currency: 'CNY', payer_elements_present: [], include_channels: [], exclude_channels: [] });
    return decision.excluded.some((e) => e.channel_id === 'wx_cheap' && e.reason === 'CIRCUIT_OPEN') ? decision : undefined;
  }, 20_000, 'circuit open');
  expect(explained.chosen?.channel_id).toBe('wx1');

  // Recovery: the fault goes, the cool-down passes, probes succeed, the circuit closes.
  await fetch(`${stack.sandbox.url}/sandbox/faults`, { method: 'DELETE' });
  const back = await eventually(async () => {
    const payment = await create();
    return payment.channelId === 'wx_cheap' && payment.status === PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION ? payment : undefined;
  }, 30_000, 'traffic back on the recovered channel');
  expect(back.nextAction?.value).toMatch(/^weixin:/);
  await eventually(async () => {
    const decision = await table.decisions.explain({ payment_id: 'p1', merchant_id: 'm_it', product: 'WECHAT_NATIVE', amount_minor: 10_000n, currency: 'CNY', payer_elements_present: [], include_channels: [], exclude_channels: [] });
    return decision.chosen?.channel_id === 'wx_cheap' && decision.excluded.length === 0 ? true : undefined;
  }, 30_000, 'circuit closed');
});

test('routing - a refusal before acceptance fails over to the next channel within the same payment', async () => {
  const order_no = `rt-${randomBytes(6).toString('hex')}`;
  const payment_id = stack.paymentId('m_it', order_no);
  await stack.fault({ scope: { out_trade_no: `${payment_id}a1` }, operations: ['create'], reject_before_create: { status: 400, code: 'PARAM_ERROR', message: 'refused for the test' } });
  const payment = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: order_no, amount: 10_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'failover' });
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(payment.channelId).toBe('wx1');
  expect(await stack.orders(`${payment_id}a1`)).toHaveLength(0);
  expect(await stack.orders(`${payment_id}a2`)).toHaveLength(1);
  await stack.pay(`${payment_id}a2`);
  const paid = await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment_id, merchantId: 'm_it' });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'paid on the second channel');
  expect((await storedState(payment_id)).fee_minor).toBe(60n); // the second channel's cost
  expect(paid.fee).toBe(100n); // the merchant's fee does not depend on the channel
});

// Integration: risk control before routing, on two paycore processes sharing one prefix
// (streams, Redis, configuration): a card velocity rule from the declarative routing file
// blocks the 6th payment of one card in a minute whichever process takes it — nothing
// stored, nothing sent to the sandbox — and the decision is a RiskAssessed event and a
// metric; rules changed through RiskAdminService reach both processes.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { PaycoreClient } from '../testing/client';
import { decodeServiceError } from '../core/errors';
import { names } from '../core/names';
import { risk_admin_service } from '../core/gateway/risk-admin';
import { RiskAction, RiskDimension, RiskKind, type ListHeldPaymentsResponse, type ListRiskRulesResponse, type UpsertRiskRuleResponse } from '../proto/gen/paycore/v1/admin';
import { PaymentStatus, Product, type CreatePaymentRequest, type Payer, type Payment } from '../proto/gen/paycore/v1/payment';
import { bindTestCard, defaultRouting, eventually, freePort, nats_url, PaycoreProcess, startStack, type Stack, refusal } from './harness';

let stack: Stack;
let second: PaycoreProcess;
let clients: PaycoreClient[];
let nc: NatsConnection;
let second_http_port = 0;

beforeAll(async () => {
  const routing = {
    ...defaultRouting(),
    risk_rules: [{ rule_id: 'card_1m', action: 'block', products: ['UNIONPAY_QUICK'], kind: 'velocity', dimension: 'card_token', window_seconds: 60, count_max: 5 }],
  };
  stack = await startStack({ routing });
  second_http_port = await freePort();
  second = new PaycoreProcess({ ...stack.env, PAYCORE_GRPC_PORT: '0', PAYCORE_HTTP_PORT: String(second_http_port) });
  await second.start();
  clients = [stack.client, new PaycoreClient(`127.0.0.1:${second.grpc_port}`, stack.auth())];
  nc = await connect({ servers: nats_url });
}, 60_000);

afterAll(async () => {
  clients?.[1]?.close();
  await second?.kill('SIGTERM');
  await nc?.close();
  await stack?.stop();
});

function payer(elements: Partial<Payer>): Payer {
  return { clientIp: '', openid: '', authCode: '', cardToken: '', bankCode: '', ...elements };
}

function request(more: Partial<CreatePaymentRequest>): Partial<CreatePaymentRequest> {
  return { merchantId: 'm_it', merchantOrderNo: `rk-${randomBytes(6).toString('hex')}`, amount: 1_234n, currency: 'CNY', product: Product.PRODUCT_UNIONPAY_QUICK, subject: 'risk', ...more };
}


async function metric(name: string, labels: string): Promise<number> {
  let total = 0;
  for (const port of [stack.env.PAYCORE_HTTP_PORT, String(second_http_port)]) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) total += Number(line.split(' ').pop());
  }
  return total;
}

type Admin = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
function adminCall<T>(client: Admin, method: string, body: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(body, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

test('risk - the 6th payment of one card in a minute is blocked across two paycore processes: nothing stored or sent, an event and a metric', async () => {
  const card = payer({ cardToken: await bindTestCard(stack, 'm_it') });
  const created: Payment[] = [];
  for (let i = 0; i < 5; i += 1) created.push(await clients[i % 2]!.createPayment(request({ payer: card })));
  expect(created.map((p) => p.status)).toEqual(Array(5).fill(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION));

  const blocked = request({ payer: card });
  const payment_id = stack.paymentId('m_it', blocked.merchantOrderNo!);
  for (const client of clients) {
    expect(await refusal(client.createPayment(blocked))).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'RISK_BLOCKED' });
  }
  // Nothing stored, nothing sent to the channel.
  expect(await refusal(stack.client.getPayment({ paymentId: payment_id, merchantId: 'm_it' }))).toMatchObject({ reason: 'NOT_FOUND' });
  const sms = await fetch(`${stack.sandbox.url}/sandbox/unionpay/sms?order_id=${payment_id}a1`);
  expect(sms.status).toBe(404);
  // Another card pays on.
  expect((await clients[1]!.createPayment(request({ payer: payer({ cardToken: await bindTestCard(stack, 'm_it', 'payer2') }) }))).status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);

  // The decision is an event naming the rule, with no payer element in it.
  const jsm = await jetstreamManager(nc);
  const message = await jsm.streams.getMessage(names(stack.prefix).risk_events_stream, { last_by_subj: names(stack.prefix).riskEvents(payment_id) });
  const event = message!.json<Record<string, unknown>>();
  expect(event).toMatchObject({ type: 'RiskAssessed', payment_id, merchant_id: 'm_it', product: 'UNIONPAY_QUICK', amount_minor: '1234', action: 'block', fired: [{ rule_id: 'card_1m', kind: 'velocity', action: 'block' }] });
  expect(message!.string()).not.toContain(card.cardToken);
  expect(await metric('paycore_risk_rule_hits_total', 'rule="card_1m",action="block"')).toBe(2);
  expect(await metric('paycore_risk_decisions_total', 'action="allow"')).toBeGreaterThanOrEqual(6);
}, 60_000);

test('risk - rules changed through RiskAdminService reach both processes; a bad rule is refused naming its field', async () => {
  const admin = stack.serviceClient(risk_admin_service, 'RiskAdminService') as Admin;
  try {
    const rule = { ruleId: 'big_native', action: RiskAction.RISK_ACTION_BLOCK, merchantId: 'm_it', products: [Product.PRODUCT_WECHAT_NATIVE], kind: RiskKind.RISK_KIND_AMOUNT, dimension: RiskDimension.RISK_DIMENSION_UNSPECIFIED, windowSeconds: 0, amountMaxMinor: 10_000n, values: [], newForSeconds: 0, reviewSeconds: 0 };
    const stored = await adminCall<UpsertRiskRuleResponse>(admin, 'upsertRiskRule', { rule });
    expect(stored.rule).toMatchObject({ ruleId: 'big_native', amountMaxMinor: 10_000n, kind: RiskKind.RISK_KIND_AMOUNT });
    const listed = await adminCall<ListRiskRulesResponse>(admin, 'listRiskRules', {});
    expect(listed.rules.map((r) => r.ruleId)).toEqual(['big_native', 'card_1m']);
    // The second process hears of it (hot reload) and refuses a big payment; a small one passes.
    const native = (amount: bigint) => request({ product: Product.PRODUCT_WECHAT_NATIVE, amount });
    await eventually(async () => ((await refusal(clients[1]!.createPayment(native(10_001n))).catch(() => undefined))?.reason === 'RISK_BLOCKED' ? true : undefined), 10_000, 'the second process applies the new rule');
    expect((await clients[1]!.createPayment(native(10_000n))).status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);

    const bad = await adminCall(admin, 'upsertRiskRule', { rule: { ...rule, ruleId: 'v', kind: RiskKind.RISK_KIND_VELOCITY, dimension: RiskDimension.RISK_DIMENSION_CARD_TOKEN, amountMaxMinor: undefined } }).then(() => undefined, (e: grpc.ServiceError) => decodeServiceError(e));
    expect(bad).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(bad!.violations.map((v) => v.field).sort()).toEqual(['rule.count_max', 'rule.window_seconds']);

    await adminCall(admin, 'deleteRiskRule', { ruleId: 'big_native' });
    await eventually(async () => ((await clients[1]!.createPayment(native(10_001n)).catch(() => undefined))?.status === PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION ? true : undefined), 10_000, 'the rule is gone on the second process');
  } finally {
    admin.close();
  }
}, 60_000);

test('risk - a REVIEW rule holds payments for an operator: listed, released (then sent to the channel), rejected (closed), or closed by their own timer', async () => {
  const admin = stack.serviceClient(risk_admin_service, 'RiskAdminService') as Admin;
  try {
    const rule = {
      ruleId: 'review_big_qr', action: RiskAction.RISK_ACTION_REVIEW, merchantId: 'm_it', products: [Product.PRODUCT_ALIPAY_QR], kind: RiskKind.RISK_KIND_AMOUNT,
      dimension: RiskDimension.RISK_DIMENSION_UNSPECIFIED, windowSeconds: 0, amountMaxMinor: 50_000n, values: [], newForSeconds: 0, reviewSeconds: 3,
    };
    await adminCall(admin, 'upsertRiskRule', { rule });
    const qr = () => request({ product: Product.PRODUCT_ALIPAY_QR, amount: 60_000n });
    // Every process has the rule before the holds start (hot reload).
    await eventually(async () => ((await clients[1]!.createPayment(qr())).heldForReview ? true : undefined), 10_000, 'the second process holds');
    const [released, rejected, forgotten] = await Promise.all([
      clients[0]!.createPayment(qr()),
      clients[1]!.createPayment(qr()),
      clients[0]!.createPayment(qr()),
    ]);
    for (const held of [released!, rejected!, forgotten!]) expect(held).toMatchObject({ status: PaymentStatus.PAYMENT_STATUS_CREATED, heldForReview: true, channelId: '' });
    // Nothing was sent to Alipay for a held payment.
    const alipay = async (payment_id: string) => ((await (await fetch(`${stack.sandbox.url}/sandbox/alipay/orders?out_trade_no_prefix=${payment_id}`)).json()) as { orders: unknown[] }).orders;
    expect(await alipay(released!.paymentId)).toEqual([]);

    const listed = await adminCall<ListHeldPaymentsResponse>(admin, 'listHeldPayments', {});
    expect(listed.payments.map((p) => p.paymentId)).toEqual(expect.arrayContaining([released!.paymentId, rejected!.paymentId, forgotten!.paymentId]));
    expect(listed.payments.find((p) => p.paymentId === released!.paymentId)).toMatchObject({ merchantId: 'm_it', amount: 60_000n, rules: ['review_big_qr'] });

    const go = await adminCall<{ payment: Payment }>(admin, 'releaseHeldPayment', { paymentId: released!.paymentId });
    expect(go.payment).toMatchObject({ status: PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION, channelId: 'ali1', heldForReview: false });
    expect(await alipay(released!.paymentId)).toHaveLength(1);
    const no = await adminCall<{ payment: Payment }>(admin, 'rejectHeldPayment', { paymentId: rejected!.paymentId });
    expect(no.payment.status).toBe(PaymentStatus.PAYMENT_STATUS_CLOSED);
    const twice = await adminCall(admin, 'releaseHeldPayment', { paymentId: released!.paymentId }).then(() => undefined, (e: grpc.ServiceError) => decodeServiceError(e).reason);
    expect(twice).toBe('ILLEGAL_STATE');

    // Nobody acts on the third: its review deadline (3 s) closes it.
    await eventually(async () => ((await stack.client.getPayment({ paymentId: forgotten!.paymentId, merchantId: 'm_it' })).status === PaymentStatus.PAYMENT_STATUS_CLOSED ? true : undefined), 30_000, 'the held payment closes by itself');
    await eventually(async () => {
      const left = (await adminCall<ListHeldPaymentsResponse>(admin, 'listHeldPayments', {})).payments.map((p) => p.paymentId);
      return [released!.paymentId, rejected!.paymentId, forgotten!.paymentId].some((id) => left.includes(id)) ? undefined : true;
    }, 10_000, 'the decided and closed payments leave the list');
    await adminCall(admin, 'deleteRiskRule', { ruleId: 'review_big_qr' });
  } finally {
    admin.close();
  }
}, 90_000);

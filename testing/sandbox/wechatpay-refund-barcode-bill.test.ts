// Integration: the real WeChat Pay adapter's refunds, REFUND.* callbacks, payment codes
// (v2 micropay) and trade bill against the sandbox over HTTP.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannel, type Channel, type ParsedNotification, type PayRequest } from '../../channels/channel';
import '../../channels/wechatpay';
import { ensureDevKeys, sandboxWechatpayOptions, wechatpayChannelSettings, type DevKeys } from './keys';
import { startSandbox, type Sandbox } from './server';
import { call, chinaToday, rejection, startReceiver, waitFor, type Receiver } from './testkit';

/** A payment's or a refund's callback (not a profit-sharing one). */
type ProviderNotification = Exclude<ParsedNotification, { type: 'profit_sharing' }>;

let keys_dir: string;
let keys: DevKeys;
let sandbox: Sandbox;
let receiver: Receiver;
let wechat: Channel;
const channels: Channel[] = [];
let sequence = 0;

function channel(overrides: Record<string, string> = {}): Channel {
  const created = createChannel({
    channel_id: `wx_rb_${channels.length}`,
    provider: 'wechatpay',
    products: ['WECHAT_NATIVE', 'BARCODE'],
    settings: { ...wechatpayChannelSettings(keys, sandbox.url, 3_000), ...overrides },
  });
  channels.push(created);
  return created;
}

function payRequest(overrides: Partial<PayRequest> = {}): PayRequest {
  sequence += 1;
  const attempt_id = overrides.attempt_id ?? `W${process.pid}${Date.now().toString(36)}N${sequence}`;
  return {
    attempt_id, payment_id: `pay_${attempt_id}`, product: 'WECHAT_NATIVE', amount_minor: 1_000n, currency: 'CNY', subject: 'sandbox order',
    expires_at: new Date(Date.now() + 15 * 60_000), payer: {}, notify_url: `${receiver.url}/notify/wx_rb`, ...overrides,
  };
}

function ref(request: PayRequest) {
  return {
    attempt_id: request.attempt_id,
    payment_id: request.payment_id,
    product: request.product,
    amount_minor: request.amount_minor,
    currency: request.currency,
  };
}

const control = (method: string, path: string, body?: unknown) => call(sandbox.url, method, path, body);

function parsedFor(attempt_id: string): ProviderNotification[] {
  const out: ProviderNotification[] = [];
  for (const callback of receiver.received) {
    try {
      const parsed = wechat.parseNotification({ path_suffix: '', headers: callback.headers, body: callback.body });
      if (parsed.type !== 'profit_sharing' && parsed.attempt_id === attempt_id) out.push(parsed);
    } catch {
      // not verifiable: not ours
    }
  }
  return out;
}

async function paidOrder(amount_minor = 1_000n): Promise<{ request: PayRequest; transaction_id: string }> {
  const request = payRequest({ amount_minor });
  await wechat.pay(request);
  const paid = await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`);
  return { request, transaction_id: paid.json.transaction_id };
}

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-wx-rb-keys-'));
  keys = ensureDevKeys(keys_dir);
  receiver = await startReceiver(() => ({ status: 204, body: '' }));
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), callback_retry_delays_ms: [50, 100], refund_settle_ms: 20 });
  wechat = channel();
});

afterAll(async () => {
  await Promise.all(channels.map((c) => c.close_connections()));
  await sandbox.close();
  await receiver.close();
  rmSync(keys_dir, { recursive: true, force: true });
});

describe('wechatpay refunds - against the sandbox', () => {
  test('wechatpay refunds - partial then full: PROCESSING, REFUND.SUCCESS callbacks, query succeeded', async () => {
    const { request, transaction_id } = await paidOrder();
    const refund = (refund_id: string, amount_minor: bigint) => ({ refund_id, attempt: ref(request), channel_trade_no: transaction_id, amount_minor, reason: '商品已售完', notify_url: `${receiver.url}/notify/wx_rb/refund` });
    const first = refund(`${request.attempt_id}R1`, 400n);
    expect(await wechat.refund(first)).toEqual({ kind: 'pending', channel_refund_no: expect.stringMatching(/^50300/) });
    expect(await wechat.refund(first)).toMatchObject({ kind: expect.stringMatching(/pending|succeeded/) });
    expect(await rejection(wechat.refund({ ...first, amount_minor: 401n }))).toMatchObject({ kind: 'rejected', code: 'INVALID_REQUEST' });
    expect(await rejection(wechat.refund(refund(`${request.attempt_id}R2`, 601n)))).toMatchObject({ kind: 'rejected', code: 'INVALID_REQUEST' });
    await wechat.refund(refund(`${request.attempt_id}R2`, 600n));
    const callbacks = await waitFor('two REFUND.SUCCESS callbacks', () => {
      const found = parsedFor(request.attempt_id).filter((n) => n.type === 'refund');
      return found.length >= 2 ? found : undefined;
    });
    expect(callbacks).toEqual(expect.arrayContaining([
      { type: 'refund', refund_id: `${request.attempt_id}R1`, attempt_id: request.attempt_id, status: { kind: 'succeeded', channel_refund_no: expect.any(String), amount_minor: 400n, refunded_at: expect.any(Date) } },
      { type: 'refund', refund_id: `${request.attempt_id}R2`, attempt_id: request.attempt_id, status: expect.objectContaining({ kind: 'succeeded', amount_minor: 600n }) },
    ]));
    expect(await wechat.queryRefund({ refund_id: `${request.attempt_id}R1`, attempt: ref(request) })).toMatchObject({ kind: 'succeeded', amount_minor: 400n });
    expect(await wechat.queryRefund({ refund_id: `${request.attempt_id}R9`, attempt: ref(request) })).toEqual({ kind: 'not_found' });
    // A refunded order still reads as paid.
    expect(await wechat.query(ref(request))).toMatchObject({ kind: 'succeeded', amount_minor: 1_000n });
    const listed = await control('GET', `/sandbox/wechatpay/refunds?out_trade_no_prefix=${request.attempt_id}`);
    expect(listed.json.refunds.map((r: { status: string }) => r.status)).toEqual(['SUCCESS', 'SUCCESS']);
  });

  test('wechatpay refunds - ABNORMAL needs manual handling; CLOSED fails; NOT_ENOUGH is retryable', async () => {
    const abnormal = await paidOrder();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: abnormal.request.attempt_id }, refund_status: 'ABNORMAL', times: 1 });
    const refund = { refund_id: `${abnormal.request.attempt_id}R1`, attempt: ref(abnormal.request), amount_minor: 1_000n, reason: '', notify_url: `${receiver.url}/notify/wx_rb/refund` };
    await wechat.refund(refund);
    const [callback] = await waitFor('REFUND.ABNORMAL', () => {
      const found = parsedFor(abnormal.request.attempt_id).filter((n) => n.type === 'refund');
      return found.length > 0 ? found : undefined;
    });
    expect(callback!.status).toMatchObject({ kind: 'requires_manual', code: 'ABNORMAL' });
    expect(await wechat.queryRefund(refund)).toMatchObject({ kind: 'requires_manual' });

    const held = await paidOrder();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: held.request.attempt_id }, refund_status: 'PROCESSING', times: 1 });
    const closing = { refund_id: `${held.request.attempt_id}R1`, attempt: ref(held.request), amount_minor: 10n, reason: '', notify_url: `${receiver.url}/notify/wx_rb/refund` };
    await wechat.refund(closing);
    expect(await wechat.queryRefund(closing)).toMatchObject({ kind: 'pending' });
    expect((await control('POST', `/sandbox/wechatpay/refunds/${closing.refund_id}/settle`, { status: 'CLOSED' })).status).toBe(200);
    expect(await wechat.queryRefund(closing)).toMatchObject({ kind: 'failed', code: 'CLOSED', retryable: false });

    const poor = await paidOrder();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: poor.request.attempt_id }, operations: ['refund'], reject_before_create: { status: 403, code: 'NOT_ENOUGH', message: '基本账户余额不足' }, times: 1 });
    const retry = { refund_id: `${poor.request.attempt_id}R1`, attempt: ref(poor.request), amount_minor: 10n, reason: '', notify_url: `${receiver.url}/notify/wx_rb/refund` };
    expect(await wechat.refund(retry)).toMatchObject({ kind: 'failed', code: 'NOT_ENOUGH', retryable: true });
    expect(await wechat.refund(retry)).toMatchObject({ kind: 'pending' });
  });

  test('wechatpay refunds - refund of an unknown or unpaid order is refused', async () => {
    const unpaid = payRequest();
    await wechat.pay(unpaid);
    const refund = { refund_id: `${unpaid.attempt_id}R1`, attempt: ref(unpaid), amount_minor: 10n, reason: '', notify_url: `${receiver.url}/notify/wx_rb/refund` };
    expect(await rejection(wechat.refund(refund))).toMatchObject({ kind: 'rejected', code: 'INVALID_REQUEST' });
    expect(await rejection(wechat.refund({ ...refund, attempt: { ...ref(unpaid), attempt_id: 'NOSUCHORDER1' } }))).toMatchObject({ kind: 'rejected', code: 'RESOURCE_NOT_EXISTS' });
  });
});

describe('wechatpay callbacks - out of order', () => {
  test('wechatpay callbacks - a delayed payment callback arrives after the refund callback', async () => {
    const request = payRequest();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, delay_callbacks_ms: 400, times: 1 });
    await wechat.pay(request);
    await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`);
    await wechat.refund({ refund_id: `${request.attempt_id}R1`, attempt: ref(request), amount_minor: 1_000n, reason: '', notify_url: `${receiver.url}/notify/wx_rb/refund` });
    const order = await waitFor('refund then payment callback', () => {
      const found = parsedFor(request.attempt_id);
      return found.length >= 2 ? found.map((n) => n.type ?? 'payment') : undefined;
    });
    expect(order).toEqual(['refund', 'payment']);
  });
});

describe('wechatpay BARCODE - micropay against the sandbox', () => {
  test('wechatpay BARCODE - a WeChat payment code pays at once', async () => {
    const request = payRequest({ product: 'BARCODE', payer: { auth_code: '134567890123456789', client_ip: '10.0.0.8' } });
    expect(await wechat.pay(request)).toMatchObject({ kind: 'succeeded', amount_minor: 1_000n, channel_trade_no: expect.stringMatching(/^4200000/) });
    expect(await wechat.query(ref(request))).toMatchObject({ kind: 'succeeded' });
    // The same out_trade_no again: ORDERPAID, answered by query.
    expect(await wechat.pay(request)).toMatchObject({ kind: 'succeeded' });
    expect(await rejection(wechat.pay(payRequest({ product: 'BARCODE', payer: { auth_code: '286248811136627500' } })))).toMatchObject({ kind: 'rejected' });
  });

  test('wechatpay BARCODE - USERPAYING is pending, then query finds it paid', async () => {
    const request = payRequest({ product: 'BARCODE', payer: { auth_code: '134567890123456780' } });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, barcode_userpaying: true, times: 1 });
    expect(await wechat.pay(request)).toMatchObject({ kind: 'pending' });
    expect(await wechat.query(ref(request))).toMatchObject({ kind: 'pending' });
    expect((await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`)).json).toMatchObject({ trade_state: 'SUCCESS', callback: 'none' });
    expect(await wechat.query(ref(request))).toMatchObject({ kind: 'succeeded', amount_minor: 1_000n });
  });

  test('wechatpay BARCODE - business failure is failed; SYSTEMERROR ambiguous; a wrong v2 key rejected', async () => {
    const poor = payRequest({ product: 'BARCODE', payer: { auth_code: '134567890123456781' } });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: poor.attempt_id }, operations: ['barcode'], reject_before_create: { status: 400, code: 'NOTENOUGH', message: '余额不足' }, times: 1 });
    expect(await wechat.pay(poor)).toMatchObject({ kind: 'failed', code: 'NOTENOUGH' });
    const unknown = payRequest({ product: 'BARCODE', payer: { auth_code: '134567890123456782' } });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: unknown.attempt_id }, operations: ['barcode'], reject_before_create: { status: 500, code: 'SYSTEMERROR', message: '系统超时' }, times: 1 });
    expect(await rejection(wechat.pay(unknown))).toMatchObject({ kind: 'ambiguous', code: 'SYSTEMERROR' });
    const forger = channel({ api_v2_key: 'x'.repeat(32) });
    expect(await rejection(forger.pay(payRequest({ product: 'BARCODE', payer: { auth_code: '134567890123456783' } })))).toMatchObject({ kind: 'rejected', code: 'RETURN_FAIL' });
    expect(() => channel({ api_v2_key: '' })).toThrow(/settings\.api_v2_key is required for BARCODE/);
  });
});

describe('wechatpay trade bill - against the sandbox', () => {
  test('wechatpay trade bill - lists payments and refunds with fees; statement faults are visible', async () => {
    const paid = await paidOrder(2_000n);
    const missing = await paidOrder();
    const wrong = await paidOrder(500n);
    const shifted = await paidOrder();
    await wechat.refund({ refund_id: `${paid.request.attempt_id}R1`, attempt: ref(paid.request), amount_minor: 500n, reason: '', notify_url: `${receiver.url}/notify/wx_rb/refund` });
    await waitFor('the refund to settle', async () => ((await wechat.queryRefund({ refund_id: `${paid.request.attempt_id}R1`, attempt: ref(paid.request) })).kind === 'succeeded' ? true : undefined));
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: missing.request.attempt_id }, statement_missing: true });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: wrong.request.attempt_id }, statement_amount_delta_minor: 100 });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: shifted.request.attempt_id }, statement_next_day: true });
    await control('PUT', '/sandbox/faults', { scope: { provider: 'wechatpay' }, operations: ['statement'], statement_extra_rows: 2 });
    const rows = await wechat.downloadStatement(chinaToday());
    const by = (attempt_id: string) => rows.filter((row) => row.attempt_id === attempt_id);
    expect(by(paid.request.attempt_id)).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'payment', amount_minor: 2_000n, fee_minor: 12n, channel_trade_no: paid.transaction_id, currency: 'CNY' }),
      expect.objectContaining({ kind: 'refund', amount_minor: 500n, fee_minor: -3n, refund_id: `${paid.request.attempt_id}R1` }),
    ]));
    expect(by(missing.request.attempt_id)).toEqual([]);
    expect(by(wrong.request.attempt_id)).toEqual([expect.objectContaining({ amount_minor: 600n })]);
    expect(by(shifted.request.attempt_id)).toEqual([]);
    expect(rows.filter((row) => row.attempt_id.startsWith('SANDBOXEXTRA'))).toHaveLength(2);
    expect((await wechat.downloadStatement(chinaToday(1))).filter((row) => row.attempt_id === shifted.request.attempt_id)).toHaveLength(1);
    await control('DELETE', '/sandbox/faults');
  });

  test('wechatpay trade bill - payer paying twice shows two transactions for one out_trade_no', async () => {
    const request = payRequest();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, pay_twice: true, times: 1 });
    await wechat.pay(request);
    await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`);
    const callbacks = await waitFor('two payment callbacks', () => {
      const found = parsedFor(request.attempt_id);
      return found.length >= 2 ? found : undefined;
    });
    expect(new Set(callbacks.map((n) => n.type !== 'refund' && n.status.kind === 'succeeded' && n.status.channel_trade_no)).size).toBe(2);
    const rows = (await wechat.downloadStatement(chinaToday())).filter((row) => row.attempt_id === request.attempt_id);
    expect(rows).toHaveLength(2);
  });
});

// Integration: the real Alipay adapter against the sandbox's /gateway.do over HTTP, with a
// receiver standing in for paycore's callback port (it answers `success`).

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannel, type Channel, type ParsedNotification, type PayRequest } from '../../channels/channel';
import '../../channels/alipay';
import { alipayChannelSettings, ensureDevKeys, sandboxAlipayOptions, sandboxWechatpayOptions, type DevKeys } from './keys';
import { startSandbox, type Sandbox } from './server';
import { call, chinaToday, rejection, startReceiver, waitFor, type Receiver } from './testkit';

/** A payment's or a refund's callback (not a profit-sharing one). */
type ProviderNotification = Exclude<ParsedNotification, { type: 'profit_sharing' }>;

let keys_dir: string;
let keys: DevKeys;
let sandbox: Sandbox;
let receiver: Receiver;
let alipay: Channel;
const channels: Channel[] = [];
let sequence = 0;

function channel(overrides: Record<string, string> = {}, timeout_ms = 3_000): Channel {
  const created = createChannel({
    channel_id: `ali_test_${channels.length}`,
    provider: 'alipay',
    products: ['ALIPAY_QR', 'ALIPAY_APP', 'ALIPAY_WAP', 'ALIPAY_PC', 'BARCODE'],
    settings: { ...alipayChannelSettings(keys, sandbox.url, timeout_ms), ...overrides },
  });
  channels.push(created);
  return created;
}

function attemptId(): string {
  sequence += 1;
  return `A${process.pid}${Date.now().toString(36)}N${sequence}`;
}

function payRequest(overrides: Partial<PayRequest> = {}): PayRequest {
  const attempt_id = overrides.attempt_id ?? attemptId();
  return {
    attempt_id, payment_id: `pay_${attempt_id}`, product: 'ALIPAY_QR', amount_minor: 8_888n, currency: 'CNY',
    subject: 'Iphone6 16G', expires_at: new Date(Date.now() + 15 * 60_000), payer: {}, notify_url: `${receiver.url}/notify/ali_test`,
    ...overrides,
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

/** Every verified notification about this out_trade_no, in arrival order. */
function notificationsFor(attempt_id: string, using: Channel = alipay): ProviderNotification[] {
  const out: ProviderNotification[] = [];
  for (const callback of receiver.received) {
    try {
      const parsed = using.parseNotification({ path_suffix: '', headers: callback.headers, body: callback.body });
      if (parsed.type !== 'profit_sharing' && parsed.attempt_id === attempt_id) out.push(parsed);
    } catch {
      // not ours or not verifiable
    }
  }
  return out;
}

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-alipay-keys-'));
  keys = ensureDevKeys(keys_dir);
  receiver = await startReceiver(() => ({ status: 200, body: 'success' }));
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), alipay: sandboxAlipayOptions(keys), callback_retry_delays_ms: [50, 100] });
  alipay = channel();
});

afterAll(async () => {
  await Promise.all(channels.map((c) => c.close_connections()));
  await sandbox.close();
  await receiver.close();
  rmSync(keys_dir, { recursive: true, force: true });
});

describe('alipay - against the sandbox', () => {
  test('alipay - precreate gives a QR code; paying sends a verified notification; query says succeeded', async () => {
    const request = payRequest();
    const status = await alipay.pay(request);
    expect(status).toMatchObject({ kind: 'action_required', next_action: { type: 'QR_CODE', value: expect.stringMatching(/^https:\/\/qr\.alipay\.com\//) } });
    expect(await alipay.pay({ ...request })).toEqual(status);
    expect(await alipay.query(ref(request))).toEqual({ kind: 'pending', channel_trade_no: expect.any(String) });
    const paid = await control('POST', `/sandbox/alipay/orders/${request.attempt_id}/pay`, {});
    expect(paid).toMatchObject({ status: 200, json: { trade_status: 'TRADE_SUCCESS', callback: 'scheduled' } });
    const [notification] = await waitFor('a payment notification', () => {
      const found = notificationsFor(request.attempt_id);
      return found.length > 0 ? found : undefined;
    });
    expect(notification).toEqual({
      attempt_id: request.attempt_id,
      status: { kind: 'succeeded', channel_trade_no: paid.json.trade_no, amount_minor: 8_888n, paid_at: expect.any(Date) },
    });
    expect(await alipay.query(ref(request))).toMatchObject({ kind: 'succeeded', channel_trade_no: paid.json.trade_no, amount_minor: 8_888n });
    const log = await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${request.attempt_id}`);
    expect(log.json.callbacks).toEqual([expect.objectContaining({ provider: 'alipay', kind: 'payment', attempt: 1, status: 200, answer: 'success' })]);
    // A re-issued precreate for the paid trade reports the truth.
    expect(await alipay.pay(request)).toMatchObject({ kind: 'succeeded', amount_minor: 8_888n });
    expect(alipay.notificationAnswer(true)).toEqual({ status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'success' });
  });

  test('alipay - a tampered or foreign notification is refused', async () => {
    const request = payRequest();
    await alipay.pay(request);
    await control('POST', `/sandbox/alipay/orders/${request.attempt_id}/pay`);
    await waitFor('a notification', () => (notificationsFor(request.attempt_id).length > 0 ? true : undefined));
    const original = receiver.received.find((c) => c.body.toString().includes(request.attempt_id))!;
    const tampered = Buffer.from(original.body.toString().replace(/total_amount=88\.88/, 'total_amount=0.01'));
    expect(() => alipay.parseNotification({ path_suffix: '', headers: original.headers, body: tampered })).toThrow(expect.objectContaining({ kind: 'bad_signature', code: 'BAD_SIGNATURE' }));
    const other_app = channel({ app_id: '2021000000000000' });
    expect(() => other_app.parseNotification({ path_suffix: '', headers: original.headers, body: original.body })).toThrow(expect.objectContaining({ code: 'APP_ID_MISMATCH' }));
  });

  test('alipay - WAP and PC redirect to the signed gateway URL; the trade exists once the payer opens it', async () => {
    for (const product of ['ALIPAY_WAP', 'ALIPAY_PC'] as const) {
      const request = payRequest({ product });
      const status = await alipay.pay(request);
      expect(status).toMatchObject({ kind: 'action_required', next_action: { type: 'REDIRECT' } });
      const target = status.kind === 'action_required' ? status.next_action.value : '';
      expect(target.startsWith(`${sandbox.url}/gateway.do?`)).toBe(true);
      expect(await alipay.query(ref(request))).toEqual({ kind: 'not_found' });
      const page = await call(target, 'GET', '');
      expect(page.status).toBe(200);
      expect(page.text).toContain(request.attempt_id);
      expect(await alipay.query(ref(request))).toMatchObject({ kind: 'pending' });
      await control('POST', `/sandbox/alipay/orders/${request.attempt_id}/pay`);
      expect(await alipay.query(ref(request))).toMatchObject({ kind: 'succeeded', amount_minor: 8_888n });
    }
  });

  test('alipay - APP returns the signed order string the SDK takes', async () => {
    const request = payRequest({ product: 'ALIPAY_APP' });
    const status = await alipay.pay(request);
    expect(status).toMatchObject({ kind: 'action_required', next_action: { type: 'SDK_PARAMS' } });
    const order_string = status.kind === 'action_required' ? status.next_action.params!.orderStr! : '';
    expect(order_string).toContain('method=alipay.trade.app.pay');
    expect(order_string).toContain('sign=');
    // The payer's app submitting it to Alipay is modelled as GET /gateway.do?<orderStr>.
    expect((await call(sandbox.url, 'GET', `/gateway.do?${order_string}`)).status).toBe(200);
    expect(await alipay.query(ref(request))).toMatchObject({ kind: 'pending' });
  });

  test('alipay - close: open trade closed, paid trade already_paid, unknown trade closed', async () => {
    const open = payRequest();
    await alipay.pay(open);
    expect(await alipay.close(ref(open))).toEqual({ kind: 'closed' });
    expect(await alipay.query(ref(open))).toEqual({ kind: 'closed' });
    expect(await alipay.close(ref(open))).toEqual({ kind: 'closed' });
    expect((await control('POST', `/sandbox/alipay/orders/${open.attempt_id}/pay`)).status).toBe(409);
    expect(await alipay.pay(open)).toEqual({ kind: 'closed' });

    const paid = payRequest();
    await alipay.pay(paid);
    await control('POST', `/sandbox/alipay/orders/${paid.attempt_id}/pay`);
    expect(await alipay.close(ref(paid))).toEqual({ kind: 'already_paid' });

    const never_opened = payRequest({ product: 'ALIPAY_WAP' });
    await alipay.pay(never_opened);
    expect(await alipay.close(ref(never_opened))).toEqual({ kind: 'closed' });
  });

  test('alipay - success after close when the fault allows it', async () => {
    const request = payRequest();
    await alipay.pay(request);
    await alipay.close(ref(request));
    await control('PUT', '/sandbox/faults', { scope: { provider: 'alipay', out_trade_no: request.attempt_id }, success_after_close: true, times: 1 });
    expect((await control('POST', `/sandbox/alipay/orders/${request.attempt_id}/pay`)).json.trade_status).toBe('TRADE_SUCCESS');
    expect(await alipay.query(ref(request))).toMatchObject({ kind: 'succeeded' });
  });

  test('alipay - refunds: partial then the rest, idempotent, notifications and refund query', async () => {
    const request = payRequest({ amount_minor: 1_000n });
    await alipay.pay(request);
    const paid = await control('POST', `/sandbox/alipay/orders/${request.attempt_id}/pay`);
    const refund = (refund_id: string, amount_minor: bigint) => ({
      refund_id, attempt: ref(request), channel_trade_no: paid.json.trade_no, amount_minor, reason: '退货', notify_url: request.notify_url,
    });
    const first = refund(`${request.attempt_id}R1`, 300n);
    expect(await alipay.refund(first)).toEqual({ kind: 'succeeded', channel_refund_no: paid.json.trade_no, amount_minor: 300n, refunded_at: expect.any(Date) });
    // The same refund again moves nothing (fund_change N) and is settled by the refund query.
    expect(await alipay.refund(first)).toMatchObject({ kind: 'succeeded', amount_minor: 300n });
    expect(await alipay.refund({ ...first, amount_minor: 301n })).toMatchObject({ kind: 'failed', code: 'ACQ.DISCORDANT_REPEAT_REQUEST', retryable: false });
    expect(await alipay.refund(refund(`${request.attempt_id}R2`, 800n))).toMatchObject({ kind: 'failed', code: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL' });
    expect(await alipay.refund(refund(`${request.attempt_id}R2`, 700n))).toMatchObject({ kind: 'succeeded', amount_minor: 700n });
    expect(await alipay.queryRefund({ refund_id: `${request.attempt_id}R2`, attempt: ref(request) })).toMatchObject({ kind: 'succeeded', amount_minor: 700n });
    expect(await alipay.queryRefund({ refund_id: `${request.attempt_id}R9`, attempt: ref(request) })).toEqual({ kind: 'not_found' });
    const refunds = await waitFor('two refund notifications', () => {
      const found = notificationsFor(request.attempt_id).filter((n) => n.type === 'refund');
      return found.length >= 2 ? found : undefined;
    });
    expect(refunds.map((n) => n.type === 'refund' && n.refund_id).sort()).toEqual([`${request.attempt_id}R1`, `${request.attempt_id}R2`]);
    expect(refunds[0]).toMatchObject({ type: 'refund', status: { kind: 'pending' } });
    const listed = await control('GET', `/sandbox/alipay/refunds?out_trade_no_prefix=${request.attempt_id}`);
    expect(listed.json.refunds).toHaveLength(2);
    // Fully refunded: Alipay reports the trade as TRADE_CLOSED.
    expect((await control('GET', `/sandbox/alipay/orders?out_trade_no_prefix=${request.attempt_id}`)).json.orders[0].trade_status).toBe('TRADE_CLOSED');
  });

  test('alipay - retryable refund refusal (balance not enough) is failed retryable', async () => {
    const request = payRequest();
    await alipay.pay(request);
    await control('POST', `/sandbox/alipay/orders/${request.attempt_id}/pay`);
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, operations: ['refund'], reject_before_create: { status: 400, code: 'ACQ.SELLER_BALANCE_NOT_ENOUGH', message: '卖家余额不足' }, times: 1 });
    const refund = { refund_id: `${request.attempt_id}R1`, attempt: ref(request), amount_minor: 100n, reason: '', notify_url: request.notify_url };
    expect(await alipay.refund(refund)).toMatchObject({ kind: 'failed', code: 'ACQ.SELLER_BALANCE_NOT_ENOUGH', retryable: true });
    expect(await alipay.refund(refund)).toMatchObject({ kind: 'succeeded', amount_minor: 100n });
  });

  test('alipay - BARCODE pays at once with an Alipay payment code', async () => {
    const request = payRequest({ product: 'BARCODE', payer: { auth_code: '286248811136627500' } });
    expect(await alipay.pay(request)).toMatchObject({ kind: 'succeeded', amount_minor: 8_888n, channel_trade_no: expect.any(String) });
    expect(await alipay.query(ref(request))).toMatchObject({ kind: 'succeeded' });
    expect(await rejection(alipay.pay(payRequest({ product: 'BARCODE', payer: { auth_code: '134567890123456789' } })))).toMatchObject({ kind: 'rejected' });
  });

  test('alipay - BARCODE waiting for the payer is pending, then query finds it paid', async () => {
    const request = payRequest({ product: 'BARCODE', payer: { auth_code: '286248811136627501' } });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, barcode_userpaying: true, times: 1 });
    expect(await alipay.pay(request)).toMatchObject({ kind: 'pending', channel_trade_no: expect.any(String) });
    expect(await alipay.query(ref(request))).toMatchObject({ kind: 'pending' });
    await control('POST', `/sandbox/alipay/orders/${request.attempt_id}/pay`);
    expect(await alipay.query(ref(request))).toMatchObject({ kind: 'succeeded', amount_minor: 8_888n });
  });

  test('alipay - BARCODE business failure is failed with the sub_code', async () => {
    const request = payRequest({ product: 'BARCODE', payer: { auth_code: '286248811136627502' } });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, operations: ['barcode'], reject_before_create: { status: 400, code: 'ACQ.BUYER_BALANCE_NOT_ENOUGH', message: '买家余额不足' } });
    expect(await alipay.pay(request)).toMatchObject({ kind: 'failed', code: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' });
  });

  test('alipay - 5xx and timeouts are ambiguous; a forged request is rejected; a distrusted answer ambiguous', async () => {
    const failing = payRequest();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: failing.attempt_id }, fail_status: 502, times: 1 });
    expect(await rejection(alipay.pay(failing))).toMatchObject({ kind: 'ambiguous', code: 'HTTP_502' });
    const slow = payRequest();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: slow.attempt_id }, latency_ms: 1_000, times: 1 });
    expect(await rejection(channel({}, 200).pay(slow))).toMatchObject({ kind: 'ambiguous', code: 'TIMEOUT' });
    expect(await alipay.query(ref(slow))).toMatchObject({ kind: 'pending' });
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    expect(await rejection(channel({ app_private_key_pem: pair.privateKey }).pay(payRequest()))).toMatchObject({ kind: 'rejected', code: 'isv.invalid-signature' });
    expect(await rejection(channel({ alipay_public_key_pem: pair.publicKey }).pay(payRequest()))).toMatchObject({ kind: 'ambiguous', code: 'BAD_RESPONSE_SIGNATURE' });
  });

  test('alipay - settings are validated naming the key', () => {
    const base = alipayChannelSettings(keys, sandbox.url);
    const make = (settings: Record<string, string>) => () => createChannel({ channel_id: 'ali_bad', provider: 'alipay', products: ['ALIPAY_QR'], settings });
    const { app_id: _app_id, ...without } = base;
    expect(make(without)).toThrow('settings.app_id is required');
    expect(make({ ...base, app_private_key_pem: 'secret-not-a-key' })).toThrow(/settings\.app_private_key_pem is not a valid PEM key/);
    expect(make({ ...base, seller_id: '1234' })).toThrow(/settings\.seller_id/);
    expect(make({ ...base, gateway_url: 'nope' })).toThrow(/settings\.gateway_url/);
  });
});

describe('alipay - callback faults and statements', () => {
  test('alipay - a notification not answered `success` is retried; duplicates and drops on request', async () => {
    const retried = payRequest({ notify_url: `${receiver.url}/notify/ali_retry` });
    let refused = 0;
    receiver.answer = (callback) => (callback.path.endsWith('ali_retry') && refused++ === 0 ? { status: 200, body: 'fail' } : { status: 200, body: 'success' });
    await alipay.pay(retried);
    await control('POST', `/sandbox/alipay/orders/${retried.attempt_id}/pay`);
    const attempts = await waitFor('a retried notification', async () => {
      const { json } = await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${retried.attempt_id}`);
      return json.callbacks.length >= 2 ? json.callbacks : undefined;
    });
    expect(attempts.map((c: { attempt: number; answer: string }) => [c.attempt, c.answer])).toEqual([[1, 'fail'], [2, 'success']]);
    receiver.answer = () => ({ status: 200, body: 'success' });

    const dropped = payRequest();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: dropped.attempt_id }, drop_callbacks: true });
    await alipay.pay(dropped);
    expect((await control('POST', `/sandbox/alipay/orders/${dropped.attempt_id}/pay`)).json.callback).toBe('dropped');
    expect(await alipay.query(ref(dropped))).toMatchObject({ kind: 'succeeded' });
  });

  test('alipay - payer pays twice: a second trade_no is notified and billed', async () => {
    const request = payRequest();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, pay_twice: true, times: 1 });
    await alipay.pay(request);
    await control('POST', `/sandbox/alipay/orders/${request.attempt_id}/pay`);
    const found = await waitFor('two payment notifications', () => {
      const list = notificationsFor(request.attempt_id);
      return list.length >= 2 ? list : undefined;
    });
    const trade_nos = new Set(found.map((n) => n.type !== 'refund' && n.status.kind === 'succeeded' ? n.status.channel_trade_no : ''));
    expect(trade_nos.size).toBe(2);
    const rows = (await alipay.downloadStatement(chinaToday())).filter((row) => row.attempt_id === request.attempt_id);
    expect(rows).toHaveLength(2);
  });

  test('alipay - the 业务明细 bill lists payments and refunds, and shows statement faults', async () => {
    const prefix = `S${attemptId()}`;
    const paid = payRequest({ attempt_id: `${prefix}P`, amount_minor: 1_234n });
    const missing = payRequest({ attempt_id: `${prefix}M` });
    const wrong = payRequest({ attempt_id: `${prefix}W`, amount_minor: 500n });
    const shifted = payRequest({ attempt_id: `${prefix}N` });
    for (const request of [paid, missing, wrong, shifted]) {
      await alipay.pay(request);
      await control('POST', `/sandbox/alipay/orders/${request.attempt_id}/pay`);
    }
    await alipay.refund({ refund_id: `${prefix}R1`, attempt: ref(paid), amount_minor: 234n, reason: '', notify_url: paid.notify_url });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: missing.attempt_id }, statement_missing: true });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: wrong.attempt_id }, statement_amount_delta_minor: -1 });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: shifted.attempt_id }, statement_next_day: true });
    await control('PUT', '/sandbox/faults', { scope: { provider: 'alipay' }, operations: ['statement'], statement_extra_rows: 1 });
    const today = await alipay.downloadStatement(chinaToday());
    const ours = today.filter((row) => row.attempt_id.startsWith(prefix));
    expect(ours.map((row) => [row.attempt_id, row.kind, row.amount_minor])).toEqual(expect.arrayContaining([
      [paid.attempt_id, 'payment', 1_234n], [paid.attempt_id, 'refund', 234n], [wrong.attempt_id, 'payment', 499n],
    ]));
    expect(ours).toHaveLength(3);
    const refund_row = ours.find((row) => row.kind === 'refund')!;
    expect(refund_row).toMatchObject({ refund_id: `${prefix}R1`, currency: 'CNY', fee_minor: -1n });
    expect(ours.find((row) => row.kind === 'payment' && row.attempt_id === paid.attempt_id)).toMatchObject({ fee_minor: 7n, channel_trade_no: expect.stringMatching(/^\d{28}$/) });
    expect(today.some((row) => row.attempt_id.startsWith('SANDBOXEXTRA'))).toBe(true);
    const tomorrow = await alipay.downloadStatement(chinaToday(1));
    expect(tomorrow.filter((row) => row.attempt_id === shifted.attempt_id)).toHaveLength(1);
    await control('DELETE', '/sandbox/faults');
  });
});

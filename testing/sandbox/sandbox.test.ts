// Integration: the real sandbox PSP on an ephemeral port, driven over HTTP by the real
// WeChat Pay adapter, with a tiny HTTP server standing in for paycore's callback endpoint.

import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ChannelError, createChannel, type Channel, type PayRequest } from '../../channels/channel';
import '../../channels/wechatpay';
import { ensureDevKeys, sandboxWechatpayOptions, wechatpayChannelSettings, type DevKeys } from './keys';
import { startSandbox, type Sandbox } from './server';

/** Every wait in this file ends by this bound. */
const wait_ms_max = 5_000;

interface ReceivedCallback {
  headers: Record<string, string>;
  body: Buffer;
}

let keys_dir: string;
let keys: DevKeys;
let sandbox: Sandbox;
let receiver: Server;
let notify_url: string;
const received: ReceivedCallback[] = [];
/** out_trade_no substrings whose first callback the receiver answers with 500. */
const fail_first_for = new Set<string>();
const channels: Channel[] = [];
let wechat: Channel;
let sequence = 0;

function channel(overrides: Record<string, string> = {}, timeout_ms = 3_000): Channel {
  const created = createChannel({
    channel_id: `wx_test_${channels.length}`,
    provider: 'wechatpay',
    products: ['WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5'],
    settings: { ...wechatpayChannelSettings(keys, sandbox.url, timeout_ms), ...overrides },
  });
  channels.push(created);
  return created;
}

function attemptId(): string {
  sequence += 1;
  return `T${process.pid}${Date.now().toString(36)}N${sequence}`;
}

function payRequest(attempt_id: string, overrides: Partial<PayRequest> = {}): PayRequest {
  return {
    attempt_id,
    payment_id: `pay_${attempt_id}`,
    product: 'WECHAT_NATIVE',
    amount_minor: 123n,
    currency: 'CNY',
    subject: 'sandbox test order',
    expires_at: new Date(Date.now() + 15 * 60_000),
    payer: {},
    notify_url,
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

async function control(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const text = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${sandbox.url}${path}`, { method, agent: false, timeout: wait_ms_max, headers: { 'content-type': 'application/json' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
    });
    request.on('timeout', () => request.destroy(new Error('control call timed out')));
    request.on('error', reject);
    request.end(text);
  });
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + wait_ms_max;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${wait_ms_max} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function callbackFor(attempt_id: string, channel_used: Channel): Promise<ReceivedCallback> {
  return waitFor(`callback for ${attempt_id}`, () => received.find((callback) => {
    try {
      const parsed = channel_used.parseNotification({ path_suffix: '', headers: callback.headers, body: callback.body });
      return parsed.type !== 'profit_sharing' && parsed.attempt_id === attempt_id;
    } catch {
      return false;
    }
  }));
}

async function rejection(promise: Promise<unknown>): Promise<ChannelError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ChannelError) return error;
    throw error;
  }
  throw new Error('expected a ChannelError');
}

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-sandbox-keys-'));
  keys = ensureDevKeys(keys_dir);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ headers: flatten(req.headers), body });
      const failing = [...fail_first_for].find((id) => body.length > 0 && received.filter((r) => r.body.equals(body)).length === 1 && req.url?.includes(id));
      res.writeHead(failing !== undefined ? 500 : 204);
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  notify_url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify/wx_test`;
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), callback_retry_delays_ms: [50, 100] });
  wechat = channel();
});

afterAll(async () => {
  await Promise.all(channels.map((c) => c.close_connections()));
  await sandbox.close();
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  rmSync(keys_dir, { recursive: true, force: true });
});

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

describe('sandbox - keys and control API', () => {
  test('sandbox - ensureDevKeys creates private files once and reuses them', () => {
    expect(keys.wechatpay.apiv3_key).toHaveLength(32);
    expect(keys.wechatpay.platform_public_key_id).toMatch(/^PUB_KEY_ID_/);
    expect(statSync(join(keys_dir, 'wechatpay_merchant_private.pem')).mode & 0o777).toBe(0o600);
    expect(ensureDevKeys(keys_dir)).toEqual(keys);
  });

  test('sandbox - health answers ok', async () => {
    expect(await control('GET', '/sandbox/health')).toEqual({ status: 200, json: { ok: true } });
  });
});

describe('wechatpay - against the sandbox', () => {
  test('wechatpay - native create returns a QR code and one provider order', async () => {
    const request = payRequest(attemptId());
    const status = await wechat.pay(request);
    expect(status).toMatchObject({ kind: 'action_required', next_action: { type: 'QR_CODE' } });
    expect(status.kind === 'action_required' && status.next_action.value).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
    const { json } = await control('GET', `/sandbox/wechatpay/orders?out_trade_no_prefix=${request.attempt_id}`);
    expect(json.orders).toEqual([expect.objectContaining({ out_trade_no: request.attempt_id, trade_state: 'NOTPAY', amount_total: 123, create_requests: 1 })]);
    expect(json.orders[0].transaction_id).toMatch(/^4200000\d{21}$/);
  });

  test('wechatpay - identical duplicate create returns the same code_url without a second order', async () => {
    const request = payRequest(attemptId());
    const first = await wechat.pay(request);
    const second = await wechat.pay({ ...request });
    expect(second).toEqual(first);
    const { json } = await control('GET', `/sandbox/wechatpay/orders?out_trade_no_prefix=${request.attempt_id}`);
    expect(json.orders).toHaveLength(1);
    expect(json.orders[0].create_requests).toBe(2);
  });

  test('wechatpay - same out_trade_no with different parameters is rejected', async () => {
    const request = payRequest(attemptId());
    await wechat.pay(request);
    const error = await rejection(wechat.pay({ ...request, amount_minor: 124n }));
    expect(error).toMatchObject({ kind: 'rejected', code: 'INVALID_REQUEST' });
    expect(error.message).toContain('201');
  });

  test('wechatpay - JSAPI, APP and H5 creates return SDK params and a redirect', async () => {
    const jsapi = await wechat.pay(payRequest(attemptId(), { product: 'WECHAT_JSAPI', payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' } }));
    expect(jsapi.kind === 'action_required' && jsapi.next_action.params).toMatchObject({ appId: keys.wechatpay.appid, signType: 'RSA', package: expect.stringMatching(/^prepay_id=wx/) });
    const app = await wechat.pay(payRequest(attemptId(), { product: 'WECHAT_APP' }));
    expect(app.kind === 'action_required' && app.next_action.params).toMatchObject({ partnerid: keys.wechatpay.mchid, package: 'Sign=WXPay' });
    const h5 = await wechat.pay(payRequest(attemptId(), { product: 'WECHAT_H5', payer: { client_ip: '127.0.0.1' } }));
    expect(h5).toMatchObject({ kind: 'action_required', next_action: { type: 'REDIRECT', value: expect.stringMatching(/^https:\/\/wx\.tenpay\.com\//) } });
  });

  test('wechatpay - pay via control API sends a callback the adapter verifies and decrypts', async () => {
    const request = payRequest(attemptId(), { amount_minor: 4_321n });
    await wechat.pay(request);
    expect(await wechat.query(ref(request))).toEqual({ kind: 'pending' });
    const paid = await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`, {});
    expect(paid).toMatchObject({ status: 200, json: { out_trade_no: request.attempt_id, trade_state: 'SUCCESS' } });
    const callback = await callbackFor(request.attempt_id, wechat);
    const parsed = wechat.parseNotification({ path_suffix: '', headers: callback.headers, body: callback.body });
    expect(parsed).toEqual({
      attempt_id: request.attempt_id,
      status: { kind: 'succeeded', channel_trade_no: paid.json.transaction_id, amount_minor: 4_321n, paid_at: expect.any(Date) },
    });
    expect(await wechat.query(ref(request))).toMatchObject({ kind: 'succeeded', channel_trade_no: paid.json.transaction_id, amount_minor: 4_321n });
    const log = await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${request.attempt_id}`);
    expect(log.json.callbacks).toEqual([expect.objectContaining({ attempt: 1, status: 204, notify_url })]);
    // A re-issued create for the paid order tells the truth instead of "rejected".
    expect(await wechat.pay(request)).toMatchObject({ kind: 'succeeded', amount_minor: 4_321n });
  });

  test('wechatpay - verifies callback signature and refuses a tampered callback', async () => {
    const request = payRequest(attemptId());
    await wechat.pay(request);
    await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`);
    const callback = await callbackFor(request.attempt_id, wechat);
    const tampered = Buffer.from(callback.body.toString('utf8').replace('TRANSACTION.SUCCESS', 'TRANSACTION.SUCCESS '));
    expect(() => wechat.parseNotification({ path_suffix: '', headers: callback.headers, body: tampered }))
      .toThrow(expect.objectContaining({ kind: 'bad_signature', code: 'BAD_SIGNATURE' }));
    expect(() => wechat.parseNotification({ path_suffix: '', headers: { ...callback.headers, 'wechatpay-serial': 'PUB_KEY_ID_OTHER' }, body: callback.body }))
      .toThrow(expect.objectContaining({ kind: 'bad_signature', code: 'SERIAL_MISMATCH' }));
    expect(() => wechat.parseNotification({ path_suffix: '', headers: {}, body: callback.body }))
      .toThrow(expect.objectContaining({ kind: 'bad_signature' }));
    expect(wechat.notificationAnswer(true)).toEqual({ status: 204, headers: {}, body: '' });
  });

  test('wechatpay - close then query returns closed; a closed order cannot be paid', async () => {
    const request = payRequest(attemptId());
    await wechat.pay(request);
    expect(await wechat.close(ref(request))).toEqual({ kind: 'closed' });
    expect(await wechat.close(ref(request))).toEqual({ kind: 'closed' });
    expect(await wechat.query(ref(request))).toEqual({ kind: 'closed' });
    expect((await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`)).status).toBe(409);
    expect(await wechat.pay(request)).toEqual({ kind: 'closed' });
  });

  test('wechatpay - close after pay is already_paid', async () => {
    const request = payRequest(attemptId());
    await wechat.pay(request);
    await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`);
    expect(await wechat.close(ref(request))).toEqual({ kind: 'already_paid' });
  });

  test('wechatpay - unknown order is not_found; closing it blocks a late create', async () => {
    const request = payRequest(attemptId());
    expect(await wechat.query(ref(request))).toEqual({ kind: 'not_found' });
    expect(await wechat.close(ref(request))).toEqual({ kind: 'closed' });
    expect(await wechat.pay(request)).toEqual({ kind: 'closed' });
  });

  test('wechatpay - latency after create times out as ambiguous yet the order exists', async () => {
    const request = payRequest(attemptId());
    const fault = await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, operations: ['create'], latency_ms: 1_500, times: 1 });
    expect(fault.json.fault_id).toEqual(expect.any(String));
    const impatient = channel({}, 200);
    expect(await rejection(impatient.pay(request))).toMatchObject({ kind: 'ambiguous', code: 'TIMEOUT' });
    const { json } = await control('GET', `/sandbox/wechatpay/orders?out_trade_no_prefix=${request.attempt_id}`);
    expect(json.orders).toHaveLength(1);
    expect(await wechat.query(ref(request))).toEqual({ kind: 'pending' });
    // Re-issuing the same create after the crash gets the same order back.
    expect(await wechat.pay(request)).toMatchObject({ kind: 'action_required' });
  });

  test('wechatpay - injected 5xx is ambiguous and creates nothing; injected refusal is rejected', async () => {
    const failing = payRequest(attemptId());
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: failing.attempt_id }, fail_status: 503, times: 1 });
    expect(await rejection(wechat.pay(failing))).toMatchObject({ kind: 'ambiguous', code: 'SYSTEM_ERROR' });
    expect((await control('GET', `/sandbox/wechatpay/orders?out_trade_no_prefix=${failing.attempt_id}`)).json.orders).toHaveLength(0);
    const refused = payRequest(attemptId());
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: refused.attempt_id }, reject_before_create: { status: 403, code: 'NOAUTH', message: '商户无权限' } });
    expect(await rejection(wechat.pay(refused))).toMatchObject({ kind: 'rejected', code: 'NOAUTH' });
  });

  test('wechatpay - a bad request signature is refused with SIGN_ERROR', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const forger = channel({ merchant_private_key_pem: privateKey });
    expect(await rejection(forger.pay(payRequest(attemptId())))).toMatchObject({ kind: 'rejected', code: 'SIGN_ERROR' });
  });

  test('wechatpay - an answer that fails verification is ambiguous', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const distrustful = channel({ platform_public_key_pem: publicKey });
    const request = payRequest(attemptId());
    expect(await rejection(distrustful.pay(request))).toMatchObject({ kind: 'ambiguous', code: 'BAD_RESPONSE_SIGNATURE' });
    expect((await control('GET', `/sandbox/wechatpay/orders?out_trade_no_prefix=${request.attempt_id}`)).json.orders).toHaveLength(1);
  });

  test('wechatpay - connection refused is not_sent', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const nowhere = channel({ base_url: `http://127.0.0.1:${port}` });
    expect(await rejection(nowhere.pay(payRequest(attemptId())))).toMatchObject({ kind: 'not_sent', code: 'ECONNREFUSED' });
  });

  test('wechatpay - a statement date that is not YYYY-MM-DD is refused before any call', async () => {
    expect(await rejection(wechat.downloadStatement('2024-02-30'))).toMatchObject({ kind: 'rejected' });
  });

  test('wechatpay - constructor names a missing or bad setting without its value', () => {
    const base = wechatpayChannelSettings(keys, sandbox.url);
    const make = (settings: Record<string, string>) => () => createChannel({ channel_id: 'wx_bad', provider: 'wechatpay', products: ['WECHAT_NATIVE'], settings });
    const { mchid: _mchid, ...without_mchid } = base;
    expect(make(without_mchid)).toThrow('settings.mchid is required');
    expect(make({ ...base, apiv3_key: 'short' })).toThrow(/settings\.apiv3_key must be exactly 32 bytes/);
    expect(make({ ...base, merchant_private_key_pem: 'not a key' })).toThrow(/settings\.merchant_private_key_pem is not a valid PEM key/);
    expect(make({ ...base, timeout_ms: 'soon' })).toThrow(/settings\.timeout_ms/);
    try {
      make({ ...base, apiv3_key: 'short-secret-value' })();
    } catch (error) {
      expect(String(error)).not.toContain('short-secret-value');
    }
  });
});

describe('sandbox - callback faults', () => {
  test('sandbox - retries a callback answered with 500', async () => {
    const request = payRequest(attemptId(), { notify_url: `${notify_url}/retry` });
    fail_first_for.add('/retry');
    await wechat.pay(request);
    await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`);
    const callbacks = await waitFor('a retried callback', async () => {
      const { json } = await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${request.attempt_id}`);
      return json.callbacks.length >= 2 ? json.callbacks : undefined;
    });
    expect(callbacks.map((c: { attempt: number; status: number }) => [c.attempt, c.status])).toEqual([[1, 500], [2, 204]]);
    fail_first_for.delete('/retry');
  });

  test('sandbox - drops and duplicates callbacks on request', async () => {
    const dropped = payRequest(attemptId());
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: dropped.attempt_id }, drop_callbacks: true });
    await wechat.pay(dropped);
    expect((await control('POST', `/sandbox/wechatpay/orders/${dropped.attempt_id}/pay`)).json.callback).toBe('dropped');

    const duplicated = payRequest(attemptId());
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: duplicated.attempt_id }, duplicate_callbacks: 2 });
    await wechat.pay(duplicated);
    await control('POST', `/sandbox/wechatpay/orders/${duplicated.attempt_id}/pay`);
    const callbacks = await waitFor('three callbacks', async () => {
      const { json } = await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${duplicated.attempt_id}`);
      return json.callbacks.length >= 3 ? json.callbacks : undefined;
    });
    expect(new Set(callbacks.map((c: { event_id: string }) => c.event_id)).size).toBe(1);
    expect((await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${dropped.attempt_id}`)).json.callbacks).toEqual([]);
  });

  test('sandbox - success after close when the fault allows it', async () => {
    const request = payRequest(attemptId());
    await wechat.pay(request);
    expect(await wechat.close(ref(request))).toEqual({ kind: 'closed' });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, success_after_close: true, times: 1 });
    expect((await control('POST', `/sandbox/wechatpay/orders/${request.attempt_id}/pay`)).json.trade_state).toBe('SUCCESS');
    expect(await wechat.query(ref(request))).toMatchObject({ kind: 'succeeded', amount_minor: 123n });
  });

  test('sandbox - faults can be cleared and the sandbox reset', async () => {
    expect((await control('PUT', '/sandbox/faults', { latency_ms: -1 })).status).toBe(400);
    expect((await control('DELETE', '/sandbox/faults')).status).toBe(200);
    expect((await control('GET', '/sandbox/faults')).json.faults).toEqual([]);
    expect((await control('POST', '/sandbox/reset')).status).toBe(200);
    expect((await control('GET', '/sandbox/wechatpay/orders')).json.orders).toEqual([]);
  });
});

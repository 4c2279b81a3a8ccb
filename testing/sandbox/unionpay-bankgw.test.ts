// Integration: the real UnionPay and bank gateway adapters against the sandbox over HTTP, with
// a receiver standing in for paycore's callback port (200 `ok` for UnionPay, `SUCCESS` for
// the bank gateway).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannel, type Channel, type ConfirmRequest, type ParsedNotification, type PayRequest } from '../../channels/channel';
import '../../channels/unionpay';
import '../../channels/bankgw';
import {
  bankgwChannelSettings, ensureDevKeys, sandboxBankgwOptions, sandboxUnionpayOptions, sandboxWechatpayOptions, unionpayChannelSettings, type DevKeys,
} from './keys';
import { startSandbox, type Sandbox } from './server';
import { call, chinaToday, rejection, startReceiver, waitFor, type Receiver } from './testkit';

/** A payment's or a refund's callback (not a profit-sharing one). */
type ProviderNotification = Exclude<ParsedNotification, { type: 'profit_sharing' }>;

let keys_dir: string;
let keys: DevKeys;
let sandbox: Sandbox;
let receiver: Receiver;
let unionpay: Channel;
let bankgw: Channel;
const channels: Channel[] = [];
let sequence = 0;

function attemptId(): string {
  sequence += 1;
  return `p${process.pid}${Date.now().toString(36)}a${sequence}`;
}

function payRequest(product: PayRequest['product'], overrides: Partial<PayRequest> = {}): PayRequest {
  const attempt_id = overrides.attempt_id ?? attemptId();
  return {
    attempt_id, payment_id: `pay${attempt_id}`, product, amount_minor: 8_888n, currency: 'CNY', subject: 'sandbox order',
    expires_at: new Date(Date.now() + 15 * 60_000), payer: product === 'UNIONPAY_QUICK' ? { card_token: '6235000000000000001' } : { bank_code: 'ICBC' },
    notify_url: `${receiver.url}/notify/${product === 'UNIONPAY_QUICK' ? 'up' : 'bank'}`, requested_at: new Date(), ...overrides,
  };
}

function ref(request: PayRequest) {
  return {
    attempt_id: request.attempt_id, payment_id: request.payment_id, product: request.product, amount_minor: request.amount_minor, currency: request.currency,
    requested_at: request.requested_at,
  };
}

function confirmOf(request: PayRequest, verification_code: string): ConfirmRequest {
  return {
    attempt: ref(request),
    verification_code,
    payer: request.payer,
    amount_minor: request.amount_minor,
    notify_url: request.notify_url,
    expires_at: request.expires_at,
  };
}

const control = (method: string, path: string, body?: unknown) => call(sandbox.url, method, path, body);

function notificationsFor(attempt_id: string, using: Channel): ProviderNotification[] {
  const out: ProviderNotification[] = [];
  for (const callback of receiver.received) {
    try {
      const parsed = using.parseNotification({ path_suffix: '', headers: callback.headers, body: callback.body });
      if (parsed.type !== 'profit_sharing' && parsed.attempt_id === attempt_id) out.push(parsed);
    } catch {
      // another provider's, or not verifiable
    }
  }
  return out;
}

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-up-bank-keys-'));
  keys = ensureDevKeys(keys_dir);
  receiver = await startReceiver((callback) => ({ status: 200, body: callback.path.endsWith('/bank') ? 'SUCCESS' : 'ok' }));
  sandbox = await startSandbox({
    port: 0, wechatpay: sandboxWechatpayOptions(keys), unionpay: sandboxUnionpayOptions(keys), bankgw: sandboxBankgwOptions(keys),
    callback_retry_delays_ms: [50, 100],
  });
  unionpay = createChannel({ channel_id: 'up_test', provider: 'unionpay', products: ['UNIONPAY_QUICK'], settings: unionpayChannelSettings(keys, sandbox.url, 3_000) });
  bankgw = createChannel({ channel_id: 'bank_test', provider: 'bankgw', products: ['BANK_B2C', 'BANK_B2B'], settings: bankgwChannelSettings(keys, sandbox.url, 3_000) });
  channels.push(unionpay, bankgw);
});

afterAll(async () => {
  await Promise.all(channels.map((c) => c.close_connections()));
  await sandbox.close();
  await receiver.close();
  rmSync(keys_dir, { recursive: true, force: true });
});

describe('unionpay - against the sandbox', () => {
  test('unionpay - pay texts a code (SMS_CODE), confirm with it succeeds, notification verified, query agrees', async () => {
    const request = payRequest('UNIONPAY_QUICK');
    const status = await unionpay.pay(request);
    expect(status).toEqual({ kind: 'action_required', next_action: { type: 'SMS_CODE', value: expect.stringMatching(/^138\*{4}\d{4}$/) } });
    expect(await unionpay.query(ref(request))).toEqual({ kind: 'not_found' });
    const sms = await control('GET', `/sandbox/unionpay/sms?order_id=${request.attempt_id}`);
    expect(sms).toMatchObject({ status: 200, json: { sms_code: expect.stringMatching(/^\d{6}$/), sends: 1 } });
    const paid = await unionpay.confirm!(confirmOf(request, sms.json.sms_code));
    expect(paid).toEqual({ kind: 'succeeded', channel_trade_no: expect.stringMatching(/^\d{21}$/), amount_minor: 8_888n, paid_at: expect.any(Date) });
    const [notification] = await waitFor('a payment notification', () => {
      const found = notificationsFor(request.attempt_id, unionpay);
      return found.length > 0 ? found : undefined;
    });
    expect(notification).toEqual({ attempt_id: request.attempt_id, status: paid });
    expect(await unionpay.query(ref(request))).toEqual(paid);
    // A confirm sent again (a retry) reports the truth, not a second charge.
    expect(await unionpay.confirm!(confirmOf(request, sms.json.sms_code))).toEqual(paid);
    expect(await unionpay.close(ref(request))).toEqual({ kind: 'already_paid' });
    const log = await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${request.attempt_id}`);
    expect(log.json.callbacks).toEqual([expect.objectContaining({ provider: 'unionpay', kind: 'payment', attempt: 1, status: 200, answer: 'ok' })]);
    expect(unionpay.notificationAnswer(true)).toMatchObject({ status: 200, body: 'ok' });
  });

  test('unionpay - a wrong code is WRONG_CODE and the order waits; the 5th fails it with 71; query says failed; close answers closed', async () => {
    const request = payRequest('UNIONPAY_QUICK');
    await unionpay.pay(request);
    const sms = await control('GET', `/sandbox/unionpay/sms?order_id=${request.attempt_id}`);
    const wrong = sms.json.sms_code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 4; i += 1) await expect(unionpay.confirm!(confirmOf(request, wrong))).rejects.toMatchObject({ kind: 'rejected', code: 'WRONG_CODE' });
    expect(await unionpay.query(ref(request))).toEqual({ kind: 'not_found' });
    await expect(unionpay.confirm!(confirmOf(request, wrong))).rejects.toMatchObject({ kind: 'rejected', code: 'WRONG_CODE' });
    expect(await unionpay.query(ref(request))).toMatchObject({ kind: 'failed', code: '71' });
    expect(await unionpay.close(ref(request))).toEqual({ kind: 'closed' });
  });

  test('unionpay - an order never confirmed is not found and closes', async () => {
    const request = payRequest('UNIONPAY_QUICK');
    await unionpay.pay(request);
    expect(await unionpay.pay(request)).toMatchObject({ kind: 'action_required' });
    expect((await control('GET', `/sandbox/unionpay/sms?order_id=${request.attempt_id}`)).json.sends).toBe(2);
    expect(await unionpay.close(ref(request))).toEqual({ kind: 'closed' });
  });

  test('unionpay - refunds: partial, over the rest refused, refund query, refund notification', async () => {
    const request = payRequest('UNIONPAY_QUICK', { amount_minor: 1_000n });
    await unionpay.pay(request);
    const sms = await control('GET', `/sandbox/unionpay/sms?order_id=${request.attempt_id}`);
    const paid = await unionpay.confirm!(confirmOf(request, sms.json.sms_code));
    expect(paid.kind).toBe('succeeded');
    const channel_trade_no = paid.kind === 'succeeded' ? paid.channel_trade_no : '';
    const refund = (n: number, amount_minor: bigint) => ({
      refund_id: `r${request.attempt_id}${n}`, attempt: ref(request), channel_trade_no, amount_minor, reason: '退货', notify_url: request.notify_url,
      requested_at: new Date(),
    });
    const first = refund(1, 300n);
    expect(await unionpay.refund(first)).toEqual({ kind: 'succeeded', channel_refund_no: expect.stringMatching(/^\d{21}$/), amount_minor: 300n, refunded_at: expect.any(Date) });
    // The same refund again (orderId + txnTime seen): settled by the refund query.
    expect(await unionpay.refund(first)).toMatchObject({ kind: 'succeeded', amount_minor: 300n });
    expect(await unionpay.refund(refund(2, 800n))).toMatchObject({ kind: 'failed', code: '33', retryable: false });
    const second = refund(3, 700n);
    expect(await unionpay.refund({ ...second, channel_trade_no: undefined })).toMatchObject({ kind: 'succeeded', amount_minor: 700n });
    expect(await unionpay.queryRefund({ refund_id: second.refund_id, attempt: ref(request), requested_at: second.requested_at })).toMatchObject({ kind: 'succeeded', amount_minor: 700n });
    expect(await unionpay.queryRefund({ refund_id: `r${request.attempt_id}9`, attempt: ref(request), requested_at: new Date() })).toEqual({ kind: 'not_found' });
    const refunds = await waitFor('two refund notifications', () => {
      const found = notificationsFor(request.attempt_id, unionpay).filter((n) => n.type === 'refund');
      return found.length >= 2 ? found : undefined;
    });
    expect(refunds.map((n) => n.type === 'refund' && n.refund_id).sort()).toEqual([first.refund_id, second.refund_id]);
    expect(refunds[0]).toMatchObject({ type: 'refund', status: { kind: 'succeeded' } });
  });

  test('unionpay - a tampered or foreign notification is refused', async () => {
    const request = payRequest('UNIONPAY_QUICK');
    await unionpay.pay(request);
    const sms = await control('GET', `/sandbox/unionpay/sms?order_id=${request.attempt_id}`);
    await unionpay.confirm!(confirmOf(request, sms.json.sms_code));
    await waitFor('a notification', () => (notificationsFor(request.attempt_id, unionpay).length > 0 ? true : undefined));
    const original = receiver.received.find((c) => c.body.toString().includes(request.attempt_id))!;
    const tampered = Buffer.from(original.body.toString().replace(/txnAmt=8888/, 'txnAmt=1'));
    expect(() => unionpay.parseNotification({ path_suffix: '', headers: original.headers, body: tampered })).toThrow(expect.objectContaining({ kind: 'bad_signature', code: 'BAD_SIGNATURE' }));
    const other = createChannel({
      channel_id: 'up_other', provider: 'unionpay', products: ['UNIONPAY_QUICK'], settings: { ...unionpayChannelSettings(keys, sandbox.url), mer_id: '777000000000001' },
    });
    channels.push(other);
    expect(() => other.parseNotification({ path_suffix: '', headers: original.headers, body: original.body })).toThrow(expect.objectContaining({ code: 'MER_ID_MISMATCH' }));
  });

  test('unionpay - card failures from the issuer fail; 5xx and timeouts are ambiguous; lost notification recovered by query', async () => {
    const declined = payRequest('UNIONPAY_QUICK');
    await control('PUT', '/sandbox/faults', { scope: { provider: 'unionpay', out_trade_no: declined.attempt_id }, operations: ['confirm'], reject_before_create: { status: 400, code: '64', message: '卡上的余额不足' }, times: 1 });
    await unionpay.pay(declined);
    const code = (await control('GET', `/sandbox/unionpay/sms?order_id=${declined.attempt_id}`)).json.sms_code;
    expect(await unionpay.confirm!(confirmOf(declined, code))).toMatchObject({ kind: 'failed', code: '64' });

    const failing = payRequest('UNIONPAY_QUICK');
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: failing.attempt_id }, fail_status: 502, times: 1 });
    expect(await rejection(unionpay.pay(failing))).toMatchObject({ kind: 'ambiguous', code: 'HTTP_502' });

    const dropped = payRequest('UNIONPAY_QUICK');
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: dropped.attempt_id }, drop_callbacks: true, times: 1 });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: dropped.attempt_id }, latency_ms: 1_000, operations: ['confirm'], times: 1 });
    await unionpay.pay(dropped);
    const dropped_code = (await control('GET', `/sandbox/unionpay/sms?order_id=${dropped.attempt_id}`)).json.sms_code;
    const slow = createChannel({ channel_id: 'up_slow', provider: 'unionpay', products: ['UNIONPAY_QUICK'], settings: unionpayChannelSettings(keys, sandbox.url, 200) });
    channels.push(slow);
    expect(await rejection(slow.confirm!(confirmOf(dropped, dropped_code)))).toMatchObject({ kind: 'ambiguous', code: 'TIMEOUT' });
    expect(await unionpay.query(ref(dropped))).toMatchObject({ kind: 'succeeded', amount_minor: 8_888n });
    expect((await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${dropped.attempt_id}`)).json.callbacks).toEqual([]);
  });

  test('unionpay - without requested_at the adapter remembers the txnTime it sent; a bad token is refused locally', async () => {
    const request = payRequest('UNIONPAY_QUICK', { requested_at: undefined });
    await unionpay.pay(request);
    const code = (await control('GET', `/sandbox/unionpay/sms?order_id=${request.attempt_id}`)).json.sms_code;
    expect(await unionpay.confirm!(confirmOf(request, code))).toMatchObject({ kind: 'succeeded' });
    const stranger = createChannel({ channel_id: 'up_fresh', provider: 'unionpay', products: ['UNIONPAY_QUICK'], settings: unionpayChannelSettings(keys, sandbox.url) });
    channels.push(stranger);
    expect(await rejection(stranger.query(ref(request)))).toMatchObject({ kind: 'ambiguous', code: 'TXN_TIME_UNKNOWN' });
    expect(await rejection(unionpay.pay(payRequest('UNIONPAY_QUICK', { payer: {} })))).toMatchObject({ kind: 'rejected' });
  });
});

describe('bankgw - against the sandbox', () => {
  test('bankgw - pay redirects to the signed payer page; paying notifies; query says succeeded', async () => {
    const request = payRequest('BANK_B2C');
    const status = await bankgw.pay(request);
    expect(status).toMatchObject({ kind: 'action_required', next_action: { type: 'REDIRECT' } });
    const target = status.kind === 'action_required' ? status.next_action.value : '';
    expect(target.startsWith(`${sandbox.url}/gateway/pay?`)).toBe(true);
    expect(await bankgw.query(ref(request))).toEqual({ kind: 'not_found' });
    const page = await call(target, 'GET', '');
    expect(page.status).toBe(200);
    expect(page.text).toContain(request.attempt_id);
    expect(await bankgw.query(ref(request))).toMatchObject({ kind: 'pending', channel_trade_no: expect.any(String) });
    const paid = await control('POST', `/sandbox/bankgw/orders/${request.attempt_id}/pay`, {});
    expect(paid).toMatchObject({ status: 200, json: { trade_status: 'SUCCESS', callback: 'scheduled' } });
    const [notification] = await waitFor('a bank notification', () => {
      const found = notificationsFor(request.attempt_id, bankgw);
      return found.length > 0 ? found : undefined;
    });
    expect(notification).toEqual({
      attempt_id: request.attempt_id, status: { kind: 'succeeded', channel_trade_no: paid.json.bank_trade_no, amount_minor: 8_888n, paid_at: expect.any(Date) },
    });
    expect(await bankgw.query(ref(request))).toEqual(notification!.status);
    expect(await bankgw.close(ref(request))).toEqual({ kind: 'already_paid' });
    const log = await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${request.attempt_id}`);
    expect(log.json.callbacks).toEqual([expect.objectContaining({ provider: 'bankgw', attempt: 1, status: 200, answer: 'SUCCESS' })]);
  });

  test('bankgw - B2B to a chosen bank; an unserved bank is refused; the payer failing is final', async () => {
    const request = payRequest('BANK_B2B', { payer: { bank_code: 'CCB' } });
    const status = await bankgw.pay(request);
    const target = status.kind === 'action_required' ? status.next_action.value : '';
    expect(target).toContain('product=B2B');
    expect((await call(target, 'GET', '')).status).toBe(200);
    await control('POST', `/sandbox/bankgw/orders/${request.attempt_id}/pay`, { result: 'FAILED' });
    expect(await bankgw.query(ref(request))).toMatchObject({ kind: 'failed', code: 'PAYER_CANCELLED' });
    expect(await rejection(bankgw.pay(payRequest('BANK_B2C', { payer: { bank_code: 'ABC' } })))).toMatchObject({ kind: 'rejected' });
    expect(await rejection(bankgw.pay(payRequest('BANK_B2C', { payer: {} })))).toMatchObject({ kind: 'rejected' });
  });

  test('bankgw - close before and after opening; a tampered redirect is refused by the bank', async () => {
    const opened = payRequest('BANK_B2C');
    const status = await bankgw.pay(opened);
    const target = status.kind === 'action_required' ? status.next_action.value : '';
    await call(target, 'GET', '');
    expect(await bankgw.close(ref(opened))).toEqual({ kind: 'closed' });
    expect(await bankgw.query(ref(opened))).toEqual({ kind: 'closed' });
    expect((await control('POST', `/sandbox/bankgw/orders/${opened.attempt_id}/pay`)).status).toBe(409);

    const never = payRequest('BANK_B2C');
    const never_status = await bankgw.pay(never);
    expect(await bankgw.close(ref(never))).toEqual({ kind: 'closed' });
    const late = await call(never_status.kind === 'action_required' ? never_status.next_action.value : '', 'GET', '');
    expect(late.status).toBe(400);
    expect(late.text).toContain('ORDER_CLOSED');
    expect((await call(target.replace('amount=88.88', 'amount=0.01'), 'GET', '')).text).toContain('SIGN_ERROR');
  });

  test('bankgw - refunds, refund query, and a tampered notification refused', async () => {
    const request = payRequest('BANK_B2C', { amount_minor: 1_000n });
    const status = await bankgw.pay(request);
    await call(status.kind === 'action_required' ? status.next_action.value : '', 'GET', '');
    await control('POST', `/sandbox/bankgw/orders/${request.attempt_id}/pay`);
    const refund = (n: number, amount_minor: bigint) => ({ refund_id: `r${request.attempt_id}${n}`, attempt: ref(request), amount_minor, reason: '', notify_url: request.notify_url });
    expect(await bankgw.refund(refund(1, 400n))).toEqual({ kind: 'succeeded', channel_refund_no: expect.any(String), amount_minor: 400n, refunded_at: expect.any(Date) });
    expect(await bankgw.refund(refund(1, 400n))).toMatchObject({ kind: 'succeeded', amount_minor: 400n });
    expect(await bankgw.refund(refund(1, 401n))).toMatchObject({ kind: 'failed', code: 'REFUND_NO_CONFLICT', retryable: false });
    expect(await bankgw.refund(refund(2, 700n))).toMatchObject({ kind: 'failed', code: 'REFUND_AMOUNT_EXCEEDED' });
    expect(await bankgw.queryRefund({ refund_id: `r${request.attempt_id}1`, attempt: ref(request) })).toMatchObject({ kind: 'succeeded', amount_minor: 400n });
    expect(await bankgw.queryRefund({ refund_id: `r${request.attempt_id}9`, attempt: ref(request) })).toEqual({ kind: 'not_found' });
    await waitFor('a notification', () => (notificationsFor(request.attempt_id, bankgw).length > 0 ? true : undefined));
    const original = receiver.received.find((c) => c.body.toString().includes(request.attempt_id))!;
    const tampered = Buffer.from(original.body.toString().replace('trade_status=SUCCESS', 'trade_status=FAILED'));
    expect(() => bankgw.parseNotification({ path_suffix: '', headers: original.headers, body: tampered })).toThrow(expect.objectContaining({ kind: 'bad_signature' }));
  });

  test('bankgw - duplicate notifications on request; 5xx ambiguous', async () => {
    const request = payRequest('BANK_B2C');
    await control('PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: request.attempt_id }, duplicate_callbacks: 2, times: 1 });
    const status = await bankgw.pay(request);
    await call(status.kind === 'action_required' ? status.next_action.value : '', 'GET', '');
    await control('POST', `/sandbox/bankgw/orders/${request.attempt_id}/pay`);
    const found = await waitFor('three notifications', () => {
      const list = notificationsFor(request.attempt_id, bankgw);
      return list.length >= 3 ? list : undefined;
    });
    expect(found.every((n) => n.type !== 'refund' && n.status.kind === 'succeeded')).toBe(true);
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: request.attempt_id }, operations: ['query'], fail_status: 503, times: 1 });
    expect(await rejection(bankgw.query(ref(request)))).toMatchObject({ kind: 'ambiguous', code: 'HTTP_503' });
  });

  test('bankgw - the statement CSV lists payments and refunds, and shows statement faults', async () => {
    const prefix = `s${attemptId()}`;
    const paid = payRequest('BANK_B2C', { attempt_id: `${prefix}p`, amount_minor: 1_234n });
    const missing = payRequest('BANK_B2C', { attempt_id: `${prefix}m` });
    const wrong = payRequest('BANK_B2B', { attempt_id: `${prefix}w`, amount_minor: 500n, payer: { bank_code: 'CMB' } });
    for (const request of [paid, missing, wrong]) {
      const status = await bankgw.pay(request);
      await call(status.kind === 'action_required' ? status.next_action.value : '', 'GET', '');
      await control('POST', `/sandbox/bankgw/orders/${request.attempt_id}/pay`);
    }
    await bankgw.refund({ refund_id: `${prefix}r1`, attempt: ref(paid), amount_minor: 234n, reason: '', notify_url: paid.notify_url });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: missing.attempt_id }, statement_missing: true });
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: wrong.attempt_id }, statement_amount_delta_minor: -1 });
    const rows = (await bankgw.downloadStatement(chinaToday())).filter((row) => row.attempt_id.startsWith(prefix));
    expect(rows.map((row) => [row.attempt_id, row.kind, row.amount_minor])).toEqual(expect.arrayContaining([
      [paid.attempt_id, 'payment', 1_234n], [paid.attempt_id, 'refund', 234n], [wrong.attempt_id, 'payment', 499n],
    ]));
    expect(rows).toHaveLength(3);
    expect(rows.find((row) => row.kind === 'refund')).toMatchObject({ refund_id: `${prefix}r1`, currency: 'CNY', fee_minor: -1n, channel_id: 'bank_test' });
    expect(rows.find((row) => row.kind === 'payment' && row.attempt_id === paid.attempt_id)).toMatchObject({ fee_minor: 7n, channel_trade_no: expect.stringMatching(/^BK/) });
    expect(await bankgw.downloadStatement(chinaToday(-400))).toEqual([]);
    await control('DELETE', '/sandbox/faults');
  });
});

// Integration: the real WeChat Pay adapter's profit sharing (分账) against the sandbox over HTTP:
// the callbacks (分账动账通知) the sandbox sends when an order or a return settles, as the
// adapter reads them, and the callback faults that suppress or repeat them; the receiver's name
// (required for a MERCHANT_ID receiver) RSA-OAEP-encrypted to the platform key.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannel, type Channel, type ParsedNotification, type PayRequest, type ShareRequest } from '../../channels/channel';
import '../../channels/wechatpay';
import { buildAuthorization, encryptToPlatform } from '../../channels/wechatpay/crypto';
import { privateKey, publicKey } from '../../channels/shared/crypto';
import { ensureDevKeys, sandboxWechatpayOptions, wechatpayChannelSettings, type DevKeys } from './keys';
import { startSandbox, type Sandbox } from './server';
import { call, rejection, startReceiver, waitFor, type Receiver } from './testkit';

let keys_dir: string;
let keys: DevKeys;
let sandbox: Sandbox;
let receiver: Receiver;
let wechat: Channel;
const channels: Channel[] = [];
let sequence = 0;

function channel(overrides: Record<string, string> = {}): Channel {
  const created = createChannel({
    channel_id: `wx_ps_${channels.length}`, provider: 'wechatpay', products: ['WECHAT_NATIVE'],
    settings: { ...wechatpayChannelSettings(keys, sandbox.url, 3_000), profit_sharing: 'true', ...overrides },
  });
  channels.push(created);
  return created;
}

const control = (method: string, path: string, body?: unknown) => call(sandbox.url, method, path, body);

/** A paid order created with settle_info.profit_sharing. */
async function paidOrder(amount_minor = 10_000n): Promise<{ request: PayRequest; transaction_id: string }> {
  sequence += 1;
  const attempt_id = `PS${process.pid}${Date.now().toString(36)}N${sequence}`;
  const request: PayRequest = {
    attempt_id, payment_id: `pay_${attempt_id}`, product: 'WECHAT_NATIVE', amount_minor, currency: 'CNY', subject: 'profit sharing',
    expires_at: new Date(Date.now() + 15 * 60_000), payer: {}, notify_url: `${receiver.url}/notify/wx_ps`,
  };
  await wechat.pay(request);
  const paid = await control('POST', `/sandbox/wechatpay/orders/${attempt_id}/pay`);
  return { request, transaction_id: paid.json.transaction_id };
}

function shareRequest(request: PayRequest, transaction_id: string, share_no: string, receivers: [string, bigint][]): ShareRequest {
  return {
    share_no, channel_trade_no: transaction_id, description: 'courier', finish: false,
    attempt: {
      attempt_id: request.attempt_id, payment_id: request.payment_id, product: request.product, amount_minor: request.amount_minor, currency: request.currency,
    },
    receivers: receivers.map(([account, amount_minor]) => ({ account, amount_minor, description: 'courier', name: `接收方${account}有限公司` })),
  };
}

/** The profit-sharing callbacks received for one transaction, as the adapter reads them. */
function sharingCallbacks(transaction_id: string, using: Channel = wechat): Extract<ParsedNotification, { type: 'profit_sharing' }>[] {
  const out: Extract<ParsedNotification, { type: 'profit_sharing' }>[] = [];
  for (const callback of receiver.received) {
    try {
      const parsed = using.parseNotification({ path_suffix: '', headers: callback.headers, body: callback.body });
      if (parsed.type === 'profit_sharing' && parsed.channel_trade_no === transaction_id) out.push(parsed);
    } catch {
      // not ours, or not verifiable
    }
  }
  return out;
}

/** The event_type of each profit-sharing callback of one transaction, in arrival order. */
function eventTypes(transaction_id: string): string[] {
  return receiver.received.filter((c) => {
    try {
      const parsed = wechat.parseNotification({ path_suffix: '', headers: c.headers, body: c.body });
      return parsed.type === 'profit_sharing' && parsed.channel_trade_no === transaction_id;
    } catch {
      return false;
    }
  }).map((c) => (JSON.parse(c.body.toString('utf8')) as { event_type: string }).event_type);
}

async function sandboxCallbacks(attempt_id: string): Promise<{ kind: string; duplicate: boolean; status: number | null }[]> {
  return ((await control('GET', `/sandbox/callbacks?out_trade_no_prefix=${attempt_id}`)).json.callbacks as { kind: string; duplicate: boolean; status: number | null }[])
    .filter((c) => c.kind === 'profit_sharing');
}

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-wx-ps-keys-'));
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

describe('wechatpay profit-sharing callbacks - against the sandbox', () => {
  test('a settled order: one PROFITSHARING.SUCCESS per receiver, read as a trigger naming the order (out_order_no) and the transaction; a return: PROFITSHARING.RETURN naming the return', async () => {
    const { request, transaction_id } = await paidOrder();
    const share = shareRequest(request, transaction_id, `S${request.attempt_id}`, [['1900000101', 1_000n], ['1900000102', 500n]]);
    expect(await wechat.profit_sharing!.share(share)).toEqual({ kind: 'processing' });
    const settled = await waitFor('two profit-sharing callbacks', () => {
      const found = sharingCallbacks(transaction_id);
      return found.length >= 2 ? found : undefined;
    });
    expect(settled).toEqual([
      { type: 'profit_sharing', share_no: share.share_no, channel_trade_no: transaction_id },
      { type: 'profit_sharing', share_no: share.share_no, channel_trade_no: transaction_id },
    ]);
    expect(eventTypes(transaction_id)).toEqual(['PROFITSHARING.SUCCESS', 'PROFITSHARING.SUCCESS']);
    const finished = await wechat.profit_sharing!.queryShare(share);
    expect(finished).toMatchObject({ kind: 'finished', received: [true, true] });
    const return_no = `R${request.attempt_id}_1`;
    expect(await wechat.profit_sharing!.returnShare({ return_no, share_no: share.share_no, channel_share_no: '', account: '1900000101', amount_minor: 300n, description: 'refund' }))
      .toEqual({ kind: 'succeeded' });
    await waitFor('the return callback', () => (sharingCallbacks(transaction_id).some((n) => n.share_no === return_no) ? true : undefined));
    expect(eventTypes(transaction_id)).toEqual(['PROFITSHARING.SUCCESS', 'PROFITSHARING.SUCCESS', 'PROFITSHARING.RETURN']);
    expect((await sandboxCallbacks(request.attempt_id)).every((c) => c.status === 204)).toBe(true);
  });

  test('callbacks are verified: a tampered body is refused bad_signature; a channel not configured for profit sharing refuses them', async () => {
    const { request, transaction_id } = await paidOrder();
    await wechat.profit_sharing!.share(shareRequest(request, transaction_id, `S${request.attempt_id}`, [['1900000103', 700n]]));
    await waitFor('the callback', () => (sharingCallbacks(transaction_id).length > 0 ? true : undefined));
    const callback = receiver.received.find((c) => {
      try {
        const parsed = wechat.parseNotification({ path_suffix: '', headers: c.headers, body: c.body });
        return parsed.type === 'profit_sharing' && parsed.channel_trade_no === transaction_id;
      } catch {
        return false;
      }
    })!;
    const tampered = Buffer.from(callback.body.toString('utf8').replace('"summary":"分账"', '"summary":"x"'));
    expect(() => wechat.parseNotification({ path_suffix: '', headers: callback.headers, body: tampered })).toThrow(expect.objectContaining({ kind: 'bad_signature' }));
    const plain = channel({ profit_sharing: 'false' });
    expect(() => plain.parseNotification({ path_suffix: '', headers: callback.headers, body: callback.body })).toThrow(expect.objectContaining({ kind: 'unsupported' }));
  });

  test('faults: drop_callbacks (operation share) suppresses an order\'s callbacks; duplicate_callbacks sends each again', async () => {
    const dropped = await paidOrder();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: dropped.request.attempt_id }, operations: ['share'], drop_callbacks: true, times: 1 });
    const share = shareRequest(dropped.request, dropped.transaction_id, `S${dropped.request.attempt_id}`, [['1900000104', 800n]]);
    await wechat.profit_sharing!.share(share);
    await waitFor('the order FINISHED at the sandbox', async () => ((await wechat.profit_sharing!.queryShare(share)).kind === 'finished' ? true : undefined));
    // The fault was taken by this order's callbacks: none went out for it.
    expect((await control('GET', '/sandbox/faults')).json.faults).toEqual([expect.objectContaining({ drop_callbacks: true, remaining: 0 })]);
    expect(await sandboxCallbacks(dropped.request.attempt_id)).toEqual([]);

    const repeated = await paidOrder();
    await control('PUT', '/sandbox/faults', { scope: { out_trade_no: repeated.request.attempt_id }, operations: ['share'], duplicate_callbacks: 2, times: 1 });
    await wechat.profit_sharing!.share(shareRequest(repeated.request, repeated.transaction_id, `S${repeated.request.attempt_id}`, [['1900000105', 900n]]));
    const copies = await waitFor('the callback and two copies', async () => {
      const logged = await sandboxCallbacks(repeated.request.attempt_id);
      return logged.length >= 3 ? logged : undefined;
    });
    expect(copies.map((c) => c.duplicate)).toEqual([false, true, true]);
    expect(sharingCallbacks(repeated.transaction_id)).toHaveLength(3);
  });

  test('a share the sandbox refuses sends no callback', async () => {
    const { request, transaction_id } = await paidOrder(1_000n);
    expect(await rejection(wechat.profit_sharing!.share(shareRequest(request, transaction_id, `S${request.attempt_id}`, [['1900000106', 5_000n]]))))
      .toMatchObject({ kind: 'rejected', code: 'NOT_ENOUGH' });
    expect(await sandboxCallbacks(request.attempt_id)).toEqual([]);
  });
});

describe('wechatpay profit-sharing receiver names - against the sandbox', () => {
  async function receiversAtSandbox(): Promise<{ type: string; account: string; name?: string }[]> {
    return (await control('GET', '/sandbox/wechatpay/profitsharing/receivers')).json.receivers;
  }

  test('a MERCHANT_ID receiver is added with its full name, encrypted to the platform key: the sandbox opens it; a PERSONAL_OPENID one may go without', async () => {
    const { request, transaction_id } = await paidOrder();
    await wechat.profit_sharing!.share({
      ...shareRequest(request, transaction_id, `S${request.attempt_id}`, []),
      receivers: [{ account: '1900000111', amount_minor: 500n, description: 'courier', name: '深圳市某某物流有限公司' }],
    });
    expect((await receiversAtSandbox()).find((r) => r.account === '1900000111')).toEqual({ mchid: keys.wechatpay.mchid, type: 'MERCHANT_ID', account: '1900000111', name: '深圳市某某物流有限公司' });
    const personal = channel({ profit_sharing_receiver_type: 'PERSONAL_OPENID' });
    expect(personal.profit_sharing!.receiver_name_required).toBe(false);
    expect(wechat.profit_sharing!.receiver_name_required).toBe(true);
    const second = await paidOrder();
    await personal.profit_sharing!.share({
      ...shareRequest(second.request, second.transaction_id, `S${second.request.attempt_id}`, []),
      receivers: [{ account: 'oPersonal0001', amount_minor: 300n, description: 'tip' }],
    });
    expect((await receiversAtSandbox()).find((r) => r.account === 'oPersonal0001')).toEqual({ mchid: keys.wechatpay.mchid, type: 'PERSONAL_OPENID', account: 'oPersonal0001' });
  });

  test('without a name a MERCHANT_ID receiver is refused: by the adapter before any call, and by the sandbox (PARAM_ERROR name)', async () => {
    const { request, transaction_id } = await paidOrder();
    const share = { ...shareRequest(request, transaction_id, `S${request.attempt_id}`, []), receivers: [{ account: '1900000112', amount_minor: 500n, description: 'courier' }] };
    expect(await rejection(wechat.profit_sharing!.share(share))).toMatchObject({ kind: 'rejected', code: 'PARAM_ERROR', message: expect.stringContaining('name') });
    expect((await receiversAtSandbox()).some((r) => r.account === '1900000112')).toBe(false);
    const refused = await addReceiverRaw({ type: 'MERCHANT_ID', account: '1900000112' }, undefined);
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ code: 'PARAM_ERROR', detail: { field: 'name' } });
  });

  test('an encrypted name under a Wechatpay-Serial that is not the platform key\'s, or none, is refused; under the right one it is taken', async () => {
    const name = encryptToPlatform('深圳市某某科技有限公司', publicKey(keys.wechatpay.platform_public_key_pem));
    for (const serial of ['PUB_KEY_ID_0000000000000000000000000000', undefined]) {
      const refused = await addReceiverRaw({ type: 'MERCHANT_ID', account: '1900000113', name }, serial);
      expect(refused.status).toBe(400);
      expect(refused.json).toMatchObject({ code: 'PARAM_ERROR', detail: { field: 'Wechatpay-Serial' } });
    }
    expect((await addReceiverRaw({ type: 'MERCHANT_ID', account: '1900000113', name }, keys.wechatpay.platform_public_key_id)).status).toBe(200);
    expect((await receiversAtSandbox()).find((r) => r.account === '1900000113')?.name).toBe('深圳市某某科技有限公司');
  });

  /** receivers/add signed as the merchant, with this Wechatpay-Serial header (or none). */
  async function addReceiverRaw(fields: Record<string, string>, serial: string | undefined): Promise<{ status: number; json: Record<string, unknown> }> {
    const k = keys.wechatpay;
    const path = '/v3/profitsharing/receivers/add';
    const body = JSON.stringify({ appid: k.appid, relation_type: 'PARTNER', ...fields });
    const authorization = buildAuthorization({ method: 'POST', path_with_query: path, body }, { mchid: k.mchid, merchant_serial_no: k.merchant_serial_no, merchant_private_key: privateKey(k.merchant_private_key_pem) });
    const response = await fetch(`${sandbox.url}${path}`, {
      method: 'POST', body,
      headers: { authorization, 'content-type': 'application/json', accept: 'application/json', ...(serial === undefined ? {} : { 'wechatpay-serial': serial }) },
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }
});

// Integration: the real Alipay adapter configured for 交易分账 (profit_sharing 'true') against
// the sandbox's /gateway.do over HTTP: payments frozen for royalty, receivers bound, settles
// (alipay.trade.order.settle, async) and their query, the last settle unfreezing the rest,
// shares taken back inside a refund (refund_royalty_parameters), and the sandbox's refusals.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannel, type Channel, type PayRequest, type ProductName, type ProfitSharing, type RefundRequest, type ShareRequest } from '../../channels/channel';
import '../../channels/alipay';
import { alipayChannelSettings, ensureDevKeys, sandboxAlipayOptions, sandboxWechatpayOptions, type DevKeys } from './keys';
import { startSandbox, type Sandbox } from './server';
import { call, rejection, waitFor } from './testkit';

let keys_dir: string;
let keys: DevKeys;
let sandbox: Sandbox;
let alipay: Channel;
let sharing: ProfitSharing;
let plain: Channel;
let sequence = 0;

const r1 = '2088000000000101';
const r2 = '2088000000000102';

interface RoyaltyView {
  settles: {
    out_trade_no: string; out_request_no: string; settle_no: string; finishes: boolean; processed: boolean; requests: number; unfrozen_amount?: string;
    royalty_detail_list: { trans_in_type: string; trans_in: string; amount: string; state: string; returned_amount: string }[];
  }[];
  bindings: { app_id: string; type: string; account: string }[];
}

function channel(settings: Record<string, string>, products: ProductName[] = ['ALIPAY_APP', 'ALIPAY_WAP', 'ALIPAY_PC']): Channel {
  return createChannel({
    channel_id: `ali_royalty_${++sequence}`, provider: 'alipay', products,
    settings: { ...alipayChannelSettings(keys, sandbox.url, 3_000), ...settings },
  });
}

const control = (method: string, path: string, body?: unknown) => call(sandbox.url, method, path, body);

/** A PC payment of `amount` on `using`, its page opened and paid at the sandbox: its request and trade_no. */
async function paid(amount: bigint, using: Channel = alipay): Promise<{ request: PayRequest; trade_no: string }> {
  sequence += 1;
  const attempt_id = `R${process.pid}${Date.now().toString(36)}N${sequence}`;
  const request: PayRequest = {
    attempt_id, payment_id: `pay_${attempt_id}`, product: 'ALIPAY_PC', amount_minor: amount, currency: 'CNY', subject: 'royalty',
    expires_at: new Date(Date.now() + 15 * 60_000), payer: {}, notify_url: 'http://127.0.0.1:9/notify',
  };
  const action = await using.pay(request);
  if (action.kind !== 'action_required') throw new Error(`expected a redirect, got ${action.kind}`);
  expect((await call(action.next_action.value, 'GET', '')).status).toBe(200); // the payer opens the page: the trade exists
  const payment = await control('POST', `/sandbox/alipay/orders/${attempt_id}/pay`, {});
  expect(payment.status).toBe(200);
  return { request, trade_no: payment.json.trade_no as string };
}

function share(pay: { request: PayRequest; trade_no: string }, share_no: string, receivers: [string, bigint][], finish = false): ShareRequest {
  const { request } = pay;
  return {
    share_no, channel_trade_no: pay.trade_no, description: 'courier', finish,
    attempt: { attempt_id: request.attempt_id, payment_id: request.payment_id, product: request.product, amount_minor: request.amount_minor, currency: 'CNY' },
    receivers: receivers.map(([account, amount_minor]) => ({ account, amount_minor, description: 'courier' })),
  };
}

function refund(pay: { request: PayRequest; trade_no: string }, refund_id: string, amount_minor: bigint, share_returns?: [string, bigint][]): RefundRequest {
  const { request } = pay;
  return {
    refund_id, channel_trade_no: pay.trade_no, amount_minor, reason: 'return', notify_url: '',
    attempt: { attempt_id: request.attempt_id, payment_id: request.payment_id, product: request.product, amount_minor: request.amount_minor, currency: 'CNY' },
    ...(share_returns === undefined ? {} : { share_returns: share_returns.map(([account, amount]) => ({ account, amount_minor: amount })) }),
  };
}

async function view(attempt_id: string): Promise<RoyaltyView> {
  return (await control('GET', `/sandbox/alipay/royalty?out_trade_no_prefix=${attempt_id}`)).json as RoyaltyView;
}

async function settled(request: ShareRequest) {
  return waitFor(`settle ${request.share_no} processed`, async () => {
    const outcome = await sharing.queryShare(request);
    return outcome.kind === 'finished' ? outcome : undefined;
  });
}

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-alipay-royalty-keys-'));
  keys = ensureDevKeys(keys_dir);
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), alipay: sandboxAlipayOptions(keys), callback_retry_delays_ms: [50] });
  alipay = channel({ profit_sharing: 'true' });
  sharing = alipay.profit_sharing!;
  plain = channel({}, ['ALIPAY_QR', 'ALIPAY_PC']);
});

afterAll(async () => {
  await alipay.close_connections();
  await plain.close_connections();
  await sandbox.close();
  rmSync(keys_dir, { recursive: true, force: true });
});

test('alipay royalty - the channel offers profit sharing only when configured, never for 当面付 products (Alipay returns their royalty pro rata by itself); its shares come back inside the refund', () => {
  expect(plain.profit_sharing).toBeUndefined();
  expect(sharing.returns_in_refund).toBe(true);
  expect(() => channel({ profit_sharing: 'yes' })).toThrow(/profit_sharing/);
  expect(() => channel({ profit_sharing: 'true', royalty_receiver_type: 'openId' })).toThrow(/royalty_receiver_type/);
  expect(() => channel({ profit_sharing: 'true' }, ['ALIPAY_PC', 'ALIPAY_QR'])).toThrow(/profit_sharing.*ALIPAY_QR/);
  expect(() => channel({ profit_sharing: 'true' }, ['BARCODE'])).toThrow(/profit_sharing.*BARCODE/);
  expect(channel({}, ['ALIPAY_QR', 'BARCODE']).profit_sharing).toBeUndefined();
});

test('alipay royalty - a frozen payment is settled: receivers bound, one settle (out_request_no = share_no) PROCESSING then SUCCESS; the same share_no again is the same settle', async () => {
  const pay = await paid(10_000n);
  const request = share(pay, `S${pay.request.attempt_id}`, [[r1, 3_000n], [r2, 1_234n]]);
  expect(await sharing.share(request)).toEqual({ kind: 'processing' });
  const outcome = await settled(request);
  expect(outcome).toEqual({ kind: 'finished', channel_share_no: expect.stringMatching(/^2024/), received: [true, true] });
  const at = await view(pay.request.attempt_id);
  expect(at.settles).toHaveLength(1);
  expect(at.settles[0]).toMatchObject({ out_request_no: request.share_no, settle_no: outcome.kind === 'finished' ? outcome.channel_share_no : '', processed: true, finishes: false, requests: 1 });
  expect(at.settles[0]!.royalty_detail_list.map((d) => [d.trans_in_type, d.trans_in, d.amount, d.state])).toEqual([['userId', r1, '30.00', 'SUCCESS'], ['userId', r2, '12.34', 'SUCCESS']]);
  expect(at.bindings).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'userId', account: r1 }), expect.objectContaining({ type: 'userId', account: r2 })]));
  expect(await sharing.share(request)).toEqual({ kind: 'processing' });
  expect((await view(pay.request.attempt_id)).settles[0]!.requests).toBe(2);
  // A query of a settle Alipay never took: not_found (the service then sends it).
  expect(await sharing.queryShare(share(pay, `S${pay.request.attempt_id}x`, [[r1, 1n]]))).toEqual({ kind: 'not_found' });
});

test('alipay royalty - refused: more than the trade has unsettled, a trade not frozen for royalty, the same out_request_no with other shares, a receiver that is no user id', async () => {
  const pay = await paid(10_000n);
  await sharing.share(share(pay, `A${pay.request.attempt_id}`, [[r1, 6_000n]]));
  expect(await rejection(sharing.share(share(pay, `B${pay.request.attempt_id}`, [[r2, 4_001n]])))).toMatchObject({ kind: 'rejected', code: 'ACQ.ALLOC_AMOUNT_VALIDATE_ERROR' });
  expect(await rejection(sharing.share(share(pay, `A${pay.request.attempt_id}`, [[r1, 5_000n]])))).toMatchObject({ kind: 'rejected', code: 'ACQ.DISCORDANT_REPEAT_REQUEST' });
  expect(await rejection(sharing.share(share(pay, `C${pay.request.attempt_id}`, [['1900000201', 1n]])))).toMatchObject({ kind: 'rejected', code: 'INVALID_PARAMETER' });
  const unfrozen = await paid(10_000n, plain);
  expect(await rejection(sharing.share(share(unfrozen, `D${unfrozen.request.attempt_id}`, [[r1, 1n]])))).toMatchObject({ kind: 'rejected', code: 'ACQ.TRADE_SETTLE_ERROR' });
});

test('alipay royalty - a refund the merchant\'s part cannot cover is refused unless it takes the shares back (refund_royalty_parameters); the shares it takes are returned at the sandbox', async () => {
  const pay = await paid(10_000n);
  const request = share(pay, `S${pay.request.attempt_id}`, [[r1, 7_000n], [r2, 2_000n]]);
  await sharing.share(request);
  await settled(request);
  // 1000 left with the merchant: a refund of 5000 alone is refused.
  expect(await alipay.refund(refund(pay, `${pay.request.attempt_id}F1`, 5_000n))).toMatchObject({ kind: 'failed', code: 'ACQ.SELLER_BALANCE_NOT_ENOUGH' });
  // More back from a receiver than it holds: refused.
  expect(await alipay.refund(refund(pay, `${pay.request.attempt_id}F2`, 5_000n, [[r2, 2_001n]]))).toMatchObject({ kind: 'failed', code: 'ACQ.INVALID_PARAMETER' });
  const carried = refund(pay, `${pay.request.attempt_id}R1`, 5_000n, [[r1, 4_000n]]);
  expect(await alipay.refund(carried)).toMatchObject({ kind: 'succeeded', amount_minor: 5_000n });
  // The same out_request_no again: the same refund (fund_change N → queried), not a second one.
  expect(await alipay.refund(carried)).toMatchObject({ kind: 'succeeded', amount_minor: 5_000n });
  const refunds = (await control('GET', `/sandbox/alipay/refunds?out_trade_no_prefix=${pay.request.attempt_id}`)).json.refunds as { out_request_no: string; refund_royalty_parameters: unknown[] }[];
  expect(refunds).toEqual([expect.objectContaining({ out_request_no: carried.refund_id, refund_royalty_parameters: [{ trans_out: r1, amount: '40.00' }] })]);
  expect((await view(pay.request.attempt_id)).settles[0]!.royalty_detail_list.map((d) => [d.trans_in, d.returned_amount])).toEqual([[r1, '40.00'], [r2, '0.00']]);
  // The same out_request_no with other shares is not the same refund.
  expect(await alipay.refund({ ...carried, share_returns: [{ account: r1, amount_minor: 3_000n }] })).toMatchObject({ kind: 'failed', code: 'ACQ.DISCORDANT_REPEAT_REQUEST' });
});

test('alipay royalty - the last settle (royalty_finish) unfreezes what it leaves; a settle of no receivers is an unfreeze; no settle is taken after either', async () => {
  const pay = await paid(10_000n);
  const last = share(pay, `L${pay.request.attempt_id}`, [[r1, 4_000n]], true);
  await sharing.share(last);
  expect(await settled(last)).toMatchObject({ received: [true] });
  expect((await view(pay.request.attempt_id)).settles[0]).toMatchObject({ finishes: true, unfrozen_amount: '60.00' });
  expect(await rejection(sharing.share(share(pay, `M${pay.request.attempt_id}`, [[r2, 1n]])))).toMatchObject({ kind: 'rejected', code: 'ACQ.TRADE_SETTLE_ERROR' });
  const other = await paid(10_000n);
  const unfreeze = share(other, `U${other.request.attempt_id}`, [], true);
  expect(await sharing.share(unfreeze)).toEqual({ kind: 'processing' });
  expect(await settled(unfreeze)).toMatchObject({ kind: 'finished', received: [] });
  expect((await view(other.request.attempt_id)).settles[0]).toMatchObject({ finishes: true, unfrozen_amount: '100.00', royalty_detail_list: [] });
});

test('alipay royalty - the sandbox\'s faults: a settle answered 20000 is ambiguous and took nothing; a query answered 502 is ambiguous', async () => {
  const pay = await paid(10_000n);
  await control('PUT', '/sandbox/faults', { scope: { provider: 'alipay', out_trade_no: pay.request.attempt_id }, operations: ['share'], reject_before_create: { status: 500, code: 'isp.unknow-error', message: 'busy' }, times: 1 });
  const request = share(pay, `S${pay.request.attempt_id}`, [[r1, 1_000n]]);
  expect(await rejection(sharing.share(request))).toMatchObject({ kind: 'ambiguous' });
  expect(await sharing.queryShare(request)).toEqual({ kind: 'not_found' });
  await control('PUT', '/sandbox/faults', { scope: { provider: 'alipay', out_trade_no: pay.request.attempt_id }, operations: ['share_query'], fail_status: 502, times: 1 });
  expect(await rejection(sharing.queryShare(request))).toMatchObject({ kind: 'ambiguous' });
  expect(await sharing.share(request)).toEqual({ kind: 'processing' });
  expect(await settled(request)).toMatchObject({ received: [true] });
});

test('alipay royalty - a bind Alipay refuses does not stop the settle: a receiver bound already (here by another process) is settled to; one never bound is refused by the settle', async () => {
  const pay = await paid(10_000n);
  const bound_elsewhere = '2088000000000301';
  const other = channel({ profit_sharing: 'true' });
  try {
    await other.profit_sharing!.share(share(await paid(1_000n), `O${pay.request.attempt_id}`, [[bound_elsewhere, 100n]]));
  } finally {
    await other.close_connections();
  }
  await control('PUT', '/sandbox/faults', { scope: { provider: 'alipay' }, operations: ['share_query'], reject_before_create: { status: 400, code: 'ACQ.INVALID_PARAMETER', message: 'refused' }, times: 1 });
  const request = share(pay, `S${pay.request.attempt_id}`, [[bound_elsewhere, 1_000n]]);
  expect(await sharing.share(request)).toEqual({ kind: 'processing' });
  expect(await settled(request)).toMatchObject({ received: [true] });
  await control('PUT', '/sandbox/faults', { scope: { provider: 'alipay' }, operations: ['share_query'], reject_before_create: { status: 400, code: 'ACQ.INVALID_PARAMETER', message: 'refused' }, times: 1 });
  expect(await rejection(sharing.share(share(pay, `N${pay.request.attempt_id}`, [['2088000000000302', 1_000n]])))).toMatchObject({ kind: 'rejected', code: 'ACQ.INVALID_PARAMETER' });
  expect((await view(pay.request.attempt_id)).settles.map((s) => s.out_request_no)).toEqual([request.share_no]);
});

// 交易分账 (royalty.ts) and the refund's refund_royalty_parameters against Alipay's documented
// payload shapes: amounts as yuan strings from minor units (never floats), the settle, its
// query's royalty_detail_list states, the bind, and the signed settle answer.

import { generateKeyPairSync } from 'node:crypto';
import { ChannelError, type PayRequest, type RefundRequest, type ShareRequest } from '../channel';
import { signParams, signResponse, verifyParams, verifyResponse } from './crypto';
import {
  ROYALTY_METHODS, bindRequestNo, fromBindResponse, fromSettleQueryResponse, fromSettleResponse, toBindBiz, toSettleBiz, toSettleQueryBiz,
} from './royalty';
import { gatewayParams, toPayBiz, toRefundBiz } from './transformers';

const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });

const r1 = '2088101126708402';
const r2 = '2088101126765726';

function shareRequest(overrides: Partial<ShareRequest> = {}): ShareRequest {
  return {
    share_no: 'sABCDEFGHJKMNPQRSTVWXYZ012', channel_trade_no: '2014030411001007850000672009', description: '分账给商户', finish: false,
    attempt: { attempt_id: 'pay1a1', payment_id: 'pay1', product: 'ALIPAY_QR', amount_minor: 100_000n, currency: 'CNY' },
    receivers: [{ account: r1, amount_minor: 30_001n, description: 'courier' }, { account: r2, amount_minor: 9_007_199_254_740_993n, description: 'platform' }],
    ...overrides,
  };
}

test('alipay royalty - a profit-sharing channel freezes its payments for royalty (extend_params.royalty_freeze "true"); another does not', () => {
  const request: PayRequest = {
    attempt_id: 'pay1a1', payment_id: 'pay1', product: 'ALIPAY_QR', amount_minor: 100n, currency: 'CNY', subject: 's',
    expires_at: new Date('2030-01-01T00:00:00Z'), payer: {}, notify_url: 'https://example.com/n',
  };
  expect(toPayBiz(request, true).biz.extend_params).toEqual({ royalty_freeze: 'true' });
  expect(toPayBiz(request).biz.extend_params).toBeUndefined();
  expect(toPayBiz({ ...request, product: 'ALIPAY_WAP' }, true).biz.extend_params).toEqual({ royalty_freeze: 'true' });
});

test('alipay royalty - the settle: out_request_no = share_no, trade_no, transfer details in yuan strings from bigint minor units, royalty_finish, async', () => {
  expect(toSettleBiz(shareRequest(), 'userId')).toEqual({
    out_request_no: 'sABCDEFGHJKMNPQRSTVWXYZ012', trade_no: '2014030411001007850000672009', royalty_mode: 'async',
    extend_params: { royalty_finish: 'false' },
    royalty_parameters: [
      { royalty_type: 'transfer', trans_in_type: 'userId', trans_in: r1, amount: '300.01', desc: 'courier' },
      // Past 2^53 minor units: exact, no float on the way.
      { royalty_type: 'transfer', trans_in_type: 'userId', trans_in: r2, amount: '90071992547409.93', desc: 'platform' },
    ],
  });
  expect(toSettleBiz(shareRequest({ finish: true }), 'userId').extend_params).toEqual({ royalty_finish: 'true' });
  // An unfreeze: no details, royalty_finish.
  expect(toSettleBiz(shareRequest({ finish: true, receivers: [] }), 'userId')).toMatchObject({ royalty_parameters: [], extend_params: { royalty_finish: 'true' } });
  expect(toSettleBiz(shareRequest({ receivers: [{ account: '13800138000', amount_minor: 5n, description: '' }] }), 'loginName').royalty_parameters)
    .toEqual([{ royalty_type: 'transfer', trans_in_type: 'loginName', trans_in: '13800138000', amount: '0.05', desc: '分账' }]);
});

test('alipay royalty - refused before Alipay sees it: a share_no no out_request_no can be, a receiver that is no user id, a non-positive amount, no receivers without finish', () => {
  const refused = (request: ShareRequest, type: 'userId' | 'loginName' = 'userId') => {
    try {
      toSettleBiz(request, type);
    } catch (error) {
      return error as ChannelError;
    }
    throw new Error('not refused');
  };
  expect(refused(shareRequest({ share_no: 'unfreeze:pay1' }))).toMatchObject({ kind: 'rejected', message: expect.stringContaining('share_no') });
  expect(refused(shareRequest({ receivers: [{ account: '1900000201', amount_minor: 1n, description: '' }] }))).toMatchObject({ kind: 'rejected', message: expect.stringContaining('receivers[0].account') });
  expect(refused(shareRequest({ receivers: [{ account: r1, amount_minor: 0n, description: '' }] }))).toMatchObject({ kind: 'rejected', message: expect.stringContaining('receivers[0] amount') });
  expect(refused(shareRequest({ receivers: [] }))).toMatchObject({ kind: 'rejected', message: expect.stringContaining('unfreeze') });
});

test('alipay royalty - the settle answer: 10000 gives settle_no; a business failure is refused with Alipay\'s code; ACQ.SYSTEM_ERROR and 20000 are ambiguous', () => {
  expect(fromSettleResponse({ code: '10000', msg: 'Success', trade_no: '2014030411001007850000672009', settle_no: '20240101000001' })).toEqual({ settle_no: '20240101000001' });
  expect(() => fromSettleResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.ALLOC_AMOUNT_VALIDATE_ERROR', sub_msg: '分账金额超过最大可分账金额' }))
    .toThrow(expect.objectContaining({ kind: 'rejected', code: 'ACQ.ALLOC_AMOUNT_VALIDATE_ERROR' }));
  expect(() => fromSettleResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.SYSTEM_ERROR', sub_msg: '系统错误' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
  expect(() => fromSettleResponse({ code: '20000', msg: 'Service Currently Unavailable', sub_code: 'isp.unknow-error' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
  expect(() => fromSettleResponse({ code: '40002', msg: 'Invalid Arguments', sub_code: 'isv.invalid-signature' })).toThrow(expect.objectContaining({ kind: 'rejected' }));
});

test('alipay royalty - the settle query: each receiver matched by trans_in and amount; final only when every one is SUCCESS or FAIL; no settle is not_found', () => {
  const request = shareRequest();
  const detail = (trans_in: string, amount: string, state: string) => ({ operation_type: 'transfer', trans_in, trans_in_type: 'userId', amount, state });
  const body = (states: [string, string]) => ({
    code: '10000', msg: 'Success', out_request_no: request.share_no, operation_dt: '2024-01-01 10:00:00',
    royalty_detail_list: [detail(r2, '90071992547409.93', states[1]), detail(r1, '300.01', states[0])],
  });
  expect(toSettleQueryBiz(request.share_no, request.channel_trade_no)).toEqual({ out_request_no: request.share_no, trade_no: request.channel_trade_no });
  expect(fromSettleQueryResponse(body(['SUCCESS', 'PROCESSING']), request, '2024S')).toEqual({ kind: 'processing' });
  expect(fromSettleQueryResponse(body(['SUCCESS', 'SUCCESS']), request, '2024S')).toEqual({ kind: 'finished', channel_share_no: '2024S', received: [true, true] });
  expect(fromSettleQueryResponse(body(['FAIL', 'SUCCESS']), request, '2024S')).toEqual({ kind: 'finished', channel_share_no: '2024S', received: [false, true] });
  // A detail of another amount is not this receiver's: not final.
  expect(fromSettleQueryResponse({ ...body(['SUCCESS', 'SUCCESS']), royalty_detail_list: [detail(r1, '300.00', 'SUCCESS'), detail(r2, '90071992547409.93', 'SUCCESS')] }, request, 'x')).toEqual({ kind: 'processing' });
  expect(fromSettleQueryResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.SETTLE_NOT_EXIST', sub_msg: '分账请求不存在' }, request, 'x')).toEqual({ kind: 'not_found' });
  expect(() => fromSettleQueryResponse({ ...body(['SUCCESS', 'SUCCESS']), out_request_no: 'other' }, request, 'x')).toThrow(expect.objectContaining({ kind: 'ambiguous', code: 'BAD_RESPONSE' }));
  // An unfreeze is final once answered.
  expect(fromSettleQueryResponse({ code: '10000', msg: 'Success', out_request_no: request.share_no, royalty_detail_list: [] }, { ...request, receivers: [] }, 'x')).toEqual({ kind: 'finished', channel_share_no: 'x', received: [] });
});

test('alipay royalty - the bind: one receiver, a stable out_request_no; refusals carry Alipay\'s code', () => {
  expect(toBindBiz('userId', r1)).toEqual({ receiver_list: [{ type: 'userId', account: r1 }], out_request_no: bindRequestNo('userId', r1) });
  expect(bindRequestNo('userId', r1)).toMatch(/^bind_[0-9a-f]{40}$/);
  expect(bindRequestNo('userId', r1)).not.toBe(bindRequestNo('userId', r2));
  expect(() => toBindBiz('userId', 'abc')).toThrow(expect.objectContaining({ kind: 'rejected' }));
  expect(() => fromBindResponse({ code: '10000', msg: 'Success', result_code: 'SUCCESS' })).not.toThrow();
  expect(() => fromBindResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.INVALID_PARAMETER' })).toThrow(expect.objectContaining({ kind: 'rejected', code: 'ACQ.INVALID_PARAMETER' }));
  expect(() => fromBindResponse({ code: '10000', msg: 'Success', result_code: 'FAIL' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
});

test('alipay royalty - a refund carries the shares it takes back as refund_royalty_parameters (trans_out, yuan); never more than the refund', () => {
  const refund: RefundRequest = {
    refund_id: 'r1', attempt: { attempt_id: 'pay1a1', payment_id: 'pay1', product: 'ALIPAY_QR', amount_minor: 100_000n, currency: 'CNY' },
    channel_trade_no: '2014030411001007850000672009', amount_minor: 50_000n, reason: '', notify_url: '',
    share_returns: [{ account: r1, amount_minor: 30_001n }, { account: r2, amount_minor: 19_999n }],
  };
  expect(toRefundBiz(refund).refund_royalty_parameters).toEqual([
    { royalty_type: 'transfer', trans_out_type: 'userId', trans_out: r1, amount: '300.01', desc: '退分账' },
    { royalty_type: 'transfer', trans_out_type: 'userId', trans_out: r2, amount: '199.99', desc: '退分账' },
  ]);
  expect(toRefundBiz({ ...refund, share_returns: [] }).refund_royalty_parameters).toBeUndefined();
  expect(toRefundBiz({ ...refund, share_returns: undefined }).refund_royalty_parameters).toBeUndefined();
  expect(() => toRefundBiz({ ...refund, amount_minor: 50_000n - 1n })).toThrow(expect.objectContaining({ kind: 'rejected', message: expect.stringContaining('more than the refund') }));
});

test('alipay royalty - the settle call is signed RSA2 over its parameters, and its signed answer verifies under alipay_trade_order_settle_response', () => {
  const app = pair();
  const platform = pair();
  const params = gatewayParams(ROYALTY_METHODS.settle, toSettleBiz(shareRequest(), 'userId'), { app_id: '2014072300007148', now: new Date('2024-01-01T02:00:00Z') });
  const signed = signParams(params, app.privateKey);
  expect(verifyParams(signed, app.publicKey)).toBe(true);
  expect(verifyParams({ ...signed, biz_content: signed.biz_content!.replace('300.01', '300.02') }, app.publicKey)).toBe(false);
  const answer = signResponse('alipay_trade_order_settle_response', { code: '10000', msg: 'Success', trade_no: '2014030411001007850000672009', settle_no: '2024S' }, platform.privateKey);
  const verdict = verifyResponse(answer, ROYALTY_METHODS.settle, platform.publicKey);
  expect(verdict).toMatchObject({ ok: true, body: { settle_no: '2024S' } });
  expect(verifyResponse(answer.replace('2024S', '2024T'), ROYALTY_METHODS.settle, platform.publicKey)).toMatchObject({ ok: false });
});

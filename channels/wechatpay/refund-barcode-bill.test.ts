// WeChat Pay refunds, the v2 payment-code call and the trade bill against documented shapes.

import type { RefundRequest } from '../channel';
import { fromXml, toXml, v2Sign, v2Verify } from './crypto';
import {
  TRADE_BILL_COLUMNS, TRADE_BILL_SUMMARY_COLUMNS, fromMicropayResponse, fromReverseResponse, toReverseParams, mapRefundError, mapRefundStatus, parseTradeBill,
  toMicropayParams, toRefundQueryRequest, toRefundRequest, toTradeBillRequest,
} from './transformers';

const attempt = { attempt_id: '1217752501201407033233368018', payment_id: 'p', product: 'WECHAT_NATIVE' as const, amount_minor: 888n, currency: 'CNY' };

describe('wechatpay refunds - transformers', () => {
  test('wechatpay refunds - the create body has the documented fields', () => {
    const request: RefundRequest = { refund_id: '1217752501201407033233368018', attempt, channel_trade_no: '1217752501201407033233368018', amount_minor: 888n, reason: '商品已售完', notify_url: 'https://weixin.qq.com' };
    const call = toRefundRequest(request);
    expect(call).toMatchObject({ method: 'POST', path: '/v3/refund/domestic/refunds' });
    expect(JSON.parse(call.body)).toEqual({
      transaction_id: '1217752501201407033233368018', out_refund_no: '1217752501201407033233368018', reason: '商品已售完', notify_url: 'https://weixin.qq.com',
      amount: { refund: 888, total: 888, currency: 'CNY' },
    });
    expect(JSON.parse(toRefundRequest({ ...request, channel_trade_no: undefined }).body).out_trade_no).toBe(attempt.attempt_id);
    expect(() => toRefundRequest({ ...request, amount_minor: 889n })).toThrow(/exceeds/);
    expect(toRefundQueryRequest('1217752501201407033233368018').path).toBe('/v3/refund/domestic/refunds/1217752501201407033233368018');
  });

  test('wechatpay refunds - status mapping (answer `status`, callback `refund_status`)', () => {
    const documented = {
      refund_id: '50000000382019052709732678859', out_refund_no: '1217752501201407033233368018', transaction_id: '1217752501201407033233368018',
      out_trade_no: '1217752501201407033233368018', channel: 'ORIGINAL', user_received_account: '招商银行信用卡0403', success_time: '2020-12-01T16:18:12+08:00',
      create_time: '2020-12-01T16:18:12+08:00', status: 'SUCCESS', amount: { total: 100, refund: 100, payer_total: 90, payer_refund: 90, currency: 'CNY' },
    };
    expect(mapRefundStatus(documented)).toEqual({ kind: 'succeeded', channel_refund_no: '50000000382019052709732678859', amount_minor: 100n, refunded_at: new Date('2020-12-01T08:18:12Z') });
    expect(mapRefundStatus({ ...documented, status: 'PROCESSING' })).toEqual({ kind: 'pending', channel_refund_no: documented.refund_id });
    expect(mapRefundStatus({ ...documented, status: 'ABNORMAL' })).toMatchObject({ kind: 'requires_manual', code: 'ABNORMAL' });
    expect(mapRefundStatus({ ...documented, status: 'CLOSED' })).toMatchObject({ kind: 'failed', retryable: false });
    expect(mapRefundStatus({ ...documented, status: undefined, refund_status: 'SUCCESS' })).toMatchObject({ kind: 'succeeded' });
    expect(mapRefundStatus({ ...documented, status: 'SOMETHING_NEW' })).toMatchObject({ kind: 'pending' });
  });

  test('wechatpay refunds - NOT_ENOUGH / SYSTEM_ERROR / FREQUENCY_LIMITED retryable; PARAM_ERROR rejected', () => {
    expect(mapRefundError(403, '{"code":"NOT_ENOUGH","message":"余额不足"}')).toMatchObject({ kind: 'failed', code: 'NOT_ENOUGH', retryable: true });
    expect(mapRefundError(500, '{"code":"SYSTEM_ERROR","message":"系统超时"}')).toMatchObject({ kind: 'failed', retryable: true });
    expect(mapRefundError(429, '{"code":"FREQUENCY_LIMITED","message":"频率限制"}')).toMatchObject({ kind: 'failed', retryable: true });
    expect(mapRefundError(403, '{"code":"USER_ACCOUNT_ABNORMAL","message":"退款请求失败"}')).toMatchObject({ kind: 'requires_manual' });
    expect(() => mapRefundError(400, '{"code":"PARAM_ERROR","message":"参数错误"}')).toThrow(expect.objectContaining({ kind: 'rejected' }));
    expect(() => mapRefundError(502, '<html>bad gateway</html>')).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
  });
});

describe('wechatpay BARCODE - v2 micropay', () => {
  test('wechatpay micropay - v2 sign: HMAC-SHA256 and MD5 over sorted params with &key=', () => {
    // The documented example: MD5 of the sorted string with the API key appended.
    const params = { appid: 'wxd930ea5d5a258f4f', mch_id: '10000100', device_info: '1000', body: 'test', nonce_str: 'ibuaiVcKdpRxkhJA' };
    expect(v2Sign(params, '192006250b4c09247ec02edce69f6a2d', 'MD5')).toBe('9A0A8659F005D6984697E2CA0A9CF3B7');
    const signed = { ...params, sign: v2Sign(params, '192006250b4c09247ec02edce69f6a2d', 'HMAC-SHA256') };
    expect(signed.sign).toBe('6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6');
    expect(v2Verify(signed, '192006250b4c09247ec02edce69f6a2d', 'HMAC-SHA256')).toBe(true);
    expect(v2Verify({ ...signed, body: 'test2' }, '192006250b4c09247ec02edce69f6a2d', 'HMAC-SHA256')).toBe(false);
  });

  test('wechatpay micropay - XML round trip; entities and nesting are not expanded', () => {
    expect(fromXml(toXml({ return_code: 'SUCCESS', body: 'a<b>&c' }))).toEqual({ return_code: 'SUCCESS', body: 'a<b>&c' });
    expect(fromXml('<xml><a>1</a><b>x &amp; y</b></xml>')).toEqual({ a: '1', b: 'x & y' });
    expect(fromXml('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>')).toBeUndefined();
    expect(fromXml('<xml><a><b>1</b></a></xml>')).toBeUndefined();
  });

  test('wechatpay micropay - request fields; auth_code must be a WeChat code', () => {
    const request = {
      attempt_id: '1415757673', payment_id: 'p', product: 'BARCODE' as const, amount_minor: 1n, currency: 'CNY', subject: 'image形象店-深圳腾大- QQ公仔',
      expires_at: new Date('2014-11-12T02:00:00Z'), payer: { auth_code: '120061098828009406', client_ip: '14.17.22.52' }, notify_url: '',
    };
    expect(toMicropayParams(request, { appid: 'wx2421b1c4370ec43b', mchid: '10000100' })).toEqual({
      appid: 'wx2421b1c4370ec43b', mch_id: '10000100', sign_type: 'HMAC-SHA256', body: 'image形象店-深圳腾大- QQ公仔', out_trade_no: '1415757673',
      total_fee: '1', fee_type: 'CNY', spbill_create_ip: '14.17.22.52', auth_code: '120061098828009406', time_expire: '20141112100000',
    });
    expect(() => toMicropayParams({ ...request, payer: { auth_code: '286248811136627500' } }, { appid: 'a', mchid: 'm' })).toThrow(/WeChat payment code/);
  });

  test('wechatpay micropay - answers: SUCCESS, USERPAYING, ORDERPAID, business failure, SYSTEMERROR, return FAIL', () => {
    const ok = { return_code: 'SUCCESS', return_msg: 'OK', result_code: 'SUCCESS', transaction_id: '1217752501201407033233368018', out_trade_no: '1415757673', total_fee: '1', time_end: '20141030133525' };
    expect(fromMicropayResponse(ok)).toEqual({ kind: 'succeeded', channel_trade_no: '1217752501201407033233368018', amount_minor: 1n, paid_at: new Date('2014-10-30T05:35:25Z') });
    expect(fromMicropayResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'USERPAYING', err_code_des: '需要用户输入支付密码' })).toEqual({ kind: 'pending' });
    expect(fromMicropayResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'ORDERPAID' })).toBe('query');
    expect(fromMicropayResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'ORDERREVERSED' })).toEqual({ kind: 'closed' });
    expect(fromMicropayResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'AUTHCODEEXPIRE', err_code_des: '二维码已过期' })).toMatchObject({ kind: 'failed', code: 'AUTHCODEEXPIRE' });
    expect(() => fromMicropayResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'SYSTEMERROR' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    expect(() => fromMicropayResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'PARAM_ERROR' })).toThrow(expect.objectContaining({ kind: 'rejected' }));
    expect(() => fromMicropayResponse({ return_code: 'FAIL', return_msg: '签名失败' })).toThrow(expect.objectContaining({ kind: 'rejected' }));
    // The order exists under our attempt id: ask what it became, never a refusal.
    expect(fromMicropayResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'OUT_TRADE_NO_USED', err_code_des: '商户订单号重复' })).toBe('query');
  });

  test('wechatpay reverse - request fields, and what each answer means for the close', () => {
    expect(toReverseParams({ attempt_id: 'pabca1' }, { appid: 'wx1', mchid: '1900000001' })).toEqual({ appid: 'wx1', mch_id: '1900000001', sign_type: 'HMAC-SHA256', out_trade_no: 'pabca1' });
    expect(fromReverseResponse({ return_code: 'SUCCESS', result_code: 'SUCCESS', recall: 'N' })).toEqual({ kind: 'closed' });
    expect(fromReverseResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'ORDERNOTEXIST' })).toEqual({ kind: 'closed' });
    expect(() => fromReverseResponse({ return_code: 'SUCCESS', result_code: 'SUCCESS', recall: 'Y' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    expect(() => fromReverseResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'SYSTEMERROR', recall: 'Y' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    expect(() => fromReverseResponse({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'REVERSE_EXPIRE' })).toThrow(expect.objectContaining({ kind: 'rejected', code: 'REVERSE_EXPIRE' }));
  });
});

describe('wechatpay trade bill - transformers', () => {
  test('wechatpay trade bill - request and the 27-column ALL bill with summary rows', () => {
    expect(toTradeBillRequest('2019-06-11')).toEqual({ method: 'GET', path: '/v3/bill/tradebill?bill_date=2019-06-11&bill_type=ALL', body: '' });
    expect(TRADE_BILL_COLUMNS).toHaveLength(27);
    const tick = (fields: string[]) => fields.map((f) => `\`${f}`).join(',');
    const text = [
      TRADE_BILL_COLUMNS.join(','),
      tick(['2014-11-10 16:33:45', 'wx2421b1c4370ec43b', '10000100', '0', '1000', '1001690740201411100005734289', '1415640626', 'oUpF8uCuY-', 'NATIVE', 'SUCCESS', 'CMC', 'CNY', '0.01', '0.00', '0', '0', '0.00', '0.00', '', '', '被扫支付测试', '订单额外描述', '0.00', '0.60%', '0.01', '0.00', '']),
      tick(['2014-11-10 16:50:00', 'wx2421b1c4370ec43b', '10000100', '0', '1000', '1001690740201411100005734289', '1415640626', 'oUpF8uCuY-', 'NATIVE', 'REFUND', 'CMC', 'CNY', '0.01', '0.00', '2008450740201411110000174436', '1415701182', '0.01', '0.00', 'ORIGINAL', 'SUCCESS', '被扫支付测试', '订单额外描述', '0.00', '0.60%', '0.01', '0.01', '']),
      TRADE_BILL_SUMMARY_COLUMNS.join(','),
      tick(['2', '0.01', '0.01', '0.00', '0.00', '0.01', '0.01']),
    ].join('\r\n');
    expect(parseTradeBill(text, 'wx1')).toEqual([
      { channel_id: 'wx1', attempt_id: '1415640626', channel_trade_no: '1001690740201411100005734289', kind: 'payment', amount_minor: 1n, fee_minor: 0n, currency: 'CNY', occurred_at: new Date('2014-11-10T08:33:45Z') },
      { channel_id: 'wx1', attempt_id: '1415640626', channel_trade_no: '1001690740201411100005734289', kind: 'refund', amount_minor: 1n, fee_minor: 0n, currency: 'CNY', occurred_at: new Date('2014-11-10T08:50:00Z'), refund_id: '1415701182' },
    ]);
    expect(() => parseTradeBill(text.replace('`2,`0.01', '`3,`0.01'), 'wx1')).toThrow(/summary says 3/);
  });
});

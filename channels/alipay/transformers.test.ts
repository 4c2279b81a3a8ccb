// Transformers and signatures against the Alipay open platform's documented payload shapes.

import { generateKeyPairSync } from 'node:crypto';
import { ChannelError, type PayRequest } from '../channel';
import {
  extractSignedResponse, signContent, signNotificationParams, signParams, signResponse, verifyNotificationParams, verifyParams, verifyResponse,
} from './crypto';
import {
  BILL_COLUMNS, clientSideAction, fromCancelResponse, fromCloseResponse, fromCreateResponse, fromQueryResponse, fromRefundQueryResponse, fromRefundResponse,
  gatewayParams, mapTradeStatus, notificationAnswer, parseBill, readNotification, toPayBiz, toRefundBiz,
} from './transformers';

const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const app = pair();
const platform = pair();

function payRequest(overrides: Partial<PayRequest> = {}): PayRequest {
  return {
    attempt_id: '20150320010101001', payment_id: 'pay_1', product: 'ALIPAY_QR', amount_minor: 8_888n, currency: 'CNY', subject: 'Iphone6 16G',
    expires_at: new Date('2016-12-31T02:00:00Z'), payer: {}, notify_url: 'http://api.test.alipay.net/atinterface/receive_notify.htm', ...overrides,
  };
}

describe('alipay crypto - RSA2 over the sorted parameter string', () => {
  test('alipay crypto - signs sorted non-empty params without sign, raw values', () => {
    expect(signContent({ method: 'alipay.trade.query', app_id: '2014072300007148', sign: 'x', empty: '', charset: 'utf-8', biz_content: '{"a":"b c&d"}' }))
      .toBe('app_id=2014072300007148&biz_content={"a":"b c&d"}&charset=utf-8&method=alipay.trade.query');
  });

  test('alipay crypto - request signature includes sign_type; notification signature excludes it', () => {
    const params = gatewayParams('alipay.trade.query', { out_trade_no: '20150320010101001' }, { app_id: '2014072300007148', now: new Date('2014-07-24T03:07:50Z') });
    expect(params).toMatchObject({ format: 'JSON', charset: 'utf-8', sign_type: 'RSA2', version: '1.0', timestamp: '2014-07-24 11:07:50' });
    const signed = signParams(params, app.privateKey);
    expect(verifyParams(signed, app.publicKey)).toBe(true);
    expect(verifyParams({ ...signed, sign_type: 'RSA' }, app.publicKey)).toBe(false);
    const notification = signNotificationParams({ out_trade_no: '1', trade_status: 'TRADE_SUCCESS', app_id: '2014072300007148' }, platform.privateKey);
    expect(verifyNotificationParams(notification, platform.publicKey)).toBe(true);
    expect(verifyNotificationParams({ ...notification, trade_status: 'TRADE_CLOSED' }, platform.publicKey)).toBe(false);
  });

  test('alipay crypto - the response signature covers the exact *_response substring', () => {
    const text = signResponse('alipay_trade_precreate_response', { code: '10000', msg: 'Success', out_trade_no: '6823789339978248', qr_code: 'https://qr.alipay.com/bavh4wjlxf12tper3a' }, platform.privateKey);
    const verdict = verifyResponse(text, 'alipay.trade.precreate', platform.publicKey);
    expect(verdict).toMatchObject({ ok: true, key: 'alipay_trade_precreate_response', body: { qr_code: 'https://qr.alipay.com/bavh4wjlxf12tper3a' } });
    // Whitespace Alipay may put around the object is outside the signed text.
    const spaced = text.replace('_response":', '_response" :  ');
    expect(verifyResponse(spaced, 'alipay.trade.precreate', platform.publicKey).ok).toBe(true);
    expect(verifyResponse(text.replace('bavh4', 'bavh5'), 'alipay.trade.precreate', platform.publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyResponse('{"alipay_trade_precreate_response":{"code":"10000"}}', 'alipay.trade.precreate', platform.publicKey)).toEqual({ ok: false, reason: 'missing_sign' });
    expect(extractSignedResponse('{"error_response":{"code":"40002","sub_msg":"a}\\"b"},"sign":"s"}', 'alipay.trade.pay')).toEqual({ key: 'error_response', content: '{"code":"40002","sub_msg":"a}\\"b"}', sign: 's' });
  });
});

describe('alipay transformers - requests', () => {
  test('alipay - precreate biz_content has the documented fields in yuan and China time', () => {
    expect(toPayBiz(payRequest())).toEqual({
      method: 'alipay.trade.precreate',
      biz: { out_trade_no: '20150320010101001', total_amount: '88.88', subject: 'Iphone6 16G', product_code: 'FACE_TO_FACE_PAYMENT', time_expire: '2016-12-31 10:00:00' },
    });
    expect(toPayBiz(payRequest({ product: 'ALIPAY_WAP' })).biz.product_code).toBe('QUICK_WAP_WAY');
    expect(toPayBiz(payRequest({ product: 'ALIPAY_PC' })).method).toBe('alipay.trade.page.pay');
    expect(toPayBiz(payRequest({ product: 'ALIPAY_APP' })).biz.product_code).toBe('QUICK_MSECURITY_PAY');
  });

  test('alipay - BARCODE is alipay.trade.pay with scene bar_code and an Alipay auth_code', () => {
    const { method, biz } = toPayBiz(payRequest({ product: 'BARCODE', payer: { auth_code: '28763443825664394' } }));
    expect(method).toBe('alipay.trade.pay');
    expect(biz).toMatchObject({ scene: 'bar_code', auth_code: '28763443825664394', product_code: 'FACE_TO_FACE_PAYMENT' });
    expect(() => toPayBiz(payRequest({ product: 'BARCODE', payer: { auth_code: '134567890123456789' } }))).toThrow(ChannelError);
    expect(() => toPayBiz(payRequest({ product: 'WECHAT_NATIVE' }))).toThrow(/does not support/);
    expect(() => toPayBiz(payRequest({ amount_minor: 0n }))).toThrow(/positive/);
    expect(() => toPayBiz(payRequest({ currency: 'USD' }))).toThrow(/CNY/);
  });

  test('alipay - APP order string and WAP redirect are the URL-encoded signed parameters', () => {
    const signed = { app_id: '2015052600090779', method: 'alipay.trade.app.pay', biz_content: '{"subject":"大乐透"}', sign: 'a+b/c=' };
    const app_action = clientSideAction('ALIPAY_APP', 'https://openapi.alipay.com/gateway.do', signed);
    expect(app_action.value).toBe('app_id=2015052600090779&biz_content=%7B%22subject%22%3A%22%E5%A4%A7%E4%B9%90%E9%80%8F%22%7D&method=alipay.trade.app.pay&sign=a%2Bb%2Fc%3D');
    expect(app_action.params).toEqual({ orderStr: app_action.value });
    expect(clientSideAction('ALIPAY_WAP', 'https://openapi.alipay.com/gateway.do', signed)).toEqual({ type: 'REDIRECT', value: `https://openapi.alipay.com/gateway.do?${app_action.value}` });
  });

  test('alipay - refund biz_content carries out_request_no and the amount in yuan', () => {
    const attempt = { attempt_id: '20150320010101001', payment_id: 'p', product: 'ALIPAY_QR' as const, amount_minor: 8_888n, currency: 'CNY' };
    expect(toRefundBiz({ refund_id: 'HZ01RF001', attempt, channel_trade_no: '2014112611001004680073956707', amount_minor: 20n, reason: '正常退款', notify_url: '' }))
      .toEqual({ out_trade_no: '20150320010101001', trade_no: '2014112611001004680073956707', refund_amount: '0.20', refund_reason: '正常退款', out_request_no: 'HZ01RF001' });
  });
});

describe('alipay transformers - answers', () => {
  test('alipay - precreate 10000 is a QR code; TRADE_HAS_SUCCESS asks for a query; 40002 is rejected; 20000 ambiguous', () => {
    expect(fromCreateResponse('ALIPAY_QR', { code: '10000', msg: 'Success', out_trade_no: '6823789339978248', qr_code: 'https://qr.alipay.com/bavh4wjlxf12tper3a' } as never))
      .toEqual({ kind: 'action_required', next_action: { type: 'QR_CODE', value: 'https://qr.alipay.com/bavh4wjlxf12tper3a' } });
    expect(fromCreateResponse('ALIPAY_QR', { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_HAS_SUCCESS', sub_msg: '交易已被支付' })).toBe('query');
    expect(fromCreateResponse('ALIPAY_QR', { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_HAS_CLOSE', sub_msg: '交易已经关闭' })).toEqual({ kind: 'closed' });
    expect(() => fromCreateResponse('ALIPAY_QR', { code: '40002', msg: 'Invalid Arguments', sub_code: 'isv.invalid-signature', sub_msg: '验签出错' })).toThrow(expect.objectContaining({ kind: 'rejected' }));
    expect(() => fromCreateResponse('ALIPAY_QR', { code: '20000', msg: 'Service Currently Unavailable', sub_code: 'isp.unknow-error', sub_msg: '系统繁忙' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    expect(() => fromCreateResponse('ALIPAY_QR', { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.CONTEXT_INCONSISTENT', sub_msg: '交易信息被篡改' })).toThrow(expect.objectContaining({ kind: 'rejected' }));
  });

  test('alipay - trade.pay: 10000 succeeded, 10003 pending, 40004 failed with sub_code, SYSTEM_ERROR ambiguous', () => {
    expect(fromCreateResponse('BARCODE', {
      code: '10000', msg: 'Success', trade_no: '2013112011001004330000121536', out_trade_no: '6823789339978248', buyer_logon_id: '159****5620',
      total_amount: '88.88', receipt_amount: '8.88', gmt_payment: '2014-11-27 15:45:57',
    })).toEqual({ kind: 'succeeded', channel_trade_no: '2013112011001004330000121536', amount_minor: 8_888n, paid_at: new Date('2014-11-27T07:45:57Z') });
    expect(fromCreateResponse('BARCODE', { code: '10003', msg: 'order success pay inprocess', trade_no: '2013112011001004330000121536' }))
      .toEqual({ kind: 'pending', channel_trade_no: '2013112011001004330000121536' });
    expect(fromCreateResponse('BARCODE', { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.PAYMENT_AUTH_CODE_INVALID', sub_msg: '支付失败，获取顾客账户信息失败' }))
      .toMatchObject({ kind: 'failed', code: 'ACQ.PAYMENT_AUTH_CODE_INVALID' });
    expect(() => fromCreateResponse('BARCODE', { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.SYSTEM_ERROR', sub_msg: '系统错误' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    expect(() => fromCreateResponse('BARCODE', { code: '99999', msg: '?' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    // A payment code whose trade exists under our out_trade_no: ask what it became.
    expect(fromCreateResponse('BARCODE', { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.CONTEXT_INCONSISTENT', sub_msg: '交易信息被篡改' })).toBe('query');
    expect(() => fromCreateResponse('ALIPAY_QR', { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.CONTEXT_INCONSISTENT', sub_msg: '交易信息被篡改' })).toThrow(expect.objectContaining({ kind: 'rejected' }));
  });

  test('alipay - a refusal down to the payer (balance, payment code) is classified payer_decline, ours is not', () => {
    for (const sub_code of ['ACQ.BUYER_BALANCE_NOT_ENOUGH', 'ACQ.PAYMENT_AUTH_CODE_INVALID']) {
      expect(() => fromCreateResponse('ALIPAY_QR', { code: '40004', msg: 'Business Failed', sub_code })).toThrow(expect.objectContaining({ kind: 'rejected', code: sub_code, payer_decline: true }));
      expect(() => fromCreateResponse('ALIPAY_QR', { code: '40002', msg: 'Invalid Arguments', sub_code })).toThrow(expect.objectContaining({ kind: 'rejected', code: sub_code, payer_decline: true }));
    }
    for (const sub_code of ['ACQ.CONTEXT_INCONSISTENT', 'isv.invalid-signature', 'NOTENOUGH']) {
      expect(() => fromCreateResponse('ALIPAY_QR', { code: '40004', msg: 'Business Failed', sub_code })).toThrow(expect.objectContaining({ kind: 'rejected', code: sub_code, payer_decline: false }));
    }
    expect(() => fromCloseResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' })).toThrow(expect.objectContaining({ kind: 'rejected', payer_decline: true }));
  });

  test('alipay cancel - closed (action close or refund), nothing to cancel, or ask again', () => {
    expect(fromCancelResponse({ code: '10000', msg: 'Success', retry_flag: 'N' })).toEqual({ kind: 'closed' });
    expect(fromCancelResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST' })).toEqual({ kind: 'closed' });
    expect(() => fromCancelResponse({ code: '10000', msg: 'Success', retry_flag: 'Y' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    expect(() => fromCancelResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.SYSTEM_ERROR' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
  });

  test('alipay - trade_status mapping; unknown stays pending; incomplete success stays pending', () => {
    const paid = { trade_no: '2013112011001004330000121536', total_amount: '88.88', paid_at_text: '2014-11-27 15:45:57' };
    expect(mapTradeStatus({ ...paid, trade_status: 'TRADE_SUCCESS' })).toMatchObject({ kind: 'succeeded', amount_minor: 8_888n });
    expect(mapTradeStatus({ ...paid, trade_status: 'TRADE_FINISHED' })).toMatchObject({ kind: 'succeeded' });
    expect(mapTradeStatus({ ...paid, trade_status: 'TRADE_CLOSED' })).toEqual({ kind: 'closed' });
    expect(mapTradeStatus({ ...paid, trade_status: 'WAIT_BUYER_PAY' })).toEqual({ kind: 'pending', channel_trade_no: paid.trade_no });
    expect(mapTradeStatus({ ...paid, trade_status: 'SOMETHING_NEW' })).toEqual({ kind: 'pending', channel_trade_no: paid.trade_no });
    expect(mapTradeStatus({ trade_status: 'TRADE_SUCCESS', trade_no: paid.trade_no, total_amount: '88.888' })).toEqual({ kind: 'pending', channel_trade_no: paid.trade_no });
    expect(fromQueryResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' })).toEqual({ kind: 'not_found' });
    expect(fromQueryResponse({ code: '10000', msg: 'Success', trade_status: 'TRADE_SUCCESS', trade_no: paid.trade_no, total_amount: '88.88', send_pay_date: '2014-11-27 15:45:57' }))
      .toMatchObject({ kind: 'succeeded' });
  });

  test('alipay - close: 10000 closed, TRADE_NOT_EXIST closed, TRADE_STATUS_ERROR asks for a query', () => {
    expect(fromCloseResponse({ code: '10000', msg: 'Success' })).toEqual({ kind: 'closed' });
    expect(fromCloseResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' })).toEqual({ kind: 'closed' });
    expect(fromCloseResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_STATUS_ERROR', sub_msg: '交易状态不合法' })).toBe('query');
  });

  test('alipay - refund: fund_change Y succeeded, N asks for a query, balance / system errors retryable', () => {
    const attempt = { attempt_id: '6823789339978248', payment_id: 'p', product: 'ALIPAY_QR' as const, amount_minor: 8_888n, currency: 'CNY' };
    const request = { refund_id: 'HZ01RF001', attempt, amount_minor: 20n, reason: '', notify_url: '' };
    expect(fromRefundResponse({ code: '10000', msg: 'Success', trade_no: '2013112011001004330000121536', out_trade_no: '6823789339978248', fund_change: 'Y', refund_fee: '88.88', gmt_refund_pay: '2014-11-27 15:45:57' }, request))
      .toEqual({ kind: 'succeeded', channel_refund_no: '2013112011001004330000121536', amount_minor: 20n, refunded_at: new Date('2014-11-27T07:45:57Z') });
    expect(fromRefundResponse({ code: '10000', msg: 'Success', fund_change: 'N', refund_fee: '88.88' }, request)).toBe('query');
    expect(fromRefundResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.SELLER_BALANCE_NOT_ENOUGH', sub_msg: '卖家余额不足' }, request)).toMatchObject({ kind: 'failed', retryable: true });
    expect(fromRefundResponse({ code: '20000', msg: 'Service Currently Unavailable', sub_code: 'ACQ.SYSTEM_ERROR', sub_msg: '系统错误' }, request)).toMatchObject({ kind: 'failed', retryable: true });
    expect(fromRefundResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', sub_msg: '退款金额超限' }, request)).toMatchObject({ kind: 'failed', retryable: false });
  });

  test('alipay - refund query: REFUND_SUCCESS succeeded, no refund data not_found', () => {
    expect(fromRefundQueryResponse({ code: '10000', msg: 'Success', trade_no: '2014112611001004680073956707', out_trade_no: '20150320010101001', out_request_no: '20150320010101001', total_amount: '100.20', refund_amount: '12.33', refund_status: 'REFUND_SUCCESS', gmt_refund_pay: '2014-11-27 15:45:57' }))
      .toEqual({ kind: 'succeeded', channel_refund_no: '2014112611001004680073956707', amount_minor: 1_233n, refunded_at: new Date('2014-11-27T07:45:57Z') });
    expect(fromRefundQueryResponse({ code: '10000', msg: 'Success', trade_no: '2014112611001004680073956707', out_trade_no: '20150320010101001' })).toEqual({ kind: 'not_found' });
    expect(fromRefundQueryResponse({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' })).toEqual({ kind: 'not_found' });
  });

  test('alipay - notifications: trade_status_sync payments and refunds (out_biz_no), answered `success`', () => {
    const base = { notify_type: 'trade_status_sync', app_id: '2014072300007148', trade_no: '2013112011001004330000121536', out_trade_no: '6823789339978248', total_amount: '20.00', gmt_payment: '2015-04-27 15:45:57' };
    expect(readNotification({ ...base, trade_status: 'TRADE_SUCCESS' })).toEqual({ type: 'payment', attempt_id: '6823789339978248', status: expect.objectContaining({ kind: 'succeeded', amount_minor: 2_000n }) });
    expect(readNotification({ ...base, trade_status: 'TRADE_CLOSED', out_biz_no: 'HZRF001', refund_fee: '20.00', gmt_refund: '2015-04-28 15:45:57.320' }))
      .toEqual({ type: 'refund', attempt_id: '6823789339978248', refund_id: 'HZRF001', channel_trade_no: '2013112011001004330000121536' });
    expect(notificationAnswer(true).body).toBe('success');
    expect(notificationAnswer(false).body).not.toBe('success');
  });
});

describe('alipay transformers - 业务明细 bill', () => {
  test('alipay - parses the 25-column detail with # comments and tab-padded values', () => {
    const line = (fields: string[]) => fields.map((f) => `${f}\t`).join(',');
    const empty = (n: number) => Array.from({ length: n }, () => '');
    const text = [
      '#支付宝业务明细查询',
      '#账号：[20886126836996110156]',
      '#起始日期：[2016年04月05日 00:00:00]   终止日期：[2016年04月06日 00:00:00]',
      '#-----------------------------------------业务明细列表----------------------------------------',
      BILL_COLUMNS.join(','),
      line(['2016040521001004920200035390', '20160405001', '交易', '测试商品', '2016-04-05 10:00:00', '2016-04-05 10:00:05', ...empty(4), 'abc***@alipay.com', '10.00', '10.00', ...empty(8).map(() => '0.00'), '', '-0.06', '0.00', '']),
      line(['2016040521001004920200035390', '20160405001', '退款', '测试商品', '2016-04-05 10:00:00', '2016-04-05 12:00:00', ...empty(4), 'abc***@alipay.com', '10.00', '-4.00', ...empty(8).map(() => '0.00'), 'RF001', '0.02', '0.00', '']),
      '#-----------------------------------------业务明细列表结束------------------------------------',
      '#交易合计：1笔，商家实收共10.00元，商家优惠共0.00元',
      '#导出时间：[2016年04月06日 09:00:00]',
    ].join('\r\n');
    expect(parseBill(text, 'ali1')).toEqual([
      { channel_id: 'ali1', attempt_id: '20160405001', channel_trade_no: '2016040521001004920200035390', kind: 'payment', amount_minor: 1_000n, fee_minor: 6n, currency: 'CNY', occurred_at: new Date('2016-04-05T02:00:05Z') },
      { channel_id: 'ali1', attempt_id: '20160405001', channel_trade_no: '2016040521001004920200035390', kind: 'refund', amount_minor: 400n, fee_minor: -2n, currency: 'CNY', occurred_at: new Date('2016-04-05T04:00:00Z'), refund_id: 'RF001' },
    ]);
    expect(() => parseBill('#only comments', 'ali1')).toThrow(/header/);
  });
});

// Transformers against WeChat Pay v3 documented payload shapes.

import { generateKeyPairSync } from 'node:crypto';
import { ChannelError, type PayRequest } from '../channel';
import {
  fromFen, fromPayResponse, mapErrorResponse, mapStatus, notificationAnswer, parseNotificationBody, toChinaTime,
  toCloseRequest, toFen, toPayRequest, toQueryRequest, truncateDescription, type WechatTransaction,
} from './transformers';

const merchant = { appid: 'wxd678efh567hg6787', mchid: '1230000109' };

function payRequest(overrides: Partial<PayRequest> = {}): PayRequest {
  return {
    attempt_id: '1217752501201407033233368018',
    payment_id: 'pay_1',
    product: 'WECHAT_NATIVE',
    amount_minor: 100n,
    currency: 'CNY',
    subject: 'Image形象店-深圳腾大-QQ公仔',
    expires_at: new Date('2018-06-08T02:34:56Z'),
    payer: {},
    notify_url: 'https://www.weixin.qq.com/wxpay/pay.php',
    ...overrides,
  };
}

/** The documented query answer for a paid order. */
const paid: WechatTransaction = {
  appid: 'wxd678efh567hg6787',
  mchid: '1230000109',
  out_trade_no: '1217752501201407033233368018',
  transaction_id: '1217752501201407033233368018',
  trade_type: 'MICROPAY',
  trade_state: 'SUCCESS',
  trade_state_desc: '支付成功',
  bank_type: 'CMC',
  attach: '自定义数据',
  success_time: '2018-06-08T10:34:56+08:00',
  payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
  amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
};

describe('wechatpay transformers - pay request', () => {
  test('wechatpay - builds the native create body with documented fields', () => {
    const call = toPayRequest(payRequest(), merchant);
    expect(call.method).toBe('POST');
    expect(call.path).toBe('/v3/pay/transactions/native');
    expect(JSON.parse(call.body)).toEqual({
      appid: 'wxd678efh567hg6787',
      mchid: '1230000109',
      description: 'Image形象店-深圳腾大-QQ公仔',
      out_trade_no: '1217752501201407033233368018',
      time_expire: '2018-06-08T10:34:56+08:00',
      notify_url: 'https://www.weixin.qq.com/wxpay/pay.php',
      amount: { total: 100, currency: 'CNY' },
    });
  });

  test('wechatpay - JSAPI carries payer.openid and H5 carries scene_info', () => {
    const jsapi = toPayRequest(payRequest({ product: 'WECHAT_JSAPI', payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' } }), merchant);
    expect(jsapi.path).toBe('/v3/pay/transactions/jsapi');
    expect(JSON.parse(jsapi.body).payer).toEqual({ openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' });
    const h5 = toPayRequest(payRequest({ product: 'WECHAT_H5', payer: { client_ip: '14.23.150.211' } }), merchant);
    expect(h5.path).toBe('/v3/pay/transactions/h5');
    expect(JSON.parse(h5.body).scene_info).toEqual({ payer_client_ip: '14.23.150.211', h5_info: { type: 'Wap' } });
    expect(toPayRequest(payRequest({ product: 'WECHAT_APP' }), merchant).path).toBe('/v3/pay/transactions/app');
  });

  test('wechatpay - refuses missing payer elements without leaking them', () => {
    expect(() => toPayRequest(payRequest({ product: 'WECHAT_JSAPI' }), merchant)).toThrow(ChannelError);
    expect(() => toPayRequest(payRequest({ product: 'WECHAT_H5' }), merchant)).toThrow(/client_ip/);
    expect(() => toPayRequest(payRequest({ product: 'ALIPAY_QR' }), merchant)).toThrow(/does not support/);
    expect(() => toPayRequest(payRequest({ attempt_id: 'x'.repeat(33) }), merchant)).toThrow(/out_trade_no/);
    expect(() => toPayRequest(payRequest({ amount_minor: 0n }), merchant)).toThrow(/positive/);
  });

  test('wechatpay - converts amounts between bigint fen and JSON numbers exactly', () => {
    expect(toFen(1n)).toBe(1);
    expect(toFen(9_007_199_254_740_991n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => toFen(9_007_199_254_740_992n)).toThrow(/safe integer/);
    expect(fromFen(100)).toBe(100n);
    expect(fromFen(1.5)).toBeUndefined();
    expect(fromFen('100')).toBeUndefined();
    expect(fromFen(-1)).toBeUndefined();
  });

  test('wechatpay - formats time_expire as RFC 3339 in +08:00', () => {
    expect(toChinaTime(new Date('2018-06-08T02:34:56.789Z'))).toBe('2018-06-08T10:34:56+08:00');
    expect(toChinaTime(new Date('2023-12-31T16:00:00Z'))).toBe('2024-01-01T00:00:00+08:00');
  });

  test('wechatpay - truncates description to 127 characters without splitting one', () => {
    expect(truncateDescription('短')).toBe('短');
    const long = '😀'.repeat(200);
    expect(Array.from(truncateDescription(long))).toHaveLength(127);
    expect(truncateDescription('a'.repeat(127))).toHaveLength(127);
  });
});

describe('wechatpay transformers - pay response', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signing = { ...merchant, merchant_private_key: privateKey, timestamp: '1414561699', nonce_str: 'N' };

  test('wechatpay - native code_url becomes a QR code', () => {
    expect(fromPayResponse('WECHAT_NATIVE', { code_url: 'weixin://wxpay/bizpayurl?pr=p4lpSuKzz' }, signing))
      .toEqual({ kind: 'action_required', next_action: { type: 'QR_CODE', value: 'weixin://wxpay/bizpayurl?pr=p4lpSuKzz' } });
  });

  test('wechatpay - h5_url becomes a redirect', () => {
    const url = 'https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx2916263004719461949c84457c735b0000&package=2150917749';
    expect(fromPayResponse('WECHAT_H5', { h5_url: url }, signing)).toEqual({ kind: 'action_required', next_action: { type: 'REDIRECT', value: url } });
  });

  test('wechatpay - prepay_id becomes JSAPI and APP SDK params', () => {
    const jsapi = fromPayResponse('WECHAT_JSAPI', { prepay_id: 'wx201410272009395522657a690389285100' }, signing);
    expect(jsapi.kind === 'action_required' && jsapi.next_action.params).toMatchObject({
      appId: merchant.appid, timeStamp: '1414561699', nonceStr: 'N', package: 'prepay_id=wx201410272009395522657a690389285100', signType: 'RSA',
    });
    const app = fromPayResponse('WECHAT_APP', { prepay_id: 'wx201410272009395522657a690389285100' }, signing);
    expect(app.kind === 'action_required' && app.next_action.params).toMatchObject({
      appid: merchant.appid, partnerid: merchant.mchid, prepayid: 'wx201410272009395522657a690389285100', package: 'Sign=WXPay', noncestr: 'N', timestamp: '1414561699',
    });
  });

  test('wechatpay - a 200 without the expected field is ambiguous', () => {
    expect(() => fromPayResponse('WECHAT_NATIVE', {}, signing)).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
  });
});

describe('wechatpay transformers - status', () => {
  test('wechatpay - SUCCESS maps to succeeded with bigint amount and time', () => {
    expect(mapStatus(paid)).toEqual({
      kind: 'succeeded', channel_trade_no: '1217752501201407033233368018', amount_minor: 100n, paid_at: new Date('2018-06-08T02:34:56Z'),
    });
  });

  test('wechatpay - maps every trade_state', () => {
    const unpaid = { out_trade_no: paid.out_trade_no, amount: { total: 100 } };
    expect(mapStatus({ ...paid, trade_state: 'REFUND' }).kind).toBe('succeeded');
    expect(mapStatus({ ...unpaid, trade_state: 'NOTPAY' })).toEqual({ kind: 'pending' });
    expect(mapStatus({ ...unpaid, trade_state: 'USERPAYING' })).toEqual({ kind: 'pending' });
    expect(mapStatus({ ...unpaid, trade_state: 'CLOSED' })).toEqual({ kind: 'closed' });
    expect(mapStatus({ ...unpaid, trade_state: 'REVOKED' })).toEqual({ kind: 'closed' });
    expect(mapStatus({ ...unpaid, trade_state: 'PAYERROR', trade_state_desc: '支付失败，请重新下单支付' }))
      .toEqual({ kind: 'failed', code: 'PAYERROR', message: '支付失败，请重新下单支付' });
  });

  test('wechatpay - unknown state or an incomplete success is pending', () => {
    expect(mapStatus({ ...paid, trade_state: 'SOMETHING_NEW' })).toEqual({ kind: 'pending', channel_trade_no: paid.transaction_id });
    expect(mapStatus({ ...paid, success_time: undefined }).kind).toBe('pending');
    expect(mapStatus({ ...paid, amount: { total: 1.5 } }).kind).toBe('pending');
    expect(mapStatus({ ...paid, transaction_id: undefined })).toEqual({ kind: 'pending' });
  });

  test('wechatpay - query and close requests use documented paths', () => {
    expect(toQueryRequest('1217752501201407033233368018', '1230000109'))
      .toEqual({ method: 'GET', path: '/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109', body: '' });
    expect(toCloseRequest('1217752501201407033233368018', '1230000109'))
      .toEqual({ method: 'POST', path: '/v3/pay/transactions/out-trade-no/1217752501201407033233368018/close', body: '{"mchid":"1230000109"}' });
  });
});

describe('wechatpay transformers - errors and callbacks', () => {
  test('wechatpay - 4xx refusals are rejected, 5xx and 429 ambiguous', () => {
    const body = (code: string) => JSON.stringify({ code, message: 'm' });
    for (const [status, code] of [[400, 'PARAM_ERROR'], [400, 'INVALID_REQUEST'], [401, 'SIGN_ERROR'], [403, 'NOAUTH'], [403, 'OUT_TRADE_NO_USED'], [400, 'APPID_MCHID_NOT_MATCH'], [400, 'MCH_NOT_EXISTS']] as const) {
      expect(mapErrorResponse('pay', status, body(code))).toMatchObject({ kind: 'rejected', code });
    }
    expect(mapErrorResponse('pay', 500, body('SYSTEM_ERROR'))).toMatchObject({ kind: 'ambiguous', code: 'SYSTEM_ERROR' });
    expect(mapErrorResponse('pay', 429, body('FREQUENCY_LIMITED'))).toMatchObject({ kind: 'ambiguous' });
    expect(mapErrorResponse('pay', 403, body('BANK_ERROR'))).toMatchObject({ kind: 'ambiguous' });
    expect(mapErrorResponse('pay', 502, '<html>bad gateway</html>')).toMatchObject({ kind: 'ambiguous', code: 'HTTP_502' });
    expect(mapErrorResponse('pay', 400, '<html>proxy</html>')).toMatchObject({ kind: 'ambiguous' });
  });

  test('wechatpay - a refusal down to the payer (balance, payment code) is classified payer_decline, ours is not', () => {
    const body = (code: string) => JSON.stringify({ code, message: 'm' });
    for (const code of ['NOTENOUGH', 'AUTHCODEEXPIRE', 'AUTH_CODE_INVALID']) {
      expect(mapErrorResponse('pay', 400, body(code))).toMatchObject({ kind: 'rejected', code, payer_decline: true });
    }
    for (const code of ['PARAM_ERROR', 'NOAUTH', 'SIGN_ERROR', 'ACQ.BUYER_BALANCE_NOT_ENOUGH']) {
      expect(mapErrorResponse('pay', 400, body(code))).toMatchObject({ kind: 'rejected', code, payer_decline: false });
    }
    // Only a refusal is ever a payer's: an unknown outcome stays unknown.
    expect(mapErrorResponse('pay', 500, body('NOTENOUGH'))).toMatchObject({ kind: 'ambiguous', payer_decline: false });
  });

  test('wechatpay - parses the documented callback envelope', () => {
    const envelope = {
      id: 'EV-2018022511223320873',
      create_time: '2015-05-20T13:29:35+08:00',
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      resource: { original_type: 'transaction', algorithm: 'AEAD_AES_256_GCM', ciphertext: 'AAAA', associated_data: '', nonce: 'fdasflkja484' },
    };
    expect(parseNotificationBody(JSON.stringify(envelope))).toEqual(envelope);
    expect(parseNotificationBody('not json')).toBeUndefined();
    expect(parseNotificationBody(JSON.stringify({ ...envelope, resource: undefined }))).toBeUndefined();
  });

  test('wechatpay - answers callbacks as documented', () => {
    expect(notificationAnswer(true)).toEqual({ status: 204, headers: {}, body: '' });
    const refused = notificationAnswer(false);
    expect(refused.status).toBe(500);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'FAIL' });
  });
});

// WeChat Pay profit sharing wire mapping, against the documented payload shapes.

import { ChannelError } from '../channel';
import { constants, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { encryptToPlatform } from './crypto';
import { isShareNotice, mapReturnOrder, mapShareOrder, toAddReceiverRequest, toReturnOrderRequest, toShareOrderRequest, toShareQueryRequest } from './profitsharing';

const request = {
  share_no: 'sabcdefghijklmnopqrstuvwxy', channel_trade_no: '4200000001202612010000001', description: 'courier', finish: false,
  attempt: { attempt_id: 'p1a1', payment_id: 'p1', product: 'WECHAT_NATIVE' as const, amount_minor: 10_000n, currency: 'CNY' },
  receivers: [{ account: '1900000201', amount_minor: 300n, description: 'courier' }, { account: '1900000202', amount_minor: 200n, description: 'courier' }],
};

test('the order: out_order_no is the share number, amounts in fen, the rest left frozen for later splits', () => {
  const call = toShareOrderRequest(request, 'wx123', 'MERCHANT_ID');
  expect(call).toMatchObject({ method: 'POST', path: '/v3/profitsharing/orders' });
  expect(JSON.parse(call.body)).toEqual({
    appid: 'wx123', transaction_id: request.channel_trade_no, out_order_no: request.share_no, unfreeze_unsplit: false,
    receivers: [
      { type: 'MERCHANT_ID', account: '1900000201', amount: 300, description: 'courier' },
      { type: 'MERCHANT_ID', account: '1900000202', amount: 200, description: 'courier' },
    ],
  });
  // The merchant's last split: the rest is unfrozen to the merchant with it.
  expect(JSON.parse(toShareOrderRequest({ ...request, finish: true }, 'wx123', 'MERCHANT_ID').body)).toMatchObject({ unfreeze_unsplit: true });
  expect(toShareQueryRequest('s1', '42')).toEqual({ method: 'GET', path: '/v3/profitsharing/orders/s1?transaction_id=42', body: '' });
  expect(() => toShareOrderRequest({ ...request, share_no: 'no spaces' }, 'wx123', 'MERCHANT_ID')).toThrow(ChannelError);
  expect(() => toShareOrderRequest({ ...request, receivers: [] }, 'wx123', 'MERCHANT_ID')).toThrow(ChannelError);
});

test('an answer is final only when FINISHED with every receiver SUCCESS or CLOSED; an answer about other receivers is not this order', () => {
  const receivers = (a: string, b: string) => [{ type: 'MERCHANT_ID', account: '1900000202', amount: 200, description: 'c', result: b }, { type: 'MERCHANT_ID', account: '1900000201', amount: 300, description: 'c', result: a }];
  const order = (state: string, a: string, b: string) => ({ transaction_id: '42', out_order_no: request.share_no, order_id: '3008', state, receivers: receivers(a, b) });
  expect(mapShareOrder(order('PROCESSING', 'PENDING', 'PENDING'), request)).toEqual({ kind: 'processing' });
  expect(mapShareOrder(order('FINISHED', 'SUCCESS', 'PENDING'), request)).toEqual({ kind: 'processing' });
  expect(mapShareOrder(order('FINISHED', 'SUCCESS', 'SUCCESS'), request)).toEqual({ kind: 'finished', channel_share_no: '3008', received: [true, true] });
  expect(mapShareOrder(order('FINISHED', 'SUCCESS', 'CLOSED'), request)).toEqual({ kind: 'finished', channel_share_no: '3008', received: [true, false] });
  expect(() => mapShareOrder({ ...order('FINISHED', 'SUCCESS', 'SUCCESS'), receivers: receivers('SUCCESS', 'SUCCESS').slice(1) }, request)).toThrow(ChannelError);
});

test('a return: out_return_no, the receiving merchant, the amount; its result', () => {
  const call = toReturnOrderRequest({ return_no: 'r1_s1_1', share_no: 's1', channel_share_no: '3008', account: '1900000201', amount_minor: 100n, description: 'refund' });
  expect(JSON.parse(call.body)).toEqual({ out_order_no: 's1', out_return_no: 'r1_s1_1', return_mchid: '1900000201', amount: 100, description: 'refund' });
  const answer = { order_id: '3008', out_order_no: 's1', out_return_no: 'r1_s1_1', return_id: '9', return_mchid: '1900000201', amount: 100 };
  expect(mapReturnOrder({ ...answer, result: 'SUCCESS' })).toEqual({ kind: 'succeeded' });
  expect(mapReturnOrder({ ...answer, result: 'PROCESSING' })).toEqual({ kind: 'processing' });
  expect(mapReturnOrder({ ...answer, result: 'FAILED', fail_reason: 'ACCOUNT_ABNORMAL' })).toMatchObject({ kind: 'failed', code: 'ACCOUNT_ABNORMAL' });
});

test('adding a receiver: a MERCHANT_ID one needs its full name, sent RSA-OAEP (SHA-1) encrypted to the platform key and marked for Wechatpay-Serial; a person may go without', () => {
  const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const encrypt = (name: string) => encryptToPlatform(name, platform.publicKey);
  const call = toAddReceiverRequest('wx123', 'MERCHANT_ID', { account: '1900000201', name: '深圳市某某物流有限公司' }, encrypt);
  expect(call).toMatchObject({ method: 'POST', path: '/v3/profitsharing/receivers/add', encrypted: true });
  const body = JSON.parse(call.body) as Record<string, string>;
  expect(body).toMatchObject({ appid: 'wx123', type: 'MERCHANT_ID', account: '1900000201', relation_type: 'PARTNER' });
  expect(call.body).not.toContain('物流');
  const opened = privateDecrypt({ key: platform.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(body.name!, 'base64')).toString('utf8');
  expect(opened).toBe('深圳市某某物流有限公司');
  expect(() => toAddReceiverRequest('wx123', 'MERCHANT_ID', { account: '1900000201' }, encrypt)).toThrow(expect.objectContaining({ kind: 'rejected', code: 'PARAM_ERROR' }));
  expect(() => toAddReceiverRequest('wx123', 'MERCHANT_ID', { account: '1900000201', name: '名'.repeat(72) }, encrypt)).toThrow(ChannelError);
  const personal = toAddReceiverRequest('wx123', 'PERSONAL_OPENID', { account: 'oUser' }, encrypt);
  expect(JSON.parse(personal.body)).toEqual({ appid: 'wx123', type: 'PERSONAL_OPENID', account: 'oUser', relation_type: 'PARTNER' });
  expect(personal.encrypted).toBeUndefined();
});

test('a profit-sharing callback resource: an out_order_no, a transaction and a receiver, no out_trade_no', () => {
  const notice = { mchid: '1900000100', transaction_id: '42', order_id: '3008', out_order_no: 's1', receiver: { type: 'MERCHANT_ID', account: '1900000109', amount: 100, description: 'x' }, success_time: '2026-12-01T10:00:00+08:00' };
  expect(isShareNotice(notice)).toBe(true);
  expect(isShareNotice({ ...notice, out_trade_no: 'p1a1' })).toBe(false);
  expect(isShareNotice({ ...notice, receiver: undefined })).toBe(false);
  expect(isShareNotice({ ...notice, transaction_id: 42 })).toBe(false);
});

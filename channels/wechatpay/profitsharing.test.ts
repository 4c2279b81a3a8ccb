// WeChat Pay profit sharing wire mapping, against the documented payload shapes.

import { ChannelError } from '../channel';
import { mapReturnOrder, mapShareOrder, toReturnOrderRequest, toShareOrderRequest, toShareQueryRequest } from './profitsharing';

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

// The bank gateway protocol of README.md: signature, redirect, answer mapping, statement CSV.

import { ChannelError, type PayRequest } from '../channel';
import {
  STATEMENT_COLUMNS, chooseBank, fromCloseAnswer, fromQueryAnswer, fromRefundAnswer, hmacHex, mapTradeStatus, parseStatement, redirectAction, signContent,
  signFields, toPayFields, verifyFields, fromPayoutAnswer, toPayoutFields,
} from './transformers';

const key = 'k'.repeat(64);
const merchant = { merchant_no: 'BG0000000001', bank_codes: ['ICBC', 'CCB'], return_url: undefined };

function payRequest(overrides: Partial<PayRequest> = {}): PayRequest {
  return {
    attempt_id: 'order0001', payment_id: 'p1', product: 'BANK_B2C', amount_minor: 8_888n, currency: 'CNY', subject: 'goods', expires_at: new Date('2024-05-01T04:30:00Z'),
    payer: { bank_code: 'ICBC' }, notify_url: 'https://paycore.test/notify/bank', ...overrides,
  };
}

describe('bankgw transformers', () => {
  test('bankgw - HMAC-SHA256 hex over sorted non-empty fields; round trip and tamper', () => {
    expect(signContent({ b: '2', a: '1', sign: 'x', empty: '' })).toBe('a=1&b=2');
    const signed = signFields({ order_no: 'order0001', amount: '88.88' }, key);
    expect(signed.sign).toBe(hmacHex('amount=88.88&order_no=order0001&sign_type=HMAC-SHA256', key));
    expect(verifyFields(signed, key)).toBe(true);
    expect(verifyFields({ ...signed, amount: '0.01' }, key)).toBe(false);
    expect(verifyFields(signed, 'x'.repeat(64))).toBe(false);
    expect(verifyFields({ ...signed, sign: 'zz' }, key)).toBe(false);
  });

  test('bankgw - pay fields in yuan and China time; REDIRECT carries them as a GET query', () => {
    const fields = toPayFields(payRequest(), merchant, new Date('2024-05-01T04:00:00Z'));
    expect(fields).toMatchObject({ product: 'B2C', bank_code: 'ICBC', amount: '88.88', order_time: '20240501120000', expire_time: '20240501123000' });
    const action = redirectAction('https://bank.test/', signFields(fields, key));
    expect(action.type).toBe('REDIRECT');
    const url = new URL(action.value);
    expect(url.pathname).toBe('/gateway/pay');
    expect(verifyFields(Object.fromEntries(url.searchParams), key)).toBe(true);
    expect(toPayFields(payRequest({ product: 'BANK_B2B' }), merchant, new Date()).product).toBe('B2B');
    expect(chooseBank(payRequest({ payer: {} }), ['ICBC'])).toBe('ICBC');
    expect(() => chooseBank(payRequest({ payer: {} }), ['ICBC', 'CCB'])).toThrow(ChannelError);
    expect(() => toPayFields(payRequest({ payer: { bank_code: 'ABC' } }), merchant, new Date())).toThrow(/not served/);
    expect(() => toPayFields(payRequest({ product: 'ALIPAY_QR' }), merchant, new Date())).toThrow(/does not support/);
  });

  test('bankgw - trade_status and error codes map to statuses', () => {
    expect(mapTradeStatus({ trade_status: 'SUCCESS', bank_trade_no: 'BK1', amount: '88.88', paid_time: '20240501120003' }))
      .toEqual({ kind: 'succeeded', channel_trade_no: 'BK1', amount_minor: 8_888n, paid_at: new Date('2024-05-01T04:00:03Z') });
    expect(mapTradeStatus({ trade_status: 'SUCCESS', bank_trade_no: 'BK1' })).toEqual({ kind: 'pending', channel_trade_no: 'BK1' });
    expect(mapTradeStatus({ trade_status: 'FAILED', fail_code: 'PAYER_CANCELLED' })).toMatchObject({ kind: 'failed', code: 'PAYER_CANCELLED' });
    expect(mapTradeStatus({ trade_status: 'CLOSED' })).toEqual({ kind: 'closed' });
    expect(mapTradeStatus({ trade_status: 'SOMETHING' })).toEqual({ kind: 'pending' });
    expect(fromQueryAnswer({ result_code: 'FAIL', error_code: 'ORDER_NOT_EXIST' })).toEqual({ kind: 'not_found' });
    expect(() => fromQueryAnswer({ result_code: 'FAIL', error_code: 'SIGN_ERROR' })).toThrow(expect.objectContaining({ kind: 'rejected' }));
    expect(() => fromQueryAnswer({ result_code: 'FAIL', error_code: 'SYSTEM_ERROR' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    expect(fromCloseAnswer({ result_code: 'FAIL', error_code: 'ORDER_PAID' })).toEqual({ kind: 'already_paid' });
    expect(fromRefundAnswer({ result_code: 'FAIL', error_code: 'BALANCE_NOT_ENOUGH' })).toMatchObject({ kind: 'failed', retryable: true });
    expect(fromRefundAnswer({ result_code: 'SUCCESS', refund_status: 'PROCESSING', bank_refund_no: 'BK2' })).toEqual({ kind: 'pending', channel_refund_no: 'BK2' });
  });

  test('bankgw - the statement CSV parses into rows; a wrong header is refused', () => {
    const csv = [
      STATEMENT_COLUMNS.join(','),
      '20240501120003,PAY,order0001,BK1,,,12.34,0.07,CNY,ICBC,B2C',
      '20240501130000,REFUND,order0001,BK1,refund0001,BK2,2.34,-0.01,CNY,ICBC,B2C',
      '#total,2,10.00',
    ].join('\r\n');
    expect(parseStatement(csv, 'bank')).toEqual([
      { channel_id: 'bank', attempt_id: 'order0001', channel_trade_no: 'BK1', kind: 'payment', amount_minor: 1_234n, fee_minor: 7n, currency: 'CNY', occurred_at: new Date('2024-05-01T04:00:03Z') },
      { channel_id: 'bank', attempt_id: 'order0001', channel_trade_no: 'BK1', kind: 'refund', amount_minor: 234n, fee_minor: -1n, currency: 'CNY', occurred_at: new Date('2024-05-01T05:00:00Z'), refund_id: 'refund0001' },
    ]);
    expect(() => parseStatement('a,b\n', 'bank')).toThrow(/header/);
    expect(() => parseStatement(`${STATEMENT_COLUMNS.join(',')}\n20240501120003,X,o,BK1,,,1.00,0,CNY,ICBC,B2C`, 'bank')).toThrow(/unknown type/);
  });
});

describe('payouts', () => {
  const payout = { payout_no: 'opayout000000000000000000001', amount_minor: 12_345n, currency: 'CNY', bank_code: 'ICBC', account_no: '6222020200112233', account_name: 'Zhang San', purpose: 'settlement' };
  const answer = (fields: Record<string, string>) => ({ result_code: 'SUCCESS', payout_no: payout.payout_no, ...fields });

  test('the request carries the documented fields, the amount in yuan', () => {
    expect(toPayoutFields(payout)).toEqual({ payout_no: payout.payout_no, amount: '123.45', currency: 'CNY', bank_code: 'ICBC', account_no: '6222020200112233', account_name: 'Zhang San', purpose: 'settlement' });
    expect(() => toPayoutFields({ ...payout, payout_no: 'a.b' })).toThrow(ChannelError);
    expect(() => toPayoutFields({ ...payout, currency: 'USD' })).toThrow(/CNY/);
  });

  test('answers map to outcomes; SUCCESS needs bank_payout_no and paid_time', () => {
    expect(fromPayoutAnswer('payout', payout.payout_no, answer({ payout_status: 'SUCCESS', bank_payout_no: 'BP1', paid_time: '20240501123000' })))
      .toEqual({ kind: 'succeeded', channel_payout_no: 'BP1', paid_at: new Date('2024-05-01T04:30:00Z') });
    expect(() => fromPayoutAnswer('payout', payout.payout_no, answer({ payout_status: 'SUCCESS', bank_payout_no: 'BP1' }))).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    expect(fromPayoutAnswer('payout', payout.payout_no, answer({ payout_status: 'FAILED', fail_code: 'ACCOUNT_FROZEN' }))).toEqual({ kind: 'failed', code: 'ACCOUNT_FROZEN', message: '' });
    expect(fromPayoutAnswer('payout', payout.payout_no, answer({ payout_status: 'RETURNED', fail_code: 'ACCOUNT_CLOSED', bank_payout_no: 'BP1' }))).toEqual({ kind: 'returned', code: 'ACCOUNT_CLOSED', channel_payout_no: 'BP1' });
    expect(fromPayoutAnswer('payout', payout.payout_no, answer({ payout_status: 'PROCESSING' }))).toEqual({ kind: 'processing' });
    expect(fromPayoutAnswer('payout query', payout.payout_no, { result_code: 'FAIL', error_code: 'PAYOUT_NOT_EXIST' })).toEqual({ kind: 'not_found' });
  });

  test('refusals are final, anything else unknown; an answer for another payout is not believed', () => {
    expect(() => fromPayoutAnswer('payout', payout.payout_no, { result_code: 'FAIL', error_code: 'PAYOUT_NO_CONFLICT' })).toThrow(expect.objectContaining({ kind: 'rejected' }));
    expect(() => fromPayoutAnswer('payout', payout.payout_no, { result_code: 'FAIL', error_code: 'SYSTEM_ERROR' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
    expect(() => fromPayoutAnswer('payout', payout.payout_no, { ...answer({ payout_status: 'SUCCESS' }), payout_no: 'other' })).toThrow(expect.objectContaining({ code: 'BAD_RESPONSE' }));
  });
});

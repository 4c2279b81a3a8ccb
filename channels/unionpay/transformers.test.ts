// Transformers and signatures against the UnionPay ACP 5.1.0 documented message shapes.

import { createHash, generateKeyPairSync } from 'node:crypto';
import { ChannelError, type ConfirmRequest, type PayRequest } from '../channel';
import { contentDigestHex, signContent, signParams, verifyParams } from './crypto';
import {
  customerInfo, formatFen, fromConsumeResponse, fromQueryResponse, fromRefundResponse, fromSmsResponse, parseCustomerInfo, parseFen, parseResponse,
  parseTraceTime, parseTxnTime, phoneHint, readNotification, toConsumeParams, toQueryParams, toSmsParams, txnTimeOf,
  parseZmFile, zmEntryDate, toFileTransferParams,
} from './transformers';

const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const merchant_key = pair();
const merchant = { mer_id: '777290058110048', tr_id: '62000000001', access_type: '0', channel_type: '07' };

function payRequest(overrides: Partial<PayRequest> = {}): PayRequest {
  return {
    attempt_id: 'pabcdefghijklmnopqrstuvwxya1', payment_id: 'pabcdefghijklmnopqrstuvwxy', product: 'UNIONPAY_QUICK', amount_minor: 1_000n, currency: 'CNY',
    subject: 's', expires_at: new Date('2024-05-01T04:30:00Z'), payer: { card_token: '6235000000000000001' }, notify_url: 'https://paycore.test/notify/up', ...overrides,
  };
}

describe('unionpay crypto - signMethod 01', () => {
  test('unionpay crypto - signs the sorted k=v string without signature, raw values, empty kept', () => {
    expect(signContent({ txnType: '01', merId: '777290058110048', signature: 'x', tokenPayData: '{trId=62000000001&token=t}', reqReserved: '' }))
      .toBe('merId=777290058110048&reqReserved=&tokenPayData={trId=62000000001&token=t}&txnType=01');
    expect(contentDigestHex('a=1')).toBe(createHash('sha256').update('a=1').digest('hex'));
  });

  test('unionpay crypto - round trip; tamper, wrong certId or signMethod fail', () => {
    const signed = signParams({ version: '5.1.0', orderId: 'order0001', txnAmt: '1000' }, '69629715588', merchant_key.privateKey);
    expect(signed).toMatchObject({ certId: '69629715588', signMethod: '01', signature: expect.any(String) });
    expect(verifyParams(signed, '69629715588', merchant_key.publicKey)).toEqual({ ok: true });
    expect(verifyParams({ ...signed, txnAmt: '1' }, '69629715588', merchant_key.publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyParams(signed, '11111111111', merchant_key.publicKey)).toEqual({ ok: false, reason: 'wrong_cert_id' });
    expect(verifyParams({ ...signed, signMethod: '11' }, '69629715588', merchant_key.publicKey)).toEqual({ ok: false, reason: 'wrong_sign_method' });
    expect(verifyParams(signed, '69629715588', pair().publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
  });
});

describe('unionpay transformers - messages', () => {
  test('unionpay - txnTime is YYYYMMDDhhmmss China time; amounts are integer fen', () => {
    expect(txnTimeOf(new Date('2024-04-30T16:05:09Z'))).toBe('20240501000509');
    expect(parseTxnTime('20240501000509')).toEqual(new Date('2024-04-30T16:05:09Z'));
    expect(parseTxnTime('20240231000000')).toBeUndefined();
    expect(parseTraceTime('0101000001', '20241231235959')).toEqual(new Date('2024-12-31T16:00:01Z'));
    expect(formatFen(8_888n)).toBe('8888');
    expect(() => formatFen(0n)).toThrow(ChannelError);
    expect(parseFen('000100')).toBe(100n);
    expect(parseFen('1.00')).toBeUndefined();
  });

  test('unionpay - the SMS request (77/02) and the consume (01/01) carry the same order, token and amount', () => {
    const sms = toSmsParams(payRequest(), merchant, '20240501120000');
    expect(sms).toEqual({
      version: '5.1.0', encoding: 'UTF-8', txnType: '77', txnSubType: '02', bizType: '000902', accessType: '0', channelType: '07', merId: merchant.mer_id,
      orderId: 'pabcdefghijklmnopqrstuvwxya1', txnTime: '20240501120000', txnAmt: '1000', currencyCode: '156', tokenPayData: '{trId=62000000001&token=6235000000000000001}',
    });
    const request = payRequest();
    const confirm: ConfirmRequest = {
      attempt: { attempt_id: request.attempt_id, payment_id: request.payment_id, product: request.product, amount_minor: request.amount_minor, currency: 'CNY' },
      verification_code: '123456', payer: request.payer, amount_minor: 1_000n, notify_url: request.notify_url, expires_at: request.expires_at,
    };
    const consume = toConsumeParams(confirm, merchant, '20240501120000');
    expect(consume).toMatchObject({ txnType: '01', txnSubType: '01', orderId: sms.orderId, txnTime: sms.txnTime, txnAmt: '1000', backUrl: request.notify_url, payTimeout: '20240501123000', reqReserved: request.attempt_id });
    expect(parseCustomerInfo(consume.customerInfo)).toEqual({ smsCode: '123456' });
    expect(() => toConsumeParams({ ...confirm, verification_code: '12a' }, merchant, '20240501120000')).toThrow(/6-digit/);
    expect(() => toSmsParams(payRequest({ payer: {} }), merchant, '20240501120000')).toThrow(/card_token/);
    expect(() => toSmsParams(payRequest({ attempt_id: 'p_1' }), merchant, '20240501120000')).toThrow(/orderId/);
    expect(toQueryParams('order0001', '20240501120000', merchant)).toMatchObject({ txnType: '00', txnSubType: '00', bizType: '000000', orderId: 'order0001' });
  });

  test('unionpay - answers split on & only outside braces; a repeated field is malformed', () => {
    expect(parseResponse('respCode=00&tokenPayData={trId=1&token=a=b}&respMsg=成功[0000000]')).toEqual({ respCode: '00', tokenPayData: '{trId=1&token=a=b}', respMsg: '成功[0000000]' });
    expect(parseResponse('a=1&a=2')).toBeUndefined();
    expect(parseResponse('a={1')).toBeUndefined();
    expect(phoneHint(customerInfo({ phoneNo: '13800138000' }))).toBe('138****8000');
    expect(phoneHint(customerInfo({ phoneNo: '138****8000' }))).toBe('138****8000');
    expect(phoneHint(undefined)).toBe('');
  });
});

describe('unionpay transformers - respCode mapping', () => {
  test('unionpay - SMS: 00 asks for the code; refusals throw rejected; card errors fail; unknown ambiguous', () => {
    expect(fromSmsResponse({ respCode: '00' })).toEqual({ kind: 'action_required', next_action: { type: 'SMS_CODE', value: '' } });
    expect(() => fromSmsResponse({ respCode: '11', respMsg: '验证签名失败' })).toThrow(expect.objectContaining({ kind: 'rejected', code: '11' }));
    expect(fromSmsResponse({ respCode: '80' })).toMatchObject({ kind: 'failed', code: '80' });
    expect(() => fromSmsResponse({ respCode: '04' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
  });

  test('unionpay - consume: 00 and 12 query; 03/04/05 pending; 71 failed; unknown pending', () => {
    expect(fromConsumeResponse({ respCode: '00', queryId: '1' })).toBe('query');
    expect(fromConsumeResponse({ respCode: '12' })).toBe('query');
    expect(fromConsumeResponse({ respCode: '05', queryId: '9' })).toEqual({ kind: 'pending', channel_trade_no: '9' });
    expect(() => fromConsumeResponse({ respCode: '71', respMsg: '短信验证码校验失败' })).toThrow(expect.objectContaining({ kind: 'rejected', code: 'WRONG_CODE' }));
    expect(fromConsumeResponse({ respCode: '42' })).toEqual({ kind: 'pending' });
    expect(fromConsumeResponse({ respCode: 'ZZ' })).toEqual({ kind: 'pending' });
  });

  test('unionpay - query: origRespCode 00 succeeded with queryId; 34 not_found; 05 pending; 64 failed', () => {
    const base = { respCode: '00', queryId: '742405011200001234567', txnAmt: '1000', txnTime: '20240501120000', traceTime: '0501120003' };
    expect(fromQueryResponse({ ...base, origRespCode: '00' })).toEqual({ kind: 'succeeded', channel_trade_no: base.queryId, amount_minor: 1_000n, paid_at: new Date('2024-05-01T04:00:03Z') });
    expect(fromQueryResponse({ ...base, origRespCode: '05' })).toEqual({ kind: 'pending', channel_trade_no: base.queryId });
    expect(fromQueryResponse({ ...base, origRespCode: '64' })).toMatchObject({ kind: 'failed', code: '64' });
    expect(fromQueryResponse({ ...base, origRespCode: '00', txnAmt: undefined })).toEqual({ kind: 'pending', channel_trade_no: base.queryId });
    expect(fromQueryResponse({ respCode: '34' })).toEqual({ kind: 'not_found' });
    expect(fromQueryResponse({ respCode: '03' })).toEqual({ kind: 'pending' });
    expect(() => fromQueryResponse({ respCode: '06' })).toThrow(expect.objectContaining({ kind: 'ambiguous' }));
  });

  test('unionpay - refund: 00/12 query; 33 failed final; 06 failed retryable; unknown pending', () => {
    expect(fromRefundResponse({ respCode: '00' })).toBe('query');
    expect(fromRefundResponse({ respCode: '12' })).toBe('query');
    expect(fromRefundResponse({ respCode: '33' })).toMatchObject({ kind: 'failed', retryable: false });
    expect(fromRefundResponse({ respCode: '06' })).toMatchObject({ kind: 'failed', retryable: true });
    expect(fromRefundResponse({ respCode: 'ZZ' })).toEqual({ kind: 'pending' });
  });

  test('unionpay - notifications: consume by orderId, refund by orderId + reqReserved', () => {
    const common = { respCode: '00', queryId: '742405011200001234567', txnAmt: '1000', txnTime: '20240501120000', traceTime: '0501120003' };
    expect(readNotification({ ...common, txnType: '01', orderId: 'order0001' })).toMatchObject({ type: 'payment', attempt_id: 'order0001', status: { kind: 'succeeded' } });
    expect(readNotification({ ...common, txnType: '04', orderId: 'refund0001', reqReserved: 'order0001' }))
      .toMatchObject({ type: 'refund', attempt_id: 'order0001', refund_id: 'refund0001', status: { kind: 'succeeded', amount_minor: 1_000n } });
    expect(() => readNotification({ ...common, txnType: '04', orderId: 'refund0001' })).toThrow(expect.objectContaining({ kind: 'bad_signature' }));
  });
});

describe('对账文件 (ZM file)', () => {
  // One record as UnionPay's file interface lays it out: 29 fixed-width fields, one space apart.
  const record = (fields: { code: string; time: string; amount: string; query_id: string; order_id: string; fee: string; orig_query_id: string }) => [
    fields.code, '00010000   ', '00010000   ', '000001', fields.time, '6222********0000   ', fields.amount, '5999', '07', fields.query_id.padEnd(21), '  ',
    fields.order_id.padEnd(32), '01', '      ', '          ', fields.fee, 'C000000000000', '0000', ' '.repeat(15), '01', '01', '000902', '01', '    ', ' '.repeat(32), '1',
    fields.orig_query_id.padEnd(21), '777290058110048', ' ',
  ].join(' ');
  const payment = record({ code: 'S22', time: '1201103000', amount: '000000010000', query_id: '512012010300000000001', order_id: 'PAY123456789a1', fee: 'D000000000060', orig_query_id: '' });
  const refund = record({ code: 'S30', time: '1201113000', amount: '000000002500', query_id: '512012011300000000002', order_id: 'REF123456789', fee: 'C000000000015', orig_query_id: '512012010300000000001' });

  test('unionpay - the ZM file: a consume and its refund, fees signed by C/D, the refund grouped under the payment the file lists', () => {
    expect(payment.length).toBe(282 + 28); // the widths, and 28 separators
    const rows = parseZmFile(`${payment}\r\n${refund}\r\n`, '2026-12-01', 'up1');
    expect(rows).toEqual([
      { channel_id: 'up1', attempt_id: 'PAY123456789a1', channel_trade_no: '512012010300000000001', kind: 'payment', amount_minor: 10_000n, fee_minor: 60n, currency: 'CNY', occurred_at: new Date('2026-12-01T10:30:00+08:00') },
      {
        channel_id: 'up1', attempt_id: 'PAY123456789a1', channel_trade_no: '512012010300000000001', kind: 'refund', amount_minor: 2_500n, fee_minor: -15n, currency: 'CNY',
        occurred_at: new Date('2026-12-01T11:30:00+08:00'), refund_id: 'REF123456789',
      },
    ]);
    // A refund of a payment of another day: grouped by the original queryId.
    expect(parseZmFile(refund, '2026-12-01', 'up1')[0]).toMatchObject({ attempt_id: '', channel_trade_no: '512012010300000000001', refund_id: 'REF123456789' });
  });

  test('unionpay - the ZM file: a short record, an unknown 交易代码 or an unreadable amount is refused naming the line', () => {
    expect(() => parseZmFile(`${payment}\n${payment.slice(0, 100)}`, '2026-12-01', 'up1')).toThrow(/line 2: 100 characters/);
    expect(() => parseZmFile(payment.replace('S22', 'S31'), '2026-12-01', 'up1')).toThrow(/line 1: 交易代码 S31/);
    expect(() => parseZmFile(payment.replace('D000000000060', 'X000000000060'), '2026-12-01', 'up1')).toThrow(/line 1: unreadable/);
  });

  test('unionpay - the archive\'s ZM file is named INN<yyMMdd>88ZM_<merId>; the request names the clearing date MMDD', () => {
    expect(zmEntryDate('INN26120188ZM_777290058110048')).toBe('2026-12-01');
    expect(zmEntryDate('INN26120188ZME_777290058110048')).toBeUndefined();
    expect(zmEntryDate('INN26120188ZM_7772900581100')).toBeUndefined();
    const params = toFileTransferParams('2026-12-01', { mer_id: '777290058110048', tr_id: '99988877766', access_type: '0', channel_type: '07' }, '20261202090000');
    expect(params).toEqual({
      version: '5.1.0', encoding: 'UTF-8', txnType: '76', txnSubType: '01', bizType: '000000', accessType: '0', merId: '777290058110048', txnTime: '20261202090000',
      fileType: '00', settleDate: '1201',
    });
  });
});

// The sandbox's own value formats held to the providers' documented shapes, then to the
// adapters' (channels/) on random values: two implementations written apart that agree.

import fc from 'fast-check';
import * as adapterTime from '../../../channels/shared/china-time';
import * as adapterHttp from '../../../channels/shared/http';
import * as adapterUnionpay from '../../../channels/unionpay/transformers';
import * as adapterWechat from '../../../channels/wechatpay/transformers';
import * as own from './formats';

describe('sandbox formats - the documented shapes', () => {
  test('yuan: two decimals, no grouping, a leading minus (Alipay total_amount "88.88"; the bills)', () => {
    expect([8888n, 1n, 10n, 0n, 10_000n, -5n, 123_456_789_012n].map(own.formatYuan)).toEqual(['88.88', '0.01', '0.10', '0.00', '100.00', '-0.05', '1234567890.12']);
    expect(['88.88', '88.8', '88', ' 0.01 ', '-0.05', '999999999999999.99'].map(own.parseYuan)).toEqual([8888n, 8880n, 8800n, 1n, -5n, 99_999_999_999_999_999n]);
    for (const bad of ['', '1.', '.5', '1.234', '1e3', '1,000.00', '+1', '--1', '1.2.3', '1000000000000000', undefined]) expect(own.parseYuan(bad)).toBeUndefined();
  });

  test('UnionPay txnAmt: whole fen, 1 to 12 digits', () => {
    expect(own.parseFen('8888')).toBe(8888n);
    for (const bad of ['', '88.88', '-1', '1234567890123', undefined]) expect(own.parseFen(bad)).toBeUndefined();
  });

  test('China time in each provider\'s shape (UTC+8: 02:34:56Z is 10:34:56 in China)', () => {
    const at = new Date('2018-06-08T02:34:56.789Z');
    expect(own.toChinaTime(at)).toBe('2018-06-08T10:34:56+08:00'); // WeChat Pay v3's own example
    expect(own.chinaDateTime(at)).toBe('2018-06-08 10:34:56'); // Alipay timestamp
    expect(own.compactChinaTime(at)).toBe('20180608103456'); // WeChat v2 time_end, UnionPay txnTime
    // Past midnight in China, still the day before in UTC.
    expect(own.compactChinaTime(new Date('2025-02-28T16:00:00Z'))).toBe('20250301000000');
    expect(own.parseCompactChinaTime('20250301000000')).toEqual(new Date('2025-02-28T16:00:00Z'));
    expect(own.parseChinaDateTime('2018-06-08 10:34:56')).toEqual(new Date('2018-06-08T02:34:56Z'));
    expect(own.parseRfc3339('2018-06-08T10:34:56+08:00')).toEqual(new Date('2018-06-08T02:34:56Z'));
    for (const bad of ['20250230120000', '20250301240000', '2025030112000', '2025-03-01 12:00:00']) expect(own.parseCompactChinaTime(bad)).toBeUndefined();
    for (const bad of ['2025-02-30 12:00:00', '2025-03-01T12:00:00', '20250301120000']) expect(own.parseChinaDateTime(bad)).toBeUndefined();
    for (const bad of ['2018-06-08T10:34:56', '2018-06-08 10:34:56+08:00', '2018-06-08T10:34+08:00']) expect(own.parseRfc3339(bad)).toBeUndefined();
  });

  test('calendar dates: only days that exist', () => {
    expect(['2024-02-29', '2025-12-31', '2025-01-01'].map(own.isCalendarDate)).toEqual([true, true, true]);
    expect(['2025-02-29', '2025-13-01', '2025-00-10', '2025-04-31', '2025-4-01', '20250401'].map(own.isCalendarDate)).toEqual([false, false, false, false, false, false]);
  });

  test('CSV cells: quoted only when they must be, quotes doubled', () => {
    expect(['plain', 'a,b', 'say "hi"', 'two\nlines', ''].map(own.csvField)).toEqual(['plain', '"a,b"', '"say ""hi"""', '"two\nlines"', '']);
  });

  test('UnionPay bodies: sorted raw name=value pairs; an & inside {…} belongs to its value', () => {
    expect(own.formatResponse({ txnType: '01', respCode: '00', accessType: '0', respMsg: '成功[0000000]', reqReserved: '' }))
      .toBe('accessType=0&reqReserved=&respCode=00&respMsg=成功[0000000]&txnType=01');
    expect(own.parseResponse('respCode=00&tokenPayData={token=6235240000020757548&trId=62000000001&tokenLevel=20}&orderId=ord1')).toEqual({
      respCode: '00', tokenPayData: '{token=6235240000020757548&trId=62000000001&tokenLevel=20}', orderId: 'ord1',
    });
    for (const bad of ['a=1&a=2', '=1', 'a', 'a={b=1', 'a=}b{']) expect(own.parseResponse(bad)).toBeUndefined();
    const info = Buffer.from('{phoneNo=13552535506&smsCode=111111}', 'utf8').toString('base64');
    expect(own.parseCustomerInfo(info)).toEqual({ phoneNo: '13552535506', smsCode: '111111' });
    expect(own.parseCustomerInfo(Buffer.from('phoneNo=1', 'utf8').toString('base64'))).toBeUndefined();
    expect(own.parseCustomerInfo('')).toBeUndefined();
  });
});

describe('sandbox formats - the same values as the adapters\' code, written apart', () => {
  const instant = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true });

  test('amounts', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 17n) + 1n, max: 10n ** 17n - 1n }), (fen) => {
      expect(own.formatYuan(fen)).toBe(adapterHttp.formatYuan(fen));
      expect(own.parseYuan(adapterHttp.formatYuan(fen))).toBe(fen);
      expect(adapterHttp.parseYuan(own.formatYuan(fen))).toBe(fen);
    }));
  });

  test('times', () => {
    fc.assert(fc.property(instant, (at) => {
      const seconds = new Date(Math.floor(at.getTime() / 1000) * 1000);
      expect(own.chinaDateTime(at)).toBe(adapterTime.chinaDateTime(at));
      expect(own.compactChinaTime(at)).toBe(adapterUnionpay.txnTimeOf(at));
      expect(own.toChinaTime(at)).toBe(adapterWechat.toChinaTime(at));
      expect(own.parseCompactChinaTime(adapterUnionpay.txnTimeOf(at))).toEqual(seconds);
      expect(own.parseChinaDateTime(adapterTime.chinaDateTime(at))).toEqual(seconds);
      expect(own.parseRfc3339(adapterWechat.toChinaTime(at))).toEqual(seconds);
    }));
  });

  test('UnionPay bodies', () => {
    const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,11}$/);
    const value = fc.oneof(fc.stringMatching(/^[^&{}[\]]{0,12}$/), fc.stringMatching(/^\{[a-z]{1,4}=[0-9]{0,4}(&[a-z]{1,4}=[0-9]{0,4}){0,2}\}$/));
    fc.assert(fc.property(fc.dictionary(name, value, { maxKeys: 8 }), (fields) => {
      const plain = { ...fields };
      expect(own.formatResponse(plain)).toBe(adapterUnionpay.formatResponse(plain));
      expect(adapterUnionpay.parseResponse(own.formatResponse(plain))).toEqual(plain);
      expect(own.parseResponse(adapterUnionpay.formatResponse(plain))).toEqual(plain);
    }));
  });
});

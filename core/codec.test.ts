// Codec: bigint money survives the wire as decimal strings in the fields a schema names,
// nothing else is touched (caller data keeps its text whatever its keys are called), a
// malformed amount is refused, and no amount ever passes through a JS number.

import { decodeJson, encodeJson, encodeJsonString, no_money, type MoneySchema } from './codec';

const amount: MoneySchema = { amount_minor: 'minor' };

describe('codec', () => {
  test('codec - a bigint money field round trips, including 10^12', () => {
    for (const amount_minor of [0n, 1n, 12_345n, 10n ** 12n, -250n]) {
      expect(decodeJson(encodeJson({ amount_minor }), amount)).toEqual({ amount_minor });
      expect(decodeJson(encodeJsonString({ amount_minor }), amount)).toEqual({ amount_minor });
    }
  });

  test('codec - _minor fields are decimal strings on the wire', () => {
    expect(encodeJsonString({ amount_minor: 10n ** 12n, fee_minor: 3n })).toBe('{"amount_minor":"1000000000000","fee_minor":"3"}');
    expect(new TextDecoder().decode(encodeJson({ amount_minor: 5n }))).toBe('{"amount_minor":"5"}');
  });

  test('codec - money in nested objects and arrays of objects round trips', () => {
    const value = {
      type: 'PaymentSnapshot',
      payment: {
        amount_minor: 10n ** 12n,
        refunded_minor: 0n,
        duplicates: [
          { attempt_id: 'pabca1', channel_trade_no: '4200001', amount_minor: 100n },
          { attempt_id: 'pabca2', channel_trade_no: '4200002', amount_minor: 10n ** 12n },
        ],
      },
      rows: [[{ fee_minor: 7n }], [{ fee_minor: 8n, note: 'x' }]],
    };
    const schema: MoneySchema = {
      payment: { amount_minor: 'minor', refunded_minor: 'minor', duplicates: [{ amount_minor: 'minor' }] },
      rows: [[{ fee_minor: 'minor' }]],
    };
    const back = decodeJson<typeof value>(encodeJson(value), schema);
    expect(back).toEqual(value);
    expect(typeof back.payment.duplicates[1]!.amount_minor).toBe('bigint');
    expect(typeof back.rows[1]![0]!.fee_minor).toBe('bigint');
  });

  test('codec - amounts beyond 2^53 keep every digit (never a JS number on the way)', () => {
    const amount_minor = 2n ** 53n + 1n; // 9007199254740993: not representable as a number
    const wire = encodeJsonString({ amount_minor, deeper: [{ refunded_minor: 2n ** 63n - 1n }] });
    expect(wire).toContain('"9007199254740993"');
    const back = decodeJson<{ amount_minor: bigint; deeper: { refunded_minor: bigint }[] }>(wire, { amount_minor: 'minor', deeper: [{ refunded_minor: 'minor' }] });
    expect(back.amount_minor).toBe(9_007_199_254_740_993n);
    expect(back.deeper[0]!.refunded_minor).toBe(9_223_372_036_854_775_807n);
  });

  test('codec - numeric strings outside money fields stay strings', () => {
    const value = { merchant_order_no: '000123', channel_trade_no: '4200001234567890123', amount: '100', minor: '5', minor_unit: '2', metadata: { total_minor_x: '9' } };
    const back = decodeJson<typeof value>(encodeJson(value), amount);
    expect(back).toEqual(value);
    for (const v of [back.merchant_order_no, back.channel_trade_no, back.amount, back.minor, back.minor_unit, back.metadata.total_minor_x]) expect(typeof v).toBe('string');
  });

  test('codec - caller data is never reinterpreted: keys ending in _minor outside the schema keep their text, valid or not', () => {
    const value = { amount_minor: 5n, metadata: { order_total_minor: '12.50', count_minor: '3', empty_minor: '', n_minor: 'abc' }, list: [{ x_minor: '1' }] };
    const back = decodeJson<{ amount_minor: bigint; metadata: Record<string, string>; list: { x_minor: string }[] }>(encodeJson(value), amount);
    expect(back).toEqual(value);
    expect(typeof back.metadata.count_minor).toBe('string');
    expect(typeof back.list[0]!.x_minor).toBe('string');
    // A message without money is decoded untouched, whatever its keys.
    expect(decodeJson(encodeJsonString({ fee_minor: '7' }), no_money)).toEqual({ fee_minor: '7' });
  });

  test('codec - other values pass through unchanged', () => {
    const value = { version: 3, ok: true, none: null, list: [1, 'two'], at: '2025-03-01T08:00:00.000Z' };
    expect(decodeJson(encodeJson(value), amount)).toEqual(value);
  });

  test('codec - an absent or null optional money field stays absent or null', () => {
    expect(decodeJson('{"other":1}', amount)).toEqual({ other: 1 });
    expect(decodeJson('{"amount_minor":null}', amount)).toEqual({ amount_minor: null });
  });

  test.each(['1.5', '1e3', 'abc', '', ' 12', '12 ', '0x10', '+5', '--1'])('codec - a money string %j that is not an integer throws', (text) => {
    expect(() => decodeJson(JSON.stringify({ amount_minor: text }), amount)).toThrow(`codec: amount_minor is not an integer: ${text}`);
    expect(() => decodeJson(JSON.stringify({ nested: [{ fee_minor: text }] }), { nested: [{ fee_minor: 'minor' }] })).toThrow('codec: fee_minor is not an integer');
  });

  test('codec - a money field sent as a JSON number is refused, not taken as money', () => {
    expect(() => decodeJson('{"amount_minor":100}', amount)).toThrow('codec: amount_minor arrived as a JSON number');
  });
});

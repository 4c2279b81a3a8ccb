// Identifier derivation: determinism, format, unambiguous key encoding, attempt ids and shards.

import { createHmac, randomBytes } from 'node:crypto';
import {
  attemptId,
  attempt_no_max,
  idKey,
  isPaymentId,
  isRefundId,
  paymentId,
  paymentIdOfAttempt,
  refundId,
  shardOf,
} from './ids';
import { test_id_key } from './ids.fixture';

const id_pattern = /^[pr][a-z2-7]{25}$/;

/** An independent reading of the documented format, with bigint arithmetic. */
function referenceId(prefix: string, tag: string, first: string, second: string): string {
  const parts = [tag, first, second].flatMap((s) => {
    const bytes = Buffer.from(s, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return [length, bytes];
  });
  const digest = createHmac('sha256', test_id_key).update(Buffer.concat(parts)).digest();
  const top_125_bits = BigInt('0x' + digest.toString('hex')) >> 131n;
  let out = '';
  for (let i = 24; i >= 0; i--) {
    out += 'abcdefghijklmnopqrstuvwxyz234567'[Number((top_125_bits >> BigInt(i * 5)) & 31n)];
  }
  return prefix + out;
}

describe('ids', () => {
  test('ids - payment id is deterministic, 26 characters of the documented alphabet', () => {
    const id = paymentId(test_id_key, 'm_1001', 'order-0001');
    expect(paymentId(test_id_key, 'm_1001', 'order-0001')).toBe(id);
    expect(id).toHaveLength(26);
    expect(id).toMatch(/^p[a-z2-7]{25}$/);
    expect(isPaymentId(id)).toBe(true);
    expect(id).toBe(referenceId('p', 'paycore.payment_id.v2', 'm_1001', 'order-0001'));
  });

  test('ids - refund id is deterministic with prefix r', () => {
    const id = refundId(test_id_key, 'm_1001', 'refund-0001');
    expect(refundId(test_id_key, 'm_1001', 'refund-0001')).toBe(id);
    expect(id).toMatch(/^r[a-z2-7]{25}$/);
    expect(isRefundId(id)).toBe(true);
    expect(isPaymentId(id)).toBe(false);
    expect(id).toBe(referenceId('r', 'paycore.refund_id.v2', 'm_1001', 'refund-0001'));
  });

  test('ids - ids are keyed: another key gives other ids, and the unkeyed hash is not the id', () => {
    const other = idKey(randomBytes(32));
    expect(paymentId(other, 'm_1001', 'order-0001')).not.toBe(paymentId(test_id_key, 'm_1001', 'order-0001'));
    expect(refundId(other, 'm_1001', 'refund-0001')).not.toBe(refundId(test_id_key, 'm_1001', 'refund-0001'));
    expect(() => idKey(Buffer.alloc(16))).toThrow(/32 bytes/);
  });

  test("ids - ('a','bc') and ('ab','c') give different ids", () => {
    expect(paymentId(test_id_key, 'a', 'bc')).not.toBe(paymentId(test_id_key, 'ab', 'c'));
    expect(refundId(test_id_key, 'a', 'bc')).not.toBe(refundId(test_id_key, 'ab', 'c'));
    expect(paymentId(test_id_key, '', 'abc')).not.toBe(paymentId(test_id_key, 'abc', ''));
  });

  test('ids - payment and refund ids of the same keys differ beyond the prefix', () => {
    expect(paymentId(test_id_key, 'm', 'x').slice(1)).not.toBe(refundId(test_id_key, 'm', 'x').slice(1));
  });

  test('ids - fixed length and charset over many keys, including non-ASCII', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = paymentId(test_id_key, `m${i % 7}`, `订单-${i}`);
      expect(id).toMatch(id_pattern);
      seen.add(id);
    }
    expect(seen.size).toBe(2000);
  });

  test('ids - attempt id round trips to its payment id and fits 32 characters', () => {
    const payment_id = paymentId(test_id_key, 'm_1001', 'order-0001');
    for (const attempt_no of [1, 2, 9, 10, 42, attempt_no_max]) {
      const attempt_id = attemptId(payment_id, attempt_no);
      expect(attempt_id).toBe(`${payment_id}a${attempt_no}`);
      expect(attempt_id.length).toBeLessThanOrEqual(32);
      expect(paymentIdOfAttempt(attempt_id)).toBe(payment_id);
    }
  });

  test('ids - attemptId asserts on attempt numbers outside 1..99 and bad payment ids', () => {
    const payment_id = paymentId(test_id_key, 'm', 'o');
    for (const attempt_no of [0, -1, 100, 1.5, Number.NaN]) {
      expect(() => attemptId(payment_id, attempt_no)).toThrow(expect.objectContaining({ name: 'AssertionError' }));
    }
    expect(() => attemptId('not-a-payment', 1)).toThrow(expect.objectContaining({ name: 'AssertionError' }));
    expect(() => attemptId(refundId(test_id_key, 'm', 'o'), 1)).toThrow(expect.objectContaining({ name: 'AssertionError' }));
  });

  test('ids - malformed attempt ids give undefined', () => {
    const payment_id = paymentId(test_id_key, 'm_1001', 'order-0001');
    const malformed = [
      '',
      payment_id,
      `${payment_id}a`,
      `${payment_id}a0`,
      `${payment_id}a01`,
      `${payment_id}a100`,
      `${payment_id}b1`,
      `${payment_id}a1 `,
      ` ${payment_id}a1`,
      `${payment_id}a1x`,
      `${payment_id.toUpperCase()}a1`,
      `${payment_id.slice(0, 25)}a1`,
      `${refundId(test_id_key, 'm', 'o')}a1`,
      `${payment_id.slice(0, 25)}1a1`,
      'wx_out_trade_no_from_elsewhere',
    ];
    for (const attempt_id of malformed) expect(paymentIdOfAttempt(attempt_id)).toBeUndefined();
  });

  test('ids - isPaymentId rejects near misses', () => {
    const id = paymentId(test_id_key, 'm', 'o');
    for (const s of ['', id.slice(0, 25), id + 'a', 'P' + id.slice(1), id.slice(0, 25) + '1', id.slice(0, 25) + '8']) {
      expect(isPaymentId(s)).toBe(false);
    }
  });

  test('ids - shardOf is FNV-1a 32-bit modulo the shard count', () => {
    // Published FNV-1a 32-bit test vectors.
    expect(shardOf('a', 2 ** 32)).toBe(0xe40c292c);
    expect(shardOf('foobar', 2 ** 32)).toBe(0xbf9cf968);
    expect(shardOf('foobar', 1000)).toBe(0xbf9cf968 % 1000);
  });

  test('ids - shardOf is stable and within range, and spreads ids over all shards', () => {
    const shard_count = 16;
    const counts = new Array<number>(shard_count).fill(0);
    for (let i = 0; i < 4000; i++) {
      const id = paymentId(test_id_key, 'm_1001', `order-${i}`);
      const shard = shardOf(id, shard_count);
      expect(shardOf(id, shard_count)).toBe(shard);
      expect(Number.isInteger(shard)).toBe(true);
      expect(shard).toBeGreaterThanOrEqual(0);
      expect(shard).toBeLessThan(shard_count);
      counts[shard]!++;
    }
    for (const count of counts) expect(count).toBeGreaterThan(150);
    expect(shardOf(paymentId(test_id_key, 'm', 'o'), 1)).toBe(0);
  });

  test('ids - shardOf asserts on a bad shard count or an empty id', () => {
    for (const shard_count of [0, -1, 1.5, Number.NaN]) {
      expect(() => shardOf('pabc', shard_count)).toThrow(expect.objectContaining({ name: 'AssertionError' }));
    }
    expect(() => shardOf('', 4)).toThrow(expect.objectContaining({ name: 'AssertionError' }));
  });
});

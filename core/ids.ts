// Identifiers derived from the merchant's idempotency keys, so that every gateway computes the
// same payment id (and so the same NATS subject and shard) for a retry without a lookup.
//
// Format: a one-letter kind ('p' payment, 'r' refund) + 25 characters of RFC 4648 base32 in
// lower case (alphabet `abcdefghijklmnopqrstuvwxyz234567`, no padding) of the first 125 bits
// of HMAC-SHA-256, keyed with the deployment's id key (PAYCORE_ID_KEY), over a domain tag and
// the two keys, each prefixed by its UTF-8 byte length. Keyed, so that nobody without the key
// can compute another merchant's payment id from its order number (ids are still checked
// against the caller's merchant everywhere; the key only takes away the free guess), and
// still deterministic, so a retry finds its payment without a lookup.
// 26 characters: a valid NATS subject token (no '.', '*', '>' or space), and an attempt id
// `<payment_id>a<n>` (at most 29) fits WeChat's 32-character out_trade_no.

import { createHmac } from 'node:crypto';
import { assert } from './errors';

const base32_alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
const digest_chars = 25;
// WeChat and Alipay cap out_trade_no at 32 characters; two digits keep us at 29.
export const attempt_no_max = 99;

const payment_id_pattern = /^p[a-z2-7]{25}$/;
const refund_id_pattern = /^r[a-z2-7]{25}$/;
// The attempt number is canonical (no leading zero), so one attempt has exactly one id.
const attempt_id_pattern = /^(p[a-z2-7]{25})a([1-9][0-9]?)$/;

/** The deployment's secret for deriving ids: 32 bytes (PAYCORE_ID_KEY, 64 hex characters). */
export type IdKey = Buffer & { readonly __id_key: unique symbol };

const id_key_bytes = 32;

export function idKey(bytes: Uint8Array): IdKey {
  assert(bytes.length === id_key_bytes, `idKey: must be ${id_key_bytes} bytes, got ${bytes.length}`);
  return Buffer.from(bytes) as IdKey;
}

export function paymentId(key: IdKey, merchant_id: string, merchant_order_no: string): string {
  return 'p' + keyDigest(key, 'paycore.payment_id.v2', merchant_id, merchant_order_no);
}

export function refundId(key: IdKey, merchant_id: string, merchant_refund_no: string): string {
  return 'r' + keyDigest(key, 'paycore.refund_id.v2', merchant_id, merchant_refund_no);
}

/** A payout (代付), from the merchant's payout number. */
export function payoutId(key: IdKey, merchant_id: string, merchant_payout_no: string): string {
  return 'o' + keyDigest(key, 'paycore.payout_id.v1', merchant_id, merchant_payout_no);
}

export function isPayoutId(s: string): boolean {
  return typeof s === 'string' && /^o[a-z2-7]{25}$/.test(s);
}

/** A transfer between two merchants of one group, from the paying merchant's transfer number. */
export function transferId(key: IdKey, merchant_id: string, merchant_transfer_no: string): string {
  return 't' + keyDigest(key, 'paycore.transfer_id.v1', merchant_id, merchant_transfer_no);
}

export function isTransferId(s: string): boolean {
  return typeof s === 'string' && /^t[a-z2-7]{25}$/.test(s);
}

/** A split (分账), from the merchant's split number. */
export function splitId(key: IdKey, merchant_id: string, merchant_split_no: string): string {
  return 's' + keyDigest(key, 'paycore.split_id.v1', merchant_id, merchant_split_no);
}

export function isSplitId(s: string): boolean {
  return typeof s === 'string' && /^s[a-z2-7]{25}$/.test(s);
}

/** A card binding (绑卡) of a merchant's payer, from the merchant's binding number. */
export function bindingId(key: IdKey, merchant_id: string, merchant_binding_no: string): string {
  return 'b' + keyDigest(key, 'paycore.binding_id.v1', merchant_id, merchant_binding_no);
}

export function isBindingId(s: string): boolean {
  return typeof s === 'string' && /^b[a-z2-7]{25}$/.test(s);
}

export function isPaymentId(s: string): boolean {
  return typeof s === 'string' && payment_id_pattern.test(s);
}

export function isRefundId(s: string): boolean {
  return typeof s === 'string' && refund_id_pattern.test(s);
}

/** The provider's out_trade_no for attempt `attempt_no` (1-based) of a payment. */
export function attemptId(payment_id: string, attempt_no: number): string {
  assert(isPaymentId(payment_id), `attemptId: not a payment id: ${payment_id}`);
  assert(
    Number.isInteger(attempt_no) && attempt_no >= 1 && attempt_no <= attempt_no_max,
    `attemptId: attempt_no ${attempt_no} outside 1..${attempt_no_max}`,
  );
  return `${payment_id}a${attempt_no}`;
}

/** The payment an out_trade_no belongs to; undefined when it is not one of our attempt ids. */
export function paymentIdOfAttempt(attempt_id: string): string | undefined {
  if (typeof attempt_id !== 'string') return undefined;
  const match = attempt_id_pattern.exec(attempt_id);
  return match === null ? undefined : match[1];
}

/** Stable shard of an id: FNV-1a 32-bit over its characters, modulo shard_count. */
export function shardOf(id: string, shard_count: number): number {
  assert(Number.isInteger(shard_count) && shard_count >= 1, `shardOf: bad shard_count ${shard_count}`);
  assert(id.length > 0, 'shardOf: empty id');
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shard_count;
}

function keyDigest(key: IdKey, domain_tag: string, first: string, second: string): string {
  assert(key.length === id_key_bytes, 'keyDigest: not an id key');
  const hash = createHmac('sha256', key);
  for (const part of [domain_tag, first, second]) {
    const bytes = Buffer.from(part, 'utf8');
    const length_prefix = Buffer.alloc(4);
    length_prefix.writeUInt32BE(bytes.length, 0);
    hash.update(length_prefix);
    hash.update(bytes);
  }
  return base32(hash.digest(), digest_chars);
}

/** The first `char_count` base32 characters of `bytes` (5 bits each, most significant first). */
function base32(bytes: Buffer, char_count: number): string {
  assert(bytes.length * 8 >= char_count * 5, 'base32: not enough bytes');
  let out = '';
  let buffer = 0;
  let buffered_bits = 0;
  let index = 0;
  while (out.length < char_count) {
    if (buffered_bits < 5) {
      buffer = ((buffer << 8) | bytes[index++]) & 0xffff;
      buffered_bits += 8;
    }
    out += base32_alphabet[(buffer >>> (buffered_bits - 5)) & 31];
    buffered_bits -= 5;
  }
  return out;
}

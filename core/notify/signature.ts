// The merchant notification signature, and its verification as a merchant SDK does it.
//
//   Paycore-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// The timestamp is signed with the body so a captured notification cannot be replayed later
// than the merchant's tolerance; the merchant compares in constant time. A header may carry
// several v1 values (one per secret while a secret is being rotated): any match verifies.

import { createHmac, timingSafeEqual } from 'node:crypto';

export const signature_header = 'Paycore-Signature';

/** How far a notification's timestamp may be from the merchant's clock, by default. */
const signature_tolerance_s_default = 300;

function signatureOf(secret: string, timestamp_s: number, raw_body: string | Uint8Array): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestamp_s}.`);
  hmac.update(raw_body);
  return hmac.digest('hex');
}

/** The header value for one delivery attempt (a fresh timestamp each attempt). */
export function signatureHeader(secret: string, raw_body: string, now_s: number = Math.floor(Date.now() / 1000)): string {
  return `t=${now_s},v1=${signatureOf(secret, now_s, raw_body)}`;
}

/**
 * True when `header` (the Paycore-Signature value) signs `raw_body` (the exact bytes
 * received, before any JSON parsing) with `secret`, and its timestamp is within
 * `tolerance_s` seconds of `now_s`. Anything malformed is simply not verified.
 */
export function verifyNotification(
  secret: string,
  header: string | undefined,
  raw_body: string | Uint8Array,
  tolerance_s: number = signature_tolerance_s_default,
  now_s: number = Math.floor(Date.now() / 1000),
): boolean {
  if (typeof header !== 'string' || secret === '') return false;
  let timestamp_s: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const equals = part.indexOf('=');
    if (equals <= 0) continue;
    const key = part.slice(0, equals).trim();
    const value = part.slice(equals + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp_s = Number(value);
    if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (timestamp_s === undefined || candidates.length === 0) return false;
  if (Math.abs(now_s - timestamp_s) > tolerance_s) return false;
  const expected = Buffer.from(signatureOf(secret, timestamp_s, raw_body), 'hex');
  return candidates.some((candidate) => timingSafeEqual(Buffer.from(candidate, 'hex'), expected));
}

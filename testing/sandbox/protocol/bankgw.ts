// The sandbox's own side of the bank gateway's signature, written from channels/bankgw/README.md
// ("Signature") and independent of channels/bankgw: a sandbox that reused the adapter's code
// would agree with any mistake in it. As documented: every field except `sign` with a
// non-empty value, sorted by name in byte order, as raw `name=value` joined by `&` (sign_type
// included); `sign` is the lower-case hex HMAC-SHA256 of that string under the shared key. A
// statement is signed over its CSV body, in the x-bankgw-sign header.

import { createHmac, timingSafeEqual } from 'node:crypto';

export const bankgw_sign_type = 'HMAC-SHA256';

function content(fields: Record<string, string>): string {
  return Object.keys(fields)
    .filter((name) => name !== 'sign' && fields[name] !== '')
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map((name) => `${name}=${fields[name]}`)
    .join('&');
}

export function bankgwHmacHex(text: string, key: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** `fields` with sign_type and sign. */
export function bankgwSign(fields: Record<string, string>, key: string): Record<string, string> {
  const unsigned = { ...fields, sign_type: bankgw_sign_type };
  return { ...unsigned, sign: bankgwHmacHex(content(unsigned), key) };
}

export function bankgwVerify(fields: Record<string, string>, key: string): boolean {
  const given = fields.sign ?? '';
  if (fields.sign_type !== bankgw_sign_type || !/^[0-9a-f]{64}$/.test(given)) return false;
  return timingSafeEqual(Buffer.from(bankgwHmacHex(content(fields), key), 'hex'), Buffer.from(given, 'hex'));
}

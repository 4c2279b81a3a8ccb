// The sandbox's own side of the Alipay open platform's public-key mode (RSA2), written from
// Alipay's signing documentation and independent of channels/alipay, so that a mistake in the
// adapter's signing string fails against the sandbox instead of being shared by both sides:
//   - the signed string: every parameter except `sign` with a non-empty value, sorted by name
//     (ASCII), as raw `name=value` joined by `&` — for a request `sign_type` is included; an
//     asynchronous notification leaves out `sign_type` too;
//   - RSA2: SHA256withRSA over the UTF-8 bytes of that string, base64;
//   - an answer is `{"<method, dots as underscores>_response":{…},"sign":"…"}`, the signature
//     taken over the exact text of the `_response` object.

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export function alipayKey(pem: string, kind: 'private' | 'public'): KeyObject {
  return kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
}

function signingString(params: Record<string, string>, left_out: readonly string[]): string {
  const names = Object.keys(params).filter((name) => !left_out.includes(name) && params[name] !== '');
  names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return names.map((name) => `${name}=${params[name]}`).join('&');
}

function rsa2(text: string, key: KeyObject): string {
  return sign('sha256', Buffer.from(text, 'utf8'), key).toString('base64');
}

/** Whether a gateway request is signed (RSA2) by the app whose public key is `key`. */
export function alipayVerifyRequest(params: Record<string, string>, key: KeyObject): boolean {
  if (params.sign_type !== 'RSA2' || !params.sign) return false;
  try {
    return verify('sha256', Buffer.from(signingString(params, ['sign']), 'utf8'), key, Buffer.from(params.sign, 'base64'));
  } catch {
    return false;
  }
}

/** An asynchronous notification's fields with sign_type and sign (sign_type itself unsigned). */
export function alipaySignNotification(fields: Record<string, string>, key: KeyObject): Record<string, string> {
  return { ...fields, sign_type: 'RSA2', sign: rsa2(signingString(fields, ['sign', 'sign_type']), key) };
}

/** `alipay.trade.query` → `alipay_trade_query_response`. */
export function alipayResponseName(method: string): string {
  return `${method.split('.').join('_')}_response`;
}

/** A gateway answer: the `_response` object and the signature over its exact text. */
export function alipaySignedAnswer(name: string, body: Record<string, unknown>, key: KeyObject): string {
  const text = JSON.stringify(body);
  return `{"${name}":${text},"sign":"${rsa2(text, key)}"}`;
}

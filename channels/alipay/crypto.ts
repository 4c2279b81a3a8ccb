// Alipay open platform signatures (public-key mode, RSA2 = SHA256withRSA) as pure functions:
// the signed content of a parameter set, request signing, notification verification, and the
// signed `*_response` substring of a gateway answer. The adapter uses the app key to sign and
// the Alipay public key to verify; the sandbox does the opposite with the same definitions.
//
// Nothing here logs, and no error message carries key material or a signature.

import { rsaSha256Sign, rsaSha256Verify, type KeyInput } from '../shared/crypto';
import { canonicalString } from '../shared/form';

export const SIGN_TYPE = 'RSA2';

/**
 * The string Alipay signs: every parameter except `sign` (and, for notifications,
 * `sign_type`) with a non-empty value, sorted by name in byte order, as raw `k=v` joined by
 * `&` — values are not URL-encoded here.
 */
export function signContent(params: Record<string, string | undefined>, exclude: readonly string[] = ['sign']): string {
  return canonicalString(params, { exclude, drop_empty: true });
}

/** RSA2 is SHA256withRSA over the UTF-8 content, base64. */
const rsa2Sign = rsaSha256Sign;
const rsa2Verify = rsaSha256Verify;

/** The request parameters plus their `sign` (sign_type is part of what is signed). */
export function signParams(params: Record<string, string>, app_private_key: KeyInput): Record<string, string> {
  return { ...params, sign: rsa2Sign(signContent(params), app_private_key) };
}

/** The provider's side of a request: is it signed by the app whose public key we hold? */
export function verifyParams(params: Record<string, string>, app_public_key: KeyInput): boolean {
  const sign = params.sign;
  if (sign === undefined || sign === '') return false;
  return rsa2Verify(signContent(params), sign, app_public_key);
}

/** Asynchronous notifications sign everything except `sign` and `sign_type`. */
export function verifyNotificationParams(params: Record<string, string>, alipay_public_key: KeyInput): boolean {
  const sign = params.sign;
  if (sign === undefined || sign === '') return false;
  if (params.sign_type !== undefined && params.sign_type !== SIGN_TYPE) return false;
  return rsa2Verify(signContent(params, ['sign', 'sign_type']), sign, alipay_public_key);
}

export function signNotificationParams(params: Record<string, string>, alipay_private_key: KeyInput): Record<string, string> {
  const unsigned = { ...params, sign_type: SIGN_TYPE };
  return { ...unsigned, sign: rsa2Sign(signContent(unsigned, ['sign', 'sign_type']), alipay_private_key) };
}

/** `alipay.trade.precreate` → `alipay_trade_precreate_response`. */
function responseKey(method: string): string {
  return `${method.replace(/\./g, '_')}_response`;
}

export interface SignedResponse {
  /** The key found: `<method>_response` or `error_response`. */
  key: string;
  /** The exact bytes of the JSON object Alipay signed. */
  content: string;
  sign: string | undefined;
}

/**
 * Finds the raw JSON object under `<method>_response` (or `error_response`) in the answer
 * text. The signature covers those exact characters, so they are cut out of the text, never
 * re-serialised.
 */
export function extractSignedResponse(text: string, method: string): SignedResponse | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Record<string, unknown>;
  const key = [responseKey(method), 'error_response'].find((name) => typeof record[name] === 'object' && record[name] !== null);
  if (key === undefined) return undefined;
  const content = rawObjectAfterKey(text, key);
  if (content === undefined) return undefined;
  return { key, content, sign: typeof record.sign === 'string' ? record.sign : undefined };
}

function rawObjectAfterKey(text: string, key: string): string | undefined {
  const marker = `"${key}"`;
  let index = text.indexOf(marker);
  while (index >= 0) {
    let cursor = index + marker.length;
    while (cursor < text.length && /\s/.test(text[cursor]!)) cursor++;
    if (text[cursor] === ':') {
      cursor++;
      while (cursor < text.length && /\s/.test(text[cursor]!)) cursor++;
      if (text[cursor] === '{') return balancedObject(text, cursor);
    }
    index = text.indexOf(marker, index + 1);
  }
  return undefined;
}

function balancedObject(text: string, start: number): string | undefined {
  let depth = 0;
  let in_string = false;
  for (let i = start; i < text.length; i++) {
    const char = text[i]!;
    if (in_string) {
      if (char === '\\') i++;
      else if (char === '"') in_string = false;
      continue;
    }
    if (char === '"') in_string = true;
    else if (char === '{') depth++;
    else if (char === '}') {
      depth--;
      if (depth === 0) return text.slice(start, i + 1);
    }
  }
  return undefined;
}

export type ResponseVerdict =
  | { ok: true; key: string; body: Record<string, unknown> }
  | { ok: false; reason: 'malformed' | 'missing_sign' | 'bad_signature' };

/** The merchant's side: the `*_response` object, only if Alipay's signature over it holds. */
export function verifyResponse(text: string, method: string, alipay_public_key: KeyInput): ResponseVerdict {
  const signed = extractSignedResponse(text, method);
  if (signed === undefined) return { ok: false, reason: 'malformed' };
  if (signed.sign === undefined || signed.sign === '') return { ok: false, reason: 'missing_sign' };
  if (!rsa2Verify(signed.content, signed.sign, alipay_public_key)) return { ok: false, reason: 'bad_signature' };
  return { ok: true, key: signed.key, body: JSON.parse(signed.content) as Record<string, unknown> };
}

/** The provider's side: `{"<key>":{...},"sign":"..."}` with the signature over the object text. */
export function signResponse(key: string, body: Record<string, unknown>, alipay_private_key: KeyInput): string {
  const content = JSON.stringify(body);
  return `{"${key}":${content},"sign":${JSON.stringify(rsa2Sign(content, alipay_private_key))}}`;
}

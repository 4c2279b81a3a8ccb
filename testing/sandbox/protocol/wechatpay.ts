// The sandbox's own side of WeChat Pay's signatures and encryption, written from WeChat Pay's
// API v3 / v2 documentation and independent of channels/wechatpay, so that a mistake in the
// adapter's signing string or envelope fails against the sandbox instead of being shared:
//   - v3 request: `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
//     signature="…",timestamp="…",serial_no="…"`, the signature SHA256withRSA (base64) over
//     `METHOD\nURL path with query\ntimestamp\nnonce\nbody\n` (body '' for a GET);
//   - v3 answer and callback: Wechatpay-Timestamp/-Nonce/-Signature/-Serial headers, the
//     signature over `timestamp\nnonce\nbody\n` by the platform key;
//   - callback resource: AEAD_AES_256_GCM with the APIv3 key (32 bytes), the nonce's and the
//     associated data's UTF-8 bytes, base64 of ciphertext followed by the 16-byte tag;
//   - v2 (pay/micropay): flat <xml> with CDATA values; `sign` = upper-case hex of MD5 or
//     HMAC-SHA256 (keyed with the API key) over the non-empty fields but `sign`, sorted by
//     name, as `k=v` joined by `&`, then `&key=<API key>`.

import {
  constants, createCipheriv, createHash, createHmac, createPrivateKey, createPublicKey, privateDecrypt, randomInt, sign, timingSafeEqual, verify,
  type KeyObject,
} from 'node:crypto';

/** A request more than this far from the sandbox's clock is refused (WeChat allows 5 min). */
const request_skew_seconds_max = 300;
const alphanumerics = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function wechatKey(pem: string, kind: 'private' | 'public'): KeyObject {
  return kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
}

export function wechatRandomString(length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += alphanumerics[randomInt(alphanumerics.length)];
  return out;
}

function rsaBase64(text: string, key: KeyObject): string {
  return sign('sha256', Buffer.from(text, 'utf8'), key).toString('base64');
}

export type WechatRequestCheck = { ok: true } | { ok: false; reason: 'malformed' | 'serial_mismatch' | 'timestamp_skew' | 'bad_signature' };

/** Checks a v3 call's Authorization against the merchant's certificate serial and public key. */
export function wechatVerifyRequest(
  request: { method: string; path_with_query: string; body: string },
  authorization: string | undefined,
  merchant: { merchant_serial_no: string; merchant_public_key: KeyObject },
  now_ms = Date.now(),
): WechatRequestCheck {
  const scheme = 'WECHATPAY2-SHA256-RSA2048 ';
  if (authorization === undefined || !authorization.startsWith(scheme)) return { ok: false, reason: 'malformed' };
  const parts = new Map<string, string>();
  for (const item of authorization.slice(scheme.length).split(',')) {
    const found = /^\s*([a-z_]+)="([^"]*)"\s*$/.exec(item);
    if (found === null || parts.has(found[1]!)) return { ok: false, reason: 'malformed' };
    parts.set(found[1]!, found[2]!);
  }
  const [mchid, nonce, signature, timestamp, serial] = ['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no'].map((name) => parts.get(name));
  if (!mchid || !nonce || !signature || !timestamp || !serial || !/^\d+$/.test(timestamp)) return { ok: false, reason: 'malformed' };
  if (serial !== merchant.merchant_serial_no) return { ok: false, reason: 'serial_mismatch' };
  if (Math.abs(Number(timestamp) * 1000 - now_ms) > request_skew_seconds_max * 1000) return { ok: false, reason: 'timestamp_skew' };
  const text = `${request.method}\n${request.path_with_query}\n${timestamp}\n${nonce}\n${request.body}\n`;
  let valid: boolean;
  try {
    valid = verify('sha256', Buffer.from(text, 'utf8'), merchant.merchant_public_key, Buffer.from(signature, 'base64'));
  } catch {
    valid = false;
  }
  return valid ? { ok: true } : { ok: false, reason: 'bad_signature' };
}

/** The Wechatpay-* headers of an answer or callback whose body is `body`. */
export function wechatSignedHeaders(body: string, platform_key: KeyObject, platform_serial: string, now_ms = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now_ms / 1000));
  const nonce = wechatRandomString(32);
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': rsaBase64(`${timestamp}\n${nonce}\n${body}\n`, platform_key),
    'Wechatpay-Serial': platform_serial,
  };
}

/** A callback's encrypted `resource` (AEAD_AES_256_GCM under the APIv3 key). */
export function wechatEncryptResource(plaintext: string, apiv3_key: string, associated_data: string, nonce = wechatRandomString(12)): { algorithm: 'AEAD_AES_256_GCM'; ciphertext: string; associated_data: string; nonce: string } {
  const key = Buffer.from(apiv3_key, 'utf8');
  if (key.length !== 32) throw new Error('the APIv3 key must be 32 bytes');
  const cipher = createCipheriv('aes-256-gcm', key, Buffer.from(nonce, 'utf8'));
  cipher.setAAD(Buffer.from(associated_data, 'utf8'));
  const sealed = Buffer.concat([cipher.update(Buffer.from(plaintext, 'utf8')), cipher.final(), cipher.getAuthTag()]);
  return { algorithm: 'AEAD_AES_256_GCM', ciphertext: sealed.toString('base64'), associated_data, nonce };
}

export type WechatV2SignType = 'MD5' | 'HMAC-SHA256';

/** v2 `sign` of `fields` under the merchant's API v2 key. */
export function wechatV2Sign(fields: Record<string, string>, api_v2_key: string, sign_type: WechatV2SignType): string {
  const names = Object.keys(fields).filter((name) => name !== 'sign' && fields[name] !== '');
  names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const text = `${names.map((name) => `${name}=${fields[name]}`).join('&')}&key=${api_v2_key}`;
  const hex = sign_type === 'MD5' ? createHash('md5').update(text, 'utf8').digest('hex') : createHmac('sha256', api_v2_key).update(text, 'utf8').digest('hex');
  return hex.toUpperCase();
}

export function wechatV2Verify(fields: Record<string, string>, api_v2_key: string, sign_type: WechatV2SignType): boolean {
  const given = Buffer.from(fields.sign ?? '', 'utf8');
  const expected = Buffer.from(wechatV2Sign(fields, api_v2_key, sign_type), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** fields → `<xml><name><![CDATA[value]]></name>…</xml>`. */
export function wechatV2Xml(fields: Record<string, string>): string {
  const elements = Object.entries(fields).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || value.includes(']]>')) throw new Error(`v2 xml: field ${name} cannot be written`);
    return `<${name}><![CDATA[${value}]]></${name}>`;
  });
  return `<xml>${elements.join('')}</xml>`;
}

/** A flat v2 `<xml>` (CDATA or plain text values) → fields; undefined when it is not one. */
export function wechatV2ParseXml(text: string): Record<string, string> | undefined {
  const outer = /^\s*<xml>([\s\S]*)<\/xml>\s*$/.exec(text);
  if (outer === null) return undefined;
  const fields: Record<string, string> = {};
  let rest = outer[1]!.trim();
  while (rest !== '') {
    const found = /^<([A-Za-z_][A-Za-z0-9_]*)>(?:<!\[CDATA\[([\s\S]*?)\]\]>|([^<]*))<\/\1>\s*/.exec(rest);
    if (found === null) return undefined;
    fields[found[1]!] = found[2] ?? unescapeText(found[3]!);
    rest = rest.slice(found[0].length);
  }
  return fields;
}

function unescapeText(text: string): string {
  const entities: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };
  return text.replace(/&(lt|gt|quot|apos|amp);/g, (_m, name: string) => entities[name]!);
}

/** A sensitive field a merchant encrypted to the platform key (RSA-OAEP, SHA-1 and MGF1, base64),
 * opened; undefined when it does not open. */
export function wechatDecryptField(ciphertext: string, platform_private_key: KeyObject): string | undefined {
  try {
    return privateDecrypt({ key: platform_private_key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(ciphertext, 'base64')).toString('utf8');
  } catch {
    return undefined;
  }
}

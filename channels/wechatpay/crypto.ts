// WeChat Pay API v3 cryptography as pure functions: request signing (merchant key), response
// and callback signatures (platform key, "WeChat Pay public key" mode), AEAD_AES_256_GCM for
// callback resources, and the paySign of the JSAPI / APP SDK parameters. The adapter uses one
// half of each pair, the sandbox PSP the other, so both sides share one definition of the
// signed message and a bug cannot hide in a mirror image.
//
// Nothing here logs, and no error message carries key material or a signature.

import { constants, createCipheriv, createDecipheriv, createHash, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { hmacSha256Hex, rsaSha256Sign as rsaSign, rsaSha256Verify as rsaVerify, sameSignature, type KeyInput } from '../shared/crypto';
import { canonicalString } from '../shared/form';

const AUTH_SCHEMA = 'WECHATPAY2-SHA256-RSA2048';
/** WeChat rejects (and we reject) a signed message whose clock is further off than this. */
const signature_clock_skew_seconds_max = 5 * 60;
export const apiv3_key_bytes = 32;
const aead_nonce_chars = 12;
const gcm_tag_bytes = 16;

/** 32 characters from [A-Za-z0-9]: WeChat's nonce_str alphabet. */
export function nonceString(length = 32): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[bytes[i]! % alphabet.length];
  return out;
}

function unixSeconds(now: Date = new Date()): string {
  return String(Math.floor(now.getTime() / 1000));
}

// ---------------------------------------------------------------------------------------------
// Request signature (merchant → WeChat)

export interface RequestToSign {
  method: string;
  /** Path with query string, exactly as sent: '/v3/pay/transactions/native'. */
  path_with_query: string;
  /** '' for GET. */
  body: string;
}

export function requestMessage(request: RequestToSign, timestamp: string, nonce_str: string): string {
  return `${request.method.toUpperCase()}\n${request.path_with_query}\n${timestamp}\n${nonce_str}\n${request.body}\n`;
}

export interface MerchantCredentials {
  mchid: string;
  merchant_serial_no: string;
  merchant_private_key: KeyInput;
}

export interface AuthorizationParts {
  mchid: string;
  nonce_str: string;
  signature: string;
  timestamp: string;
  serial_no: string;
}

/** The full `Authorization` header value for one request. */
export function buildAuthorization(
  request: RequestToSign,
  merchant: MerchantCredentials,
  options: { timestamp?: string; nonce_str?: string } = {},
): string {
  const timestamp = options.timestamp ?? unixSeconds();
  const nonce_str = options.nonce_str ?? nonceString();
  const signature = rsaSign(requestMessage(request, timestamp, nonce_str), merchant.merchant_private_key);
  return `${AUTH_SCHEMA} mchid="${merchant.mchid}",nonce_str="${nonce_str}",signature="${signature}",` +
    `timestamp="${timestamp}",serial_no="${merchant.merchant_serial_no}"`;
}

/** Parses an Authorization header; undefined when it is not a well-formed v3 one. */
export function parseAuthorization(header: string | undefined): AuthorizationParts | undefined {
  if (header === undefined) return undefined;
  const prefix = `${AUTH_SCHEMA} `;
  if (!header.startsWith(prefix)) return undefined;
  const fields = new Map<string, string>();
  const pattern = /\s*([a-z_]+)="([^"]*)"\s*(?:,|$)/gy;
  const rest = header.slice(prefix.length);
  let match: RegExpExecArray | null;
  while (pattern.lastIndex < rest.length && (match = pattern.exec(rest)) !== null) {
    fields.set(match[1]!, match[2]!);
  }
  if (pattern.lastIndex !== rest.length) return undefined;
  const mchid = fields.get('mchid');
  const nonce_str = fields.get('nonce_str');
  const signature = fields.get('signature');
  const timestamp = fields.get('timestamp');
  const serial_no = fields.get('serial_no');
  if (!mchid || !nonce_str || !signature || !timestamp || !serial_no) return undefined;
  return { mchid, nonce_str, signature, timestamp, serial_no };
}

export type RequestVerdict =
  | { ok: true; parts: AuthorizationParts }
  | { ok: false; reason: 'malformed' | 'serial_mismatch' | 'timestamp_skew' | 'bad_signature' };

/** The provider's side: is this request signed by the merchant whose public key we hold? */
export function verifyRequest(
  request: RequestToSign,
  authorization: string | undefined,
  merchant: { merchant_serial_no: string; merchant_public_key: KeyInput },
  now: Date = new Date(),
): RequestVerdict {
  const parts = parseAuthorization(authorization);
  if (parts === undefined) return { ok: false, reason: 'malformed' };
  if (parts.serial_no !== merchant.merchant_serial_no) return { ok: false, reason: 'serial_mismatch' };
  if (!timestampFresh(parts.timestamp, now)) return { ok: false, reason: 'timestamp_skew' };
  const message = requestMessage(request, parts.timestamp, parts.nonce_str);
  if (!rsaVerify(message, parts.signature, merchant.merchant_public_key)) return { ok: false, reason: 'bad_signature' };
  return { ok: true, parts };
}

function timestampFresh(timestamp: string, now: Date): boolean {
  if (!/^\d{1,12}$/.test(timestamp)) return false;
  const skew_seconds = Math.abs(Number(timestamp) - now.getTime() / 1000);
  return skew_seconds <= signature_clock_skew_seconds_max;
}

// ---------------------------------------------------------------------------------------------
// Response / callback signature (WeChat → merchant)

const HEADER_TIMESTAMP = 'wechatpay-timestamp';
const HEADER_NONCE = 'wechatpay-nonce';
const HEADER_SIGNATURE = 'wechatpay-signature';
const HEADER_SERIAL = 'wechatpay-serial';

function responseMessage(timestamp: string, nonce: string, body: string): string {
  return `${timestamp}\n${nonce}\n${body}\n`;
}

/** Wechatpay-* headers (canonical capitalisation) for one response or callback body. */
export function signResponse(
  body: string,
  platform: { platform_private_key: KeyInput; platform_public_key_id: string },
  options: { timestamp?: string; nonce?: string } = {},
): Record<string, string> {
  const timestamp = options.timestamp ?? unixSeconds();
  const nonce = options.nonce ?? nonceString();
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': rsaSign(responseMessage(timestamp, nonce, body), platform.platform_private_key),
    'Wechatpay-Serial': platform.platform_public_key_id,
  };
}

export type ResponseVerdict =
  | { ok: true }
  | { ok: false; reason: 'missing_headers' | 'serial_mismatch' | 'timestamp_skew' | 'bad_signature' };

/**
 * The merchant's side. `headers` may use any capitalisation. Checks the key id first (a
 * response signed with another key is not ours to trust), then the clock, then RSA.
 */
export function verifyResponse(
  headers: Record<string, string | string[] | undefined>,
  body: string,
  platform: { platform_public_key: KeyInput; platform_public_key_id: string },
  now: Date = new Date(),
): ResponseVerdict {
  const lower = lowerCaseHeaders(headers);
  const timestamp = lower[HEADER_TIMESTAMP];
  const nonce = lower[HEADER_NONCE];
  const signature = lower[HEADER_SIGNATURE];
  const serial = lower[HEADER_SERIAL];
  if (!timestamp || !nonce || !signature || !serial) return { ok: false, reason: 'missing_headers' };
  if (serial !== platform.platform_public_key_id) return { ok: false, reason: 'serial_mismatch' };
  if (!timestampFresh(timestamp, now)) return { ok: false, reason: 'timestamp_skew' };
  if (!rsaVerify(responseMessage(timestamp, nonce, body), signature, platform.platform_public_key)) {
    return { ok: false, reason: 'bad_signature' };
  }
  return { ok: true };
}

function lowerCaseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// AEAD_AES_256_GCM (callback `resource`)

export interface EncryptedResource {
  algorithm: 'AEAD_AES_256_GCM';
  /** base64(ciphertext || 16-byte tag) */
  ciphertext: string;
  associated_data: string;
  nonce: string;
}

function assertApiv3Key(apiv3_key: string): void {
  if (Buffer.byteLength(apiv3_key, 'utf8') !== apiv3_key_bytes) {
    throw new Error(`apiv3_key must be exactly ${apiv3_key_bytes} bytes`);
  }
}

export function aeadEncrypt(
  plaintext: string,
  apiv3_key: string,
  associated_data: string,
  nonce: string = nonceString(aead_nonce_chars),
): EncryptedResource {
  assertApiv3Key(apiv3_key);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiv3_key, 'utf8'), Buffer.from(nonce, 'utf8'));
  cipher.setAAD(Buffer.from(associated_data, 'utf8'));
  const encrypted = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { algorithm: 'AEAD_AES_256_GCM', ciphertext: encrypted.toString('base64'), associated_data, nonce };
}

/** Throws a plain Error (no key, no ciphertext in it) when the tag does not verify. */
export function aeadDecrypt(
  resource: { ciphertext: string; associated_data?: string; nonce: string; algorithm?: string },
  apiv3_key: string,
): string {
  assertApiv3Key(apiv3_key);
  if (resource.algorithm !== undefined && resource.algorithm !== 'AEAD_AES_256_GCM') {
    throw new Error(`unsupported resource algorithm ${resource.algorithm}`);
  }
  const data = Buffer.from(resource.ciphertext, 'base64');
  if (data.length < gcm_tag_bytes) throw new Error('resource ciphertext shorter than the GCM tag');
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(apiv3_key, 'utf8'), Buffer.from(resource.nonce, 'utf8'));
  decipher.setAuthTag(data.subarray(data.length - gcm_tag_bytes));
  decipher.setAAD(Buffer.from(resource.associated_data ?? '', 'utf8'));
  try {
    return Buffer.concat([decipher.update(data.subarray(0, data.length - gcm_tag_bytes)), decipher.final()]).toString('utf8');
  } catch {
    throw new Error('resource decryption failed (wrong key, nonce, associated data or tampered ciphertext)');
  }
}

// ---------------------------------------------------------------------------------------------
// SDK parameters signed for the payer's client

export interface JsapiParams {
  appId: string;
  timeStamp: string;
  nonceStr: string;
  package: string;
  signType: 'RSA';
  paySign: string;
}

export function jsapiParams(
  appid: string,
  prepay_id: string,
  merchant_private_key: KeyInput,
  options: { timestamp?: string; nonce_str?: string } = {},
): JsapiParams {
  const timeStamp = options.timestamp ?? unixSeconds();
  const nonceStr = options.nonce_str ?? nonceString();
  const pkg = `prepay_id=${prepay_id}`;
  const paySign = rsaSign(`${appid}\n${timeStamp}\n${nonceStr}\n${pkg}\n`, merchant_private_key);
  return { appId: appid, timeStamp, nonceStr, package: pkg, signType: 'RSA', paySign };
}

export interface AppParams {
  appid: string;
  partnerid: string;
  prepayid: string;
  package: 'Sign=WXPay';
  noncestr: string;
  timestamp: string;
  sign: string;
}

export function appParams(
  appid: string,
  mchid: string,
  prepay_id: string,
  merchant_private_key: KeyInput,
  options: { timestamp?: string; nonce_str?: string } = {},
): AppParams {
  const timestamp = options.timestamp ?? unixSeconds();
  const noncestr = options.nonce_str ?? nonceString();
  const sign = rsaSign(`${appid}\n${timestamp}\n${noncestr}\n${prepay_id}\n`, merchant_private_key);
  return { appid, partnerid: mchid, prepayid: prepay_id, package: 'Sign=WXPay', noncestr, timestamp, sign };
}

// ---------------------------------------------------------------------------------------------
// API v2 (payment code, `pay/micropay`): XML bodies signed with the merchant's API v2 key

export type V2SignType = 'HMAC-SHA256' | 'MD5';
export const api_v2_key_bytes = 32;

/**
 * v2 `sign`: non-empty parameters except `sign`, sorted by name, `k=v&…&key=<API key>`, then
 * HMAC-SHA256 keyed with the API key (or MD5), upper-case hex.
 */
export function v2Sign(params: Record<string, string | undefined>, api_v2_key: string, sign_type: V2SignType): string {
  const content = canonicalString(params, { exclude: ['sign'], drop_empty: true });
  const message = `${content}&key=${api_v2_key}`;
  const digest = sign_type === 'MD5'
    ? createHash('md5').update(message, 'utf8').digest('hex')
    : hmacSha256Hex(message, api_v2_key);
  return digest.toUpperCase();
}

export function v2Verify(params: Record<string, string>, api_v2_key: string, sign_type: V2SignType): boolean {
  const sign = params.sign;
  if (sign === undefined || !/^[0-9A-F]{32}$|^[0-9A-F]{64}$/.test(sign)) return false;
  return sameSignature(v2Sign(params, api_v2_key, sign_type), sign);
}

/** `<xml><name><![CDATA[value]]></name>…</xml>`; a value cannot close its CDATA section. */
export function toXml(params: Record<string, string | undefined>): string {
  let out = '<xml>';
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined) continue;
    if (!/^[a-z_0-9]+$/i.test(name) || value.includes(']]>')) throw new Error(`toXml: unsafe field ${name}`);
    out += `<${name}><![CDATA[${value}]]></${name}>`;
  }
  return `${out}</xml>`;
}

/**
 * The flat `<xml>` of v2 answers → fields. Not an XML parser: it accepts only one level of
 * simple elements (text or CDATA), so DTDs and entities have nothing to expand.
 */
export function fromXml(text: string): Record<string, string> | undefined {
  const match = /^\s*<xml>([\s\S]*)<\/xml>\s*$/.exec(text);
  if (match === null) return undefined;
  const fields: Record<string, string> = {};
  const element = /\s*<([A-Za-z_][A-Za-z0-9_]*)>(?:<!\[CDATA\[([\s\S]*?)\]\]>|([^<]*))<\/\1>\s*/y;
  const body = match[1]!;
  let found: RegExpExecArray | null;
  while (element.lastIndex < body.length && (found = element.exec(body)) !== null) {
    fields[found[1]!] = found[2] ?? decodeEntities(found[3] ?? '');
  }
  if (element.lastIndex !== body.length && body.slice(element.lastIndex).trim() !== '') return undefined;
  return fields;
}

function decodeEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** A sensitive field for WeChat (a profit-sharing receiver's name): RSA-OAEP (SHA-1, MGF1) to
 * the WeChat Pay public key, base64 — WeChat's RSA/ECB/OAEPWithSHA-1AndMGF1Padding. The call
 * names the key in Wechatpay-Serial. */
export function encryptToPlatform(plaintext: string, platform_public_key: KeyObject): string {
  return publicEncrypt({ key: platform_public_key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(plaintext, 'utf8')).toString('base64');
}

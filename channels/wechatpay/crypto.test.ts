// WeChat Pay v3 signatures and AEAD: round trips, tamper cases, and a hand-built AEAD vector.

import { createCipheriv, createVerify, generateKeyPairSync } from 'node:crypto';
import {
  aeadDecrypt, aeadEncrypt, appParams, buildAuthorization, jsapiParams, parseAuthorization, requestMessage,
  signResponse, verifyRequest, verifyResponse,
} from './crypto';

function rsaPair() {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
}

const merchant = rsaPair();
const platform = rsaPair();
const other = rsaPair();
const serial = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';
const key_id = 'PUB_KEY_ID_0114232134912410000000000000';
const apiv3_key = 'a'.repeat(16) + 'B'.repeat(16);
const now = new Date('2024-05-01T08:00:00Z');
const ts = String(Math.floor(now.getTime() / 1000));

function flipFirstChar(text: string): string {
  return (text[0] === 'A' ? 'B' : 'A') + text.slice(1);
}

describe('wechatpay crypto - request signature', () => {
  const request = { method: 'POST', path_with_query: '/v3/pay/transactions/native', body: '{"mchid":"1900000109"}' };
  const credentials = { mchid: '1900000109', merchant_serial_no: serial, merchant_private_key: merchant.privateKey };

  test('wechatpay - builds the documented message and Authorization header', () => {
    expect(requestMessage({ method: 'get', path_with_query: '/v3/x?mchid=1', body: '' }, '1554208460', 'N1'))
      .toBe('GET\n/v3/x?mchid=1\n1554208460\nN1\n\n');
    const header = buildAuthorization(request, credentials, { timestamp: ts, nonce_str: 'NONCE123' });
    expect(header).toMatch(/^WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="NONCE123",signature="[A-Za-z0-9+/=]+",timestamp="\d+",serial_no="5157F09E/);
    const parts = parseAuthorization(header)!;
    expect(parts).toMatchObject({ mchid: '1900000109', nonce_str: 'NONCE123', timestamp: ts, serial_no: serial });
    // The signature is RSA-SHA256 over the message: verify independently of crypto.ts.
    const verifier = createVerify('RSA-SHA256');
    verifier.update(`POST\n/v3/pay/transactions/native\n${ts}\nNONCE123\n${request.body}\n`);
    expect(verifier.verify(merchant.publicKey, parts.signature, 'base64')).toBe(true);
  });

  test('wechatpay - verifies a request signature and refuses tampering', () => {
    const header = buildAuthorization(request, credentials, { timestamp: ts });
    const key = { merchant_serial_no: serial, merchant_public_key: merchant.publicKey };
    expect(verifyRequest(request, header, key, now)).toMatchObject({ ok: true });
    expect(verifyRequest({ ...request, body: request.body.replace('0109', '0108') }, header, key, now))
      .toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyRequest({ ...request, path_with_query: '/v3/pay/transactions/jsapi' }, header, key, now))
      .toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyRequest(request, header, { ...key, merchant_public_key: other.publicKey }, now))
      .toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyRequest(request, header, { ...key, merchant_serial_no: 'OTHER' }, now))
      .toEqual({ ok: false, reason: 'serial_mismatch' });
    expect(verifyRequest(request, header, key, new Date(now.getTime() + 6 * 60_000)))
      .toEqual({ ok: false, reason: 'timestamp_skew' });
    expect(verifyRequest(request, undefined, key, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyRequest(request, 'Bearer x', key, now)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('wechatpay crypto - response signature', () => {
  const trust = { platform_public_key: platform.publicKey, platform_public_key_id: key_id };
  const body = '{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}';

  test('wechatpay - verifies a signed response', () => {
    const headers = signResponse(body, { platform_private_key: platform.privateKey, platform_public_key_id: key_id }, { timestamp: ts });
    expect(headers['Wechatpay-Serial']).toBe(key_id);
    const verifier = createVerify('RSA-SHA256');
    verifier.update(`${ts}\n${headers['Wechatpay-Nonce']}\n${body}\n`);
    expect(verifier.verify(platform.publicKey, headers['Wechatpay-Signature']!, 'base64')).toBe(true);
    expect(verifyResponse(headers, body, trust, now)).toEqual({ ok: true });
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    expect(verifyResponse(lower, body, trust, now)).toEqual({ ok: true });
  });

  test('wechatpay - refuses a tampered, foreign, stale or unsigned response', () => {
    const headers = signResponse(body, { platform_private_key: platform.privateKey, platform_public_key_id: key_id }, { timestamp: ts });
    expect(verifyResponse(headers, body.replace('p4l', 'p4L'), trust, now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyResponse({ ...headers, 'Wechatpay-Signature': flipFirstChar(headers['Wechatpay-Signature']!) }, body, trust, now))
      .toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyResponse({ ...headers, 'Wechatpay-Nonce': 'other' }, body, trust, now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyResponse(headers, body, { ...trust, platform_public_key: other.publicKey }, now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyResponse({ ...headers, 'Wechatpay-Serial': 'PUB_KEY_ID_OTHER' }, body, trust, now)).toEqual({ ok: false, reason: 'serial_mismatch' });
    expect(verifyResponse(headers, body, trust, new Date(now.getTime() - 301_000))).toEqual({ ok: false, reason: 'timestamp_skew' });
    expect(verifyResponse(headers, body, trust, new Date(now.getTime() + 299_000))).toEqual({ ok: true });
    expect(verifyResponse({}, body, trust, now)).toEqual({ ok: false, reason: 'missing_headers' });
  });
});

describe('wechatpay crypto - AEAD_AES_256_GCM', () => {
  const plaintext = '{"out_trade_no":"1217752501201407033233368018","trade_state":"SUCCESS","amount":{"total":100}}';

  /** Built from the documented format with node:crypto alone: base64(ciphertext || tag). */
  function handVector(aad: string, nonce: string) {
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiv3_key), Buffer.from(nonce));
    cipher.setAAD(Buffer.from(aad));
    const data = Buffer.concat([cipher.update(Buffer.from(plaintext)), cipher.final(), cipher.getAuthTag()]);
    return { algorithm: 'AEAD_AES_256_GCM', ciphertext: data.toString('base64'), associated_data: aad, nonce, original_type: 'transaction' };
  }

  test('wechatpay - decrypts a hand-built callback resource', () => {
    expect(aeadDecrypt(handVector('transaction', 'fdasflkja484'), apiv3_key)).toBe(plaintext);
    expect(aeadDecrypt(handVector('', 'fdasflkja484'), apiv3_key)).toBe(plaintext);
  });

  test('wechatpay - refuses a wrong associated_data, nonce, key or a changed byte', () => {
    const vector = handVector('transaction', 'fdasflkja484');
    expect(() => aeadDecrypt({ ...vector, associated_data: 'transactiom' }, apiv3_key)).toThrow(/decryption failed/);
    expect(() => aeadDecrypt({ ...vector, nonce: 'fdasflkja485' }, apiv3_key)).toThrow(/decryption failed/);
    expect(() => aeadDecrypt(vector, 'b'.repeat(32))).toThrow(/decryption failed/);
    const bytes = Buffer.from(vector.ciphertext, 'base64');
    bytes[3] = bytes[3]! ^ 0x01;
    expect(() => aeadDecrypt({ ...vector, ciphertext: bytes.toString('base64') }, apiv3_key)).toThrow(/decryption failed/);
    expect(() => aeadDecrypt(vector, 'short')).toThrow(/32 bytes/);
    expect(() => aeadDecrypt({ ...vector, algorithm: 'AES_128_CBC' }, apiv3_key)).toThrow(/unsupported/);
  });

  test('wechatpay - encrypt and decrypt round trip', () => {
    const resource = aeadEncrypt(plaintext, apiv3_key, 'transaction');
    expect(resource.nonce).toHaveLength(12);
    expect(Buffer.from(resource.ciphertext, 'base64').length).toBe(Buffer.byteLength(plaintext) + 16);
    expect(aeadDecrypt(resource, apiv3_key)).toBe(plaintext);
  });
});

describe('wechatpay crypto - SDK parameters', () => {
  function verifies(message: string, signature: string): boolean {
    const verifier = createVerify('RSA-SHA256');
    verifier.update(message);
    return verifier.verify(merchant.publicKey, signature, 'base64');
  }

  test('wechatpay - signs JSAPI paySign over appId, timeStamp, nonceStr, package', () => {
    const params = jsapiParams('wx8888888888888888', 'wx201410272009395522657a690389285100', merchant.privateKey, { timestamp: '1414561699', nonce_str: '5K8264ILTKCH16CQ2502SI8ZNMTM67VS' });
    expect(params).toMatchObject({ appId: 'wx8888888888888888', timeStamp: '1414561699', package: 'prepay_id=wx201410272009395522657a690389285100', signType: 'RSA' });
    expect(verifies('wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n', params.paySign)).toBe(true);
  });

  test('wechatpay - signs APP sign over appid, timestamp, noncestr, prepayid', () => {
    const params = appParams('wx8888888888888888', '1900000109', 'WX1217752501201407033233368018', merchant.privateKey, { timestamp: '1414561699', nonce_str: 'N0NCE' });
    expect(params).toMatchObject({ partnerid: '1900000109', prepayid: 'WX1217752501201407033233368018', package: 'Sign=WXPay', noncestr: 'N0NCE' });
    expect(verifies('wx8888888888888888\n1414561699\nN0NCE\nWX1217752501201407033233368018\n', params.sign)).toBe(true);
  });
});

// WeChat Pay's signatures against the documentation, computed here with node:crypto — for the
// adapter (channels/wechatpay/crypto.ts) and for the sandbox's independent implementation
// (testing/sandbox/protocol/wechatpay.ts) alike: API v2's documented signing example, a v3
// answer signed outside either module, and the sandbox's request check, answer signature and
// callback encryption opened with plain node:crypto.

import { createDecipheriv, generateKeyPairSync, sign, verify } from 'node:crypto';
import {
  wechatEncryptResource, wechatSignedHeaders, wechatV2ParseXml, wechatV2Sign, wechatV2Verify, wechatV2Xml, wechatVerifyRequest,
} from '../../testing/sandbox/protocol/wechatpay';
import { fromXml, toXml, v2Sign, v2Verify, verifyResponse } from './crypto';

const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa = (text: string, key = merchant.privateKey): string => sign('sha256', Buffer.from(text, 'utf8'), key).toString('base64');

// WeChat Pay API v2's own signing example (签名算法): its parameters, API key and both signs.
const v2_example = { appid: 'wxd930ea5d5a258f4f', mch_id: '10000100', device_info: '1000', body: 'test', nonce_str: 'ibuaiVcKdpRxkhJA' };
const v2_key = '192006250b4c09247ec02edce69f6a2d';
const v2_md5 = '9A0A8659F005D6984697E2CA0A9CF3B7';
const v2_hmac = '6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6';

describe('wechatpay protocol - API v2 documented example', () => {
  test('wechatpay - the adapter\'s v2 sign is the documented MD5 and HMAC-SHA256 of the example', () => {
    expect(v2Sign(v2_example, v2_key, 'MD5')).toBe(v2_md5);
    expect(v2Sign(v2_example, v2_key, 'HMAC-SHA256')).toBe(v2_hmac);
    expect(v2Verify({ ...v2_example, sign: v2_md5 }, v2_key, 'MD5')).toBe(true);
    expect(v2Verify({ ...v2_example, body: 'tesT', sign: v2_md5 }, v2_key, 'MD5')).toBe(false);
  });

  test('wechatpay - the sandbox\'s v2 sign is the documented one too, and its XML reads the adapter\'s and back', () => {
    expect(wechatV2Sign(v2_example, v2_key, 'MD5')).toBe(v2_md5);
    expect(wechatV2Sign({ ...v2_example, sign_type: '' }, v2_key, 'HMAC-SHA256')).toBe(v2_hmac); // empty values are left out
    expect(wechatV2Verify({ ...v2_example, sign: v2_hmac }, v2_key, 'HMAC-SHA256')).toBe(true);
    expect(wechatV2Verify({ ...v2_example, sign: v2_md5 }, v2_key, 'HMAC-SHA256')).toBe(false);
    const xml = '<xml><appid><![CDATA[wxd930ea5d5a258f4f]]></appid>\n<total_fee>1</total_fee><body><![CDATA[a & <b>]]></body><detail>x &amp; y</detail></xml>';
    const fields = { appid: 'wxd930ea5d5a258f4f', total_fee: '1', body: 'a & <b>', detail: 'x & y' };
    expect(wechatV2ParseXml(xml)).toEqual(fields);
    expect(fromXml(wechatV2Xml(fields))).toEqual(fields);
    expect(wechatV2ParseXml(toXml(fields))).toEqual(fields);
    expect(wechatV2ParseXml('<xml><a>1</a><b>')).toBeUndefined();
  });
});

describe('wechatpay protocol - API v3', () => {
  const now_ms = Date.parse('2025-03-01T08:00:00Z');
  const timestamp = String(now_ms / 1000);
  const body = '{"mchid":"1900000109","out_trade_no":"ord20250301a1","amount":{"total":8888,"currency":"CNY"}}';

  test('wechatpay - the adapter accepts an answer signed over timestamp\\nnonce\\nbody\\n outside either module', () => {
    const headers = {
      'wechatpay-timestamp': timestamp, 'wechatpay-nonce': 'N0NCE', 'wechatpay-serial': 'PUB_KEY_ID_1',
      'wechatpay-signature': rsa(`${timestamp}\nN0NCE\n${body}\n`, platform.privateKey),
    };
    const key = { platform_public_key: platform.publicKey, platform_public_key_id: 'PUB_KEY_ID_1' };
    expect(verifyResponse(headers, body, key, new Date(now_ms))).toEqual({ ok: true });
    // Without the final newline the documented message differs: refused.
    expect(verifyResponse({ ...headers, 'wechatpay-signature': rsa(`${timestamp}\nN0NCE\n${body}`, platform.privateKey) }, body, key, new Date(now_ms)))
      .toEqual({ ok: false, reason: 'bad_signature' });
  });

  test('wechatpay - the sandbox accepts a request signed by the documented message, and refuses any other', () => {
    const request = { method: 'POST', path_with_query: '/v3/pay/transactions/native', body };
    const authorization = (signature: string, serial = 'SERIAL1') =>
      `WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="${signature}",timestamp="${timestamp}",serial_no="${serial}"`;
    const documented = `POST\n/v3/pay/transactions/native\n${timestamp}\n593BEC0C930BF1AFEB40B4A08C8FB242\n${body}\n`;
    const key = { merchant_serial_no: 'SERIAL1', merchant_public_key: merchant.publicKey };
    expect(wechatVerifyRequest(request, authorization(rsa(documented)), key, now_ms)).toEqual({ ok: true });
    expect(wechatVerifyRequest({ ...request, path_with_query: '/v3/pay/transactions/jsapi' }, authorization(rsa(documented)), key, now_ms)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(wechatVerifyRequest(request, authorization(rsa(documented.slice(0, -1))), key, now_ms)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(wechatVerifyRequest(request, authorization(rsa(documented), 'SERIAL2'), key, now_ms)).toEqual({ ok: false, reason: 'serial_mismatch' });
    expect(wechatVerifyRequest(request, authorization(rsa(documented)), key, now_ms + 301_000)).toEqual({ ok: false, reason: 'timestamp_skew' });
    expect(wechatVerifyRequest(request, `Bearer ${rsa(documented)}`, key, now_ms)).toEqual({ ok: false, reason: 'malformed' });
  });

  test('wechatpay - the sandbox signs answers over timestamp\\nnonce\\nbody\\n with the platform key', () => {
    const headers = wechatSignedHeaders(body, platform.privateKey, 'PUB_KEY_ID_1', now_ms);
    expect(headers).toMatchObject({ 'Wechatpay-Timestamp': timestamp, 'Wechatpay-Serial': 'PUB_KEY_ID_1' });
    const text = `${headers['Wechatpay-Timestamp']}\n${headers['Wechatpay-Nonce']}\n${body}\n`;
    expect(verify('sha256', Buffer.from(text, 'utf8'), platform.publicKey, Buffer.from(headers['Wechatpay-Signature']!, 'base64'))).toBe(true);
  });

  test('wechatpay - the sandbox\'s callback resource opens with plain AES-256-GCM (key, nonce and associated data as UTF-8)', () => {
    const apiv3_key = '0123456789abcdef0123456789ABCDEF';
    const resource = wechatEncryptResource('{"trade_state":"SUCCESS"}', apiv3_key, 'transaction', 'fdasflkja484');
    const sealed = Buffer.from(resource.ciphertext, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(apiv3_key, 'utf8'), Buffer.from('fdasflkja484', 'utf8'));
    decipher.setAAD(Buffer.from('transaction', 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    expect(Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]).toString('utf8')).toBe('{"trade_state":"SUCCESS"}');
    expect(resource).toMatchObject({ algorithm: 'AEAD_AES_256_GCM', associated_data: 'transaction', nonce: 'fdasflkja484' });
  });
});

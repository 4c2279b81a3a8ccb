// Alipay RSA2 (public-key mode), checked against the documented rule computed here with
// node:crypto over signing strings written out by hand — never only round-tripped through the
// module's own helpers — for the adapter and for the sandbox's independent implementation
// (testing/sandbox/protocol/alipay.ts).

import { generateKeyPairSync, sign } from 'node:crypto';
import { alipaySignNotification, alipaySignedAnswer, alipayVerifyRequest } from '../../testing/sandbox/protocol/alipay';
import { signContent, signParams, verifyNotificationParams, verifyResponse } from './crypto';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = (text: string): string => sign('sha256', Buffer.from(text, 'utf8'), privateKey).toString('base64');

// A precreate request: biz_content is JSON text, one parameter is empty (left out), and
// sign_type is signed.
const request: Record<string, string> = {
  app_id: '2021000111111111', method: 'alipay.trade.precreate', format: 'JSON', charset: 'utf-8', sign_type: 'RSA2',
  timestamp: '2025-03-01 16:00:00', version: '1.0', notify_url: 'https://pay.example/cb/alipay?a=1&b=2', app_auth_token: '',
  biz_content: '{"out_trade_no":"ord20250301a1","total_amount":"88.88","subject":"咖啡豆 1 kg"}',
};
const request_string =
  'app_id=2021000111111111&biz_content={"out_trade_no":"ord20250301a1","total_amount":"88.88","subject":"咖啡豆 1 kg"}&charset=utf-8' +
  '&format=JSON&method=alipay.trade.precreate&notify_url=https://pay.example/cb/alipay?a=1&b=2&sign_type=RSA2&timestamp=2025-03-01 16:00:00&version=1.0';

// A notification: signed without sign and sign_type.
const notification: Record<string, string> = {
  notify_time: '2025-03-01 16:01:00', notify_type: 'trade_status_sync', notify_id: 'n-1', app_id: '2021000111111111', charset: 'utf-8',
  version: '1.0', trade_no: '2025030122001', out_trade_no: 'ord20250301a1', trade_status: 'TRADE_SUCCESS', total_amount: '88.88',
  gmt_payment: '2025-03-01 16:00:59', buyer_logon_id: '',
};
const notification_string =
  'app_id=2021000111111111&charset=utf-8&gmt_payment=2025-03-01 16:00:59&notify_id=n-1&notify_time=2025-03-01 16:01:00' +
  '&notify_type=trade_status_sync&out_trade_no=ord20250301a1&total_amount=88.88&trade_no=2025030122001&trade_status=TRADE_SUCCESS&version=1.0';

test('alipay - the request signing string is the documented one (sorted, raw, empty left out, sign_type in)', () => {
  expect(signContent({ ...request, sign: 'ignored' })).toBe(request_string);
});

test('alipay - the adapter signs a request with SHA256withRSA over that string', () => {
  // PKCS#1 v1.5 signatures are deterministic: equal bytes prove the same string and hash.
  expect(signParams(request, privateKey).sign).toBe(rsa2(request_string));
});

test('alipay - the adapter verifies a notification signed without sign_type, and nothing else', () => {
  const signed = { ...notification, sign_type: 'RSA2', sign: rsa2(notification_string) };
  expect(verifyNotificationParams(signed, publicKey)).toBe(true);
  expect(verifyNotificationParams({ ...signed, total_amount: '0.01' }, publicKey)).toBe(false);
  // A signature that wrongly covered sign_type does not verify.
  expect(verifyNotificationParams({ ...signed, sign: rsa2(`${notification_string.replace('&trade_no', '&sign_type=RSA2&trade_no')}`) }, publicKey)).toBe(false);
});

test('alipay - the adapter checks an answer\'s signature over the exact text of the _response object', () => {
  // Spacing and escapes as the provider sent them: a re-serialised object would not verify.
  const object_text = '{"code":"10000","msg":"Success","out_trade_no":"ord20250301a1","qr_code":"https:\\/\\/qr.alipay.com\\/bax1"}';
  const answer = `{"alipay_trade_precreate_response": ${object_text},"sign":"${rsa2(object_text)}"}`;
  expect(verifyResponse(answer, 'alipay.trade.precreate', publicKey)).toMatchObject({ ok: true, body: { code: '10000', qr_code: 'https://qr.alipay.com/bax1' } });
  const reserialised = `{"alipay_trade_precreate_response": ${object_text},"sign":"${rsa2(JSON.stringify(JSON.parse(object_text)))}"}`;
  expect(verifyResponse(reserialised, 'alipay.trade.precreate', publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
});

test('alipay - the sandbox verifies and signs by the same documented rules', () => {
  expect(alipayVerifyRequest({ ...request, sign: rsa2(request_string) }, publicKey)).toBe(true);
  expect(alipayVerifyRequest({ ...request, sign: rsa2(request_string), subject: 'x' }, publicKey)).toBe(false);
  expect(alipayVerifyRequest({ ...request, sign_type: 'RSA', sign: rsa2(request_string) }, publicKey)).toBe(false);
  expect(alipaySignNotification(notification, privateKey)).toMatchObject({ sign_type: 'RSA2', sign: rsa2(notification_string) });
  const body = { code: '10000', msg: 'Success', out_trade_no: 'ord20250301a1' };
  expect(alipaySignedAnswer('alipay_trade_query_response', body, privateKey)).toBe(`{"alipay_trade_query_response":${JSON.stringify(body)},"sign":"${rsa2(JSON.stringify(body))}"}`);
});

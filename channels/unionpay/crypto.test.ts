// UnionPay signMethod 01, checked against the ACP 5.1.0 rule computed here with node:crypto
// over a signing string written out by hand — not round-tripped through the module's own
// helpers, so a mistake made the same way in signing and verifying cannot pass. The same
// checks hold the sandbox's independent implementation (testing/sandbox/protocol/unionpay.ts).

import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { unionpaySign, unionpayVerify } from '../../testing/sandbox/protocol/unionpay';
import { signContent, signParams, verifyParams } from './crypto';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const cert_id = '68759663125';

// A consume request as UnionPay documents its fields (values raw, one of them empty).
const fields: Record<string, string> = {
  version: '5.1.0', encoding: 'UTF-8', txnType: '01', txnSubType: '01', bizType: '000902', accessType: '0', channelType: '07',
  merId: '777290058110048', orderId: 'ord20250301a1', txnTime: '20250301160000', txnAmt: '8888', currencyCode: '156',
  backUrl: 'https://pay.example/cb/unionpay?x=1&y=2', reqReserved: '',
};
// Sorted by name (ASCII: upper case before lower case), raw `k=v` joined by `&`, empty kept,
// certId and signMethod included, signature excluded.
const documented_string =
  'accessType=0&backUrl=https://pay.example/cb/unionpay?x=1&y=2&bizType=000902&certId=68759663125&channelType=07&currencyCode=156' +
  '&encoding=UTF-8&merId=777290058110048&orderId=ord20250301a1&reqReserved=&signMethod=01&txnAmt=8888&txnSubType=01&txnTime=20250301160000' +
  '&txnType=01&version=5.1.0';

/** signMethod 01 by the documentation: SHA256withRSA over the lower-case hex SHA-256 of the string. */
function expectedSignature(text: string): string {
  const hex = createHash('sha256').update(text, 'utf8').digest('hex');
  return sign('sha256', Buffer.from(hex, 'utf8'), privateKey).toString('base64');
}

test('unionpay - the signing string is the documented one (sorted, raw values, empty kept, signature left out)', () => {
  expect(signContent({ ...fields, certId: cert_id, signMethod: '01', signature: 'ignored' })).toBe(documented_string);
});

test('unionpay - the adapter\'s signature is SHA256withRSA over the hex SHA-256 of the documented string', () => {
  const signed = signParams(fields, cert_id, privateKey);
  expect(signed).toMatchObject({ certId: cert_id, signMethod: '01' });
  // PKCS#1 v1.5 signatures are deterministic: the same key and string give the same bytes.
  expect(signed.signature).toBe(expectedSignature(documented_string));
});

test('unionpay - the adapter verifies a signature computed independently, and refuses any change', () => {
  const signature = expectedSignature(documented_string);
  const message = { ...fields, certId: cert_id, signMethod: '01', signature };
  expect(verifyParams(message, cert_id, publicKey)).toEqual({ ok: true });
  expect(verifyParams({ ...message, txnAmt: '8889' }, cert_id, publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
  // The digest, not the string itself, is what is signed: a signature over the raw string fails.
  const over_raw = sign('sha256', Buffer.from(documented_string, 'utf8'), privateKey).toString('base64');
  expect(verifyParams({ ...message, signature: over_raw }, cert_id, publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
});

test('unionpay - the sandbox signs and verifies by the same documented rule', () => {
  expect(unionpaySign(fields, cert_id, privateKey).signature).toBe(expectedSignature(documented_string));
  const message = { ...fields, certId: cert_id, signMethod: '01', signature: expectedSignature(documented_string) };
  expect(unionpayVerify(message, cert_id, publicKey)).toBe(true);
  expect(unionpayVerify({ ...message, orderId: 'ord20250301a2' }, cert_id, publicKey)).toBe(false);
  expect(unionpayVerify({ ...message, certId: '1' }, cert_id, publicKey)).toBe(false);
  expect(unionpayVerify({ ...message, signMethod: '11' }, cert_id, publicKey)).toBe(false);
});

// The bank gateway's HMAC-SHA256 signature (channels/bankgw/README.md, "Signature"), checked
// against the documented rule computed here with node:crypto over a signing string written out
// by hand — for the adapter and for the sandbox's independent implementation alike.

import { createHmac } from 'node:crypto';
import { bankgwSign, bankgwVerify } from '../../testing/sandbox/protocol/bankgw';
import { signContent, signFields, verifyFields } from './transformers';

const key = 'k'.repeat(16) + 'bank-gateway-shared-key';
const fields: Record<string, string> = {
  version: '1.0', merchant_no: 'M100200', order_no: 'ORD20250301A1', product: 'B2C', bank_code: 'ICBC', amount: '88.88',
  currency: 'CNY', subject: 'Coffee & tea', notify_url: 'https://pay.example/cb/bankgw?a=1', return_url: '', timestamp: '20250301160000',
};
// Sorted by name in byte order, raw values, the empty return_url left out, sign_type included.
const documented_string =
  'amount=88.88&bank_code=ICBC&currency=CNY&merchant_no=M100200&notify_url=https://pay.example/cb/bankgw?a=1&order_no=ORD20250301A1' +
  '&product=B2C&sign_type=HMAC-SHA256&subject=Coffee & tea&timestamp=20250301160000&version=1.0';
const expected = createHmac('sha256', key).update(documented_string, 'utf8').digest('hex');

test('bankgw - the signing string is the documented one', () => {
  expect(signContent({ ...fields, sign_type: 'HMAC-SHA256', sign: 'ignored' })).toBe(documented_string);
});

test('bankgw - the adapter signs with lower-case hex HMAC-SHA256 of the documented string, and verifies an independent one', () => {
  expect(signFields(fields, key)).toMatchObject({ sign_type: 'HMAC-SHA256', sign: expected });
  const message = { ...fields, sign_type: 'HMAC-SHA256', sign: expected };
  expect(verifyFields(message, key)).toBe(true);
  expect(verifyFields({ ...message, amount: '88.89' }, key)).toBe(false);
  expect(verifyFields({ ...message, sign: expected.toUpperCase() }, key)).toBe(false);
});

test('bankgw - the sandbox signs and verifies by the same documented rule', () => {
  expect(bankgwSign(fields, key).sign).toBe(expected);
  const message = { ...fields, sign_type: 'HMAC-SHA256', sign: expected };
  expect(bankgwVerify(message, key)).toBe(true);
  expect(bankgwVerify({ ...message, order_no: 'ORD20250301A2' }, key)).toBe(false);
  expect(bankgwVerify({ ...message, sign_type: 'MD5' }, key)).toBe(false);
});

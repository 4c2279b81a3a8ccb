// The Paycore-Signature header and verifyNotification, as a merchant uses them.

import { createHmac } from 'node:crypto';
import { signatureHeader, verifyNotification } from './signature';

const secret = 'whsec_test_0123456789';
const body = '{"id":"pabc:4","type":"payment.succeeded","data":{"amount":"12345"}}';
const now_s = 1_740_816_000;

describe('notify signature', () => {
  test('notify - the header is t=<seconds>,v1=<hex hmac of "<t>.<body>">', () => {
    const expected = createHmac('sha256', secret).update(`${now_s}.${body}`).digest('hex');
    expect(signatureHeader(secret, body, now_s)).toBe(`t=${now_s},v1=${expected}`);
  });

  test('notify - a merchant verifies a fresh header over the raw body, as text or bytes', () => {
    const header = signatureHeader(secret, body, now_s);
    expect(verifyNotification(secret, header, body, 300, now_s + 10)).toBe(true);
    expect(verifyNotification(secret, header, Buffer.from(body), 300, now_s - 10)).toBe(true);
  });

  test('notify - another secret, a changed body or an old timestamp does not verify', () => {
    const header = signatureHeader(secret, body, now_s);
    expect(verifyNotification('whsec_other', header, body, 300, now_s)).toBe(false);
    expect(verifyNotification(secret, header, body.replace('12345', '12346'), 300, now_s)).toBe(false);
    expect(verifyNotification(secret, header, body, 300, now_s + 301)).toBe(false);
    expect(verifyNotification(secret, header, body, 300, now_s - 301)).toBe(false);
  });

  test('notify - a header with several v1 values verifies when any matches (secret rotation)', () => {
    const current = signatureHeader(secret, body, now_s);
    const old = signatureHeader('whsec_old', body, now_s).split(',')[1];
    expect(verifyNotification(secret, `${current},${old}`, body, 300, now_s)).toBe(true);
    expect(verifyNotification('whsec_old', `${current},${old}`, body, 300, now_s)).toBe(true);
  });

  test.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['no timestamp', 'v1=' + 'a'.repeat(64)],
    ['no signature', `t=${now_s}`],
    ['a short signature', `t=${now_s},v1=abcd`],
    ['a non-numeric timestamp', `t=soon,v1=${'a'.repeat(64)}`],
  ])('notify - %s does not verify', (_name, header) => {
    expect(verifyNotification(secret, header, body, 300, now_s)).toBe(false);
  });
});

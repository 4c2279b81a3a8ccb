// Edge validation details validate.test.ts does not pin: the descriptions a caller reads for a
// payment reference, the client_ip length bound, and the request fingerprint against its
// encoding computed here (a JSON array in a fixed order, metadata sorted by key, SHA-256 hex).

import { createHash } from 'node:crypto';
import { CreatePaymentRequest, Product } from '../../proto/gen/paycore/v1/payment';
import { paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { no_allow_list_policy } from '../notify/destination';
import { CreateRefundRequest } from '../../proto/gen/paycore/v1/payment';
import { refundFingerprint, requestFingerprint, validateConfirmPayment, validateCreatePayment, validatePaymentOptions, validatePaymentRef, validateRefundRef } from './validate';

const rules = { expire_seconds_min: 60, expire_seconds_max: 86400, expire_seconds_default: 1800 };

function request(): CreatePaymentRequest {
  return {
    merchantId: 'm_1001',
    merchantOrderNo: 'order-1',
    amount: 100n,
    currency: 'CNY',
    product: Product.PRODUCT_WECHAT_NATIVE,
    subject: '测试商品',
    payer: { clientIp: '203.0.113.7', openid: '', authCode: '', cardToken: '', bankCode: '' },
    notifyUrl: 'https://merchant.example.com/notify',
    expireSeconds: 0,
    routeHints: { includeChannels: ['wx_main'], excludeChannels: ['wx_b'] },
    metadata: { till: '7', shop: 'sh-01' },
    splitRules: [],
  };
}

describe('validate details - payment reference descriptions', () => {
  const merchant_id = 'm_1001';
  const payment_id = paymentId(test_id_key, merchant_id, 'order-1');
  const check = (paymentId: string, merchantId: string, merchantOrderNo: string) => validatePaymentRef({ paymentId, merchantId, merchantOrderNo }, test_id_key);

  test('no merchant_id: required, naming why', () => {
    expect(check(payment_id, '', '')).toEqual([{ field: 'merchant_id', description: 'is required: the merchant the call is made for' }]);
  });

  test('neither payment_id nor merchant_order_no', () => {
    expect(check('', merchant_id, '')).toEqual([{ field: 'payment_id', description: 'is required unless merchant_order_no is given' }]);
  });

  test('a malformed payment_id says what a payment id is', () => {
    expect(check('p123', merchant_id, '')).toEqual([{ field: 'payment_id', description: "must be a payment id: 'p' and 25 characters of a-z or 2-7" }]);
  });

  test('a payment_id of another order', () => {
    expect(check(payment_id, merchant_id, 'order-2')).toEqual([{ field: 'payment_id', description: 'does not match merchant_id and merchant_order_no' }]);
  });
});

describe('validate details - client_ip', () => {
  const withIp = (clientIp: string) => {
    const req = request();
    req.payer = { ...req.payer!, clientIp };
    return validateCreatePayment(req, rules, no_allow_list_policy).filter((v) => v.field === 'payer.client_ip');
  };
  // An IPv6 address with a zone id is an address by node:net however long the zone name.
  test('an address of 64 characters is accepted, 65 refused', () => {
    const at_max = `fe80::1%${'a'.repeat(56)}`;
    expect(at_max).toHaveLength(64);
    expect(withIp(at_max)).toEqual([]);
    expect(withIp(`${at_max}a`)).toEqual([{ field: 'payer.client_ip', description: 'must be a valid IPv4 or IPv6 address' }]);
  });
});

describe('validate details - request fingerprint', () => {
  function expected(req: CreatePaymentRequest, expire: number, metadata: [string, string][]): string {
    const payer = req.payer!;
    const canonical = [
      'paycore.create_payment.v1', req.merchantId, req.merchantOrderNo, String(req.amount), req.currency, req.product, req.subject,
      [payer.clientIp, payer.openid, payer.authCode, payer.cardToken, payer.bankCode], req.notifyUrl, expire,
      req.routeHints?.includeChannels ?? [], req.routeHints?.excludeChannels ?? [], metadata,
    ];
    return createHash('sha256').update(JSON.stringify(canonical), 'utf8').digest('hex');
  }

  test('is the SHA-256 of the documented encoding, metadata sorted by key whatever its order', () => {
    expect(requestFingerprint(request(), 1800)).toBe(expected(request(), 1800, [['shop', 'sh-01'], ['till', '7']]));
  });

  test('a request without route hints is fingerprinted as one with empty hints', () => {
    const bare = request();
    bare.routeHints = undefined;
    const empty = request();
    empty.routeHints = { includeChannels: [], excludeChannels: [] };
    expect(requestFingerprint(bare, 1800)).toBe(requestFingerprint(empty, 1800));
    expect(requestFingerprint(bare, 1800)).toBe(expected(empty, 1800, [['shop', 'sh-01'], ['till', '7']]));
  });
});

describe('validate details - confirm, payment options, refund reference', () => {
  const merchant_id = 'm_1001';
  const payment_id = paymentId(test_id_key, merchant_id, 'order-1');
  const confirm = (verificationCode: string) => validateConfirmPayment({ paymentId: payment_id, merchantId: merchant_id, merchantOrderNo: '', verificationCode }, test_id_key);
  const code_violation = [{ field: 'verification_code', description: 'must be 4 to 12 digits' }];

  test('a step-up code is 4 to 12 digits, nothing else', () => {
    expect([confirm('1234'), confirm('123456789012')]).toEqual([[], []]);
    for (const code of ['123', '1234567890123', 'a1234', '1234a', '12 34', '']) expect({ code, violations: confirm(code) }).toEqual({ code, violations: code_violation });
  });

  test('the confirm checks the payment reference too', () => {
    expect(validateConfirmPayment({ paymentId: payment_id, merchantId: '', merchantOrderNo: '', verificationCode: '1234' }, test_id_key)).toEqual([
      { field: 'merchant_id', description: 'is required: the merchant the call is made for' },
    ]);
  });

  test('payment options: a valid request passes; each bad field is named, the scene with examples', () => {
    expect(validatePaymentOptions({ merchantId: merchant_id, amount: 100n, currency: 'CNY', scene: 'PC' })).toEqual([]);
    const violations = validatePaymentOptions({ merchantId: '', amount: 0n, currency: 'cny', scene: '' });
    expect(violations.map((v) => v.field)).toEqual(['merchant_id', 'amount', 'currency', 'scene']);
    expect(violations[3]).toEqual({ field: 'scene', description: 'is required, e.g. PC, MOBILE_BROWSER, WECHAT_BROWSER, APP or POS' });
  });

  test('refund reference descriptions', () => {
    expect(validateRefundRef({ refundId: 'r1', merchantId: merchant_id, merchantRefundNo: '' })).toEqual([{ field: 'refund_id', description: "must be a refund id: 'r' and 25 characters of a-z or 2-7" }]);
    expect(validateRefundRef({ refundId: '', merchantId: merchant_id, merchantRefundNo: '' })).toEqual([{ field: 'merchant_refund_no', description: 'is required unless refund_id is given' }]);
    expect(validateRefundRef({ refundId: '', merchantId: '', merchantRefundNo: 'rf-1' })).toEqual([{ field: 'merchant_id', description: 'is required: the merchant the call is made for' }]);
  });

  test('the refund fingerprint is the SHA-256 of its documented encoding', () => {
    const req = { merchantId: merchant_id, merchantRefundNo: 'rf-1', paymentId: payment_id, merchantOrderNo: '', amount: 250n, reason: '退货', notifyUrl: 'https://m.example/n' } as CreateRefundRequest;
    const canonical = ['paycore.create_refund.v1', merchant_id, 'rf-1', payment_id, '250', '退货', 'https://m.example/n'];
    expect(refundFingerprint(req, payment_id)).toBe(createHash('sha256').update(JSON.stringify(canonical), 'utf8').digest('hex'));
  });
});

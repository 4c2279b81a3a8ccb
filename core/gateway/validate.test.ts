// Edge validation: one row per rule, each breaking a valid request in exactly one field.

import { CreatePaymentRequest, Payer, Product } from '../../proto/gen/paycore/v1/payment';
import { invalidFields } from '../errors';
import { paymentId, refundId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { requestFingerprint, validateCreatePayment, validatePaymentRef, validateRefundRef } from './validate';
import { destinationPolicy, no_allow_list_policy, type DestinationPolicy } from '../notify/destination';

const rules = { expire_seconds_min: 60, expire_seconds_max: 86400, expire_seconds_default: 1800 };

function emptyPayer(): Payer {
  return { clientIp: '', openid: '', authCode: '', cardToken: '', bankCode: '' };
}

function baseRequest(): CreatePaymentRequest {
  return {
    merchantId: 'm_1001',
    merchantOrderNo: 'order-2024|0001*A',
    amount: 100n,
    currency: 'CNY',
    product: Product.PRODUCT_WECHAT_NATIVE,
    subject: '测试商品 Test item',
    payer: { ...emptyPayer(), clientIp: '203.0.113.7' },
    notifyUrl: 'https://merchant.example.com/notify?x=1',
    expireSeconds: 0,
    routeHints: { includeChannels: ['wx_main'], excludeChannels: ['wx-backup'] },
    metadata: { shop: 'sh-01', till: '7' },
    splitRules: [],
  };
}

type Mutation = (req: CreatePaymentRequest) => void;

function mutated(mutate: Mutation): CreatePaymentRequest {
  const req = baseRequest();
  mutate(req);
  return req;
}

function withPayer(product: Product, payer: Partial<Payer>): Mutation {
  return (req) => {
    req.product = product;
    req.payer = { ...emptyPayer(), ...payer };
  };
}

const manyIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `ch_${i}`);
const manyEntries = (n: number): Record<string, string> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
const emoji = '😀'; // one code point, two UTF-16 units

const rejected: Array<{ name: string; mutate: Mutation; field: string }> = [
  { name: 'an empty merchant_id', mutate: (r) => (r.merchantId = ''), field: 'merchant_id' },
  { name: 'a merchant_id of 33 characters', mutate: (r) => (r.merchantId = 'm'.repeat(33)), field: 'merchant_id' },
  { name: "a merchant_id with '.'", mutate: (r) => (r.merchantId = 'm.1001'), field: 'merchant_id' },
  { name: "a merchant_id with '|'", mutate: (r) => (r.merchantId = 'm|1001'), field: 'merchant_id' },
  { name: 'an empty merchant_order_no', mutate: (r) => (r.merchantOrderNo = ''), field: 'merchant_order_no' },
  { name: 'a merchant_order_no of 65 characters', mutate: (r) => (r.merchantOrderNo = 'o'.repeat(65)), field: 'merchant_order_no' },
  { name: 'a merchant_order_no with a space', mutate: (r) => (r.merchantOrderNo = 'order 1'), field: 'merchant_order_no' },
  { name: "a merchant_order_no with '.'", mutate: (r) => (r.merchantOrderNo = 'order.1'), field: 'merchant_order_no' },
  { name: 'amount 0', mutate: (r) => (r.amount = 0n), field: 'amount' },
  { name: 'a negative amount', mutate: (r) => (r.amount = -1n), field: 'amount' },
  { name: 'amount above 10^12', mutate: (r) => (r.amount = 10n ** 12n + 1n), field: 'amount' },
  { name: 'amount far above int64', mutate: (r) => (r.amount = 2n ** 70n), field: 'amount' },
  { name: 'a lower-case currency', mutate: (r) => (r.currency = 'cny'), field: 'currency' },
  { name: 'a currency that does not exist', mutate: (r) => (r.currency = 'ABC'), field: 'currency' },
  { name: 'a two-letter currency', mutate: (r) => (r.currency = 'CN'), field: 'currency' },
  { name: 'a numeric currency code', mutate: (r) => (r.currency = '156'), field: 'currency' },
  { name: 'an empty currency', mutate: (r) => (r.currency = ''), field: 'currency' },
  { name: 'PRODUCT_UNSPECIFIED', mutate: (r) => (r.product = Product.PRODUCT_UNSPECIFIED), field: 'product' },
  { name: 'an UNRECOGNIZED product', mutate: (r) => (r.product = Product.UNRECOGNIZED), field: 'product' },
  { name: 'a product number not in the enum', mutate: (r) => (r.product = 99 as Product), field: 'product' },
  { name: 'an empty subject', mutate: (r) => (r.subject = ''), field: 'subject' },
  { name: 'a subject of 129 code points', mutate: (r) => (r.subject = emoji.repeat(129)), field: 'subject' },
  { name: 'a subject with a newline', mutate: (r) => (r.subject = 'line\nbreak'), field: 'subject' },
  { name: 'a subject with NUL', mutate: (r) => (r.subject = 'a\u0000b'), field: 'subject' },
  { name: 'a subject with DEL', mutate: (r) => (r.subject = 'a\u007fb'), field: 'subject' },
  { name: 'a subject with a lone surrogate', mutate: (r) => (r.subject = 'a\ud800b'), field: 'subject' },
  { name: 'WECHAT_JSAPI without openid', mutate: withPayer(Product.PRODUCT_WECHAT_JSAPI, {}), field: 'payer.openid' },
  {
    name: 'WECHAT_JSAPI without any payer',
    mutate: (r) => {
      r.product = Product.PRODUCT_WECHAT_JSAPI;
      r.payer = undefined;
    },
    field: 'payer.openid',
  },
  { name: 'an openid with a space', mutate: withPayer(Product.PRODUCT_WECHAT_JSAPI, { openid: 'oUpF8 uMuAJO' }), field: 'payer.openid' },
  { name: 'BARCODE without auth_code', mutate: withPayer(Product.PRODUCT_BARCODE, {}), field: 'payer.auth_code' },
  { name: 'an auth_code of 9 digits', mutate: withPayer(Product.PRODUCT_BARCODE, { authCode: '134567890' }), field: 'payer.auth_code' },
  { name: 'an auth_code of 33 digits', mutate: withPayer(Product.PRODUCT_BARCODE, { authCode: '1'.repeat(33) }), field: 'payer.auth_code' },
  { name: 'an auth_code with letters', mutate: withPayer(Product.PRODUCT_BARCODE, { authCode: '13456789012345678x' }), field: 'payer.auth_code' },
  { name: 'UNIONPAY_QUICK without card_token', mutate: withPayer(Product.PRODUCT_UNIONPAY_QUICK, {}), field: 'payer.card_token' },
  { name: 'a card_token with a space', mutate: withPayer(Product.PRODUCT_UNIONPAY_QUICK, { cardToken: 'tok 123' }), field: 'payer.card_token' },
  { name: 'BANK_B2C without bank_code', mutate: withPayer(Product.PRODUCT_BANK_B2C, {}), field: 'payer.bank_code' },
  { name: 'BANK_B2B without bank_code', mutate: withPayer(Product.PRODUCT_BANK_B2B, {}), field: 'payer.bank_code' },
  { name: 'a bank_code with a dot', mutate: withPayer(Product.PRODUCT_BANK_B2C, { bankCode: 'ICBC.1' }), field: 'payer.bank_code' },
  { name: 'WECHAT_H5 without client_ip', mutate: withPayer(Product.PRODUCT_WECHAT_H5, {}), field: 'payer.client_ip' },
  { name: 'a client_ip out of range', mutate: withPayer(Product.PRODUCT_WECHAT_NATIVE, { clientIp: '999.1.1.1' }), field: 'payer.client_ip' },
  { name: 'a host name as client_ip', mutate: withPayer(Product.PRODUCT_WECHAT_H5, { clientIp: 'localhost' }), field: 'payer.client_ip' },
  { name: 'a relative notify_url', mutate: (r) => (r.notifyUrl = '/notify'), field: 'notify_url' },
  { name: 'an ftp notify_url', mutate: (r) => (r.notifyUrl = 'ftp://merchant.example.com/n'), field: 'notify_url' },
  { name: 'a javascript: notify_url', mutate: (r) => (r.notifyUrl = 'javascript:alert(1)'), field: 'notify_url' },
  { name: 'a notify_url without host', mutate: (r) => (r.notifyUrl = 'https://'), field: 'notify_url' },
  { name: 'a notify_url with a space', mutate: (r) => (r.notifyUrl = 'https://merchant.example.com/a b'), field: 'notify_url' },
  { name: 'a notify_url with a tab', mutate: (r) => (r.notifyUrl = 'https://merchant.example.com/a\tb'), field: 'notify_url' },
  ...[
    'http://127.0.0.1:8080/n', 'http://127.1/n', 'http://[::1]/n', 'http://10.0.0.7/n', 'http://172.16.5.4/n', 'http://192.168.0.1/n',
    'http://100.64.0.1/n', 'http://100.100.100.200/latest/meta-data', 'http://169.254.169.254/latest/meta-data', 'http://[fe80::1]/n',
    'http://[fd00:ec2::254]/n', 'http://[::ffff:127.0.0.1]/n', 'http://0.0.0.0/n', 'http://localhost:8080/n', 'http://api.localhost/n', 'http://2130706433/n',
  ].map((url) => ({ name: `a notify_url to ${url}`, mutate: (r: CreatePaymentRequest) => (r.notifyUrl = url), field: 'notify_url' })),
  {
    name: 'a notify_url of 257 characters',
    mutate: (r) => (r.notifyUrl = 'https://merchant.example.com/' + 'a'.repeat(257 - 29)),
    field: 'notify_url',
  },
  { name: 'expire_seconds below the minimum', mutate: (r) => (r.expireSeconds = 59), field: 'expire_seconds' },
  { name: 'expire_seconds above the maximum', mutate: (r) => (r.expireSeconds = 86401), field: 'expire_seconds' },
  { name: 'expire_seconds of 1', mutate: (r) => (r.expireSeconds = 1), field: 'expire_seconds' },
  {
    name: 'more than 20 include_channels',
    mutate: (r) => (r.routeHints = { includeChannels: manyIds(21), excludeChannels: [] }),
    field: 'route_hints.include_channels',
  },
  {
    name: 'more than 20 exclude_channels',
    mutate: (r) => (r.routeHints = { includeChannels: [], excludeChannels: manyIds(21) }),
    field: 'route_hints.exclude_channels',
  },
  {
    name: 'a malformed include channel id',
    mutate: (r) => (r.routeHints = { includeChannels: ['wx_main', 'wx.backup'], excludeChannels: [] }),
    field: 'route_hints.include_channels[1]',
  },
  {
    name: 'an exclude channel id of 33 characters',
    mutate: (r) => (r.routeHints = { includeChannels: [], excludeChannels: ['c'.repeat(33)] }),
    field: 'route_hints.exclude_channels[0]',
  },
  {
    name: 'an empty channel id',
    mutate: (r) => (r.routeHints = { includeChannels: [''], excludeChannels: [] }),
    field: 'route_hints.include_channels[0]',
  },
  {
    name: 'a channel both included and excluded',
    mutate: (r) => (r.routeHints = { includeChannels: ['wx_main', 'ali_1'], excludeChannels: ['x', 'ali_1'] }),
    field: 'route_hints.exclude_channels[1]',
  },
  { name: 'more than 20 metadata entries', mutate: (r) => (r.metadata = manyEntries(21)), field: 'metadata' },
  { name: 'an empty metadata key', mutate: (r) => (r.metadata = { '': 'v' }), field: 'metadata' },
  { name: 'a metadata key of 65 characters', mutate: (r) => (r.metadata = { ['k'.repeat(65)]: 'v' }), field: 'metadata' },
  { name: 'a metadata value of 257 characters', mutate: (r) => (r.metadata = { k: emoji.repeat(257) }), field: 'metadata' },
];

const accepted: Array<{ name: string; mutate: Mutation }> = [
  { name: 'amount 1', mutate: (r) => (r.amount = 1n) },
  { name: 'amount 10^12', mutate: (r) => (r.amount = 10n ** 12n) },
  { name: 'merchant_id of 32 characters', mutate: (r) => (r.merchantId = 'M-_9'.repeat(8)) },
  { name: 'merchant_order_no of 64 characters', mutate: (r) => (r.merchantOrderNo = 'Az9_-|*x'.repeat(8)) },
  { name: 'a subject of 128 emoji (256 UTF-16 units)', mutate: (r) => (r.subject = emoji.repeat(128)) },
  { name: 'a subject of one character', mutate: (r) => (r.subject = '药') },
  { name: 'currency USD', mutate: (r) => (r.currency = 'USD') },
  { name: 'currency JPY', mutate: (r) => (r.currency = 'JPY') },
  { name: 'no payer for WECHAT_NATIVE', mutate: (r) => (r.payer = undefined) },
  { name: 'an IPv6 client_ip', mutate: withPayer(Product.PRODUCT_WECHAT_H5, { clientIp: '2001:db8::1' }) },
  { name: 'WECHAT_JSAPI with openid', mutate: withPayer(Product.PRODUCT_WECHAT_JSAPI, { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' }) },
  { name: 'BARCODE with an 18-digit WeChat code', mutate: withPayer(Product.PRODUCT_BARCODE, { authCode: '134567890123456789' }) },
  { name: 'BARCODE with a 10-digit code', mutate: withPayer(Product.PRODUCT_BARCODE, { authCode: '1234567890' }) },
  { name: 'BARCODE with a 32-digit code', mutate: withPayer(Product.PRODUCT_BARCODE, { authCode: '2'.repeat(32) }) },
  { name: 'UNIONPAY_QUICK with card_token', mutate: withPayer(Product.PRODUCT_UNIONPAY_QUICK, { cardToken: 'tok_6222+/=AB' }) },
  { name: 'BANK_B2B with bank_code', mutate: withPayer(Product.PRODUCT_BANK_B2B, { bankCode: 'ICBC' }) },
  { name: 'ALIPAY_PC with only a client_ip', mutate: withPayer(Product.PRODUCT_ALIPAY_PC, { clientIp: '10.0.0.1' }) },
  { name: 'an empty notify_url', mutate: (r) => (r.notifyUrl = '') },
  { name: 'an http notify_url with a port', mutate: (r) => (r.notifyUrl = 'http://93.184.216.34:8080/cb') },
  {
    name: 'a notify_url of 256 characters',
    mutate: (r) => (r.notifyUrl = 'https://merchant.example.com/' + 'a'.repeat(256 - 29)),
  },
  { name: 'expire_seconds 60', mutate: (r) => (r.expireSeconds = 60) },
  { name: 'expire_seconds 86400', mutate: (r) => (r.expireSeconds = 86400) },
  { name: 'no route_hints', mutate: (r) => (r.routeHints = undefined) },
  { name: '20 channels in each list', mutate: (r) => (r.routeHints = { includeChannels: manyIds(20), excludeChannels: manyIds(40).slice(20) }) },
  { name: '20 metadata entries', mutate: (r) => (r.metadata = manyEntries(20)) },
  { name: 'no metadata', mutate: (r) => (r.metadata = {}) },
  { name: 'a 64-character key and a 256-character value', mutate: (r) => (r.metadata = { ['k'.repeat(64)]: emoji.repeat(256) }) },
  { name: 'an empty metadata value', mutate: (r) => (r.metadata = { k: '' }) },
];

describe('validate', () => {
  test('validate - a fully valid request yields no violation', () => {
    expect(validateCreatePayment(baseRequest(), rules, no_allow_list_policy)).toEqual([]);
  });

  test.each(rejected)('validate - rejects $name', ({ mutate, field }) => {
    const violations = validateCreatePayment(mutated(mutate), rules, no_allow_list_policy);
    expect(violations.map((v) => v.field)).toEqual([field]);
    expect(violations[0]!.description).toMatch(/^[a-z]/);
  });

  test.each(accepted)('validate - accepts $name', ({ mutate }) => {
    expect(validateCreatePayment(mutated(mutate), rules, no_allow_list_policy)).toEqual([]);
  });

  const payer_for_product: Array<[string, Partial<Payer>]> = [
    ['WECHAT_NATIVE', {}],
    ['WECHAT_JSAPI', { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' }],
    ['WECHAT_APP', {}],
    ['WECHAT_H5', { clientIp: '198.51.100.4' }],
    ['ALIPAY_QR', {}],
    ['ALIPAY_APP', {}],
    ['ALIPAY_WAP', {}],
    ['ALIPAY_PC', {}],
    ['UNIONPAY_QUICK', { cardToken: 'tok_1' }],
    ['BANK_B2C', { bankCode: 'ICBC' }],
    ['BANK_B2B', { bankCode: 'CMB' }],
    ['BARCODE', { authCode: '287654321098765432' }],
  ];

  test.each(payer_for_product)('validate - accepts product %s with the payer elements it needs', (name, payer) => {
    const product = Product[`PRODUCT_${name}` as keyof typeof Product];
    expect(validateCreatePayment(mutated(withPayer(product, payer)), rules, no_allow_list_policy)).toEqual([]);
  });

  test('validate - rejects amount above 10^12 naming the rule', () => {
    expect(validateCreatePayment(mutated((r) => (r.amount = 10n ** 12n + 1n)), rules, no_allow_list_policy)).toEqual([
      { field: 'amount', description: 'must be between 1 and 1000000000000 minor units' },
    ]);
  });

  test('validate - names every bad field at once', () => {
    const req = mutated((r) => {
      r.merchantId = '';
      r.amount = 0n;
      r.currency = 'usd';
      r.product = Product.PRODUCT_BARCODE;
      r.payer = { ...emptyPayer(), clientIp: 'nope' };
      r.subject = '';
      r.notifyUrl = 'notify';
      r.expireSeconds = 5;
      r.routeHints = { includeChannels: ['a.b'], excludeChannels: [] };
      r.metadata = manyEntries(21);
    });
    const fields = validateCreatePayment(req, rules, no_allow_list_policy).map((v) => v.field);
    expect(fields).toEqual([
      'merchant_id',
      'amount',
      'currency',
      'subject',
      'payer.client_ip',
      'payer.auth_code',
      'notify_url',
      'expire_seconds',
      'route_hints.include_channels[0]',
      'metadata',
    ]);
  });

  test('validate - never echoes a payer element value', () => {
    const secrets = { openid: 'oSECRET openid', authCode: '99887766554433221100X', cardToken: 'tokSECRET 42' };
    const req = mutated(withPayer(Product.PRODUCT_UNIONPAY_QUICK, secrets));
    const violations = validateCreatePayment(req, rules, no_allow_list_policy);
    expect(violations.map((v) => v.field).sort()).toEqual(['payer.auth_code', 'payer.card_token', 'payer.openid']);
    const text = JSON.stringify(violations) + invalidFields(violations).message;
    for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
    expect(text).not.toContain('SECRET');
  });

  test('validate - a requirement names the product', () => {
    expect(validateCreatePayment(mutated(withPayer(Product.PRODUCT_BARCODE, {})), rules, no_allow_list_policy)).toEqual([
      { field: 'payer.auth_code', description: 'is required for product PRODUCT_BARCODE' },
    ]);
  });

  test('validate - asserts on inconsistent expire rules', () => {
    const bad = { expire_seconds_min: 100, expire_seconds_max: 50, expire_seconds_default: 75 };
    expect(() => validateCreatePayment(baseRequest(), bad, no_allow_list_policy)).toThrow(expect.objectContaining({ name: 'AssertionError' }));
  });
});

describe('validate payment ref', () => {
  const merchant_id = 'm_1001';
  const merchant_order_no = 'order-0001';
  const payment_id = paymentId(test_id_key, merchant_id, merchant_order_no);
  const ref = (paymentId: string, merchantId: string, merchantOrderNo: string) => ({ paymentId, merchantId, merchantOrderNo });
  const fieldsOf = (r: ReturnType<typeof ref>) => validatePaymentRef(r, test_id_key).map((v) => v.field);

  test('validate - accepts payment_id scoped by merchant_id', () => {
    expect(fieldsOf(ref(payment_id, merchant_id, ''))).toEqual([]);
  });

  test('validate - accepts merchant_id and merchant_order_no', () => {
    expect(fieldsOf(ref('', merchant_id, merchant_order_no))).toEqual([]);
  });

  test('validate - accepts all three when they agree', () => {
    expect(fieldsOf(ref(payment_id, merchant_id, merchant_order_no))).toEqual([]);
  });

  test('validate - requires merchant_id with every form: the call is made for a merchant', () => {
    expect(fieldsOf(ref(payment_id, '', ''))).toEqual(['merchant_id']);
    expect(fieldsOf(ref('', '', merchant_order_no))).toEqual(['merchant_id']);
    expect(fieldsOf(ref(payment_id, '', merchant_order_no))).toEqual(['merchant_id']);
  });

  test('validate - rejects a ref with neither form', () => {
    expect(fieldsOf(ref('', '', ''))).toEqual(['merchant_id', 'payment_id']);
    expect(fieldsOf(ref('', merchant_id, ''))).toEqual(['payment_id']);
  });

  test('validate - rejects a malformed payment_id', () => {
    expect(fieldsOf(ref('p123', merchant_id, ''))).toEqual(['payment_id']);
    expect(fieldsOf(ref(payment_id + 'a1', merchant_id, ''))).toEqual(['payment_id']);
  });

  test('validate - rejects malformed merchant keys', () => {
    expect(fieldsOf(ref('', 'm.1', 'o 1'))).toEqual(['merchant_id', 'merchant_order_no']);
    expect(fieldsOf(ref(payment_id, 'm.1', ''))).toEqual(['merchant_id']);
  });

  test('validate - rejects a payment_id that does not match the merchant key', () => {
    expect(fieldsOf(ref(payment_id, merchant_id, 'order-0002'))).toEqual(['payment_id']);
    expect(fieldsOf(ref(payment_id, 'm_1002', merchant_order_no))).toEqual(['payment_id']);
  });
});

describe('validate refund ref', () => {
  const refund_id = refundId(test_id_key, 'm_1001', 'refund-1');
  const fieldsOf = (refundId: string, merchantId: string, merchantRefundNo: string) =>
    validateRefundRef({ refundId, merchantId, merchantRefundNo }).map((v) => v.field);

  test('validate - refund_id or merchant_refund_no, always with merchant_id', () => {
    expect(fieldsOf(refund_id, 'm_1001', '')).toEqual([]);
    expect(fieldsOf('', 'm_1001', 'refund-1')).toEqual([]);
    expect(fieldsOf(refund_id, '', '')).toEqual(['merchant_id']);
    expect(fieldsOf('', '', 'refund-1')).toEqual(['merchant_id']);
    expect(fieldsOf('', 'm_1001', '')).toEqual(['merchant_refund_no']);
    expect(fieldsOf('r123', 'm_1001', '')).toEqual(['refund_id']);
  });
});

describe('validate fingerprint', () => {
  const fingerprint = (req: CreatePaymentRequest, expire = 1800) => requestFingerprint(req, expire);

  test('validate - fingerprint is stable hex for an identical replay', () => {
    const first = fingerprint(baseRequest());
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint(baseRequest())).toBe(first);
  });

  test('validate - fingerprint ignores metadata insertion order', () => {
    const a = mutated((r) => (r.metadata = { a: '1', b: '2' }));
    const b = mutated((r) => (r.metadata = { b: '2', a: '1' }));
    expect(fingerprint(a)).toBe(fingerprint(b));
  });

  test('validate - fingerprint treats a missing payer like an empty one', () => {
    expect(fingerprint(mutated((r) => (r.payer = undefined)))).toBe(fingerprint(mutated((r) => (r.payer = emptyPayer()))));
  });

  test('validate - fingerprint depends on the effective expiry, not its spelling', () => {
    expect(fingerprint(mutated((r) => (r.expireSeconds = 0)), 1800)).toBe(
      fingerprint(mutated((r) => (r.expireSeconds = 1800)), 1800),
    );
    expect(fingerprint(baseRequest(), 1800)).not.toBe(fingerprint(baseRequest(), 1801));
  });

  const changes: Array<{ name: string; mutate: Mutation }> = [
    { name: 'merchant_id', mutate: (r) => (r.merchantId = 'm_1002') },
    { name: 'merchant_order_no', mutate: (r) => (r.merchantOrderNo = 'order-2024|0001*B') },
    { name: 'amount', mutate: (r) => (r.amount = 101n) },
    { name: 'currency', mutate: (r) => (r.currency = 'USD') },
    { name: 'product', mutate: (r) => (r.product = Product.PRODUCT_WECHAT_H5) },
    { name: 'subject', mutate: (r) => (r.subject += ' ') },
    { name: 'payer.client_ip', mutate: (r) => (r.payer = { ...emptyPayer(), clientIp: '203.0.113.8' }) },
    { name: 'payer.openid', mutate: (r) => (r.payer = { ...r.payer!, openid: 'o1' }) },
    { name: 'payer.auth_code', mutate: (r) => (r.payer = { ...r.payer!, authCode: '1234567890' }) },
    { name: 'payer.card_token', mutate: (r) => (r.payer = { ...r.payer!, cardToken: 't' }) },
    { name: 'payer.bank_code', mutate: (r) => (r.payer = { ...r.payer!, bankCode: 'ICBC' }) },
    { name: 'payer element moved to another slot', mutate: (r) => (r.payer = { ...emptyPayer(), openid: '203.0.113.7' }) },
    { name: 'notify_url', mutate: (r) => (r.notifyUrl = '') },
    { name: 'include_channels', mutate: (r) => r.routeHints!.includeChannels.push('x') },
    { name: 'exclude_channels', mutate: (r) => r.routeHints!.excludeChannels.push('x') },
    { name: 'route hint order', mutate: (r) => (r.routeHints = { includeChannels: ['b', 'a'], excludeChannels: [] }) },
    { name: 'a channel moved between lists', mutate: (r) => (r.routeHints = { includeChannels: [], excludeChannels: ['wx_main', 'wx-backup'] }) },
    { name: 'a metadata value', mutate: (r) => (r.metadata = { ...r.metadata, till: '8' }) },
    { name: 'a metadata key', mutate: (r) => (r.metadata = { shop: 'sh-01', till2: '7' }) },
    { name: 'an extra metadata entry', mutate: (r) => (r.metadata = { ...r.metadata, x: '' }) },
    { name: 'metadata split differently', mutate: (r) => (r.metadata = { shop: 'sh-01till', '': '7' }) },
  ];

  test.each(changes)('validate - fingerprint changes with $name', ({ mutate }) => {
    const base = fingerprint(mutated((r) => (r.routeHints = { includeChannels: ['a', 'b'], excludeChannels: [] })));
    const base_default = fingerprint(baseRequest());
    const changed = fingerprint(mutated(mutate));
    expect(changed).not.toBe(base_default);
    expect(changed).not.toBe(base);
  });
});

describe('validate notify_url destinations', () => {
  const rules = { expire_seconds_min: 60, expire_seconds_max: 86_400, expire_seconds_default: 1_800 };
  const fields = (url: string, policy: DestinationPolicy) => validateCreatePayment({ ...baseRequest(), notifyUrl: url }, rules, policy).map((v) => v.field);

  test('validate - a public name or address is fine; http only outside production', () => {
    expect(fields('http://merchant.example.com/n', no_allow_list_policy)).toEqual([]);
    expect(fields('https://93.184.216.34/n', no_allow_list_policy)).toEqual([]);
    const production = destinationPolicy(true, '', '');
    expect(fields('http://merchant.example.com/n', production)).toEqual(['notify_url']);
    expect(fields('https://merchant.example.com/n', production)).toEqual([]);
  });

  test('validate - the allow-list lets development deliver to loopback, and nothing else', () => {
    const dev = destinationPolicy(false, 'localhost', '127.0.0.0/8,::1/128');
    expect(fields('http://127.0.0.1:9000/n', dev)).toEqual([]);
    expect(fields('http://[::1]:9000/n', dev)).toEqual([]);
    expect(fields('http://localhost:9000/n', dev)).toEqual([]);
    expect(fields('http://169.254.169.254/n', dev)).toEqual(['notify_url']);
    expect(fields('http://10.0.0.1/n', dev)).toEqual(['notify_url']);
  });
});

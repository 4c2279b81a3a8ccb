// Edge validation at its bounds, the cases validate.test.ts's one-field rows do not reach: the
// configured expiry rules (each inequality alone, each at equality), the expire_seconds
// description, route hints over their bound that also name a channel twice, and a value of
// the wrong type from an untyped caller.

import { CreatePaymentRequest, Product } from '../../proto/gen/paycore/v1/payment';
import { no_allow_list_policy } from '../notify/destination';
import { validateCreatePayment, type ExpireRules } from './validate';

const rules: ExpireRules = { expire_seconds_min: 60, expire_seconds_max: 86400, expire_seconds_default: 1800 };

function request(): CreatePaymentRequest {
  return {
    merchantId: 'm_1001',
    merchantOrderNo: 'order-1',
    amount: 100n,
    currency: 'CNY',
    product: Product.PRODUCT_WECHAT_NATIVE,
    subject: 'tea',
    payer: undefined,
    notifyUrl: '',
    expireSeconds: 0,
    routeHints: undefined,
    metadata: {},
    splitRules: [],
  };
}

const ids = (from: number, count: number): string[] => Array.from({ length: count }, (_, i) => `ch_${from + i}`);
const check = (req: CreatePaymentRequest, with_rules: ExpireRules = rules) => validateCreatePayment(req, with_rules, no_allow_list_policy);

describe('validate bounds - the configured expiry rules: 0 < min <= default <= max, integers', () => {
  const refused: Array<[string, ExpireRules]> = [
    ['a minimum that is not an integer', { expire_seconds_min: 60.5, expire_seconds_default: 1800, expire_seconds_max: 86400 }],
    ['a minimum of 0', { expire_seconds_min: 0, expire_seconds_default: 1800, expire_seconds_max: 86400 }],
    ['a minimum above the default', { expire_seconds_min: 1801, expire_seconds_default: 1800, expire_seconds_max: 86400 }],
    ['a default above the maximum', { expire_seconds_min: 60, expire_seconds_default: 86401, expire_seconds_max: 86400 }],
  ];
  test.each(refused)('%s is a configuration error, named', (_name, bad) => {
    expect(() => check(request(), bad)).toThrow(expect.objectContaining({ name: 'AssertionError', message: 'expire rules must satisfy 0 < min <= default <= max' }));
  });

  test('the bounds themselves are allowed: min = default = max, and a minimum of 1 second', () => {
    expect(check(request(), { expire_seconds_min: 600, expire_seconds_default: 600, expire_seconds_max: 600 })).toEqual([]);
    expect(check(request(), { expire_seconds_min: 1, expire_seconds_default: 1, expire_seconds_max: 2 })).toEqual([]);
  });

  test('an expire_seconds out of range reads what 0 means and the range', () => {
    expect(check({ ...request(), expireSeconds: 59 })).toEqual([{ field: 'expire_seconds', description: 'must be 0 (meaning 1800) or between 60 and 86400 seconds' }]);
    expect(check({ ...request(), expireSeconds: 90.5 })).toEqual([{ field: 'expire_seconds', description: 'must be 0 (meaning 1800) or between 60 and 86400 seconds' }]);
  });
});

describe('validate bounds - route hints over their bound are one violation for the list, and no more', () => {
  const hints = (includeChannels: string[], excludeChannels: string[]): CreatePaymentRequest => ({
    ...request(),
    routeHints: { includeChannels, excludeChannels },
  });
  const both_named = 'must not also appear in route_hints.include_channels';

  test('21 included, one of them also excluded: only the include list\'s bound', () => {
    expect(check(hints(ids(0, 21), ['ch_3']))).toEqual([{ field: 'route_hints.include_channels', description: 'must have at most 20 channel ids' }]);
  });

  test('21 excluded, one of them also included: only the exclude list\'s bound', () => {
    expect(check(hints(['ch_3'], ids(0, 21)))).toEqual([{ field: 'route_hints.exclude_channels', description: 'must have at most 20 channel ids' }]);
  });

  test('exactly 20 in a list: a channel in both lists is named, by its place in exclude_channels', () => {
    expect(check(hints(ids(0, 20), ['zz', 'ch_19']))).toEqual([{ field: 'route_hints.exclude_channels[1]', description: both_named }]);
    expect(check(hints(['zz', 'ch_0'], ids(0, 20)))).toEqual([{ field: 'route_hints.exclude_channels[0]', description: both_named }]);
  });
});

describe('validate bounds - a value of the wrong type (an untyped caller) is refused, not thrown on', () => {
  test('a metadata value that is not a string', () => {
    const req = { ...request(), metadata: { till: 7 as unknown as string } };
    expect(check(req)).toEqual([{ field: 'metadata', description: 'values must be at most 256 characters' }]);
  });

  test('an amount that is a number, not a bigint (a number compares with the bounds, and would pass them)', () => {
    const req = { ...request(), amount: 100 as unknown as bigint };
    expect(check(req)).toEqual([{ field: 'amount', description: 'must be between 1 and 1000000000000 minor units' }]);
  });

  test('a subject that is not a string', () => {
    const req = { ...request(), subject: ['tea'] as unknown as string };
    expect(check(req)).toEqual([{ field: 'subject', description: 'must be 1 to 128 characters' }]);
  });
});

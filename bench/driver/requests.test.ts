import { CreatePaymentRequest, Product } from '../../proto/gen/paycore/v1/payment';
import { mergeSorted, percentile, summarize } from './percentiles';
import { CreateTemplate, benchCreateShape, createRequest } from './requests';

test('bench driver - a templated create decodes to the request it stands for, for every sequence', () => {
  const template = new CreateTemplate(benchCreateShape('m_bench', 'b-x1-p0-'));
  for (const sequence of [0, 7, 1234567890, 9_999_999_999]) {
    const decoded = CreatePaymentRequest.decode(template.bytes(sequence));
    expect(decoded).toEqual(createRequest(template.shape, template.orderNo(sequence)));
    expect(decoded.merchantOrderNo).toBe(`b-x1-p0-${String(sequence).padStart(10, '0')}`);
    expect(decoded.product).toBe(Product.PRODUCT_WECHAT_NATIVE);
  }
});

test('bench driver - percentiles are exact nearest-rank over every sample', () => {
  const sorted = mergeSorted([Float64Array.from([5, 1, 3]), Float64Array.from([2, 4]), new Float64Array(0)]);
  expect(Array.from(sorted)).toEqual([1, 2, 3, 4, 5]);
  expect(percentile(sorted, 50)).toBe(3);
  expect(percentile(sorted, 99)).toBe(5);
  expect(percentile(sorted, 0)).toBe(1);
  const hundred = mergeSorted([Float64Array.from({ length: 100 }, (_, i) => 100 - i)]);
  expect(percentile(hundred, 95)).toBe(95);
  expect(percentile(hundred, 99)).toBe(99);
  expect(summarize(hundred)).toMatchObject({ count: 100, p50_ms: 50, max_ms: 100, mean_ms: 50.5 });
  expect(summarize(new Float64Array(0)).count).toBe(0);
});

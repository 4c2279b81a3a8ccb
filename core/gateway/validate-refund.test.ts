// CreateRefund's field checks (validateCreateRefund), which mutation testing found exercised by
// no unit test: every field named in its own violation, the payment by id, by order number or
// both when they agree, and nothing refused that is valid.

import type { CreateRefundRequest } from '../../proto/gen/paycore/v1/payment';
import { paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { no_allow_list_policy } from '../notify/destination';
import { validateCreateRefund } from './validate';

const payment_id = paymentId(test_id_key, 'm_1001', 'order-0001');
const valid: CreateRefundRequest = {
  merchantId: 'm_1001', merchantRefundNo: 'rf-0001', paymentId: payment_id, merchantOrderNo: 'order-0001', amount: 500n,
  reason: 'damaged on arrival', notifyUrl: 'https://merchant.example/refunds',
};
const check = (change: Partial<CreateRefundRequest>) => validateCreateRefund({ ...valid, ...change }, test_id_key, no_allow_list_policy);
const fields = (change: Partial<CreateRefundRequest>) => check(change).map((v) => v.field);

test('validate refund - a valid request, by id, by order number or by both agreeing, has no violation', () => {
  expect(check({})).toEqual([]);
  expect(check({ merchantOrderNo: '' })).toEqual([]);
  expect(check({ paymentId: '' })).toEqual([]);
  expect(check({ reason: '', notifyUrl: '' })).toEqual([]);
  expect(check({ reason: '退'.repeat(256) })).toEqual([]);
});

test.each<[string, Partial<CreateRefundRequest>, string[]]>([
  ['no merchant', { merchantId: '' }, ['merchant_id']],
  ['a bad merchant id', { merchantId: 'm 1' }, ['merchant_id']],
  ['no refund number', { merchantRefundNo: '' }, ['merchant_refund_no']],
  ['neither payment id nor order number', { paymentId: '', merchantOrderNo: '' }, ['payment_id']],
  ['a malformed payment id', { paymentId: 'p123', merchantOrderNo: '' }, ['payment_id']],
  ['a malformed order number', { paymentId: '', merchantOrderNo: 'order 1' }, ['merchant_order_no']],
  ['an id and an order number that disagree', { merchantOrderNo: 'order-0002' }, ['payment_id']],
  ['a zero amount', { amount: 0n }, ['amount']],
  ['a reason of 257 characters', { reason: 'r'.repeat(257) }, ['reason']],
  ['a reason with a control character', { reason: 'a\u0007b' }, ['reason']],
  ['a notify URL that is not https', { notifyUrl: 'ftp://merchant.example/x' }, ['notify_url']],
])('validate refund - %s is refused naming the field', (_name, change, expected) => {
  expect(fields(change)).toEqual(expected);
});

test('validate refund - each violation says what is expected', () => {
  expect(check({ paymentId: '', merchantOrderNo: '' })).toEqual([{ field: 'payment_id', description: 'is required unless merchant_order_no is given' }]);
  expect(check({ paymentId: 'p123', merchantOrderNo: '' })).toEqual([{ field: 'payment_id', description: "must be a payment id: 'p' and 25 characters of a-z or 2-7" }]);
  expect(check({ merchantOrderNo: 'order-0002' })).toEqual([{ field: 'payment_id', description: 'does not match merchant_id and merchant_order_no' }]);
  expect(check({ reason: 'r'.repeat(257) })).toEqual([{ field: 'reason', description: 'must be at most 256 characters with no control characters' }]);
});

test('validate refund - several bad fields are all named, and a mismatch is not claimed when a part is itself bad', () => {
  expect(fields({ merchantId: '', merchantRefundNo: '', amount: -1n, reason: '\u0000' })).toEqual(['merchant_id', 'merchant_refund_no', 'amount', 'reason']);
  expect(fields({ merchantOrderNo: 'order 2' })).toEqual(['merchant_order_no']);
});

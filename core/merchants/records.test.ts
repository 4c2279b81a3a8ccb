// A merchant's record as the routing file and MerchantAdminService give it: its money-out
// limits (payout_limits, each optional, overriding the deployment's PAYCORE_* default) read
// back as written, each bad one named by its path.

import type { FieldViolation } from '../errors';
import { merchantToJson, readMerchant } from './records';

const base = { merchant_id: 'm_1', products: ['WECHAT_NATIVE'], channel_ids: ['wx1'], fee_rates: {} };

function read(value: unknown): { merchant: ReturnType<typeof readMerchant>; violations: FieldViolation[] } {
  const violations: FieldViolation[] = [];
  return { merchant: readMerchant(value, 'merchant', violations), violations };
}

test('merchant records - payout_limits: any of the four, in minor units as decimal strings; absent, none; read back as written', () => {
  const { merchant, violations } = read({ ...base, payout_limits: { member_withdrawal_max_minor: '100000', transfer_daily_max_minor: '9000000' } });
  expect(violations).toEqual([]);
  expect(merchant!.payout_limits).toEqual({ member_withdrawal_max_minor: 100_000n, transfer_daily_max_minor: 9_000_000n });
  expect(merchantToJson(merchant!)).toMatchObject({ payout_limits: { member_withdrawal_max_minor: '100000', transfer_daily_max_minor: '9000000' } });
  expect(read(merchantToJson(merchant!)).merchant).toEqual(merchant);
  const plain = read(base).merchant!;
  expect(plain.payout_limits).toBeUndefined();
  expect(merchantToJson(plain)).not.toHaveProperty('payout_limits');
});

test('merchant records - a bad payout limit is named by its path; a per-item limit above its daily one is refused', () => {
  const { merchant, violations } = read({
    ...base,
    payout_limits: { member_withdrawal_max_minor: '0', member_withdrawal_daily_max_minor: 5, transfer_max_minor: '-1', per_day: '1' },
  });
  expect(merchant).toBeUndefined();
  expect(violations.map((v) => v.field).sort()).toEqual([
    'merchant.payout_limits.member_withdrawal_daily_max_minor', 'merchant.payout_limits.member_withdrawal_max_minor',
    'merchant.payout_limits.per_day', 'merchant.payout_limits.transfer_max_minor',
  ]);
  const over = read({ ...base, payout_limits: { transfer_max_minor: '1001', transfer_daily_max_minor: '1000', member_withdrawal_max_minor: '7', member_withdrawal_daily_max_minor: '6' } });
  expect(over.violations).toEqual([
    { field: 'merchant.payout_limits.member_withdrawal_max_minor', description: 'must not exceed member_withdrawal_daily_max_minor (6)' },
    { field: 'merchant.payout_limits.transfer_max_minor', description: 'must not exceed transfer_daily_max_minor (1000)' },
  ]);
  expect(read({ ...base, payout_limits: [] }).violations).toEqual([{ field: 'merchant.payout_limits', description: 'must be an object' }]);
});

import { computeFee } from './fees';
import type { FeeRule } from './types';

const rule = (rate_bp: number, fixed = 0n, min = 0n, max?: bigint): FeeRule => ({ rate_bp, fixed_minor: fixed, min_minor: min, max_minor: max });

test.each<[string, bigint, FeeRule, bigint]>([
  ['exact', 10_000n, rule(60), 60n],
  ['0.6% of 1.00 is 0.6 → rounds up to 1', 100n, rule(60), 1n],
  ['0.6% of 0.83 is 0.498 → rounds down to 0', 83n, rule(60), 0n],
  ['exactly half rounds up: 0.6% of 2.50 = 1.5 → 2', 250n, rule(60), 2n],
  ['just under half rounds down: 0.6% of 2.49 = 1.494 → 1', 249n, rule(60), 1n],
  ['fixed fee added after rounding', 250n, rule(60, 10n), 12n],
  ['minimum applies', 100n, rule(60, 0n, 50n), 50n],
  ['maximum applies', 100_000_000n, rule(60, 0n, 0n, 2_000n), 2_000n],
  ['zero rate, fixed only', 12_345n, rule(0, 30n), 30n],
  ['largest amount stays exact', 1_000_000_000_000n, rule(38), 3_800_000_000n],
  ['odd rate half-up: 0.35% of 1.00 = 0.35 → 0', 100n, rule(35), 0n],
  ['0.35% of 1.43 = 0.5005 → 1', 143n, rule(35), 1n],
])('routing - fee %s', (_name, amount, fee_rule, expected) => {
  expect(computeFee(amount, fee_rule)).toBe(expected);
});

test('routing - fee bounds: a fee equal to the minimum or maximum is that fee; no maximum means none', () => {
  expect(computeFee(10_000n, rule(60, 0n, 60n))).toBe(60n);
  expect(computeFee(10_000n, rule(60, 0n, 0n, 60n))).toBe(60n);
  expect(computeFee(10_000n, rule(60, 0n, 0n, 59n))).toBe(59n);
  expect(computeFee(10_000n, rule(60, 0n, 61n))).toBe(61n);
  expect(computeFee(10_000_000n, rule(60, 0n, 0n, undefined))).toBe(60_000n);
});

test.each<[string, bigint, FeeRule]>([
  ['a zero amount', 0n, rule(60)],
  ['a negative amount', -1n, rule(60)],
  ['a negative rate', 100n, rule(-1)],
  ['a fractional rate', 100n, rule(0.5)],
  ['a rule that would pay the merchant (negative fee under a negative minimum)', 100n, rule(0, -10n, -20n)],
])('routing - fee of %s is refused loudly', (_name, amount, fee_rule) => {
  expect(() => computeFee(amount, fee_rule)).toThrow();
});

test('routing - a zero fee is allowed', () => {
  expect(computeFee(1n, rule(0))).toBe(0n);
  expect(computeFee(100n, rule(0, -10n, 0n))).toBe(0n); // a negative fixed fee is floored by the minimum
});

test('routing - a maximum above the fee leaves it alone', () => {
  expect(computeFee(10_000n, rule(60, 0n, 0n, 1_000n))).toBe(60n);
});

test('routing - fee refusals say what was wrong', () => {
  expect(() => computeFee(0n, rule(60))).toThrow('fee of a non-positive amount 0');
  expect(() => computeFee(100n, rule(-1))).toThrow('bad fee rate -1');
  expect(() => computeFee(100n, rule(0, -10n, -20n))).toThrow('negative fee -10');
});

// Fees in bigint minor units: rate in basis points plus a fixed fee, rounded half-up to the
// minor unit, then clamped to the rule's minimum and maximum (docs/architecture.md §8).

import { assert } from '../errors';
import type { FeeRule } from './types';

const basis_points_per_unit = 10_000n;

/** round_half_up(amount × rate_bp / 10 000) + fixed, clamped to [min, max]. */
export function computeFee(amount_minor: bigint, rule: FeeRule): bigint {
  assert(amount_minor > 0n, `fee of a non-positive amount ${amount_minor}`);
  assert(Number.isInteger(rule.rate_bp) && rule.rate_bp >= 0, `bad fee rate ${rule.rate_bp}`);
  const proportional = (amount_minor * BigInt(rule.rate_bp) + basis_points_per_unit / 2n) / basis_points_per_unit;
  let fee = proportional + rule.fixed_minor;
  if (fee < rule.min_minor) fee = rule.min_minor;
  if (rule.max_minor !== undefined && fee > rule.max_minor) fee = rule.max_minor;
  assert(fee >= 0n, `negative fee ${fee}`);
  return fee;
}

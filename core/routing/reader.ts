// The field reader every part of the routing configuration parses with (channels here;
// merchants, apps and risk rules in their own modules): it collects violations by path instead
// of stopping at the first. Below config.ts and the modules it reads, so none imports another
// in a circle.

import { createHash } from 'node:crypto';
import type { FieldViolation } from '../errors';
import { fee_minor_max } from './constants';
import { product_names, type FeeRule, type ProductName } from './types';

export const id_pattern = /^[A-Za-z0-9_-]{1,32}$/;
export const id_rule = "must be 1 to 32 characters of A-Z, a-z, 0-9, '_' or '-'";
const minor_pattern = /^(0|[1-9][0-9]{0,17})$/;

export type Json = Record<string, unknown>;

export class Reader {
  constructor(readonly violations: FieldViolation[]) {}

  bad(field: string, description: string): undefined {
    this.violations.push({ field, description });
    return undefined;
  }

  object(value: unknown, field: string, allowed: readonly string[]): Json | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.bad(field, 'must be an object');
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.bad(field === '' ? key : `${field}.${key}`, 'is not a known field');
    }
    return value as Json;
  }

  string(value: unknown, field: string, pattern: RegExp, rule: string): string | undefined {
    if (typeof value !== 'string' || !pattern.test(value)) return this.bad(field, rule);
    return value;
  }

  minor(value: unknown, field: string, min: bigint, max: bigint): bigint | undefined {
    if (typeof value !== 'string' || !minor_pattern.test(value)) return this.bad(field, 'must be a decimal string of minor units');
    const amount = BigInt(value);
    if (amount < min || amount > max) return this.bad(field, `must be between ${min} and ${max}`);
    return amount;
  }

  integer(value: unknown, field: string, min: number, max: number): number | undefined {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return this.bad(field, `must be an integer between ${min} and ${max}`);
    }
    return value;
  }

  list<T>(value: unknown, field: string, max: number, item: (v: unknown, f: string) => T | undefined, non_empty = false): T[] | undefined {
    if (!Array.isArray(value)) return this.bad(field, 'must be an array');
    if (non_empty && value.length === 0) return this.bad(field, 'must not be empty');
    if (value.length > max) return this.bad(field, `must have at most ${max} entries`);
    const out: T[] = [];
    const seen = new Set<string>();
    value.forEach((v, i) => {
      const parsed = item(v, `${field}[${i}]`);
      if (parsed === undefined) return;
      const key = JSON.stringify(parsed, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
      if (seen.has(key)) this.bad(`${field}[${i}]`, 'is listed twice');
      seen.add(key);
      out.push(parsed);
    });
    return out;
  }

  product(value: unknown, field: string): ProductName | undefined {
    if (typeof value !== 'string' || !product_names.includes(value as ProductName)) return this.bad(field, `must be one of ${product_names.join(', ')}`);
    return value as ProductName;
  }
}

// ---- fee rules ----------------------------------------------------------------------------

export function readFee(r: Reader, value: unknown, field: string): FeeRule | undefined {
  const o = r.object(value, field, ['rate_bp', 'fixed_minor', 'min_minor', 'max_minor']);
  if (o === undefined) return undefined;
  const rate_bp = r.integer(o.rate_bp, `${field}.rate_bp`, 0, 10_000);
  const fixed_minor = o.fixed_minor === undefined ? 0n : r.minor(o.fixed_minor, `${field}.fixed_minor`, 0n, fee_minor_max);
  const min_minor = o.min_minor === undefined ? 0n : r.minor(o.min_minor, `${field}.min_minor`, 0n, fee_minor_max);
  const max_minor = o.max_minor === undefined ? undefined : r.minor(o.max_minor, `${field}.max_minor`, 0n, fee_minor_max);
  if (min_minor !== undefined && max_minor !== undefined && min_minor > max_minor) r.bad(`${field}.min_minor`, 'must not exceed max_minor');
  if (rate_bp === undefined || fixed_minor === undefined || min_minor === undefined) return undefined;
  if (o.max_minor !== undefined && max_minor === undefined) return undefined;
  return max_minor === undefined ? { rate_bp, fixed_minor, min_minor } : { rate_bp, fixed_minor, min_minor, max_minor };
}

export function feeToJson(fee: FeeRule): Json {
  const out: Json = { rate_bp: fee.rate_bp, fixed_minor: fee.fixed_minor.toString(), min_minor: fee.min_minor.toString() };
  if (fee.max_minor !== undefined) out.max_minor = fee.max_minor.toString();
  return out;
}

/** Identifies a secret without revealing it: 12 hex characters of its SHA-256. */
export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 12);
}

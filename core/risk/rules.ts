// Risk rules as data: the JSON form stored in the routing table's `risk_rules` hash (and the
// declarative routing file's `risk_rules`), and its validation. A rule is one condition over
// the payment and its payer, and the action taken when the condition holds.

import type { FieldViolation } from '../errors';
import { id_pattern, Reader } from '../routing/reader';
import { product_names, type ProductName } from '../routing/types';
import { risk_amount_minor_max, risk_list_values_max, risk_new_for_seconds_max, risk_velocity_count_max, risk_window_seconds_max } from '../constants';

/** Ordered from the mildest: the most severe action of the rules that fire wins, except
 * that an allow-list rule that fires settles the payment as allowed. */
export const risk_actions = ['allow', 'step_up', 'review', 'block'] as const;
export type RiskAction = (typeof risk_actions)[number];

/** The actions this build carries out (step_up: UnionPay quick pay's SMS code, which it asks
 * for every payment; other products, having no challenge, are held for review instead). */
const risk_actions_supported: readonly RiskAction[] = ['allow', 'step_up', 'review', 'block'];

/** How long a payment held for review waits for an operator when its rule does not say. */
export const review_seconds_default = 1_800;

/** What a velocity counter, list or new-payer rule keys on. payer_id is the openid (WeChat)
 * or the card token's owner as the channel names it: the payer elements paycore holds. */
const risk_dimensions = ['payer_id', 'card_token', 'client_ip', 'merchant'] as const;
export type RiskDimension = (typeof risk_dimensions)[number];

const risk_kinds = ['velocity', 'amount', 'list', 'new_payer'] as const;
export type RiskKind = (typeof risk_kinds)[number];

type RiskCondition =
  /** Fires when this payment would make more than count_max payments, or more than
   * amount_max_minor in total, for one value of the dimension within the sliding window. */
  | { kind: 'velocity'; dimension: RiskDimension; window_seconds: number; count_max?: number; amount_max_minor?: bigint }
  /** Fires when the payment's amount exceeds amount_max_minor. */
  | { kind: 'amount'; amount_max_minor: bigint }
  /** Fires when the payment's value of the dimension is listed. */
  | { kind: 'list'; dimension: RiskDimension; values: string[] }
  /** Fires when the dimension's value was first seen less than new_for_seconds ago (or now)
   * and the amount exceeds amount_max_minor. */
  | { kind: 'new_payer'; dimension: RiskDimension; new_for_seconds: number; amount_max_minor: bigint };

export interface RiskRule {
  rule_id: string;
  action: RiskAction;
  /** Only this merchant's payments; absent: every merchant's. */
  merchant_id?: string;
  /** Only these products; empty: every product. */
  products: ProductName[];
  condition: RiskCondition;
  /** review: how long a held payment waits for an operator before it closes by itself. */
  review_seconds?: number;
}

type Json = Record<string, unknown>;

const rule_fields = ['rule_id', 'action', 'review_seconds', 'merchant_id', 'products', 'kind', 'dimension', 'window_seconds', 'count_max', 'amount_max_minor', 'values', 'new_for_seconds'];
const kind_fields: Record<RiskKind, string[]> = {
  velocity: ['dimension', 'window_seconds', 'count_max', 'amount_max_minor'],
  amount: ['amount_max_minor'],
  list: ['dimension', 'values'],
  new_payer: ['dimension', 'new_for_seconds', 'amount_max_minor'],
};
const list_value_pattern = /^[\x21-\x7e]{1,128}$/;

function oneOf<T extends string>(r: Reader, value: unknown, field: string, allowed: readonly T[]): T | undefined {
  if (typeof value !== 'string' || !allowed.includes(value as T)) return r.bad(field, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

/** A rule from its JSON form; every violation is pushed, named under `field`. */
export function readRiskRule(value: unknown, field: string, violations: FieldViolation[]): RiskRule | undefined {
  const r = new Reader(violations);
  const before = violations.length;
  const o = r.object(value, field, rule_fields);
  if (o === undefined) return undefined;
  const at = (name: string) => (field === '' ? name : `${field}.${name}`);
  const rule_id = r.string(o.rule_id, at('rule_id'), id_pattern, "must be 1 to 32 characters of A-Z, a-z, 0-9, '_' or '-'");
  const action = oneOf(r, o.action, at('action'), risk_actions);
  if (action !== undefined && !risk_actions_supported.includes(action)) r.bad(at('action'), `${action} is not carried out yet; use ${risk_actions_supported.join(' or ')}`);
  const review_seconds = o.review_seconds === undefined ? undefined : r.integer(o.review_seconds, at('review_seconds'), 1, risk_window_seconds_max);
  if (o.review_seconds !== undefined && action !== undefined && action !== 'review') r.bad(at('review_seconds'), 'applies to action review only');
  const merchant_id = o.merchant_id === undefined ? undefined : r.string(o.merchant_id, at('merchant_id'), id_pattern, 'must be a merchant id');
  const products = o.products === undefined ? [] : r.list(o.products, at('products'), product_names.length, (v, f) => r.product(v, f));
  const kind = oneOf(r, o.kind, at('kind'), risk_kinds);
  if (kind !== undefined) {
    for (const name of Object.keys(kind_fields)) {
      for (const f of kind_fields[name as RiskKind]) if (!kind_fields[kind].includes(f) && o[f] !== undefined) r.bad(at(f), `does not apply to kind ${kind}`);
    }
  }
  const condition = kind === undefined ? undefined : readCondition(r, o, kind, at);
  if (violations.length > before || rule_id === undefined || action === undefined || products === undefined || condition === undefined) return undefined;
  return {
    rule_id,
    action,
    ...(review_seconds === undefined ? {} : { review_seconds }),
    ...(merchant_id === undefined ? {} : { merchant_id }),
    products,
    condition,
  };
}

function readCondition(r: Reader, o: Json, kind: RiskKind, at: (name: string) => string): RiskCondition | undefined {
  const amount = (required: boolean) => (o.amount_max_minor === undefined && !required ? undefined : r.minor(o.amount_max_minor, at('amount_max_minor'), 0n, risk_amount_minor_max));
  switch (kind) {
    case 'amount': {
      const amount_max_minor = amount(true);
      return amount_max_minor === undefined ? undefined : { kind, amount_max_minor };
    }
    case 'velocity': {
      const dimension = oneOf(r, o.dimension, at('dimension'), risk_dimensions);
      const window_seconds = r.integer(o.window_seconds, at('window_seconds'), 1, risk_window_seconds_max);
      const count_max = o.count_max === undefined ? undefined : r.integer(o.count_max, at('count_max'), 0, risk_velocity_count_max);
      const amount_max_minor = amount(false);
      if (o.count_max === undefined && o.amount_max_minor === undefined) return r.bad(at('count_max'), 'a velocity rule needs count_max, amount_max_minor or both');
      if (dimension === undefined || window_seconds === undefined) return undefined;
      if ((o.count_max !== undefined && count_max === undefined) || (o.amount_max_minor !== undefined && amount_max_minor === undefined)) return undefined;
      return {
        kind,
        dimension,
        window_seconds,
        ...(count_max === undefined ? {} : { count_max }),
        ...(amount_max_minor === undefined ? {} : { amount_max_minor }),
      };
    }
    case 'list': {
      const dimension = oneOf(r, o.dimension, at('dimension'), risk_dimensions);
      const values = r.list(o.values, at('values'), risk_list_values_max, (v, f) => (typeof v === 'string' && list_value_pattern.test(v) ? v : r.bad(f, 'must be 1 to 128 printable ASCII characters')), true);
      return dimension === undefined || values === undefined ? undefined : { kind, dimension, values };
    }
    case 'new_payer': {
      const dimension = oneOf(r, o.dimension, at('dimension'), risk_dimensions.filter((d) => d !== 'merchant'));
      const new_for_seconds = r.integer(o.new_for_seconds, at('new_for_seconds'), 1, risk_new_for_seconds_max);
      const amount_max_minor = amount(true);
      return dimension === undefined || new_for_seconds === undefined || amount_max_minor === undefined
        ? undefined
        : { kind, dimension, new_for_seconds, amount_max_minor };
    }
  }
}

/** The JSON form (what Redis, the KV bucket and the declarative file hold). */
export function riskRuleToJson(rule: RiskRule): Json {
  const { condition } = rule;
  const out: Json = { rule_id: rule.rule_id, action: rule.action };
  if (rule.review_seconds !== undefined) out.review_seconds = rule.review_seconds;
  if (rule.merchant_id !== undefined) out.merchant_id = rule.merchant_id;
  if (rule.products.length > 0) out.products = [...rule.products];
  out.kind = condition.kind;
  if ('dimension' in condition) out.dimension = condition.dimension;
  if (condition.kind === 'velocity') {
    out.window_seconds = condition.window_seconds;
    if (condition.count_max !== undefined) out.count_max = condition.count_max;
  }
  if (condition.kind === 'list') out.values = [...condition.values];
  if (condition.kind === 'new_payer') out.new_for_seconds = condition.new_for_seconds;
  if ('amount_max_minor' in condition && condition.amount_max_minor !== undefined) out.amount_max_minor = condition.amount_max_minor.toString();
  return out;
}

/** Whether a rule applies to a payment of this merchant and product. */
export function ruleApplies(rule: RiskRule, merchant_id: string, product: ProductName): boolean {
  return (rule.merchant_id === undefined || rule.merchant_id === merchant_id) && (rule.products.length === 0 || rule.products.includes(product));
}

// Risk rules as data: validation names every bad field; the JSON form round-trips; the
// combination of fired rules and the in-memory conditions.

import type { FieldViolation } from '../errors';
import { combine, dimensionValue, firedInMemory, type RiskOrder } from './engine';
import { readRiskRule, riskRuleToJson, ruleApplies } from './rules';

function read(value: unknown): { rule?: ReturnType<typeof readRiskRule>; violations: FieldViolation[] } {
  const violations: FieldViolation[] = [];
  return { rule: readRiskRule(value, 'rule', violations), violations };
}

const order: RiskOrder = { payment_id: 'p1', merchant_id: 'm1', product: 'UNIONPAY_QUICK', amount_minor: 5_000n, payer: { card_token: 'tok1', client_ip: '203.0.113.9' } };

test('risk rules - every kind reads and round-trips through its JSON form', () => {
  const rules = [
    { rule_id: 'card_1m', action: 'block', kind: 'velocity', dimension: 'card_token', window_seconds: 60, count_max: 5 },
    { rule_id: 'ip_amount', action: 'block', merchant_id: 'm1', products: ['UNIONPAY_QUICK'], kind: 'velocity', dimension: 'client_ip', window_seconds: 3600, amount_max_minor: '100000' },
    { rule_id: 'big', action: 'block', kind: 'amount', amount_max_minor: '5000000' },
    { rule_id: 'hold_big', action: 'review', review_seconds: 600, kind: 'amount', amount_max_minor: '1000000' },
    { rule_id: 'vip', action: 'allow', kind: 'list', dimension: 'payer_id', values: ['o1', 'o2'] },
    { rule_id: 'fresh', action: 'block', kind: 'new_payer', dimension: 'card_token', new_for_seconds: 86400, amount_max_minor: '20000' },
  ];
  for (const json of rules) {
    const { rule, violations } = read(json);
    expect(violations).toEqual([]);
    expect(riskRuleToJson(rule!)).toEqual(json);
  }
});

test('risk rules - bad rules are refused naming each field; review and step up are refused until carried out', () => {
  expect(read({ rule_id: 'bad id!', action: 'block', kind: 'amount', amount_max_minor: '1' }).violations.map((v) => v.field)).toEqual(['rule.rule_id']);
  expect(read({ rule_id: 'r', action: 'maybe', kind: 'amount', amount_max_minor: '1' }).violations.map((v) => v.field)).toEqual(['rule.action']);
  expect(read({ rule_id: 'r', action: 'step_up', kind: 'amount', amount_max_minor: '1' }).violations).toEqual([]);
  expect(read({ rule_id: 'r', action: 'block', review_seconds: 60, kind: 'amount', amount_max_minor: '1' }).violations.map((v) => v.field)).toEqual(['rule.review_seconds']);
  expect(read({ rule_id: 'r', action: 'block', kind: 'velocity', dimension: 'card_token', window_seconds: 0 }).violations.map((v) => v.field).sort()).toEqual(['rule.count_max', 'rule.window_seconds']);
  expect(read({ rule_id: 'r', action: 'block', kind: 'velocity', dimension: 'shoe_size', window_seconds: 60, count_max: 1, amount_max_minor: '1.5' }).violations.map((v) => v.field).sort()).toEqual(['rule.amount_max_minor', 'rule.dimension']);
  expect(read({ rule_id: 'r', action: 'block', kind: 'amount', amount_max_minor: '1', values: ['x'] }).violations.map((v) => v.field)).toEqual(['rule.values']);
  expect(read({ rule_id: 'r', action: 'block', kind: 'amount', amount_max_minor: '1000000000000000000' }).violations.map((v) => v.field)).toEqual(['rule.amount_max_minor']);
  expect(read({ rule_id: 'r', action: 'block', kind: 'list', dimension: 'client_ip', values: [] }).violations.map((v) => v.field)).toEqual(['rule.values']);
  expect(read({ rule_id: 'r', action: 'block', kind: 'new_payer', dimension: 'merchant', new_for_seconds: 60, amount_max_minor: '1' }).violations.map((v) => v.field)).toEqual(['rule.dimension']);
  expect(read({ rule_id: 'r', action: 'block', kind: 'amount', amount_max_minor: '1', products: ['CASH'] }).violations.map((v) => v.field)).toEqual(['rule.products[0]']);
});

test('risk rules - scope: merchant and products', () => {
  const rule = read({ rule_id: 'r', action: 'block', merchant_id: 'm1', products: ['UNIONPAY_QUICK'], kind: 'amount', amount_max_minor: '1' }).rule!;
  expect(ruleApplies(rule, 'm1', 'UNIONPAY_QUICK')).toBe(true);
  expect(ruleApplies(rule, 'm2', 'UNIONPAY_QUICK')).toBe(false);
  expect(ruleApplies(rule, 'm1', 'WECHAT_NATIVE')).toBe(false);
});

test('risk decisions - amount and list rules in memory; the most severe action wins, an allow list settles it', () => {
  const rules = [
    read({ rule_id: 'big', action: 'block', kind: 'amount', amount_max_minor: '4999' }).rule!,
    read({ rule_id: 'edge', action: 'block', kind: 'amount', amount_max_minor: '5000' }).rule!,
    read({ rule_id: 'ip', action: 'block', kind: 'list', dimension: 'client_ip', values: ['203.0.113.9'] }).rule!,
    read({ rule_id: 'openid', action: 'block', kind: 'list', dimension: 'payer_id', values: ['203.0.113.9'] }).rule!,
  ];
  expect(firedInMemory(rules, order).map((f) => f.rule_id)).toEqual(['big', 'ip']);
  expect(dimensionValue(order, 'merchant')).toBe('m1');
  expect(dimensionValue(order, 'payer_id')).toBeUndefined();
  expect(combine([])).toBe('allow');
  expect(combine([{ rule_id: 'a', kind: 'amount', action: 'step_up' }, { rule_id: 'b', kind: 'amount', action: 'block' }, { rule_id: 'c', kind: 'amount', action: 'review' }])).toBe('block');
  expect(combine([{ rule_id: 'a', kind: 'list', action: 'allow' }, { rule_id: 'b', kind: 'amount', action: 'block' }])).toBe('allow');
});

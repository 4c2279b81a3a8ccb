// The risk rules in force: kept with the routing configuration (core/routing/cache.ts), so
// they are durable, hot-reloaded in every process, and applied with the routing file.

import { risk_rules_max } from '../constants';
import { invalidFields, PaycoreError, type FieldViolation } from '../errors';
import type { RoutingCache } from '../routing/cache';
import { readRiskRule, riskRuleToJson, type RiskRule } from './rules';

export class RiskRuleStore {
  constructor(private readonly cache: RoutingCache) {}

  /** The risk rules in force (the cache: hot-reloaded with the rest of the table). */
  riskRules(): readonly RiskRule[] {
    return this.cache.current.risk_rules;
  }

  /** Creates or replaces a risk rule (validated whole: INVALID_FIELD naming each bad field). */
  async upsertRiskRule(input: unknown): Promise<RiskRule> {
    const violations: FieldViolation[] = [];
    const rule = readRiskRule(input, 'rule', violations);
    if (rule === undefined) throw invalidFields(violations);
    await this.cache.reload();
    const rules = this.cache.current.risk_rules;
    if (!rules.some((r) => r.rule_id === rule.rule_id) && rules.length >= risk_rules_max) {
      throw invalidFields([{ field: 'rule.rule_id', description: `the table holds ${risk_rules_max} risk rules already` }]);
    }
    await this.cache.commit((m) => m.hset(`${this.cache.keys.config}:risk_rules`, rule.rule_id, JSON.stringify(riskRuleToJson(rule))));
    return this.cache.current.risk_rules.find((r) => r.rule_id === rule.rule_id) ?? rule;
  }

  async deleteRiskRule(rule_id: string): Promise<void> {
    const k = this.cache.keys.config;
    if ((await this.cache.redis.hexists(`${k}:risk_rules`, rule_id)) === 0) throw new PaycoreError('NOT_FOUND', `no risk rule ${rule_id}`);
    await this.cache.commit((m) => m.hdel(`${k}:risk_rules`, rule_id));
  }
}

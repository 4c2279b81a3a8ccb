// The risk decision on the actor's path, before routing reserves anything: the rules that
// apply to the payment, checked against the payment itself (amount, lists) in memory and
// against its payer's history (velocity, first seen) in ONE Redis script call that also
// counts it. Every decision is a RiskAssessed event and a metric by rule and action; payer
// elements appear in neither (counters are keyed by a keyed digest of the value).

import { createHmac } from 'node:crypto';
import type { RedisClient } from '../connections';
import type { PayerElements } from '../../channels/channel';
import { dependencyFailure } from '../errors';
import type { ProductName } from '../routing/types';
import { risk_script } from './lua';
import { review_seconds_default, risk_actions, ruleApplies, type RiskAction, type RiskDimension, type RiskKind, type RiskRule } from './rules';

export interface RiskOrder {
  payment_id: string;
  merchant_id: string;
  product: ProductName;
  amount_minor: bigint;
  payer: PayerElements;
}

export interface FiredRule {
  rule_id: string;
  kind: RiskKind;
  action: RiskAction;
}

export interface RiskDecision {
  action: RiskAction;
  fired: FiredRule[];
  /** review: how long the held payment waits (the shortest of the review rules that fired). */
  review_seconds?: number;
}

/** The event of one decision (`<prefix>.risk.evt.<payment_id>`, docs/events.md). */
export interface RiskAssessed {
  type: 'RiskAssessed';
  at: string;
  payment_id: string;
  merchant_id: string;
  product: ProductName;
  amount_minor: bigint;
  action: RiskAction;
  fired: FiredRule[];
}

interface RiskMetrics {
  decisions: { inc(labels: { action: string }): void };
  rule_hits: { inc(labels: { rule: string; action: string }): void };
}

export interface RiskEngineOptions {
  /** The rules in force (the routing table's cache, hot-reloaded with it). */
  rules: () => readonly RiskRule[];
  /** Keys the digests that name payers in Redis: without it a digest is not computable. */
  digest_key: Buffer;
  publish: (event: RiskAssessed) => Promise<void>;
  metrics?: RiskMetrics;
  clock?: () => Date;
}

/** The key of the payer digests, derived from the data key: one secret less to deploy, and
 * a digest is worth nothing without it (an IP's digest cannot be found by hashing every IP). */
export function riskDigestKey(data_key: Buffer): Buffer {
  return createHmac('sha256', data_key).update('paycore risk counter digests v1').digest();
}

type RiskRedis = RedisClient & { paycoreRisk(keys_count: number, ...args: (string | number)[]): Promise<number[]> };

/** The payer's value of a dimension, or undefined when the payment has none. */
export function dimensionValue(order: RiskOrder, dimension: RiskDimension): string | undefined {
  switch (dimension) {
    case 'payer_id':
      return order.payer.openid;
    case 'card_token':
      return order.payer.card_token;
    case 'client_ip':
      return order.payer.client_ip;
    case 'merchant':
      return order.merchant_id;
  }
}

/** The most severe action of the fired rules; an allow rule that fired settles it. */
export function combine(fired: readonly FiredRule[]): RiskAction {
  if (fired.some((f) => f.action === 'allow')) return 'allow';
  return fired.reduce<RiskAction>((worst, f) => (risk_actions.indexOf(f.action) > risk_actions.indexOf(worst) ? f.action : worst), 'allow');
}

/** The rules decided without Redis: amount thresholds and lists. */
export function firedInMemory(rules: readonly RiskRule[], order: RiskOrder): FiredRule[] {
  const fired: FiredRule[] = [];
  for (const rule of rules) {
    const c = rule.condition;
    const hit = c.kind === 'amount' ? order.amount_minor > c.amount_max_minor
      : c.kind === 'list' ? c.values.includes(dimensionValue(order, c.dimension) ?? '\0') : false;
    if (hit) fired.push({ rule_id: rule.rule_id, kind: c.kind, action: rule.action });
  }
  return fired;
}

export class RiskEngine {
  readonly #redis: RiskRedis;
  readonly #options: RiskEngineOptions;
  readonly #clock: () => Date;

  constructor(redis: RedisClient, private readonly prefix: string, options: RiskEngineOptions) {
    this.#redis = redis as RiskRedis;
    this.#options = options;
    this.#clock = options.clock ?? (() => new Date());
    if (typeof this.#redis.paycoreRisk !== 'function') this.#redis.defineCommand('paycoreRisk', { lua: risk_script });
  }

  /** Decides, counts (unless blocked), publishes the decision and counts it in the metrics. */
  async assess(order: RiskOrder): Promise<RiskDecision> {
    const { event, ...decision } = await this.decide(order);
    await this.record(event);
    return decision;
  }

  /** Decides and counts (unless blocked) like assess, without publishing: the caller puts
   * `event` on record, either in the message that carries what the decision let happen (the
   * creation of an allowed or held payment: core/orders/create-flow.ts) or by record(). */
  async decide(order: RiskOrder): Promise<RiskDecision & { event: RiskAssessed }> {
    const now = this.#clock();
    const rules = this.#options.rules().filter((r) => ruleApplies(r, order.merchant_id, order.product));
    const fired = firedInMemory(rules, order);
    const allowed = fired.some((f) => f.action === 'allow');
    const blocked = !allowed && fired.some((f) => f.action === 'block');
    // An allow-listed payment is still counted (its payer's later payments see it) but its
    // history rules are not checked.
    const history = rules.filter((r) => (r.condition.kind === 'velocity' || r.condition.kind === 'new_payer') && dimensionValue(order, dimensionOf(r)) !== undefined);
    if (history.length > 0) fired.push(...(await this.#checkHistory(history, order, now, blocked, allowed)).filter(() => !allowed));
    const decision: RiskDecision = { action: combine(fired), fired };
    if (decision.action === 'review') {
      const seconds = fired.filter((f) => f.action === 'review').map((f) => rules.find((r) => r.rule_id === f.rule_id)?.review_seconds ?? review_seconds_default);
      decision.review_seconds = Math.min(...seconds);
    }
    this.#options.metrics?.decisions.inc({ action: decision.action });
    for (const f of fired) this.#options.metrics?.rule_hits.inc({ rule: f.rule_id, action: f.action });
    const event: RiskAssessed = {
      type: 'RiskAssessed', at: now.toISOString(), payment_id: order.payment_id, merchant_id: order.merchant_id,
      product: order.product, amount_minor: order.amount_minor, action: decision.action, fired,
    };
    return { ...decision, event };
  }

  /** Publishes a decision on its own subject (<prefix>.risk.evt.<payment_id>). */
  async record(event: RiskAssessed): Promise<void> {
    try {
      await this.#options.publish(event);
    } catch (error) {
      // A decision nobody can audit is not taken: the caller retries with the same key.
      throw dependencyFailure(error, 'NATS');
    }
  }

  /** Redis key of a counter or first-seen marker: the value itself never reaches Redis. */
  key(kind: 'v' | 'n', dimension: RiskDimension, value: string): string {
    const digest = createHmac('sha256', this.#options.digest_key).update(`${dimension}\0${value}`).digest('base64url').slice(0, 22);
    return `{${this.prefix}:risk}:${kind}:${dimension}:${digest}`;
  }

  async #checkHistory(rules: readonly RiskRule[], order: RiskOrder, now: Date, blocked: boolean, allowed: boolean): Promise<FiredRule[]> {
    const now_ms = now.getTime();
    const counters = new Map<string, { trim_before_ms: number; ttl_ms: number }>();
    const markers = new Map<string, number>();
    for (const rule of rules) {
      const c = rule.condition;
      const value = dimensionValue(order, dimensionOf(rule))!;
      if (c.kind === 'velocity') {
        const key = this.key('v', c.dimension, value);
        const window_ms = c.window_seconds * 1000;
        const seen = counters.get(key);
        counters.set(key, { trim_before_ms: Math.min(seen?.trim_before_ms ?? Infinity, now_ms - window_ms), ttl_ms: Math.max(seen?.ttl_ms ?? 0, window_ms) });
      } else if (c.kind === 'new_payer') {
        const key = this.key('n', c.dimension, value);
        markers.set(key, Math.max(markers.get(key) ?? 0, c.new_for_seconds * 1000));
      }
    }
    const keys = [...counters.keys(), ...markers.keys()];
    const args: (string | number)[] = [now_ms, `${order.payment_id}:${order.amount_minor}`, order.amount_minor.toString(), blocked ? 1 : allowed ? 2 : 0, counters.size];
    for (const c of counters.values()) args.push(c.trim_before_ms, c.ttl_ms);
    args.push(markers.size, ...markers.values(), rules.length);
    for (const rule of rules) {
      const c = rule.condition;
      const value = dimensionValue(order, dimensionOf(rule))!;
      const blocks = rule.action === 'block' ? 1 : 0;
      if (c.kind === 'velocity') {
        args.push('v', keys.indexOf(this.key('v', c.dimension, value)) + 1, blocks, c.window_seconds * 1000, c.count_max ?? -1, c.amount_max_minor?.toString() ?? -1);
      } else if (c.kind === 'new_payer') {
        args.push('n', keys.indexOf(this.key('n', c.dimension, value)) + 1, blocks, c.new_for_seconds * 1000, c.amount_max_minor.toString());
      }
    }
    let hits: number[];
    try {
      hits = await this.#redis.paycoreRisk(keys.length, ...keys, ...args);
    } catch (error) {
      throw dependencyFailure(error, 'Redis');
    }
    return hits.map((i) => {
      const rule = rules[i - 1]!;
      return { rule_id: rule.rule_id, kind: rule.condition.kind, action: rule.action };
    });
  }
}

function dimensionOf(rule: RiskRule): RiskDimension {
  return 'dimension' in rule.condition ? rule.condition.dimension : 'merchant';
}

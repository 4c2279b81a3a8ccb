// The routing decision: static eligibility from the cache (eligibility.ts: contracts,
// products, amounts, windows, fees), then ONE script call (lua.ts route_script) that reads
// live health and circuit state, checks the caps, scores, and — when reserving — reserves the
// chosen channel's limits atomically. The same call without reserving explains a decision and
// lists the payment options of a scene.

import { createHash, randomBytes } from 'node:crypto';
import { assert, invalidFields } from '../errors';
import type { RoutingCache } from './cache';
import { amount_minor_max, day_counter_ttl_seconds, month_counter_ttl_seconds, reservation_ttl_seconds } from './constants';
import { staticEligibility, type StaticCandidate } from './eligibility';
import { circuit_names } from './health';
import { redisCall, type RoutingKeys, type RoutingRedis } from './keys';
import { productsForScene, type PaymentOption } from './options';
import { healthMetrics, staticScore, type CircuitOptions, type ScoringOptions } from './scoring';
import { limit_names, type Candidate, type LiveExclusion, type RouteDecision, type RouteOrder } from './types';
import { localTime } from './windows';

export interface DecisionOptions {
  scoring: ScoringOptions;
  circuit: CircuitOptions;
  /** Calendar days and months of the caps. */
  limits_time_zone: string;
  /** [0, 1) source of exploration; seed it in tests (scoring.ts seededRandom). */
  random: () => number;
  clock: () => Date;
}

interface ScriptReply {
  chosen: number;
  explored: boolean;
  c: Array<{ status: 'OK' | LiveExclusion; detail: string; score: number; probe: boolean; cb: 'C' | 'O' | 'H'; s: number; e: number; t: number; d: number; ls: number; ln: number }>;
}

/** One call of the route script: what it decides on, and whether it reserves. */
interface ScriptCall {
  eligible: StaticCandidate[];
  amount_minor: bigint;
  at: Date;
  reserve: boolean;
  day: string;
  month: string;
  card_digest: string;
  reservation_id: string;
  explore_pick: number;
}

const payer_elements_all = ['client_ip', 'openid', 'auth_code', 'card_token', 'bank_code'] as const;

export class RoutingDecisions {
  constructor(
    private readonly redis: RoutingRedis,
    private readonly keys: RoutingKeys,
    private readonly cache: RoutingCache,
    private readonly options: DecisionOptions,
  ) {}

  /** The time zone of the caps' calendar days and months. */
  get limits_time_zone(): string {
    return this.options.limits_time_zone;
  }

  /** Chooses a channel and reserves its limits. Release the reservation when the attempt
   * fails or the payment closes; commit it when the payment succeeds (reservations.ts). */
  route(order: RouteOrder): Promise<RouteDecision> {
    return this.#decide(order, true);
  }

  /** The same decision as a dry run: nothing reserved, no circuit moved. Lists every channel. */
  explain(order: RouteOrder): Promise<RouteDecision> {
    return this.#decide(order, false);
  }

  async #decide(order: RouteOrder, reserve: boolean): Promise<RouteDecision> {
    assert(order.amount_minor > 0n && order.amount_minor <= amount_minor_max, `route amount ${order.amount_minor} outside 1..${amount_minor_max}`);
    const at = order.now ?? this.options.clock();
    const current = this.cache.current;
    const { eligible, excluded } = staticEligibility(current.channels, current.merchants.get(order.merchant_id), order, at, reserve);
    if (eligible.length === 0) return { candidates: [], excluded };
    const local = localTime(at, this.options.limits_time_zone);
    const card_digest = order.card_token === undefined || order.card_token === '' ? '' : cardDigest(order.card_token);
    const reservation_id = `${order.payment_id === '' ? 'explain' : order.payment_id}.${randomBytes(6).toString('hex')}`;
    const explore_pick = reserve && this.options.random() < this.options.scoring.exploration_share ? this.options.random() : -1;
    const call: ScriptCall = { eligible, amount_minor: order.amount_minor, at, reserve, day: local.day, month: local.month, card_digest, reservation_id, explore_pick };
    const reply = await this.#runScript(call);
    const candidates = this.#candidates(eligible, reply);
    for (const [i, r] of reply.c.entries()) if (r.status !== 'OK') excluded.push({ channel_id: eligible[i]!.channel.channel_id, reason: r.status, detail: r.detail });
    const rank = (c: Candidate) => (c.status === 'CHOSEN' ? 0 : c.status === 'ELIGIBLE' ? 1 : 2);
    const decision: RouteDecision = { candidates: [...candidates].sort((a, b) => rank(a) - rank(b) || b.score - a.score), excluded };
    if (reply.chosen > 0) {
      const chosen = candidates[reply.chosen - 1]!;
      decision.chosen = { channel_id: chosen.channel_id, fee_minor: chosen.fee_minor, probe: chosen.probe, explored: reply.explored };
      if (reserve) {
        decision.chosen.reservation = { reservation_id, channel_id: chosen.channel_id, amount_minor: order.amount_minor.toString(), day: local.day, month: local.month };
        if (card_digest !== '') decision.chosen.reservation.card_digest = card_digest;
      }
    }
    return decision;
  }

  #candidates(eligible: StaticCandidate[], reply: ScriptReply): Candidate[] {
    return reply.c.map((r, i) => {
      const { channel, fee_minor } = eligible[i]!;
      const health = { successes: r.s, system_errors: r.e, timeouts: r.t, payer_declines: r.d, latency_ms_sum: r.ls, latency_count: r.ln };
      const metrics = healthMetrics(health, this.options.scoring);
      const status = i + 1 === reply.chosen ? 'CHOSEN' : r.status === 'OK' ? 'ELIGIBLE' : r.status;
      return { channel_id: channel.channel_id, status, fee_minor, score: r.score, ...metrics, health, circuit: circuit_names[r.cb] ?? 'CLOSED', probe: r.probe && i + 1 === reply.chosen };
    });
  }

  /** The one script call of a decision: live health, circuits, caps, scores, and the
   * reservation of the chosen channel's limits when `reserve`. */
  async #runScript(call: ScriptCall): Promise<ScriptReply> {
    const { eligible, amount_minor } = call;
    const s = this.options.scoring;
    const c = this.options.circuit;
    const keys = eligible.map((e) => this.keys.channel(e.channel.channel_id));
    const args: (string | number)[] = [
      call.at.getTime(), call.reserve ? '1' : '0', amount_minor.toString(), call.day, call.month, call.card_digest, call.reservation_id, call.explore_pick, '',
      s.success_rate_prior, s.prior_attempts, s.latency_ms_prior, s.bp_per_success_pct, s.bp_per_latency_second, s.bp_per_timeout_pct,
      s.window_ms, s.bucket_ms, c.cooldown_ms, c.probes_max, c.probe_timeout_ms,
      reservation_ttl_seconds, day_counter_ttl_seconds, month_counter_ttl_seconds,
    ];
    for (const e of eligible) {
      args.push(staticScore(e.fee_minor, amount_minor, e.channel.priority, s), e.channel.weight);
      for (const name of limit_names) {
        const cap = e.channel.limits[name];
        args.push(cap === undefined ? '' : cap.toString());
      }
    }
    const text = await redisCall(this.redis, () => this.redis.paycoreRoute(keys.length, ...keys, ...args));
    const reply = parseRouteReply(text);
    assert(reply.c.length === eligible.length, `route script answered for ${reply.c.length} of ${eligible.length} candidates`);
    return reply;
  }

  /** Products with a channel that could take such an order now, in the scene's display order
   * (options.ts). Payer elements are not checked: the payer supplies them after choosing. */
  async listPaymentOptions(merchant_id: string, amount_minor: bigint, currency: string, scene: string, now?: Date): Promise<PaymentOption[]> {
    const order_of_scene = productsForScene(scene);
    if (order_of_scene === undefined) throw invalidFields([{ field: 'scene', description: 'is not a known scene' }]);
    const current = this.cache.current;
    const merchant = current.merchants.get(merchant_id);
    if (merchant === undefined) return [];
    const at = now ?? this.options.clock();
    const eligible: StaticCandidate[] = [];
    const product_of: string[] = [];
    for (const option of order_of_scene) {
      const order: RouteOrder = {
        payment_id: '', merchant_id, product: option.product, amount_minor, currency,
        payer_elements_present: [...payer_elements_all], include_channels: [], exclude_channels: [],
      };
      for (const e of staticEligibility(current.channels, merchant, order, at, true).eligible) {
        eligible.push(e);
        product_of.push(option.product);
      }
    }
    if (eligible.length === 0) return [];
    const local = localTime(at, this.options.limits_time_zone);
    const reply = await this.#runScript({ eligible, amount_minor, at, reserve: false, day: local.day, month: local.month, card_digest: '', reservation_id: 'options', explore_pick: -1 });
    const open = new Set(reply.c.flatMap((r, i) => (r.status === 'OK' ? [product_of[i]] : [])));
    return order_of_scene.filter((o) => open.has(o.product));
  }
}

/** The decision script's reply (lua.ts): 'chosen|explored', then per candidate
 * 'status|cb|probe|score|s|e|t|d|ls|ln|detail'. */
function parseRouteReply(text: string): ScriptReply {
  const lines = text.split('\n');
  const [chosen, explored] = lines[0]!.split('|');
  const c: ScriptReply['c'] = [];
  for (let i = 1; i < lines.length; i += 1) {
    const f = lines[i]!.split('|');
    assert(f.length >= 11, `route script reply line ${i} malformed`);
    c.push({
      status: f[0] as ScriptReply['c'][number]['status'], cb: f[1] as 'C' | 'O' | 'H', probe: f[2] === '1', score: Number(f[3]),
      s: Number(f[4]), e: Number(f[5]), t: Number(f[6]), d: Number(f[7]), ls: Number(f[8]), ln: Number(f[9]),
      detail: f.length === 11 ? f[10]! : f.slice(10).join('|'),
    });
  }
  return { chosen: Number(chosen), explored: explored === '1', c };
}

/** Card tokens never appear in keys: 16 hex characters of their SHA-256. */
export function cardDigest(card_token: string): string {
  return createHash('sha256').update(`paycore.card.v1:${card_token}`, 'utf8').digest('hex').slice(0, 16);
}

// The routing decision, in process: static eligibility from the cache (eligibility.ts:
// contracts, products, amounts, windows, fees), then each candidate scored from this process's
// view of its live health and circuit (health-batch.ts: the fleet's window as of the last flush,
// at most 250 ms old, plus this process's own outcomes since). Redis is asked only for the
// chosen channel, and only when it must be: to reserve its caps, or to admit a probe of a
// circuit that is not closed — one call on that channel's keys (reserve.ts). A refusal (a cap
// reached, a circuit another process opened) excludes it and the next best is taken. A closed
// channel without caps is chosen with no Redis call at all. `explain` and the payment options
// check every capped or not-closed candidate the same way without writing anything.

import { createHash, randomBytes } from 'node:crypto';
import { assert, dependencyDown, invalidFields } from '../errors';
import type { RoutingCache } from './cache';
import { amount_minor_max } from './constants';
import { staticEligibility, type StaticCandidate } from './eligibility';
import type { ChannelView, HealthBatcher } from './health-batch';
import { redis_down_states, redisCall, type RoutingKeys } from './keys';
import { productsForScene, type PaymentOption } from './options';
import { ChannelReserver, needsRedis } from './reserve';
import { healthMetrics, healthScore, staticScore, type CircuitOptions, type ScoringOptions } from './scoring';
import type { Candidate, CircuitState, LiveExclusion, Reservation, RouteDecision, RouteOrder } from './types';
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

/** One candidate during a decision. */
interface Live {
  e: StaticCandidate;
  view: ChannelView;
  score: number;
  status: 'OK' | LiveExclusion;
  detail: string;
  circuit: CircuitState;
  /** Admitted (or, unchecked, would be asked) as a half-open circuit's probe. */
  probe: boolean;
  /** Redis answered for it in this decision. */
  checked: boolean;
  reservation?: Reservation;
}

interface Terms {
  amount_minor: bigint;
  now_ms: number;
  day: string;
  month: string;
  card_digest: string;
  reservation_id: string;
}

const payer_elements_all = ['client_ip', 'openid', 'auth_code', 'card_token', 'bank_code'] as const;

export class RoutingDecisions {
  readonly #reserver: ChannelReserver;

  constructor(
    private readonly redis: Parameters<typeof redisCall>[0],
    private readonly keys: RoutingKeys,
    private readonly cache: RoutingCache,
    private readonly health: HealthBatcher,
    private readonly options: DecisionOptions,
  ) {
    this.#reserver = new ChannelReserver(redis, options.circuit);
  }

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
    this.#requireRedis();
    const at = order.now ?? this.options.clock();
    const current = this.cache.current;
    const { eligible, excluded } = staticEligibility(current.channels, current.merchants.get(order.merchant_id), order, at, reserve);
    if (eligible.length === 0) return { candidates: [], excluded };
    const local = localTime(at, this.options.limits_time_zone);
    const terms: Terms = {
      amount_minor: order.amount_minor, now_ms: at.getTime(), day: local.day, month: local.month,
      card_digest: order.card_token === undefined || order.card_token === '' ? '' : cardDigest(order.card_token),
      reservation_id: `${order.payment_id === '' ? 'explain' : order.payment_id}.${randomBytes(6).toString('hex')}`,
    };
    const lives = eligible.map((e) => this.#live(e, order.amount_minor, terms.now_ms));
    let chosen: Live | undefined;
    let explored = false;
    if (reserve) {
      let explore_pick = this.options.random() < this.options.scoring.exploration_share ? this.options.random() : -1;
      for (;;) {
        const pick = choose(lives, explore_pick);
        explore_pick = -1; // a refused pick is replaced by the best, not explored again
        if (pick === undefined) break;
        if (!pick.live.checked && needsRedis(pick.live.e.channel.limits, pick.live.circuit)) {
          await this.#check(pick.live, terms, true);
          if (pick.live.status !== 'OK') continue;
        }
        chosen = pick.live;
        explored = pick.explored;
        break;
      }
    } else {
      await Promise.all(lives.filter((l) => l.status === 'OK' && needsRedis(l.e.channel.limits, l.circuit)).map((l) => this.#check(l, terms, false)));
      const pick = choose(lives, -1);
      chosen = pick?.live;
    }
    const candidates: Candidate[] = lives.map((l) => {
      const metrics = healthMetrics(l.view.health, this.options.scoring);
      const status = l === chosen ? 'CHOSEN' : l.status === 'OK' ? 'ELIGIBLE' : l.status;
      return {
        channel_id: l.e.channel.channel_id,
        status,
        fee_minor: l.e.fee_minor,
        score: l.score,
        ...metrics,
        health: l.view.health,
        circuit: l.circuit,
        probe: l.probe && l === chosen,
      };
    });
    for (const l of lives) if (l.status !== 'OK') excluded.push({ channel_id: l.e.channel.channel_id, reason: l.status, detail: l.detail });
    const rank = (c: Candidate) => (c.status === 'CHOSEN' ? 0 : c.status === 'ELIGIBLE' ? 1 : 2);
    const decision: RouteDecision = { candidates: [...candidates].sort((a, b) => rank(a) - rank(b) || b.score - a.score), excluded };
    if (chosen !== undefined) {
      decision.chosen = { channel_id: chosen.e.channel.channel_id, fee_minor: chosen.e.fee_minor, probe: chosen.probe, explored };
      if (chosen.reservation !== undefined) decision.chosen.reservation = chosen.reservation;
    }
    return decision;
  }

  /** A decision needs no Redis call for a closed channel without caps, but it is refused
   * while Redis is away all the same (no round trip: the connection's state): the caps, the
   * circuits and the health the decision relies on live there, and the contract answers
   * DEPENDENCY_DOWN at once. */
  #requireRedis(): void {
    if (redis_down_states.has(this.redis.status)) throw dependencyDown('Redis');
  }

  /** A candidate as this process sees it: scored from its health view; an open circuit within
   * its cool-down is excluded from memory. */
  #live(e: StaticCandidate, amount_minor: bigint, now_ms: number): Live {
    const s = this.options.scoring;
    const cooldown_ms = this.options.circuit.cooldown_ms;
    const view = this.health.view(e.channel.channel_id);
    const live: Live = {
      e, view, score: staticScore(e.fee_minor, amount_minor, e.channel.priority, s) + healthScore(view.health, s),
      status: 'OK', detail: '', circuit: view.circuit, probe: view.circuit !== 'CLOSED', checked: false,
    };
    if (view.circuit === 'OPEN' && now_ms - view.circuit_since_ms < cooldown_ms) {
      live.status = 'CIRCUIT_OPEN';
      live.detail = `open for ${now_ms - view.circuit_since_ms} ms of a ${cooldown_ms} ms cool-down`;
      live.probe = false;
    }
    return live;
  }

  /** Asks Redis about one candidate: its caps (reserved when `reserve`) and its circuit. */
  async #check(live: Live, terms: Terms, reserve: boolean): Promise<void> {
    const channel = live.e.channel;
    const answer = await redisCall(this.redis, () => this.#reserver.reserve({
      base: this.keys.channel(channel.channel_id), channel_id: channel.channel_id, limits: channel.limits, amount_minor: terms.amount_minor,
      day: terms.day, month: terms.month, card_digest: terms.card_digest, reservation_id: terms.reservation_id, now_ms: terms.now_ms, reserve,
    }));
    live.checked = true;
    live.circuit = answer.circuit;
    if (!answer.ok) {
      live.status = answer.reason;
      live.detail = answer.detail;
      live.probe = false;
      return;
    }
    live.probe = answer.probe;
    if (answer.reservation !== undefined) live.reservation = answer.reservation;
  }

  /** Products with a channel that could take such an order now, in the scene's display order
   * (options.ts). Payer elements are not checked: the payer supplies them after choosing. */
  async listPaymentOptions(merchant_id: string, amount_minor: bigint, currency: string, scene: string, now?: Date): Promise<PaymentOption[]> {
    const order_of_scene = productsForScene(scene);
    if (order_of_scene === undefined) throw invalidFields([{ field: 'scene', description: 'is not a known scene' }]);
    this.#requireRedis();
    const current = this.cache.current;
    const merchant = current.merchants.get(merchant_id);
    if (merchant === undefined) return [];
    const at = now ?? this.options.clock();
    const lives: Live[] = [];
    const product_of: string[] = [];
    for (const option of order_of_scene) {
      const order: RouteOrder = {
        payment_id: '', merchant_id, product: option.product, amount_minor, currency,
        payer_elements_present: [...payer_elements_all], include_channels: [], exclude_channels: [],
      };
      for (const e of staticEligibility(current.channels, merchant, order, at, true).eligible) {
        lives.push(this.#live(e, amount_minor, at.getTime()));
        product_of.push(option.product);
      }
    }
    if (lives.length === 0) return [];
    const local = localTime(at, this.options.limits_time_zone);
    const terms: Terms = { amount_minor, now_ms: at.getTime(), day: local.day, month: local.month, card_digest: '', reservation_id: 'options' };
    await Promise.all(lives.filter((l) => l.status === 'OK' && needsRedis(l.e.channel.limits, l.circuit)).map((l) => this.#check(l, terms, false)));
    const open = new Set(lives.flatMap((l, i) => (l.status === 'OK' ? [product_of[i]] : [])));
    return order_of_scene.filter((o) => open.has(o.product));
  }
}

/** Half-open probes first (a few payments measure a recovering channel), then the best score;
 * an exploration pick (`explore_pick` in [0, 1), -1 none) replaces the best with another
 * healthy closed candidate, weighted — the rule the route script applied. */
function choose(lives: readonly Live[], explore_pick: number): { live: Live; explored: boolean } | undefined {
  let best: Live | undefined;
  for (const l of lives) if (l.status === 'OK' && l.probe && (best === undefined || l.score > best.score)) best = l;
  if (best !== undefined) return { live: best, explored: false };
  for (const l of lives) if (l.status === 'OK' && (best === undefined || l.score > best.score)) best = l;
  if (best === undefined || explore_pick < 0) return best === undefined ? undefined : { live: best, explored: false };
  const others = lives.filter((l) => l !== best && l.status === 'OK' && l.circuit === 'CLOSED');
  const total = others.reduce((sum, l) => sum + l.e.channel.weight, 0);
  if (total <= 0) return { live: best, explored: false };
  let target = explore_pick * total;
  for (const l of others) {
    target -= l.e.channel.weight;
    if (target < 0) return { live: l, explored: true };
  }
  return { live: best, explored: false };
}

/** Card tokens never appear in keys: 16 hex characters of their SHA-256. */
export function cardDigest(card_token: string): string {
  return createHash('sha256').update(`paycore.card.v1:${card_token}`, 'utf8').digest('hex').slice(0, 16);
}

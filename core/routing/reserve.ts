// The one Redis call a create's route makes, and only when it must: reserving the chosen
// channel's caps (a channel with none reserves nothing) and admitting a probe of a circuit
// that is open past its cool-down or half-open — atomically, on the channel's own keys (one
// slot: every key named in KEYS, all hash-tagged `{<prefix>:ch:<channel_id>}`). A refusal
// names the cap or the circuit, so the decision can move on to the next candidate.

import type { RedisClient } from '../connections';
import { assert } from '../errors';
import { day_counter_ttl_seconds, month_counter_ttl_seconds, reservation_ttl_seconds } from './constants';
import { reserve_head_args, reserve_script } from './lua';
import type { CircuitOptions } from './scoring';
import { limit_names, type ChannelLimits, type CircuitState, type LiveExclusion, type Reservation } from './types';

type ReserveRedis = RedisClient & { paycoreReserve(keys_count: number, ...args: (string | number)[]): Promise<string> };

const channel_caps = ['day_amount_minor', 'day_count', 'month_amount_minor', 'month_count'] as const;
const card_caps = ['card_day_amount_minor', 'card_day_count', 'card_month_amount_minor', 'card_month_count'] as const;
const circuit_names: Record<string, CircuitState> = { C: 'CLOSED', O: 'OPEN', H: 'HALF_OPEN' };

function hasCaps(limits: ChannelLimits): boolean {
  return channel_caps.some((c) => limits[c] !== undefined) || card_caps.some((c) => limits[c] !== undefined);
}

function hasCardCaps(limits: ChannelLimits): boolean {
  return card_caps.some((c) => limits[c] !== undefined);
}

/** Whether a decision must ask Redis before taking this channel: it has caps, or its circuit
 * (as this process last saw it) is not closed. A closed channel without caps is taken from
 * memory alone. */
export function needsRedis(limits: ChannelLimits, circuit: CircuitState): boolean {
  return circuit !== 'CLOSED' || hasCaps(limits);
}

export interface ReserveRequest {
  /** The channel's base key, `{<prefix>:ch:<channel_id>}`. */
  base: string;
  channel_id: string;
  limits: ChannelLimits;
  amount_minor: bigint;
  /** Calendar day and month of the caps (limits time zone), 'YYYYMMDD' and 'YYYYMM'. */
  day: string;
  month: string;
  /** The card token's digest ('' none). */
  card_digest: string;
  reservation_id: string;
  now_ms: number;
  /** false: only check (explain, payment options); nothing is written. */
  reserve: boolean;
}

export type ReserveAnswer =
  | { ok: true; circuit: CircuitState; probe: boolean; reservation?: Reservation }
  | { ok: false; circuit: CircuitState; reason: LiveExclusion; detail: string };

export class ChannelReserver {
  readonly #redis: ReserveRedis;

  constructor(redis: RedisClient, private readonly circuit: CircuitOptions) {
    this.#redis = redis as ReserveRedis;
    if (typeof this.#redis.paycoreReserve !== 'function') this.#redis.defineCommand('paycoreReserve', { lua: reserve_script });
  }

  async reserve(request: ReserveRequest): Promise<ReserveAnswer> {
    const { base, limits } = request;
    const capped = hasCaps(limits);
    const card = capped && request.card_digest !== '' && hasCardCaps(limits) ? request.card_digest : '';
    const keys = [`${base}:r:${request.reservation_id}`, `${base}:cb`];
    if (capped) keys.push(`${base}:u:d:${request.day}`, `${base}:u:m:${request.month}`);
    if (card !== '') keys.push(`${base}:k:${card}:d:${request.day}`, `${base}:k:${card}:m:${request.month}`);
    const amount = request.amount_minor.toString();
    const args: (string | number)[] = [request.now_ms, request.reserve ? '1' : '0', amount, `${amount}|${request.day}|${request.month}|${card}`];
    assert(args.length === reserve_head_args, 'reserve arguments out of step with the script');
    for (const name of limit_names) {
      const cap = limits[name];
      args.push(cap === undefined ? '' : cap.toString());
    }
    const c = this.circuit;
    args.push(c.cooldown_ms, c.probes_max, c.probe_timeout_ms, reservation_ttl_seconds, day_counter_ttl_seconds, month_counter_ttl_seconds);
    const reply = await this.#redis.paycoreReserve(keys.length, ...keys, ...args);
    const [status, cb, probe, ...rest] = reply.split('|');
    const circuit = circuit_names[cb!] ?? 'CLOSED';
    if (status !== 'OK') return { ok: false, circuit, reason: status as LiveExclusion, detail: rest.join('|') };
    const answer: ReserveAnswer = { ok: true, circuit, probe: probe === '1' };
    if (capped && request.reserve) {
      answer.reservation = {
        reservation_id: request.reservation_id,
        channel_id: request.channel_id,
        amount_minor: amount,
        day: request.day,
        month: request.month,
      };
      if (card !== '') answer.reservation.card_digest = card;
    }
    return answer;
  }
}

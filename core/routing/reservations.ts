// The caps' reservations after the decision: the reservation script (reserve.ts) reserves the
// chosen channel's limits when the decision (decision.ts) takes a capped channel; here they are
// released, committed, listed for the sweeper, and the counters re-derived after Redis lost them.

import { scanKeys } from '../connections';
import { day_counter_ttl_seconds, month_counter_ttl_seconds, reservation_ttl_seconds } from './constants';
import type { RoutingKeys, RoutingRedis } from './keys';
import type { ReservationRef } from './types';

export interface UsageAmounts {
  day: { amount_minor: bigint; count: number };
  month: { amount_minor: bigint; count: number };
}

export class CapReservations {
  constructor(
    private readonly redis: RoutingRedis,
    private readonly keys: RoutingKeys,
  ) {}

  /** Returns the reservation's amounts and counts to its channel's caps. Idempotent: true
   * only for the call that released it. */
  async release(reservation: ReservationRef): Promise<boolean> {
    return (await this.redis.paycoreRelease(this.keys.channel(reservation.channel_id), reservation.reservation_id)) === 1;
  }

  /** The payment succeeded: its usage stays counted; later releases are no-ops. */
  async commit(reservation: ReservationRef): Promise<boolean> {
    return (await this.redis.paycoreCommit(this.keys.channel(reservation.channel_id), reservation.reservation_id)) === 1;
  }

  /** Every reservation marker of a channel with its age (from the marker's remaining TTL):
   * what the reservation sweeper reconciles with the event log. */
  async reservationMarkers(channel_id: string): Promise<{ reservation_id: string; age_ms: number }[]> {
    const prefix = `${this.keys.channel(channel_id)}:r:`;
    const found: { reservation_id: string; age_ms: number }[] = [];
    const keys = await scanKeys(this.redis, `${prefix}*`);
    const ttls = await Promise.all(keys.map((key) => this.redis.pttl(key)));
    keys.forEach((key, i) => {
      const ttl_ms = ttls[i]!;
      if (ttl_ms >= 0) found.push({ reservation_id: key.slice(prefix.length), age_ms: reservation_ttl_seconds * 1000 - ttl_ms });
    });
    return found;
  }

  /** Adds usage to a channel's day and month counters, or to one card's on that channel when
   * `card_digest` is given (re-derived after Redis lost them). Keys as the reservation script's. */
  async addUsage(channel_id: string, day: string, month: string, usage: UsageAmounts, card_digest?: string): Promise<void> {
    const base = card_digest === undefined ? `${this.keys.channel(channel_id)}:u` : `${this.keys.channel(channel_id)}:k:${card_digest}`;
    await this.redis.multi()
      .hincrby(`${base}:d:${day}`, 'a', usage.day.amount_minor.toString()).hincrby(`${base}:d:${day}`, 'n', usage.day.count).expire(`${base}:d:${day}`, day_counter_ttl_seconds)
      .hincrby(`${base}:m:${month}`, 'a', usage.month.amount_minor.toString()).hincrby(`${base}:m:${month}`, 'n', usage.month.count).expire(`${base}:m:${month}`, month_counter_ttl_seconds)
      .exec();
  }
}

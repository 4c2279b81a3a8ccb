// The actor's view of the channels: the adapters (created by the composition root from the
// channel file's credentials, and handed in) and routing (who may take an order, at what
// cost, within which caps).

import type { Channel, ChannelConfig, PayerElements, PayerProblem } from '../../channels';
import { create_deadline_ms_default } from '../constants';
import type { Logger } from '../log';
import type { ActorMetrics } from '../metrics';
import type { Routing } from './routing';
import type { Outcome, ProductName, ReservationRef, RouteDecision, RouteOrder } from './types';

/** The parts of routing the directory uses. */
export type DirectoryRouting = Pick<Routing, 'cache' | 'decisions' | 'reservations' | 'health' | 'merchants'>;

export class ChannelDirectory {
  readonly #create_deadline_ms = new Map<string, number>();

  constructor(
    /** The channel file's entries (their create deadlines). */
    configs: readonly Pick<ChannelConfig, 'channel_id' | 'create_deadline_ms'>[],
    /** channel_id → adapter: the composition root creates and closes them (workers/root/adapters.ts). */
    private readonly adapters: ReadonlyMap<string, Channel>,
    private readonly routing: DirectoryRouting,
    private readonly public_url: string,
    private readonly log: Logger,
    private readonly metrics?: ActorMetrics,
  ) {
    for (const config of configs) {
      this.#create_deadline_ms.set(config.channel_id, config.create_deadline_ms ?? create_deadline_ms_default);
    }
  }

  /** How long a create waits for this channel before answering with the pending payment. */
  createDeadlineMs(channel_id: string): number {
    return this.#create_deadline_ms.get(channel_id) ?? create_deadline_ms_default;
  }

  get(channel_id: string): Channel | undefined {
    return this.adapters.get(channel_id);
  }

  /** A decision that reserves the chosen channel's caps. Only channels this process has an
   * adapter for, and whose adapter accepts the payer's elements (a payment code of its own
   * provider), can be chosen: the others are excluded by hint. */
  async route(order: RouteOrder, payer: PayerElements = {}): Promise<RouteDecision & { payer_problems: PayerProblem[] }> {
    const contracted = new Set(this.routing.merchants.merchantChannels(order.merchant_id));
    const payer_problems: PayerProblem[] = [];
    const unfit = this.routing.cache
      .listChannels()
      .map((c) => c.channel_id)
      .filter((id) => {
        const channel = this.adapters.get(id);
        if (channel === undefined || channel.accepts?.(order.product, payer) === false) return true;
        const problems = channel.payerProblems?.(order.product, payer) ?? [];
        if (contracted.has(id)) payer_problems.push(...problems);
        return problems.length > 0;
      });
    const decision = await this.routing.decisions.route({ ...order, exclude_channels: [...order.exclude_channels, ...unfit] });
    this.metrics?.route_decisions.inc({ product: order.product, channel: decision.chosen?.channel_id ?? 'none' });
    for (const excluded of decision.excluded) this.metrics?.route_exclusions.inc({ reason: excluded.reason });
    return { ...decision, payer_problems };
  }

  /** Releases a failed or closed attempt's reservation; a lost release only delays the cap
   * until the marker expires, so it is logged, not retried here. */
  async release(reservation: ReservationRef | undefined): Promise<void> {
    if (reservation === undefined) return;
    await this.routing.reservations.release(reservation).catch((error: Error) => this.log.warn({ channel_id: reservation.channel_id, err: error.message }, 'reservation release failed'));
  }

  async commit(reservation: ReservationRef | undefined): Promise<void> {
    if (reservation === undefined) return;
    await this.routing.reservations.commit(reservation).catch((error: Error) => this.log.warn({ channel_id: reservation.channel_id, err: error.message }, 'reservation commit failed'));
  }

  /** Counts a call's outcome for the channel's health: in memory, flushed to the fleet's
   * window in batches (routing/health.ts), so a provider's answer costs no Redis call. */
  async recordOutcome(channel_id: string, outcome: Outcome): Promise<void> {
    try {
      const circuit = this.routing.health.count(channel_id, outcome);
      this.metrics?.circuit_open.set({ channel: channel_id }, circuit === 'CLOSED' ? 0 : 1);
    } catch (error) {
      this.log.warn({ channel_id, err: (error as Error).message }, 'health update failed');
    }
  }

  /** What the merchant pays for a payment (core/merchants: no fee where its rate table names
   * none). */
  merchantFee(merchant_id: string, product: ProductName, amount_minor: bigint): bigint {
    return this.routing.merchants.merchantFee(merchant_id, product, amount_minor);
  }

  notifyUrl(channel_id: string): string {
    return `${this.public_url}/notify/${channel_id}`;
  }
}

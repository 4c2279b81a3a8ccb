// The actor's view of the channels: adapters built from the channel file (credentials) and
// the routing table in Redis (who may take an order, at what cost, within which caps).

import { createChannel, type Channel, type ChannelConfig, type PayerElements, type PayerProblem } from '../../channels';
import { create_deadline_ms_default } from '../constants';
import type { Logger } from '../log';
import type { ActorMetrics } from '../metrics';
import { computeFee } from './fees';
import type { Outcome, ProductName, ReservationRef, RouteDecision, RouteOrder } from './types';
import type { RoutingTable } from './table';

export class ChannelDirectory {
  readonly #channels = new Map<string, Channel>();
  readonly #create_deadline_ms = new Map<string, number>();

  constructor(
    configs: readonly ChannelConfig[],
    private readonly table: RoutingTable,
    private readonly public_url: string,
    private readonly log: Logger,
    private readonly metrics?: ActorMetrics,
  ) {
    for (const config of configs) {
      this.#channels.set(config.channel_id, createChannel(config));
      this.#create_deadline_ms.set(config.channel_id, config.create_deadline_ms ?? create_deadline_ms_default);
    }
  }

  /** How long a create waits for this channel before answering with the pending payment. */
  createDeadlineMs(channel_id: string): number {
    return this.#create_deadline_ms.get(channel_id) ?? create_deadline_ms_default;
  }

  get(channel_id: string): Channel | undefined {
    return this.#channels.get(channel_id);
  }

  /** A decision that reserves the chosen channel's caps. Only channels this process has an
   * adapter for, and whose adapter accepts the payer's elements (a payment code of its own
   * provider), can be chosen: the others are excluded by hint. */
  async route(order: RouteOrder, payer: PayerElements = {}): Promise<RouteDecision & { payer_problems: PayerProblem[] }> {
    const contracted = new Set(this.table.merchantChannels(order.merchant_id));
    const payer_problems: PayerProblem[] = [];
    const unfit = this.table
      .listChannels()
      .map((c) => c.channel_id)
      .filter((id) => {
        const channel = this.#channels.get(id);
        if (channel === undefined || channel.accepts?.(order.product, payer) === false) return true;
        const problems = channel.payerProblems?.(order.product, payer) ?? [];
        if (contracted.has(id)) payer_problems.push(...problems);
        return problems.length > 0;
      });
    const decision = await this.table.route({ ...order, exclude_channels: [...order.exclude_channels, ...unfit] });
    this.metrics?.route_decisions.inc({ product: order.product, channel: decision.chosen?.channel_id ?? 'none' });
    for (const excluded of decision.excluded) this.metrics?.route_exclusions.inc({ reason: excluded.reason });
    return { ...decision, payer_problems };
  }

  /** Releases a failed or closed attempt's reservation; a lost release only delays the cap
   * until the marker expires, so it is logged, not retried here. */
  async release(reservation: ReservationRef | undefined): Promise<void> {
    if (reservation === undefined) return;
    await this.table.release(reservation).catch((error: Error) => this.log.warn({ channel_id: reservation.channel_id, err: error.message }, 'reservation release failed'));
  }

  async commit(reservation: ReservationRef | undefined): Promise<void> {
    if (reservation === undefined) return;
    await this.table.commit(reservation).catch((error: Error) => this.log.warn({ channel_id: reservation.channel_id, err: error.message }, 'reservation commit failed'));
  }

  async recordOutcome(channel_id: string, outcome: Outcome): Promise<void> {
    try {
      const circuit = await this.table.recordOutcome(channel_id, outcome);
      this.metrics?.circuit_open.set({ channel: channel_id }, circuit === 'CLOSED' ? 0 : 1);
    } catch (error) {
      this.log.warn({ channel_id, err: (error as Error).message }, 'health update failed');
    }
  }

  /** What the merchant pays for a payment: its fee rate for the product (core/routing/fees.ts,
   * bigint, half-up). Policy: a merchant whose rate table has no entry for the product pays
   * no fee — the rate table is the contract, and nothing is charged that it does not name. */
  merchantFee(merchant_id: string, product: ProductName, amount_minor: bigint): bigint {
    const rule = this.table.merchantFeeRule(merchant_id, product);
    return rule === undefined ? 0n : computeFee(amount_minor, rule);
  }

  notifyUrl(channel_id: string): string {
    return `${this.public_url}/notify/${channel_id}`;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#channels.values()].map((c) => c.close_connections()));
  }
}

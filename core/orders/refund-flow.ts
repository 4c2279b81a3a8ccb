// The refund flow of an order actor: a merchant's refund (decided, its id claimed, its
// follow-up timer and intent recorded before the channel hears of it), the automatic refund
// of duplicate payments, refund callbacks, and the follow-up timers that query and resubmit.

import type { RefundStatus } from '../../channels/channel';
import { refund_count_max_default, refund_retries_max, refund_window_days_default } from '../constants';
import { PaycoreError } from '../errors';
import { refundId, type IdKey } from '../ids';
import type { Logger } from '../log';
import type { ChannelDirectory } from '../routing/directory';
import { requireState, type Actor } from './actor-state';
import type { ChannelCalls } from './channel-calls';
import { decide, recheckRejection, scopeRejection } from './decide';
import { findRefund } from './evolve';
import type { Journal } from './journal';
import type { RefundInput } from './protocol';
import type { RefundIndex } from './refund-index';
import type { TimerScheduler } from './timers';
import type { DuplicatePayment, PaymentCommand, PaymentState, Refund } from './types';

export interface RefundFlowDeps {
  journal: Journal;
  calls: ChannelCalls;
  channels: Pick<ChannelDirectory, 'get'>;
  timers: Pick<TimerScheduler, 'schedule'>;
  refund_index: Pick<RefundIndex, 'claim' | 'release'>;
  /** Derives the refund ids of duplicate payments (core/ids.ts). */
  id_key: IdKey;
  refund_backoff_ms: readonly number[];
  log: Logger;
  now(): Date;
}

export class RefundFlow {
  constructor(private readonly deps: RefundFlowDeps) {}

  async create(actor: Actor, merchant_id: string, input: RefundInput): Promise<PaymentState> {
    const state = requireState(actor);
    const winning = state.attempts.find((a) => a.attempt_id === state.winning_attempt_id);
    const policy = (winning === undefined ? undefined : this.deps.channels.get(winning.channel_id)?.refund_policy) ?? {
      window_days: refund_window_days_default,
      count_max: refund_count_max_default,
    };
    const now = this.deps.now();
    const command: PaymentCommand = { type: 'create_refund', at: now.toISOString(), merchant_id, ...input, policy };
    // Decide first: a refund refused (foreign, above the paid amount, wrong state, ...) claims
    // nothing, schedules nothing and sends nothing.
    const decision = decide(state, command);
    if ('rejection' in decision) throw new PaycoreError(decision.rejection.reason, decision.rejection.message);
    if (decision.events.length === 0) return state; // identical replay
    // The refund id is the merchant's key across all its payments: claim it for this one.
    const holder = await this.deps.refund_index.claim(input.refund_id, state.payment_id);
    if (holder !== state.payment_id) throw new PaycoreError('IDEMPOTENCY_KEY_REUSED', `merchant_refund_no ${input.merchant_refund_no} is used by another payment`);
    let created = false;
    try {
      await this.#schedule(state.payment_id, input.refund_id, 0, now); // before the intent: a crash still follows up
      created = await this.deps.journal.apply(actor, command);
    } finally {
      // Refused after all (another writer moved first): give the merchant's key back.
      if (!created && findRefund(actor.loaded?.state ?? state, input.refund_id) === undefined)
        await this.deps.refund_index.release(input.refund_id, state.payment_id);
    }
    const refund = findRefund(requireState(actor), input.refund_id);
    if (refund?.state === 'PENDING') await this.#submit(actor, refund);
    return requireState(actor);
  }

  /** Opens the automatic refund of every recorded duplicate payment that has none yet. */
  async refundDuplicates(actor: Actor): Promise<void> {
    for (const duplicate of requireState(actor).duplicates) {
      const state = requireState(actor);
      if (duplicateRefunded(state, duplicate)) continue;
      // One refund per provider transaction: an attempt paid twice holds two duplicates.
      const refund_id = refundId(this.deps.id_key, state.merchant_id, `#duplicate:${duplicate.attempt_id}:${duplicate.channel_trade_no}`);
      await this.deps.refund_index.claim(refund_id, state.payment_id);
      const now = this.deps.now();
      await this.#schedule(state.payment_id, refund_id, 0, now);
      await this.deps.journal.apply(actor, { type: 'refund_duplicate', at: now.toISOString(), refund_id, attempt_id: duplicate.attempt_id, channel_trade_no: duplicate.channel_trade_no });
      const refund = findRefund(requireState(actor), refund_id);
      if (refund?.state === 'PENDING') await this.#submit(actor, refund);
    }
  }

  /** A payout paid a refund the channel could no longer carry (core/payouts): recorded. */
  async paidOut(actor: Actor, paid: Omit<Extract<PaymentCommand, { type: 'refund_paid_out' }>, 'type' | 'at'>): Promise<PaymentState> {
    const { refund_id, payout_id, channel_id, channel_payout_no, paid_at } = paid;
    await this.deps.journal.apply(actor, { type: 'refund_paid_out', at: this.deps.now().toISOString(), refund_id, payout_id, channel_id, channel_payout_no, paid_at });
    return requireState(actor);
  }

  /** An operator's re-check of a refund REQUIRES_MANUAL after it reached its channel: refused
   * before any call when it may not be re-checked; else one query now, and the answer recorded
   * (decide: a final one settles the refund). */
  async recheck(actor: Actor, request: { merchant_id: string; refund_id: string; operator: string; reason: string }): Promise<PaymentState> {
    const { merchant_id, refund_id, operator, reason } = request;
    const state = requireState(actor);
    const rejection = scopeRejection(state, merchant_id) ?? recheckRejection(state, refund_id);
    if (rejection !== undefined) throw new PaycoreError(rejection.reason, rejection.message);
    const status = await this.deps.calls.queryRefund(state, findRefund(state, refund_id)!);
    await this.deps.journal.apply(actor, { type: 'refund_recheck', at: this.deps.now().toISOString(), merchant_id, refund_id, operator, reason, status });
    return requireState(actor);
  }

  async notification(actor: Actor, channel_id: string, refund_id: string, status: RefundStatus): Promise<PaymentState> {
    const refund = findRefund(requireState(actor), refund_id);
    // A callback speaks only for the channel it arrived on (see PaymentFlow.notification).
    if (refund === undefined || refund.channel_id !== channel_id) throw new PaycoreError('NOT_FOUND', `no refund ${refund_id} on payment ${actor.payment_id} via ${channel_id}`);
    await this.#status(actor, refund_id, status, channel_id);
    return requireState(actor);
  }

  /** A refund timer: asks the channel about a refund that is not settled, submits it again
   * when the channel never got it or a retryable failure is due, and plans the next one. */
  async followUp(actor: Actor, refund_id: string, round: number): Promise<PaymentState> {
    const refund = findRefund(requireState(actor), refund_id);
    if (refund === undefined || (refund.state !== 'PENDING' && refund.state !== 'PROCESSING')) return requireState(actor);
    const state = requireState(actor);
    const status = await this.deps.calls.queryRefund(state, refund);
    // Retryable failures are resubmitted with the same refund id; so is one the channel
    // never received. The channel refuses a second refund with the id.
    const resubmit = status?.kind === 'not_found' || (status === undefined && refund.failure !== undefined) || (status?.kind === 'failed' && status.retryable);
    if (status !== undefined && status.kind !== 'not_found') await this.#status(actor, refund_id, status);
    const after = findRefund(requireState(actor), refund_id);
    if (resubmit && after !== undefined && (after.state === 'PENDING' || after.state === 'PROCESSING')) await this.#submit(actor, after);
    const settled = findRefund(requireState(actor), refund_id);
    if (settled !== undefined && (settled.state === 'PENDING' || settled.state === 'PROCESSING')) await this.#schedule(state.payment_id, refund_id, round + 1, this.deps.now());
    return requireState(actor);
  }

  async #submit(actor: Actor, refund: Refund): Promise<void> {
    const status = await this.deps.calls.refund(requireState(actor), refund);
    if (status !== undefined) await this.#status(actor, refund.refund_id, status);
  }

  async #status(actor: Actor, refund_id: string, status: RefundStatus, via_channel_id?: string): Promise<void> {
    try {
      await this.deps.journal.apply(actor, { type: 'refund_status', at: this.deps.now().toISOString(), refund_id, status, retries_max: refund_retries_max, via_channel_id });
    } catch (error) {
      if (!(error instanceof PaycoreError) || error.reason !== 'ILLEGAL_STATE') throw error;
      this.deps.log.error({ payment_id: actor.payment_id, refund_id, reason: error.message }, 'refund status not applicable; left for reconciliation');
    }
  }

  async #schedule(payment_id: string, refund_id: string, round: number, now: Date): Promise<void> {
    const backoff = this.deps.refund_backoff_ms;
    const delay = backoff[Math.min(round, backoff.length - 1)] ?? 5_000;
    await this.deps.timers.schedule({ kind: 'refund', payment_id, refund_id, round, due_at: new Date(now.getTime() + delay).toISOString() });
  }
}

/** Whether a duplicate payment already has its refund. Refunds opened before duplicates were
 * told apart by transaction carry no channel_trade_no and cover their attempt's first one. */
function duplicateRefunded(state: PaymentState, duplicate: DuplicatePayment): boolean {
  const first_on_attempt = state.duplicates.find((d) => d.attempt_id === duplicate.attempt_id);
  return state.refunds.some((r) => r.kind === 'duplicate' && r.attempt_id === duplicate.attempt_id
    && (r.channel_trade_no === undefined ? first_on_attempt === duplicate : r.channel_trade_no === duplicate.channel_trade_no));
}

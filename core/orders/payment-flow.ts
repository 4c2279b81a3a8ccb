// The payment flow of an order actor once the payment exists: the channel's create for an
// attempt (with the caller's deadline), failover to the next channel, the payer's step-up
// answer, callbacks, the pending-attempt queries, expiry and the close. Creation itself (risk,
// routing, holds) is core/orders/create-flow.ts.

import type { AttemptStatus, PayerElements } from '../../channels/channel';
import { attempts_per_payment_max, confirm_wrong_codes_max, timer_retry_delay_ms } from '../constants';
import { PaycoreError, invalidFields } from '../errors';
import type { Logger } from '../log';
import type { ChannelDirectory } from '../routing/directory';
import type { ReservationRef } from '../routing/types';
import type { Sealer } from '../seal';
import { requireState, type Actor } from './actor-state';
import type { ChannelCalls } from './channel-calls';
import { currentAttempt, isOpen } from './evolve';
import { holdsReservation, type Journal } from './journal';
import { fromWireStatus, toWireStatus, type ActorRequest, type WireAttemptStatus } from './protocol';
import type { RefundFlow } from './refund-flow';
import { nextQueryAt, type TimerScheduler } from './timers';
import type { Attempt, PaymentState } from './types';

type Failover = { channel_id: string; fee_minor: bigint; reservation?: ReservationRef };

export interface PaymentFlowDeps {
  journal: Journal;
  calls: ChannelCalls;
  refunds: Pick<RefundFlow, 'refundDuplicates'>;
  channels: Pick<ChannelDirectory, 'route' | 'release'>;
  timers: Pick<TimerScheduler, 'schedule'>;
  sealer: Pick<Sealer, 'open'>;
  query_backoff_ms: readonly number[];
  log: Logger;
  now(): Date;
  /** Queues a request in the payment's mailbox (a create's late answer is applied by a turn). */
  enqueue(request: ActorRequest): Promise<unknown>;
}

export class PaymentFlow {
  /** Attempts whose channel create is still in flight after its caller was answered (see
   * pay): a query meanwhile must not issue it again — the provider would only see the same
   * request twice, and a slow provider more load. */
  readonly #creates_in_flight = new Set<string>();

  constructor(private readonly deps: PaymentFlowDeps) {}

  /** Calls the channel's create for the attempt and applies its answer. With `deadline_ms`
   * (a caller waits: CreatePayment), a channel that has not answered by then leaves the turn
   * answering the pending payment (next action POLL); its answer, when it comes, is applied
   * by a later turn of this mailbox (pay_outcome), and the pending-attempt queries settle it
   * if it never comes. */
  async pay(actor: Actor, attempt: Attempt, payer: PayerElements, deadline_ms?: number): Promise<void> {
    const call = this.deps.calls.pay(requireState(actor), attempt, payer);
    let status: AttemptStatus | undefined;
    if (deadline_ms === undefined) {
      status = await call;
    } else {
      const answered = await withinDeadline(call, deadline_ms);
      if (!answered.in_time) {
        this.#creates_in_flight.add(attempt.attempt_id);
        this.deps.log.warn({ payment_id: actor.payment_id, attempt_id: attempt.attempt_id, deadline_ms }, 'channel create outlived its deadline; answering the pending payment');
        // In flight until its answer is applied (or found ambiguous) by that later turn.
        void call
          .then((late) => this.deps.enqueue({ type: 'pay_outcome', payment_id: actor.payment_id, attempt_id: attempt.attempt_id, ...(late === undefined ? {} : { status: toWireStatus(late) }) }))
          .finally(() => this.#creates_in_flight.delete(attempt.attempt_id));
        return;
      }
      status = answered.value;
    }
    await this.#afterPay(actor, attempt, payer, status);
  }

  /** A create's answer that came after its caller was answered (see pay). */
  async payOutcome(actor: Actor, attempt_id: string, status: WireAttemptStatus | undefined): Promise<PaymentState> {
    const state = requireState(actor);
    const attempt = state.attempts.find((a) => a.attempt_id === attempt_id);
    // Ambiguous, or overtaken meanwhile (a callback, a query): nothing to add.
    if (status === undefined || attempt === undefined || attempt.state !== 'requested' || !isOpen(state)) return state;
    await this.#afterPay(actor, attempt, this.deps.sealer.open<PayerElements>(state.payer_sealed), fromWireStatus(status));
    return requireState(actor);
  }

  async close(actor: Actor, reason: 'merchant' | 'expired' | 'risk', merchant_id?: string): Promise<PaymentState> {
    await this.deps.journal.apply(actor, { type: 'close', at: this.deps.now().toISOString(), reason, merchant_id });
    await this.#driveClose(actor);
    return requireState(actor);
  }

  /** Reconciliation's reversal of a success the channel never took (decide says when). */
  async reverse(actor: Actor, reason_code: string, reference: string): Promise<PaymentState> {
    await this.deps.journal.apply(actor, { type: 'reverse', at: this.deps.now().toISOString(), reason_code, reference });
    return requireState(actor);
  }

  async expire(actor: Actor, round: number): Promise<PaymentState> {
    const state = requireState(actor);
    // A payment held for review nobody acted on closes at its review deadline.
    if (state.held !== undefined && Date.parse(state.held.review_expires_at) <= this.deps.now().getTime()) return this.close(actor, 'expired');
    // Only the payment's own expiry closes it. A timer due before it (another process's clock
    // ahead of ours, or a create that lost a race and left a timer of its own) is moved to the
    // payment's expiry, never dropped. The next round makes it a new message: the original
    // expiry timer has the same due time, and the stream would take this one for its duplicate.
    if (Date.parse(state.expires_at) > this.deps.now().getTime()) {
      await this.deps.timers.schedule({ kind: 'expire', payment_id: state.payment_id, due_at: state.expires_at, round: round + 1 });
      return state;
    }
    return this.close(actor, 'expired');
  }

  /** A verified provider callback that arrived on `channel_id`: it may only move an attempt
   * sent to that channel. */
  async notification(actor: Actor, channel_id: string, attempt_id: string, status: AttemptStatus): Promise<PaymentState> {
    await this.deps.journal.apply(actor, { type: 'attempt_status', at: this.deps.now().toISOString(), attempt_id, status, source: 'notification', via_channel_id: channel_id });
    await this.deps.refunds.refundDuplicates(actor);
    return requireState(actor);
  }

  /** The payer's answer to a step-up (the SMS code of UnionPay quick pay). */
  async confirm(actor: Actor, merchant_id: string, verification_code: string): Promise<PaymentState> {
    const state = requireState(actor);
    const attempt = currentAttempt(state);
    if (state.status !== 'REQUIRES_ACTION' || state.next_action?.type !== 'SMS_CODE' || attempt?.state !== 'action_required') {
      throw new PaycoreError('ILLEGAL_STATE', `payment is ${state.status}: only a payment waiting for an SMS code can be confirmed`);
    }
    const status = await this.deps.calls.confirm(state, attempt, verification_code);
    if (status === 'wrong_code') return this.#wrongCode(actor, merchant_id, attempt.attempt_id);
    if (status !== undefined) await this.deps.journal.apply(actor, { type: 'attempt_status', at: this.deps.now().toISOString(), merchant_id, attempt_id: attempt.attempt_id, status, source: 'confirm' });
    return requireState(actor);
  }

  /** A pending-attempt query (timer): settles what the channel knows, drives on what we
   * left unfinished (a close, an attempt whose call died with its process), and plans the
   * next query while the payment stays open. */
  async query(actor: Actor, round: number): Promise<PaymentState> {
    const state = requireState(actor);
    if (!isOpen(state)) return state;
    if (state.closing !== undefined) {
      await this.#driveClose(actor);
    } else {
      const attempt = currentAttempt(state);
      if (attempt !== undefined) await this.#queryAttempt(actor, attempt);
    }
    const after = requireState(actor);
    if (isOpen(after)) await this.scheduleQuery(actor.payment_id, round + 1, this.deps.now(), after.expires_at);
    return after;
  }

  async scheduleQuery(payment_id: string, round: number, now: Date, expires_at: string): Promise<void> {
    const due = nextQueryAt(now, round, this.deps.query_backoff_ms, expires_at);
    if (due !== undefined) await this.deps.timers.schedule({ kind: 'query', payment_id, due_at: due.toISOString(), round });
  }

  /** A wrong code: counted; while tries are left the caller hears INVALID_FIELD naming the
   * code and the payment keeps waiting; the last one fails the attempt (the payment FAILED). */
  async #wrongCode(actor: Actor, merchant_id: string, attempt_id: string): Promise<PaymentState> {
    await this.deps.journal.apply(actor, { type: 'code_rejected', at: this.deps.now().toISOString(), merchant_id, attempt_id, wrong_codes_max: confirm_wrong_codes_max });
    const after = requireState(actor);
    const attempt = after.attempts.find((a) => a.attempt_id === attempt_id);
    if (attempt?.state !== 'action_required') return after;
    throw invalidFields([{ field: 'verification_code', description: `is not the code sent to the payer; ${confirm_wrong_codes_max - (attempt.wrong_codes ?? 0)} tries left` }]);
  }

  async #afterPay(actor: Actor, attempt: Attempt, payer: PayerElements, status: AttemptStatus | undefined): Promise<void> {
    if (status === undefined) return;
    // A call that failed before the channel accepted anything may go to the next channel.
    const failover = status.kind === 'failed' && status.code !== '' ? await this.#failoverRoute(actor, payer) : undefined;
    try {
      await this.#attemptStatus(actor, attempt.attempt_id, status, 'pay', failover);
    } catch (error) {
      // The failover's caps go back unless the log holds them (or cannot be read: the sweeper).
      if (failover !== undefined && !this.deps.journal.outcomeUnknown(error) && !holdsReservation(actor.loaded?.state, failover.reservation)) {
        await this.deps.channels.release(failover.reservation);
      }
      throw error;
    }
    const next = currentAttempt(requireState(actor));
    if (failover !== undefined && !holdsReservation(actor.loaded?.state, failover.reservation)) await this.deps.channels.release(failover.reservation);
    if (next !== undefined && next.attempt_id !== attempt.attempt_id && next.state === 'requested' && isOpen(requireState(actor))) {
      await this.pay(actor, next, payer);
    }
  }

  /** The next-best channel for this payment, excluding every channel already tried. */
  async #failoverRoute(actor: Actor, payer: PayerElements): Promise<Failover | undefined> {
    const state = requireState(actor);
    if (state.attempts.length >= attempts_per_payment_max) return undefined;
    const decision = await this.deps.channels.route({
      payment_id: state.payment_id,
      merchant_id: state.merchant_id,
      product: state.product,
      amount_minor: state.amount_minor,
      currency: state.currency,
      payer_elements_present: Object.keys(payer),
      card_token: payer.card_token,
      include_channels: state.include_channels,
      exclude_channels: state.exclude_channels,
      exclude_attempted: state.attempts.map((a) => a.channel_id),
      now: this.deps.now(),
    }, payer);
    const chosen = decision.chosen;
    if (chosen === undefined) return undefined;
    const reservation =
      chosen.reservation === undefined
        ? undefined
        : { reservation_id: chosen.reservation.reservation_id, channel_id: chosen.reservation.channel_id };
    return { channel_id: chosen.channel_id, fee_minor: chosen.fee_minor, reservation };
  }

  async #queryAttempt(actor: Actor, attempt: Attempt): Promise<void> {
    const status = await this.deps.calls.query(requireState(actor), attempt);
    if (status === undefined) return;
    await this.#attemptStatus(actor, attempt.attempt_id, status, 'query');
    await this.deps.refunds.refundDuplicates(actor);
    const after = requireState(actor);
    const still = after.attempts.find((a) => a.attempt_id === attempt.attempt_id);
    // The call that should have told us the next action died (crash, timeout): issue the
    // same attempt id again. The channel refuses a second order with it, so this cannot
    // charge twice; it only recovers the QR code, redirect or SDK parameters.
    if (isOpen(after) && still?.state === 'requested' && (status.kind === 'pending' || status.kind === 'not_found') && !this.#creates_in_flight.has(still.attempt_id)) {
      await this.pay(actor, still, this.deps.sealer.open<PayerElements>(after.payer_sealed));
    }
  }

  async #driveClose(actor: Actor): Promise<void> {
    const state = requireState(actor);
    if (state.closing === undefined || !isOpen(state)) return;
    const attempt = currentAttempt(state);
    if (attempt === undefined) {
      await this.deps.journal.apply(actor, { type: 'close_result', at: this.deps.now().toISOString(), outcome: 'closed' });
      return;
    }
    const outcome = await this.deps.calls.close(state, attempt);
    if (outcome === undefined) {
      // Left closing; the next query timer drives the close again.
      const due_at = new Date(this.deps.now().getTime() + timer_retry_delay_ms).toISOString();
      await this.deps.timers.schedule({ kind: 'query', payment_id: actor.payment_id, due_at, round: 0 });
      return;
    }
    await this.deps.journal.apply(actor, { type: 'close_result', at: this.deps.now().toISOString(), outcome });
    if (outcome === 'already_paid') await this.#queryAttempt(actor, attempt);
  }

  async #attemptStatus(actor: Actor, attempt_id: string, status: AttemptStatus, source: 'pay' | 'query', failover?: Failover): Promise<void> {
    try {
      await this.deps.journal.apply(actor, { type: 'attempt_status', at: this.deps.now().toISOString(), attempt_id, status, source, failover });
    } catch (error) {
      if (!(error instanceof PaycoreError) || error.reason !== 'ILLEGAL_STATE') throw error;
      this.deps.log.error({ payment_id: actor.payment_id, attempt_id, reason: error.message }, 'channel status not applicable; left for reconciliation');
    }
  }
}

/** Waits for `call` at most `deadline_ms`; the call itself goes on either way. */
async function withinDeadline<T>(call: Promise<T>, deadline_ms: number): Promise<{ in_time: true; value: T } | { in_time: false }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ in_time: false }>((resolve) => {
    timer = setTimeout(() => resolve({ in_time: false }), deadline_ms);
  });
  try {
    return await Promise.race([call.then((value) => ({ in_time: true as const, value })), late]);
  } finally {
    clearTimeout(timer);
  }
}

// Order actors: one per payment, one mailbox each, hosted in a bounded LRU per worker thread.
// A turn follows one fixed order — load → route → persist intent → call the channel → apply
// the result — and every state change goes through decide() and the event store.

import type { AttemptStatus, PayerElements } from '../../channels/channel';
import {
  actors_live_max, confirm_wrong_codes_max, command_start_margin_ms, attempts_per_payment_max, mailbox_depth_max, timer_retry_delay_ms,
} from '../constants';
import type { IdKey } from '../ids';
import { PaycoreError, errorToWire, invalidFields, type FieldViolation } from '../errors';
import type { Logger } from '../log';
import type { ActorMetrics } from '../metrics';
import type { Sealer } from '../seal';
import { scopeRejection } from './decide';
import { currentAttempt, isOpen } from './evolve';
import { fromWireRefundStatus, fromWireStatus, toWireStatus, type WireAttemptStatus, requestMerchant, type ActorReply, type ActorRequest, type CreateInput } from './protocol';
import type { RefundIndex } from './refund-index';
import type { ChannelDirectory } from '../routing/directory';
import type { RiskEngine } from '../risk/engine';
import type { HeldIndex } from '../risk/held';
import { review_seconds_default } from '../risk/rules';
import type { ReservationRef } from '../routing/types';
import type { EventStore } from './store';
import { Actor, describe, requireState } from './actor-state';
import { ChannelCalls } from './channel-calls';
import { RefundFlow } from './refund-flow';
import { Journal, holdsReservation } from './journal';
import { nextQueryAt, type TimerScheduler } from './timers';
import type { Attempt, PaymentCommand, PaymentState } from './types';

export interface ActorDeps {
  store: EventStore;
  timers: TimerScheduler;
  channels: ChannelDirectory;
  sealer: Sealer;
  query_backoff_ms: readonly number[];
  refund_backoff_ms: readonly number[];
  refund_index: RefundIndex;
  /** Derives the refund ids of duplicate payments (core/ids.ts). */
  id_key: IdKey;
  log: Logger;
  metrics: ActorMetrics;
  /** The risk decision before routing (core/risk); absent: every payment is allowed. */
  risk?: Pick<RiskEngine, 'assess'>;
  /** The list of payments held for review (core/risk/held.ts). */
  held?: Pick<HeldIndex, 'add' | 'remove'>;
  now(): Date;
}

export class ActorSystem {
  readonly #actors = new Map<string, Actor>();
  /** Attempts whose channel create is still in flight after its caller was answered (see
   * #pay): a query meanwhile must not issue it again — the provider would only see the same
   * request twice, and a slow provider more load. */
  readonly #creates_in_flight = new Set<string>();

  readonly #journal: Journal;
  readonly #calls: ChannelCalls;
  readonly #refunds: RefundFlow;

  constructor(private readonly deps: ActorDeps) {
    this.#journal = new Journal(deps);
    this.#calls = new ChannelCalls(deps);
    this.#refunds = new RefundFlow({ ...deps, journal: this.#journal, calls: this.#calls });
  }

  get live(): number {
    return this.#actors.size;
  }

  /** Runs one request in its actor's mailbox, after every request queued before it. */
  handle(request: ActorRequest): Promise<ActorReply> {
    const actor = this.#actor(request.payment_id);
    if (actor.queued >= mailbox_depth_max) {
      return Promise.resolve(failure(new PaycoreError('OVERLOADED', `payment ${request.payment_id} has ${actor.queued} commands queued; retry with the same key`)));
    }
    actor.queued += 1;
    this.deps.metrics.mailbox_depth.inc();
    const turn = actor.tail.then(() => this.#turn(actor, request));
    actor.tail = turn.catch(() => undefined).finally(() => {
      actor.queued -= 1;
      this.deps.metrics.mailbox_depth.dec();
    });
    void turn.then((reply) => this.deps.metrics.commands.inc({ type: request.type, result: reply.ok ? 'ok' : reply.error.reason }));
    return turn;
  }

  #actor(payment_id: string): Actor {
    let actor = this.#actors.get(payment_id);
    if (actor !== undefined) {
      this.#actors.delete(payment_id); // re-insert: Map order is the LRU order
      this.#actors.set(payment_id, actor);
      return actor;
    }
    actor = new Actor(payment_id);
    this.#actors.set(payment_id, actor);
    this.#evict();
    this.deps.metrics.actors_live.set(this.#actors.size);
    return actor;
  }

  #evict(): void {
    if (this.#actors.size <= actors_live_max) return;
    for (const [id, actor] of this.#actors) {
      if (this.#actors.size <= actors_live_max) return;
      if (actor.queued === 0) this.#actors.delete(id);
    }
  }

  async #turn(actor: Actor, request: ActorRequest): Promise<ActorReply> {
    // A command whose caller has given up (or is about to) is not started: its caller was
    // told UNAVAILABLE, and must not find it executed later without having retried it.
    if (request.deadline_at_ms !== undefined && this.deps.now().getTime() >= request.deadline_at_ms - command_start_margin_ms) {
      this.deps.log.warn({ payment_id: request.payment_id, type: request.type }, 'command arrived after its deadline; not executed');
      return failure(new PaycoreError('DEPENDENCY_DOWN', `the command reached payment ${request.payment_id} after its caller stopped waiting; not executed, retry with the same key`));
    }
    try {
      // A create for a payment this thread has not seen is almost always a new payment: it
      // appends with expected last sequence 0 straight away, and a conflict (it existed)
      // reloads and re-decides, so the common case saves a round trip.
      // "Absent" is never cached: another process may create the payment at any moment, and
      // a timer or call for it must then find it (re-checked against the log each time).
      if ((!actor.fresh || actor.loaded === undefined) && request.type !== 'create') await this.#journal.reload(actor);
      // Before anything else: a merchant's call on a payment it does not own does nothing.
      const merchant_id = requestMerchant(request);
      if (merchant_id !== undefined && request.type !== 'create') {
        const rejection = scopeRejection(actor.loaded?.state, merchant_id);
        if (rejection !== undefined) throw new PaycoreError(rejection.reason, rejection.message);
      }
      const state = await this.#dispatch(actor, request);
      return { ok: true, payment: state };
    } catch (error) {
      // Any failure may leave our cached state behind the stream: reload next turn.
      if (!(error instanceof PaycoreError) || error.reason === 'DEPENDENCY_DOWN') actor.fresh = false;
      if (error instanceof PaycoreError) {
        if (error.cause !== undefined) this.deps.log.warn({ payment_id: actor.payment_id, reason: error.reason, err: describe(error.cause) }, 'dependency failed during a turn');
        return failure(error);
      }
      // The caller gets no internal text (library messages name hosts and internals): the log has it.
      this.deps.log.error({ payment_id: actor.payment_id, err: describe(error) }, 'actor turn failed');
      return failure(new PaycoreError('INTERNAL', `payment ${actor.payment_id}: internal error, logged; retry with the same key`));
    }
  }

  #dispatch(actor: Actor, request: ActorRequest): Promise<PaymentState> {
    switch (request.type) {
      case 'create':
        return this.#create(actor, request.input);
      case 'get':
        return Promise.resolve(requireState(actor));
      case 'close':
        return this.#close(actor, 'merchant', request.merchant_id);
      case 'notification':
        return this.#notification(actor, request.channel_id, request.attempt_id, fromWireStatus(request.status));
      case 'timer':
        if (request.kind === 'refund') return this.#refunds.followUp(actor, request.refund_id ?? '', request.round ?? 0);
        return request.kind === 'expire' ? this.#expire(actor, request.round ?? 0) : this.#query(actor, request.round ?? 0);
      case 'confirm':
        return this.#confirm(actor, request.merchant_id, request.verification_code);
      case 'create_refund':
        return this.#refunds.create(actor, request.merchant_id, request.input);
      case 'refund_notification':
        return this.#refunds.notification(actor, request.channel_id, request.refund_id, fromWireRefundStatus(request.status));
      case 'pay_outcome':
        return this.#payOutcome(actor, request.attempt_id, request.status);
      case 'release_hold':
        return this.#releaseHold(actor);
      case 'reject_hold':
        if (requireState(actor).held === undefined) throw new PaycoreError('ILLEGAL_STATE', `payment ${actor.payment_id} is not held for review`);
        return this.#close(actor, 'risk');
    }
  }

  // ---- commands -------------------------------------------------------------------------

  async #create(actor: Actor, input: CreateInput): Promise<PaymentState> {
    const now = this.deps.now();
    if (!actor.fresh) actor.loaded = undefined; // unknown: try the creation, a conflict tells
    const existing = actor.loaded?.state;
    if (existing !== undefined) {
      await this.#journal.apply(actor, this.#createCommand(actor.payment_id, input, now, '', ''));
      return requireState(actor);
    }
    const risk = await this.#assessRisk(actor.payment_id, input);
    if (risk?.review !== undefined) return this.#hold(actor, input, now, risk.review);
    const refusal = risk?.refusal;
    if (refusal !== undefined) {
      // A replay of a payment created before the rules changed answers with that payment.
      await this.#journal.reload(actor);
      if (actor.loaded === undefined) throw refusal;
      await this.#journal.apply(actor, this.#createCommand(actor.payment_id, input, now, '', ''));
      return requireState(actor);
    }
    const decision = await this.deps.channels.route({
      payment_id: actor.payment_id,
      merchant_id: input.merchant_id,
      product: input.product,
      amount_minor: input.amount_minor,
      currency: input.currency,
      payer_elements_present: Object.keys(input.payer),
      card_token: input.payer.card_token,
      include_channels: input.include_channels,
      exclude_channels: input.exclude_channels,
      now,
    }, input.payer);
    const chosen = decision.chosen;
    // No channel left, and a contracted one skipped only for the payer's elements: the caller's
    // input is wrong for every channel that could take it. Refused naming the field; nothing
    // is stored.
    if (chosen === undefined && decision.payer_problems.length > 0) throw invalidFields(uniqueProblems(decision.payer_problems));
    if (chosen === undefined) {
      const reasons = [...new Set(decision.excluded.map((e) => e.reason))].join(', ') || 'no channel configured';
      throw new PaycoreError('NO_ROUTE', `no channel can take ${input.product} ${input.currency} now (${reasons}); retry with the same key later`);
    }
    const reservation = chosen.reservation === undefined ? undefined : { reservation_id: chosen.reservation.reservation_id, channel_id: chosen.reservation.channel_id };
    const expires_at = new Date(now.getTime() + input.expire_seconds * 1000);
    let created = false;
    try {
      // Timers first: a payment that exists always has its expiry and its first query.
      await Promise.all([
        this.deps.timers.schedule({ kind: 'expire', payment_id: actor.payment_id, due_at: expires_at.toISOString() }),
        this.#scheduleQuery(actor.payment_id, 0, now, expires_at.toISOString()),
      ]);
      const command = {
        ...this.#createCommand(actor.payment_id, input, now, expires_at.toISOString(), chosen.channel_id, chosen.fee_minor, reservation),
        merchant_fee_minor: this.deps.channels.merchantFee(input.merchant_id, input.product, input.amount_minor),
      };
      created = await this.#journal.apply(actor, command);
    } catch (error) {
      // Released only when the log is known not to hold it; an unknown outcome is left to the
      // reservation sweeper, which reads the log later.
      if (!this.#journal.outcomeUnknown(error)) await this.deps.channels.release(reservation);
      throw error;
    }
    if (!created) await this.deps.channels.release(reservation); // an existing payment: nothing of ours holds it
    const state = requireState(actor);
    const attempt = currentAttempt(state);
    if (attempt !== undefined && attempt.state === 'requested') await this.#pay(actor, attempt, input.payer, this.deps.channels.createDeadlineMs(attempt.channel_id));
    return requireState(actor);
  }

  /** Risk before routing: a blocked payment reserves nothing, stores nothing and reaches no
   * channel. Its decision is an event and a metric (core/risk) either way. */
  async #assessRisk(payment_id: string, input: CreateInput): Promise<{ refusal?: PaycoreError; review?: { rules: string[]; review_seconds: number } } | undefined> {
    if (this.deps.risk === undefined) return undefined;
    const decision = await this.deps.risk.assess({ payment_id, merchant_id: input.merchant_id, product: input.product, amount_minor: input.amount_minor, payer: input.payer });
    // The rules that fired are the operator's (RiskAssessed names them); the caller learns
    // only that risk control refused, not which limit to stay under.
    if (decision.action === 'block') return { refusal: new PaycoreError('RISK_BLOCKED', 'the payment was refused by risk control; nothing was stored or sent') };
    if (decision.action === 'review') return { review: { rules: decision.fired.filter((f) => f.action === 'review').map((f) => f.rule_id), review_seconds: decision.review_seconds ?? review_seconds_default } };
    // Step up: UnionPay quick pay challenges every payment with the cardholder's SMS code
    // already (ConfirmPayment), so it goes on; a product with no challenge to ask for is held
    // for an operator instead — the stricter of the two, never a silent allow.
    if (decision.action === 'step_up' && input.product !== 'UNIONPAY_QUICK') {
      return { review: { rules: decision.fired.filter((f) => f.action === 'step_up').map((f) => f.rule_id), review_seconds: review_seconds_default } };
    }
    return undefined;
  }

  /** Held for an operator: stored (status CREATED, `held` set) with its expiry and its review
   * deadline on durable timers; nothing routed, reserved or sent until it is released. */
  async #hold(actor: Actor, input: CreateInput, now: Date, review: { rules: string[]; review_seconds: number }): Promise<PaymentState> {
    const expires_at = new Date(now.getTime() + input.expire_seconds * 1000);
    const review_expires_at = new Date(Math.min(expires_at.getTime(), now.getTime() + review.review_seconds * 1000));
    await Promise.all([
      this.deps.timers.schedule({ kind: 'expire', payment_id: actor.payment_id, due_at: expires_at.toISOString() }),
      this.deps.timers.schedule({ kind: 'expire', payment_id: actor.payment_id, due_at: review_expires_at.toISOString() }),
    ]);
    const command = {
      ...this.#createCommand(actor.payment_id, input, now, expires_at.toISOString(), '', undefined, undefined, true),
      held: { rules: review.rules, review_expires_at: review_expires_at.toISOString() },
      merchant_fee_minor: this.deps.channels.merchantFee(input.merchant_id, input.product, input.amount_minor),
    };
    if (await this.#journal.apply(actor, command)) {
      const state = requireState(actor);
      await this.deps.held?.add({
        payment_id: state.payment_id, merchant_id: state.merchant_id, product: state.product, amount_minor: state.amount_minor.toString(), currency: state.currency,
        rules: review.rules, held_at: state.created_at, review_expires_at: review_expires_at.toISOString(),
      }).catch((error: Error) => this.deps.log.warn({ payment_id: state.payment_id, err: error.message }, 'held-payment list not updated'));
    }
    return requireState(actor);
  }

  /** An operator released a held payment: routed now, and sent to its channel. */
  async #releaseHold(actor: Actor): Promise<PaymentState> {
    const state = requireState(actor);
    if (state.held === undefined || !isOpen(state)) throw new PaycoreError('ILLEGAL_STATE', `payment ${state.payment_id} is ${state.status} and not held for review`);
    const payer = this.deps.sealer.open<PayerElements>(state.payer_sealed);
    const now = this.deps.now();
    const decision = await this.deps.channels.route({
      payment_id: state.payment_id, merchant_id: state.merchant_id, product: state.product, amount_minor: state.amount_minor, currency: state.currency,
      payer_elements_present: Object.keys(payer), card_token: payer.card_token, include_channels: state.include_channels, exclude_channels: state.exclude_channels, now,
    }, payer);
    const chosen = decision.chosen;
    if (chosen === undefined) throw new PaycoreError('NO_ROUTE', `no channel can take ${state.product} ${state.currency} now; the payment stays held, release it again later`);
    const reservation = chosen.reservation === undefined ? undefined : { reservation_id: chosen.reservation.reservation_id, channel_id: chosen.reservation.channel_id };
    try {
      await this.#journal.apply(actor, { type: 'release_hold', at: now.toISOString(), channel_id: chosen.channel_id, fee_minor: chosen.fee_minor, reservation });
    } catch (error) {
      if (!this.#journal.outcomeUnknown(error)) await this.deps.channels.release(reservation);
      throw error;
    }
    const attempt = currentAttempt(requireState(actor));
    if (attempt !== undefined && attempt.state === 'requested') await this.#pay(actor, attempt, payer, this.deps.channels.createDeadlineMs(attempt.channel_id));
    return requireState(actor);
  }

  #createCommand(payment_id: string, input: CreateInput, now: Date, expires_at: string, channel_id: string, fee_minor?: bigint, reservation?: ReservationRef, seal_payer = channel_id !== ''): PaymentCommand {
    return {
      type: 'create',
      at: now.toISOString(),
      payment_id,
      merchant_id: input.merchant_id,
      merchant_order_no: input.merchant_order_no,
      amount_minor: input.amount_minor,
      currency: input.currency,
      product: input.product,
      subject: input.subject,
      notify_url: input.notify_url,
      metadata: input.metadata,
      expires_at,
      fingerprint: input.fingerprint,
      payer_sealed: seal_payer ? this.deps.sealer.seal(input.payer) : '',
      include_channels: input.include_channels,
      exclude_channels: input.exclude_channels,
      channel_id,
      fee_minor,
      reservation,
    };
  }

  async #close(actor: Actor, reason: 'merchant' | 'expired' | 'risk', merchant_id?: string): Promise<PaymentState> {
    await this.#journal.apply(actor, { type: 'close', at: this.deps.now().toISOString(), reason, merchant_id });
    await this.#driveClose(actor);
    return requireState(actor);
  }

  async #expire(actor: Actor, round: number): Promise<PaymentState> {
    const state = requireState(actor);
    // A payment held for review nobody acted on closes at its review deadline.
    if (state.held !== undefined && Date.parse(state.held.review_expires_at) <= this.deps.now().getTime()) return this.#close(actor, 'expired');
    // Only the payment's own expiry closes it. A timer due before it (another process's clock
    // ahead of ours, or a create that lost a race and left a timer of its own) is moved to the
    // payment's expiry, never dropped. The next round makes it a new message: the original
    // expiry timer has the same due time, and the stream would take this one for its duplicate.
    if (Date.parse(state.expires_at) > this.deps.now().getTime()) {
      await this.deps.timers.schedule({ kind: 'expire', payment_id: state.payment_id, due_at: state.expires_at, round: round + 1 });
      return state;
    }
    return this.#close(actor, 'expired');
  }

  /** A verified provider callback that arrived on `channel_id`: it may only move an attempt
   * sent to that channel. */
  async #notification(actor: Actor, channel_id: string, attempt_id: string, status: AttemptStatus): Promise<PaymentState> {
    await this.#journal.apply(actor, { type: 'attempt_status', at: this.deps.now().toISOString(), attempt_id, status, source: 'notification', via_channel_id: channel_id });
    await this.#refunds.refundDuplicates(actor);
    return requireState(actor);
  }

  /** The payer's answer to a step-up (the SMS code of UnionPay quick pay). */
  async #confirm(actor: Actor, merchant_id: string, verification_code: string): Promise<PaymentState> {
    const state = requireState(actor);
    const attempt = currentAttempt(state);
    if (state.status !== 'REQUIRES_ACTION' || state.next_action?.type !== 'SMS_CODE' || attempt?.state !== 'action_required') {
      throw new PaycoreError('ILLEGAL_STATE', `payment is ${state.status}: only a payment waiting for an SMS code can be confirmed`);
    }
    const status = await this.#calls.confirm(state, attempt, verification_code);
    if (status === 'wrong_code') return this.#wrongCode(actor, merchant_id, attempt.attempt_id);
    if (status !== undefined) await this.#journal.apply(actor, { type: 'attempt_status', at: this.deps.now().toISOString(), merchant_id, attempt_id: attempt.attempt_id, status, source: 'confirm' });
    return requireState(actor);
  }

  /** A wrong code: counted; while tries are left the caller hears INVALID_FIELD naming the
   * code and the payment keeps waiting; the last one fails the attempt (the payment FAILED). */
  async #wrongCode(actor: Actor, merchant_id: string, attempt_id: string): Promise<PaymentState> {
    await this.#journal.apply(actor, { type: 'code_rejected', at: this.deps.now().toISOString(), merchant_id, attempt_id, wrong_codes_max: confirm_wrong_codes_max });
    const after = requireState(actor);
    const attempt = after.attempts.find((a) => a.attempt_id === attempt_id);
    if (attempt?.state !== 'action_required') return after;
    throw invalidFields([{ field: 'verification_code', description: `is not the code sent to the payer; ${confirm_wrong_codes_max - (attempt.wrong_codes ?? 0)} tries left` }]);
  }

  /** A pending-attempt query (timer): settles what the channel knows, drives on what we
   * left unfinished (a close, an attempt whose call died with its process), and plans the
   * next query while the payment stays open. */
  async #query(actor: Actor, round: number): Promise<PaymentState> {
    const state = requireState(actor);
    if (!isOpen(state)) return state;
    if (state.closing !== undefined) {
      await this.#driveClose(actor);
    } else {
      const attempt = currentAttempt(state);
      if (attempt !== undefined) await this.#queryAttempt(actor, attempt);
    }
    const after = requireState(actor);
    if (isOpen(after)) await this.#scheduleQuery(actor.payment_id, round + 1, this.deps.now(), after.expires_at);
    return after;
  }

  // ---- channel effects ------------------------------------------------------------------

  /** Calls the channel's create for the attempt and applies its answer. With `deadline_ms`
   * (a caller waits: CreatePayment), a channel that has not answered by then leaves the turn
   * answering the pending payment (next action POLL); its answer, when it comes, is applied
   * by a later turn of this mailbox (pay_outcome), and the pending-attempt queries settle it
   * if it never comes. */
  async #pay(actor: Actor, attempt: Attempt, payer: PayerElements, deadline_ms?: number): Promise<void> {
    const call = this.#calls.pay(requireState(actor), attempt, payer);
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
          .then((late) => this.handle({ type: 'pay_outcome', payment_id: actor.payment_id, attempt_id: attempt.attempt_id, ...(late === undefined ? {} : { status: toWireStatus(late) }) }))
          .finally(() => this.#creates_in_flight.delete(attempt.attempt_id));
        return;
      }
      status = answered.value;
    }
    await this.#afterPay(actor, attempt, payer, status);
  }

  /** A create's answer that came after its caller was answered (see #pay). */
  async #payOutcome(actor: Actor, attempt_id: string, status: WireAttemptStatus | undefined): Promise<PaymentState> {
    const state = requireState(actor);
    const attempt = state.attempts.find((a) => a.attempt_id === attempt_id);
    // Ambiguous, or overtaken meanwhile (a callback, a query): nothing to add.
    if (status === undefined || attempt === undefined || attempt.state !== 'requested' || !isOpen(state)) return state;
    await this.#afterPay(actor, attempt, this.deps.sealer.open<PayerElements>(state.payer_sealed), fromWireStatus(status));
    return requireState(actor);
  }

  async #afterPay(actor: Actor, attempt: Attempt, payer: PayerElements, status: AttemptStatus | undefined): Promise<void> {
    if (status === undefined) return;
    // A call that failed before the channel accepted anything may go to the next channel.
    const failover = status.kind === 'failed' && status.code !== '' ? await this.#failoverRoute(actor, payer) : undefined;
    try {
      await this.#attemptStatus(actor, attempt.attempt_id, status, 'pay', failover);
    } catch (error) {
      // The failover's caps go back unless the log holds them (or cannot be read: the sweeper).
      if (failover !== undefined && !this.#journal.outcomeUnknown(error) && !holdsReservation(actor.loaded?.state, failover.reservation)) {
        await this.deps.channels.release(failover.reservation);
      }
      throw error;
    }
    const next = currentAttempt(requireState(actor));
    if (failover !== undefined && !holdsReservation(actor.loaded?.state, failover.reservation)) await this.deps.channels.release(failover.reservation);
    if (next !== undefined && next.attempt_id !== attempt.attempt_id && next.state === 'requested' && isOpen(requireState(actor))) {
      await this.#pay(actor, next, payer);
    }
  }

  /** The next-best channel for this payment, excluding every channel already tried. */
  async #failoverRoute(actor: Actor, payer: PayerElements): Promise<{ channel_id: string; fee_minor: bigint; reservation?: ReservationRef } | undefined> {
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
    const reservation = chosen.reservation === undefined ? undefined : { reservation_id: chosen.reservation.reservation_id, channel_id: chosen.reservation.channel_id };
    return { channel_id: chosen.channel_id, fee_minor: chosen.fee_minor, reservation };
  }

  async #queryAttempt(actor: Actor, attempt: Attempt): Promise<void> {
    const state = requireState(actor);
    const status = await this.#calls.query(state, attempt);
    if (status === undefined) return;
    await this.#attemptStatus(actor, attempt.attempt_id, status, 'query');
    await this.#refunds.refundDuplicates(actor);
    const after = requireState(actor);
    const still = after.attempts.find((a) => a.attempt_id === attempt.attempt_id);
    // The call that should have told us the next action died (crash, timeout): issue the
    // same attempt id again. The channel refuses a second order with it, so this cannot
    // charge twice; it only recovers the QR code, redirect or SDK parameters.
    if (isOpen(after) && still?.state === 'requested' && (status.kind === 'pending' || status.kind === 'not_found') && !this.#creates_in_flight.has(still.attempt_id)) {
      await this.#pay(actor, still, this.deps.sealer.open<PayerElements>(after.payer_sealed));
    }
  }

  async #driveClose(actor: Actor): Promise<void> {
    const state = requireState(actor);
    if (state.closing === undefined || !isOpen(state)) return;
    const attempt = currentAttempt(state);
    if (attempt === undefined) {
      await this.#journal.apply(actor, { type: 'close_result', at: this.deps.now().toISOString(), outcome: 'closed' });
      return;
    }
    const outcome = await this.#calls.close(state, attempt);
    if (outcome === undefined) {
      // Left closing; the next query timer drives the close again.
      const due_at = new Date(this.deps.now().getTime() + timer_retry_delay_ms).toISOString();
      await this.deps.timers.schedule({ kind: 'query', payment_id: actor.payment_id, due_at, round: 0 });
      return;
    }
    await this.#journal.apply(actor, { type: 'close_result', at: this.deps.now().toISOString(), outcome });
    if (outcome === 'already_paid') await this.#queryAttempt(actor, attempt);
  }

  async #attemptStatus(actor: Actor, attempt_id: string, status: AttemptStatus, source: 'pay' | 'query', failover?: { channel_id: string; fee_minor: bigint; reservation?: ReservationRef }): Promise<void> {
    try {
      await this.#journal.apply(actor, { type: 'attempt_status', at: this.deps.now().toISOString(), attempt_id, status, source, failover });
    } catch (error) {
      if (!(error instanceof PaycoreError) || error.reason !== 'ILLEGAL_STATE') throw error;
      this.deps.log.error({ payment_id: actor.payment_id, attempt_id, reason: error.message }, 'channel status not applicable; left for reconciliation');
    }
  }

  async #scheduleQuery(payment_id: string, round: number, now: Date, expires_at: string): Promise<void> {
    const due = nextQueryAt(now, round, this.deps.query_backoff_ms, expires_at);
    if (due !== undefined) await this.deps.timers.schedule({ kind: 'query', payment_id, due_at: due.toISOString(), round });
  }
}

function uniqueProblems(problems: readonly FieldViolation[]): FieldViolation[] {
  const seen = new Map<string, FieldViolation>();
  for (const problem of problems) if (!seen.has(problem.field)) seen.set(problem.field, problem);
  return [...seen.values()];
}

function failure(error: PaycoreError): ActorReply {
  return { ok: false, error: errorToWire(error) };
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

// Order actors: one per payment, one mailbox each, hosted in a bounded LRU per worker thread.
// A turn follows one fixed order — load → route → persist intent → call the channel → apply
// the result — and every state change goes through decide() and the event store.

import { context } from '@opentelemetry/api';
import { ChannelError, type AttemptRef, type AttemptStatus, type Channel, type PayerElements, type RefundStatus } from '../../channels/channel';
import {
  actors_live_max, append_conflict_retries_max, confirm_wrong_codes_max, command_start_margin_ms, attempts_per_payment_max, mailbox_depth_max, refund_count_max_default, refund_retries_max, refund_window_days_default, timer_retry_delay_ms,
} from '../constants';
import { encodeJsonString } from '../codec';
import { refundId, type IdKey } from '../ids';
import { PaycoreError, errorToWire, invalidFields, type FieldViolation } from '../errors';
import type { Logger } from '../log';
import { timed, type ActorMetrics } from '../metrics';
import type { Sealer } from '../seal';
import { SpanKind, inSpan } from '../tracing';
import { decide, scopeRejection } from './decide';
import { currentAttempt, evolve, findRefund, isOpen } from './evolve';
import { fromWireRefundStatus, fromWireStatus, toWireStatus, type WireAttemptStatus, requestMerchant, type ActorReply, type ActorRequest, type CreateInput, type RefundInput } from './protocol';
import type { RefundIndex } from './refund-index';
import type { ChannelDirectory } from '../routing/directory';
import type { RiskEngine } from '../risk/engine';
import type { HeldIndex } from '../risk/held';
import { review_seconds_default } from '../risk/rules';
import type { ReservationRef } from '../routing/types';
import { ConflictError, type EventStore, type Loaded } from './store';
import { nextQueryAt, type TimerScheduler } from './timers';
import type { Attempt, DuplicatePayment, PaymentCommand, PaymentEvent, PaymentState, Refund } from './types';

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

class Actor {
  loaded: Loaded | undefined;
  /** Whether `loaded` reflects the stream (false until the first load). */
  fresh = false;
  queued = 0;
  tail: Promise<unknown> = Promise.resolve();

  constructor(readonly payment_id: string) {}
}

export class ActorSystem {
  readonly #actors = new Map<string, Actor>();
  /** Attempts whose channel create is still in flight after its caller was answered (see
   * #pay): a query meanwhile must not issue it again — the provider would only see the same
   * request twice, and a slow provider more load. */
  readonly #creates_in_flight = new Set<string>();

  constructor(private readonly deps: ActorDeps) {}

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
      if ((!actor.fresh || actor.loaded === undefined) && request.type !== 'create') await this.#reload(actor);
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

  async #reload(actor: Actor): Promise<void> {
    actor.loaded = await this.deps.store.load(actor.payment_id);
    actor.fresh = true;
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
        if (request.kind === 'refund') return this.#refundFollowUp(actor, request.refund_id ?? '', request.round ?? 0);
        return request.kind === 'expire' ? this.#expire(actor, request.round ?? 0) : this.#query(actor, request.round ?? 0);
      case 'confirm':
        return this.#confirm(actor, request.merchant_id, request.verification_code);
      case 'create_refund':
        return this.#createRefund(actor, request.merchant_id, request.input);
      case 'refund_notification':
        return this.#refundNotification(actor, request.channel_id, request.refund_id, fromWireRefundStatus(request.status));
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
      await this.#apply(actor, this.#createCommand(actor.payment_id, input, now, '', ''));
      return requireState(actor);
    }
    const risk = await this.#assessRisk(actor.payment_id, input);
    if (risk?.review !== undefined) return this.#hold(actor, input, now, risk.review);
    const refusal = risk?.refusal;
    if (refusal !== undefined) {
      // A replay of a payment created before the rules changed answers with that payment.
      await this.#reload(actor);
      if (actor.loaded === undefined) throw refusal;
      await this.#apply(actor, this.#createCommand(actor.payment_id, input, now, '', ''));
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
      created = await this.#apply(actor, command);
    } catch (error) {
      // Released only when the log is known not to hold it; an unknown outcome is left to the
      // reservation sweeper, which reads the log later.
      if (!outcome_unknown.has(error as object)) await this.deps.channels.release(reservation);
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
    if (await this.#apply(actor, command)) {
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
      await this.#apply(actor, { type: 'release_hold', at: now.toISOString(), channel_id: chosen.channel_id, fee_minor: chosen.fee_minor, reservation });
    } catch (error) {
      if (!outcome_unknown.has(error as object)) await this.deps.channels.release(reservation);
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
    await this.#apply(actor, { type: 'close', at: this.deps.now().toISOString(), reason, merchant_id });
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
    await this.#apply(actor, { type: 'attempt_status', at: this.deps.now().toISOString(), attempt_id, status, source: 'notification', via_channel_id: channel_id });
    await this.#refundDuplicates(actor);
    return requireState(actor);
  }

  /** The payer's answer to a step-up (the SMS code of UnionPay quick pay). */
  async #confirm(actor: Actor, merchant_id: string, verification_code: string): Promise<PaymentState> {
    const state = requireState(actor);
    const attempt = currentAttempt(state);
    if (state.status !== 'REQUIRES_ACTION' || state.next_action?.type !== 'SMS_CODE' || attempt?.state !== 'action_required') {
      throw new PaycoreError('ILLEGAL_STATE', `payment is ${state.status}: only a payment waiting for an SMS code can be confirmed`);
    }
    const channel = this.#channel(attempt.channel_id);
    const confirm = channel.confirm?.bind(channel);
    if (confirm === undefined) throw new PaycoreError('ILLEGAL_STATE', `channel ${attempt.channel_id} has no step-up to confirm`);
    let status: AttemptStatus | undefined;
    try {
      status = await this.#call(attempt.channel_id, 'confirm', () =>
        confirm({
          attempt: attemptRef(state, attempt),
          verification_code,
          payer: this.deps.sealer.open<PayerElements>(state.payer_sealed),
          amount_minor: state.amount_minor,
          notify_url: this.deps.channels.notifyUrl(attempt.channel_id),
          expires_at: new Date(state.expires_at),
        }),
      );
    } catch (error) {
      if (error instanceof ChannelError && error.kind === 'rejected' && error.code === 'WRONG_CODE') return this.#wrongCode(actor, merchant_id, attempt.attempt_id);
      status = this.#failedCall(actor, 'confirm', error);
    }
    if (status !== undefined) await this.#apply(actor, { type: 'attempt_status', at: this.deps.now().toISOString(), merchant_id, attempt_id: attempt.attempt_id, status, source: 'confirm' });
    return requireState(actor);
  }

  /** A wrong code: counted; while tries are left the caller hears INVALID_FIELD naming the
   * code and the payment keeps waiting; the last one fails the attempt (the payment FAILED). */
  async #wrongCode(actor: Actor, merchant_id: string, attempt_id: string): Promise<PaymentState> {
    await this.#apply(actor, { type: 'code_rejected', at: this.deps.now().toISOString(), merchant_id, attempt_id, wrong_codes_max: confirm_wrong_codes_max });
    const after = requireState(actor);
    const attempt = after.attempts.find((a) => a.attempt_id === attempt_id);
    if (attempt?.state !== 'action_required') return after;
    throw invalidFields([{ field: 'verification_code', description: `is not the code sent to the payer; ${confirm_wrong_codes_max - (attempt.wrong_codes ?? 0)} tries left` }]);
  }

  // ---- refunds --------------------------------------------------------------------------

  async #createRefund(actor: Actor, merchant_id: string, input: RefundInput): Promise<PaymentState> {
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
      await this.#scheduleRefund(state.payment_id, input.refund_id, 0, now); // before the intent: a crash still follows up
      created = await this.#apply(actor, command);
    } finally {
      // Refused after all (another writer moved first): give the merchant's key back.
      if (!created && findRefund(actor.loaded?.state ?? state, input.refund_id) === undefined) await this.deps.refund_index.release(input.refund_id, state.payment_id);
    }
    const refund = findRefund(requireState(actor), input.refund_id);
    if (refund?.state === 'PENDING') await this.#submitRefund(actor, refund);
    return requireState(actor);
  }

  /** Opens the automatic refund of every recorded duplicate payment that has none yet. */
  async #refundDuplicates(actor: Actor): Promise<void> {
    for (const duplicate of requireState(actor).duplicates) {
      const state = requireState(actor);
      if (duplicateRefunded(state, duplicate)) continue;
      // One refund per provider transaction: an attempt paid twice holds two duplicates.
      const refund_id = refundId(this.deps.id_key, state.merchant_id, `#duplicate:${duplicate.attempt_id}:${duplicate.channel_trade_no}`);
      await this.deps.refund_index.claim(refund_id, state.payment_id);
      const now = this.deps.now();
      await this.#scheduleRefund(state.payment_id, refund_id, 0, now);
      await this.#apply(actor, { type: 'refund_duplicate', at: now.toISOString(), refund_id, attempt_id: duplicate.attempt_id, channel_trade_no: duplicate.channel_trade_no });
      const refund = findRefund(requireState(actor), refund_id);
      if (refund?.state === 'PENDING') await this.#submitRefund(actor, refund);
    }
  }

  async #submitRefund(actor: Actor, refund: Refund): Promise<void> {
    const state = requireState(actor);
    const attempt = state.attempts.find((a) => a.attempt_id === refund.attempt_id);
    const channel = this.#channel(refund.channel_id);
    let status: RefundStatus | undefined;
    try {
      status = await this.#call(refund.channel_id, 'refund', () =>
        channel.refund({
          refund_id: refund.refund_id,
          attempt: attempt === undefined ? { attempt_id: refund.attempt_id, payment_id: state.payment_id, product: state.product, amount_minor: state.amount_minor, currency: state.currency } : attemptRef(state, attempt),
          // A duplicate's refund names its own transaction, not the attempt's first one.
          channel_trade_no: refund.channel_trade_no ?? attempt?.channel_trade_no,
          requested_at: new Date(refund.created_at),
          amount_minor: refund.amount_minor,
          reason: refund.reason,
          notify_url: `${this.deps.channels.notifyUrl(refund.channel_id)}/refund`,
        }),
      );
    } catch (error) {
      status = refundCallFailure(error);
      if (status === undefined) this.deps.log.warn({ payment_id: state.payment_id, refund_id: refund.refund_id, err: describe(error) }, 'refund outcome unknown; will query');
    }
    if (status !== undefined) await this.#refundStatus(actor, refund.refund_id, status);
  }

  async #refundStatus(actor: Actor, refund_id: string, status: RefundStatus, via_channel_id?: string): Promise<void> {
    try {
      await this.#apply(actor, { type: 'refund_status', at: this.deps.now().toISOString(), refund_id, status, retries_max: refund_retries_max, via_channel_id });
    } catch (error) {
      if (!(error instanceof PaycoreError) || error.reason !== 'ILLEGAL_STATE') throw error;
      this.deps.log.error({ payment_id: actor.payment_id, refund_id, reason: error.message }, 'refund status not applicable; left for reconciliation');
    }
  }

  async #refundNotification(actor: Actor, channel_id: string, refund_id: string, status: RefundStatus): Promise<PaymentState> {
    const refund = findRefund(requireState(actor), refund_id);
    // A callback speaks only for the channel it arrived on (see #notification).
    if (refund === undefined || refund.channel_id !== channel_id) throw new PaycoreError('NOT_FOUND', `no refund ${refund_id} on payment ${actor.payment_id} via ${channel_id}`);
    await this.#refundStatus(actor, refund_id, status, channel_id);
    return requireState(actor);
  }

  /** A refund timer: asks the channel about a refund that is not settled, submits it again
   * when the channel never got it or a retryable failure is due, and plans the next one. */
  async #refundFollowUp(actor: Actor, refund_id: string, round: number): Promise<PaymentState> {
    const refund = findRefund(requireState(actor), refund_id);
    if (refund === undefined || (refund.state !== 'PENDING' && refund.state !== 'PROCESSING')) return requireState(actor);
    const state = requireState(actor);
    let status: RefundStatus | undefined;
    try {
      const channel = this.#channel(refund.channel_id);
      const paid_attempt = state.attempts.find((a) => a.attempt_id === refund.attempt_id);
      const attempt = paid_attempt === undefined ? { attempt_id: refund.attempt_id, payment_id: state.payment_id, product: state.product, amount_minor: state.amount_minor, currency: state.currency } : attemptRef(state, paid_attempt);
      status = await this.#call(refund.channel_id, 'query_refund', () => channel.queryRefund({ refund_id, attempt, requested_at: new Date(refund.created_at) }));
    } catch (error) {
      this.deps.log.warn({ payment_id: state.payment_id, refund_id, err: describe(error) }, 'refund query failed');
    }
    // Retryable failures are resubmitted with the same refund id; so is one the channel
    // never received. The channel refuses a second refund with the id.
    const resubmit = status?.kind === 'not_found' || (status === undefined && refund.failure !== undefined) || (status?.kind === 'failed' && status.retryable);
    if (status !== undefined && status.kind !== 'not_found') await this.#refundStatus(actor, refund_id, status);
    const after = findRefund(requireState(actor), refund_id);
    if (resubmit && after !== undefined && (after.state === 'PENDING' || after.state === 'PROCESSING')) await this.#submitRefund(actor, after);
    const settled = findRefund(requireState(actor), refund_id);
    if (settled !== undefined && (settled.state === 'PENDING' || settled.state === 'PROCESSING')) await this.#scheduleRefund(state.payment_id, refund_id, round + 1, this.deps.now());
    return requireState(actor);
  }

  async #scheduleRefund(payment_id: string, refund_id: string, round: number, now: Date): Promise<void> {
    const backoff = this.deps.refund_backoff_ms;
    const delay = backoff[Math.min(round, backoff.length - 1)] ?? 5_000;
    await this.deps.timers.schedule({ kind: 'refund', payment_id, refund_id, round, due_at: new Date(now.getTime() + delay).toISOString() });
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
    const call = this.#payCall(actor, attempt, payer);
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

  /** The channel's create: its status, or undefined when the outcome is unknown. */
  async #payCall(actor: Actor, attempt: Attempt, payer: PayerElements): Promise<AttemptStatus | undefined> {
    const state = requireState(actor);
    const channel = this.#channel(attempt.channel_id);
    try {
      return await this.#call(attempt.channel_id, 'pay', () => channel.pay({
        attempt_id: attempt.attempt_id,
        payment_id: state.payment_id,
        product: state.product,
        amount_minor: state.amount_minor,
        currency: state.currency,
        subject: state.subject,
        expires_at: new Date(state.expires_at),
        payer,
        notify_url: this.deps.channels.notifyUrl(attempt.channel_id),
        requested_at: attempt.requested_at === undefined ? undefined : new Date(attempt.requested_at),
      }));
    } catch (error) {
      return this.#failedCall(actor, 'pay', error);
    }
  }

  async #afterPay(actor: Actor, attempt: Attempt, payer: PayerElements, status: AttemptStatus | undefined): Promise<void> {
    if (status === undefined) return;
    // A call that failed before the channel accepted anything may go to the next channel.
    const failover = status.kind === 'failed' && status.code !== '' ? await this.#failoverRoute(actor, payer) : undefined;
    try {
      await this.#attemptStatus(actor, attempt.attempt_id, status, 'pay', failover);
    } catch (error) {
      // The failover's caps go back unless the log holds them (or cannot be read: the sweeper).
      if (failover !== undefined && !outcome_unknown.has(error as object) && !holdsReservation(actor.loaded?.state, failover.reservation)) {
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
    const channel = this.#channel(attempt.channel_id);
    let status: AttemptStatus;
    try {
      status = await this.#call(attempt.channel_id, 'query', () => channel.query(attemptRef(state, attempt)));
    } catch (error) {
      this.deps.log.warn({ payment_id: actor.payment_id, attempt_id: attempt.attempt_id, err: describe(error) }, 'attempt query failed');
      return;
    }
    await this.#attemptStatus(actor, attempt.attempt_id, status, 'query');
    await this.#refundDuplicates(actor);
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
      await this.#apply(actor, { type: 'close_result', at: this.deps.now().toISOString(), outcome: 'closed' });
      return;
    }
    let outcome: 'closed' | 'already_paid';
    try {
      const channel = this.#channel(attempt.channel_id);
      outcome = (await this.#call(attempt.channel_id, 'close', () => channel.close(attemptRef(state, attempt)))).kind;
    } catch (error) {
      if (error instanceof ChannelError && error.code === 'ORDER_NOT_EXIST') {
        outcome = 'closed'; // the channel never had the order: nothing left to close
      } else {
        // Left closing; the next query timer drives the close again.
        this.deps.log.warn({ payment_id: actor.payment_id, err: describe(error) }, 'channel close failed; will retry');
        const due_at = new Date(this.deps.now().getTime() + timer_retry_delay_ms).toISOString();
        await this.deps.timers.schedule({ kind: 'query', payment_id: actor.payment_id, due_at, round: 0 });
        return;
      }
    }
    await this.#apply(actor, { type: 'close_result', at: this.deps.now().toISOString(), outcome });
    if (outcome === 'already_paid') await this.#queryAttempt(actor, attempt);
  }

  /** Maps a failed channel call to what it proves: a refusal or a call that never left is a
   * failed attempt; anything ambiguous stays unknown and is settled by query. */
  #failedCall(actor: Actor, operation: string, error: unknown): AttemptStatus | undefined {
    if (error instanceof ChannelError && (error.kind === 'rejected' || error.kind === 'not_sent' || error.kind === 'unsupported')) {
      this.deps.log.info({ payment_id: actor.payment_id, operation, code: error.code, kind: error.kind }, 'channel refused the attempt');
      return { kind: 'failed', code: error.code, message: error.message };
    }
    this.deps.log.warn({ payment_id: actor.payment_id, operation, err: describe(error) }, 'channel outcome unknown; will query');
    return undefined;
  }

  async #attemptStatus(actor: Actor, attempt_id: string, status: AttemptStatus, source: 'pay' | 'query', failover?: { channel_id: string; fee_minor: bigint; reservation?: ReservationRef }): Promise<void> {
    try {
      await this.#apply(actor, { type: 'attempt_status', at: this.deps.now().toISOString(), attempt_id, status, source, failover });
    } catch (error) {
      if (!(error instanceof PaycoreError) || error.reason !== 'ILLEGAL_STATE') throw error;
      this.deps.log.error({ payment_id: actor.payment_id, attempt_id, reason: error.message }, 'channel status not applicable; left for reconciliation');
    }
  }

  // ---- persistence ----------------------------------------------------------------------

  /** decide → append, re-deciding on a fresh load when another writer moved first.
   * Returns whether this turn appended anything. */
  async #apply(actor: Actor, command: PaymentCommand): Promise<boolean> {
    for (let round = 0; ; round += 1) {
      const decision = decide(actor.loaded?.state, command);
      if ('rejection' in decision) throw new PaycoreError(decision.rejection.reason, decision.rejection.message);
      if (decision.events.length === 0) return false;
      const before = actor.loaded?.state;
      try {
        actor.loaded = await this.deps.store.append(actor.payment_id, actor.loaded, decision.events);
      } catch (error) {
        actor.fresh = false;
        if (error instanceof ConflictError) this.deps.metrics.conflicts.inc();
        if (!(error instanceof ConflictError)) {
          // The append's answer is lost, not necessarily the append: the log says which, and
          // the reservations follow what it recorded.
          const found = await this.#storedAnyway(actor, before, decision.events);
          if (found === 'unknown') outcome_unknown.add(error as object);
          if (found !== 'stored') throw error;
        } else if (round >= append_conflict_retries_max) {
          throw error;
        } else {
          await this.#reload(actor);
          continue;
        }
      }
      actor.fresh = true; // the append named the subject's last sequence: this is the stream's state
      const after = actor.loaded!.state;
      this.#countOutcome(before?.status, after);
      await this.#settleReservations(before, after, decision.events);
      if (before?.held !== undefined && (after.held === undefined || after.status === 'CLOSED')) {
        await this.deps.held?.remove(actor.payment_id).catch((error: Error) => this.deps.log.warn({ payment_id: actor.payment_id, err: error.message }, 'held-payment list not updated'));
      }
      for (const event of decision.events) this.deps.log.debug({ payment_id: actor.payment_id, event: event.type, status: after.status }, 'payment event');
      return true;
    }
  }

  /** After an append whose answer was lost: whether the log holds exactly these events after
   * `before` ('stored'), does not ('absent'), or cannot be read now ('unknown'). */
  async #storedAnyway(actor: Actor, before: PaymentState | undefined, events: readonly PaymentEvent[]): Promise<'stored' | 'absent' | 'unknown'> {
    let loaded: Loaded | undefined;
    try {
      loaded = await this.deps.store.load(actor.payment_id);
    } catch {
      return 'unknown';
    }
    actor.loaded = loaded;
    actor.fresh = true;
    if (loaded === undefined) return 'absent';
    let expected = before;
    for (const event of events) expected = evolve(expected, event);
    return encodeJsonString(loaded.state) === encodeJsonString(expected) ? 'stored' : 'absent';
  }

  async #scheduleQuery(payment_id: string, round: number, now: Date, expires_at: string): Promise<void> {
    const due = nextQueryAt(now, round, this.deps.query_backoff_ms, expires_at);
    if (due !== undefined) await this.deps.timers.schedule({ kind: 'query', payment_id, due_at: due.toISOString(), round });
  }

  /** A channel call, timed, labelled by what its outcome proves, and fed to the channel's
   * live health (payment calls only; not awaited, so health never slows a payment). */
  #call<T>(channel_id: string, operation: string, step: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const started_at = this.deps.now();
    return inSpan(`channel ${operation}`, SpanKind.CLIENT, context.active(), (span) => {
      span.setAttribute('paycore.channel', channel_id);
      return timed(this.deps.metrics.channel_calls, { channel: channel_id, operation }, step, (_result, error) => {
        const kind = healthOutcome(error);
        if ((operation === 'pay' || operation === 'query') && kind !== undefined) {
          // Creates and queries are judged apart (a hung create's queries succeed), and a
          // half-open circuit hears only of calls started after it became half-open.
          void this.deps.channels.recordOutcome(channel_id, { kind, latency_ms: performance.now() - started, operation: operation === 'query' ? 'query' : 'create', started_at });
        }
        return error === undefined ? 'ok' : error instanceof ChannelError ? error.kind : 'error';
      });
    });
  }

  /** Caps held by an attempt are committed when it is paid and released when it fails or
   * its payment closes. Idempotent in Redis, so a repeat after a crash does no harm. */
  async #settleReservations(before: PaymentState | undefined, after: PaymentState, events: readonly PaymentEvent[]): Promise<void> {
    for (const event of events) {
      if (event.type === 'AttemptSucceeded') await this.deps.channels.commit(after.attempts.find((a) => a.attempt_id === event.attempt_id)?.reservation);
      if (event.type === 'AttemptFailed') await this.deps.channels.release(after.attempts.find((a) => a.attempt_id === event.attempt_id)?.reservation);
      if (event.type === 'PaymentClosed' && before !== undefined) await this.deps.channels.release(currentAttempt(before)?.reservation);
    }
  }

  #countOutcome(before: PaymentState['status'] | undefined, after: PaymentState): void {
    if (before === after.status || (after.status !== 'SUCCEEDED' && after.status !== 'FAILED' && after.status !== 'CLOSED')) return;
    const channel = after.attempts.find((a) => a.attempt_id === after.winning_attempt_id) ?? currentAttempt(after);
    this.deps.metrics.payments.inc({ product: after.product, channel: channel?.channel_id ?? 'none', status: after.status });
    // The completion SLI (ops/slo.md): how long a payer who paid waited for SUCCEEDED. The
    // provider's clock may run ahead of ours; a negative wait is counted as none.
    const paid_ms = after.status === 'SUCCEEDED' && after.paid_at !== undefined ? Date.parse(after.paid_at) : NaN;
    if (Number.isFinite(paid_ms)) {
      this.deps.metrics.completion.observe({ channel: channel?.channel_id ?? 'none' }, Math.max(0, (this.deps.now().getTime() - paid_ms) / 1000));
    }
  }

  #channel(channel_id: string): Channel {
    const channel = this.deps.channels.get(channel_id);
    if (channel === undefined) throw new PaycoreError('INTERNAL', `channel ${channel_id} is not configured here`);
    return channel;
  }
}

/** Whether a duplicate payment already has its refund. Refunds opened before duplicates were
 * told apart by transaction carry no channel_trade_no and cover their attempt's first one. */
function duplicateRefunded(state: PaymentState, duplicate: DuplicatePayment): boolean {
  const first_on_attempt = state.duplicates.find((d) => d.attempt_id === duplicate.attempt_id);
  return state.refunds.some((r) => r.kind === 'duplicate' && r.attempt_id === duplicate.attempt_id
    && (r.channel_trade_no === undefined ? first_on_attempt === duplicate : r.channel_trade_no === duplicate.channel_trade_no));
}

/** Errors after which the log could not be read to tell whether an append was stored. */
const outcome_unknown = new WeakSet<object>();

/** Whether some attempt of the recorded payment holds this reservation. */
function holdsReservation(state: PaymentState | undefined, reservation: ReservationRef | undefined): boolean {
  if (reservation === undefined) return true; // nothing to release
  return state?.attempts.some((a) => a.reservation?.reservation_id === reservation.reservation_id) === true;
}

function uniqueProblems(problems: readonly FieldViolation[]): FieldViolation[] {
  const seen = new Map<string, FieldViolation>();
  for (const problem of problems) if (!seen.has(problem.field)) seen.set(problem.field, problem);
  return [...seen.values()];
}

function requireState(actor: Actor): PaymentState {
  const state = actor.loaded?.state;
  if (state === undefined) throw new PaycoreError('NOT_FOUND', `no payment ${actor.payment_id}`);
  return state;
}

function attemptRef(state: PaymentState, attempt: Attempt): AttemptRef {
  const ref: AttemptRef = { attempt_id: attempt.attempt_id, payment_id: state.payment_id, product: state.product, amount_minor: state.amount_minor, currency: state.currency };
  if (attempt.requested_at !== undefined) ref.requested_at = new Date(attempt.requested_at);
  return ref;
}

/** How a channel call counts for the channel's health (undefined: not at all). */
function healthOutcome(error: unknown): 'success' | 'payer_decline' | 'system_error' | 'timeout' | undefined {
  if (error === undefined) return 'success';
  if (!(error instanceof ChannelError)) return 'system_error';
  switch (error.kind) {
    case 'unsupported':
    case 'bad_signature':
      return undefined;
    case 'ambiguous':
      return error.code === 'TIMEOUT' ? 'timeout' : 'system_error';
    case 'not_sent':
      return 'system_error';
    case 'rejected':
      // The adapter classified its provider's code: a payer's refusal says nothing of the channel.
      return error.payer_decline ? 'payer_decline' : 'system_error';
  }
}

/** What a failed refund call proves. A call that never left may be tried again; a refusal
 * is final; a channel that cannot refund by API needs a manual payout; anything ambiguous
 * is settled by query (undefined). */
function refundCallFailure(error: unknown): RefundStatus | undefined {
  if (!(error instanceof ChannelError)) return undefined;
  switch (error.kind) {
    case 'not_sent':
      return { kind: 'failed', code: error.code, message: error.message, retryable: true };
    case 'rejected':
      return { kind: 'failed', code: error.code, message: error.message, retryable: false };
    case 'unsupported':
      return { kind: 'requires_manual', code: error.code, message: error.message };
    default:
      return undefined;
  }
}

function failure(error: PaycoreError): ActorReply {
  return { ok: false, error: errorToWire(error) };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
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

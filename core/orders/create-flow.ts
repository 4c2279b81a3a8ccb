// Creating a payment in its actor: risk before routing, a payment held for review, routing
// with a reservation of the channel's caps, the expiry and first query on durable timers
// before the intent is appended (write-ahead), then the channel's create (PaymentFlow.pay).
// Also an operator's release of a held payment, which routes and sends it then.

import type { PayerElements } from '../../channels/channel';
import { PaycoreError, invalidFields, type FieldViolation } from '../errors';
import type { Logger } from '../log';
import type { RiskAssessed, RiskEngine } from '../risk/engine';
import type { HeldIndex } from '../risk/held';
import { review_seconds_default } from '../risk/rules';
import type { ChannelDirectory } from '../routing/directory';
import type { ReservationRef } from '../routing/types';
import type { Sealer } from '../seal';
import { requireState, type Actor } from './actor-state';
import { currentAttempt, isOpen } from './evolve';
import type { Journal } from './journal';
import type { PaymentFlow } from './payment-flow';
import type { CreateInput } from './protocol';
import type { TimerScheduler } from './timers';
import type { PaymentCommand, PaymentState } from './types';

type Chosen = NonNullable<Awaited<ReturnType<ChannelDirectory['route']>>['chosen']>;
type Review = { rules: string[]; review_seconds: number };
type Assessed = { refusal?: PaycoreError; review?: Review; event: RiskAssessed };
/** What PaymentCreated carries of the decision that let it be created. */
type RiskOfCreation = Extract<PaymentCommand, { type: 'create' }>['risk'];

export interface CreateFlowDeps {
  journal: Journal;
  payments: Pick<PaymentFlow, 'pay'>;
  channels: Pick<ChannelDirectory, 'route' | 'release' | 'merchantFee' | 'createDeadlineMs'>;
  timers: Pick<TimerScheduler, 'schedule'>;
  sealer: Pick<Sealer, 'seal' | 'open'>;
  /** The risk decision before routing (core/risk); absent: every payment is allowed. */
  risk?: Pick<RiskEngine, 'decide' | 'record'>;
  /** The list of payments held for review (core/risk/held.ts). */
  held?: Pick<HeldIndex, 'add'>;
  log: Logger;
  now(): Date;
}

export class CreateFlow {
  constructor(private readonly deps: CreateFlowDeps) {}

  async create(actor: Actor, input: CreateInput): Promise<PaymentState> {
    const now = this.deps.now();
    if (!actor.fresh) actor.loaded = undefined; // unknown: try the creation, a conflict tells
    if (actor.loaded?.state !== undefined) return this.#replay(actor, input, now);
    const risk = await this.#assessRisk(actor.payment_id, input);
    const review = risk?.review;
    if (review !== undefined) {
      await this.#onRecord(risk, () => this.#hold(actor, input, now, review, riskOf(risk?.event)));
      return requireState(actor);
    }
    const refusal = risk?.refusal;
    if (refusal !== undefined) {
      // A refusal is on record before it is answered.
      await this.deps.risk!.record(risk!.event);
      // A replay of a payment created before the rules changed answers with that payment.
      await this.deps.journal.reload(actor);
      if (actor.loaded === undefined) throw refusal;
      return this.#replay(actor, input, now);
    }
    await this.#onRecord(risk, async () => {
      const chosen = await this.#route(actor.payment_id, input, now);
      return this.#record(actor, input, now, chosen, riskOf(risk?.event));
    });
    const attempt = currentAttempt(requireState(actor));
    if (attempt !== undefined && attempt.state === 'requested') await this.deps.payments.pay(actor, attempt, input.payer, this.deps.channels.createDeadlineMs(attempt.channel_id));
    return requireState(actor);
  }

  /** An operator released a held payment: routed now, and sent to its channel. */
  async releaseHold(actor: Actor): Promise<PaymentState> {
    const state = requireState(actor);
    if (state.held === undefined || !isOpen(state)) throw new PaycoreError('ILLEGAL_STATE', `payment ${state.payment_id} is ${state.status} and not held for review`);
    const payer = this.deps.sealer.open<PayerElements>(state.payer_sealed);
    const now = this.deps.now();
    const decision = await this.deps.channels.route({
      payment_id: state.payment_id, merchant_id: state.merchant_id, product: state.product, amount_minor: state.amount_minor, currency: state.currency,
      payer_elements_present: Object.keys(payer), card_token: payer.card_token, include_channels: state.include_channels,
      exclude_channels: state.exclude_channels, now,
    }, payer);
    const chosen = decision.chosen;
    if (chosen === undefined) throw new PaycoreError('NO_ROUTE', `no channel can take ${state.product} ${state.currency} now; the payment stays held, release it again later`);
    const reservation = reservationOf(chosen);
    try {
      await this.deps.journal.apply(actor, { type: 'release_hold', at: now.toISOString(), channel_id: chosen.channel_id, fee_minor: chosen.fee_minor, reservation });
    } catch (error) {
      if (!this.deps.journal.outcomeUnknown(error)) await this.deps.channels.release(reservation);
      throw error;
    }
    const attempt = currentAttempt(requireState(actor));
    if (attempt !== undefined && attempt.state === 'requested') await this.deps.payments.pay(actor, attempt, payer, this.deps.channels.createDeadlineMs(attempt.channel_id));
    return requireState(actor);
  }

  /** A create of a payment that exists: decide answers (a replay) or refuses (a conflict). */
  async #replay(actor: Actor, input: CreateInput, now: Date): Promise<PaymentState> {
    await this.deps.journal.apply(actor, this.#createCommand(actor.payment_id, input, now, '', ''));
    return requireState(actor);
  }

  /** The channel for a new payment, with its reservation; refused when there is none. */
  async #route(payment_id: string, input: CreateInput, now: Date): Promise<Chosen> {
    const decision = await this.deps.channels.route({
      payment_id,
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
    return chosen;
  }

  /** Runs `creating`, which appends the creation carrying the risk decision; a decision that
   * did not end up in a creation of ours (no route, an append that failed, a payment that
   * existed) is published on its own subject: every assessment stays on record. */
  async #onRecord(risk: Assessed | undefined, creating: () => Promise<boolean>): Promise<void> {
    let created: boolean;
    try {
      created = await creating();
    } catch (error) {
      if (risk !== undefined) {
        await this.deps.risk!.record(risk.event).catch((failure: Error) => this.deps.log.warn({ payment_id: risk.event.payment_id, err: failure.message }, 'risk decision not published'));
      }
      throw error;
    }
    if (!created && risk !== undefined) await this.deps.risk!.record(risk.event);
  }

  /** The payment and its first attempt (the write-ahead of the channel's create) in one
   * append; the reservation goes back unless the log holds it. No timer is published: the
   * expiry and the first query are facts of the creation message, which the creation timers'
   * consumer holds until they are due (workers/timer-pump.ts startEventTimers) — a payment that
   * exists always has them. */
  async #record(actor: Actor, input: CreateInput, now: Date, chosen: Chosen, risk: RiskOfCreation): Promise<boolean> {
    const reservation = reservationOf(chosen);
    const expires_at = new Date(now.getTime() + input.expire_seconds * 1000);
    let created: boolean;
    try {
      const command = {
        ...this.#createCommand(actor.payment_id, input, now, expires_at.toISOString(), chosen.channel_id, chosen.fee_minor, reservation),
        merchant_fee_minor: this.deps.channels.merchantFee(input.merchant_id, input.product, input.amount_minor),
        ...(risk === undefined ? {} : { risk }),
      };
      created = await this.deps.journal.apply(actor, command);
    } catch (error) {
      // Released only when the log is known not to hold it; an unknown outcome is left to the
      // reservation sweeper, which reads the log later.
      if (!this.deps.journal.outcomeUnknown(error)) await this.deps.channels.release(reservation);
      throw error;
    }
    if (!created) await this.deps.channels.release(reservation); // an existing payment: nothing of ours holds it
    return created;
  }

  /** Risk before routing: a blocked payment reserves nothing, stores nothing and reaches no
   * channel. Its decision is an event and a metric (core/risk) either way. */
  async #assessRisk(payment_id: string, input: CreateInput): Promise<Assessed | undefined> {
    if (this.deps.risk === undefined) return undefined;
    const decision = await this.deps.risk.decide({
      payment_id,
      merchant_id: input.merchant_id,
      product: input.product,
      amount_minor: input.amount_minor,
      payer: input.payer,
    });
    // The rules that fired are the operator's (RiskAssessed names them); the caller learns
    // only that risk control refused, not which limit to stay under.
    const event = decision.event;
    if (decision.action === 'block') return { event, refusal: new PaycoreError('RISK_BLOCKED', 'the payment was refused by risk control; nothing was stored or sent') };
    if (decision.action === 'review') {
      return { event, review: { rules: decision.fired.filter((f) => f.action === 'review').map((f) => f.rule_id), review_seconds: decision.review_seconds ?? review_seconds_default } };
    }
    // Step up: UnionPay quick pay challenges every payment with the cardholder's SMS code
    // already (ConfirmPayment), so it goes on; a product with no challenge to ask for is held
    // for an operator instead — the stricter of the two, never a silent allow.
    if (decision.action === 'step_up' && input.product !== 'UNIONPAY_QUICK') {
      return { event, review: { rules: decision.fired.filter((f) => f.action === 'step_up').map((f) => f.rule_id), review_seconds: review_seconds_default } };
    }
    return { event };
  }

  /** Held for an operator: stored (status CREATED, `held` set) with its expiry and its review
   * deadline on durable timers; nothing routed, reserved or sent until it is released. */
  async #hold(actor: Actor, input: CreateInput, now: Date, review: Review, risk: RiskOfCreation): Promise<boolean> {
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
      ...(risk === undefined ? {} : { risk }),
    };
    const created = await this.deps.journal.apply(actor, command);
    if (created) {
      const state = requireState(actor);
      await this.deps.held?.add({
        payment_id: state.payment_id, merchant_id: state.merchant_id, product: state.product, amount_minor: state.amount_minor.toString(),
        currency: state.currency,
        rules: review.rules, held_at: state.created_at, review_expires_at: review_expires_at.toISOString(),
      }).catch((error: Error) => this.deps.log.warn({ payment_id: state.payment_id, err: error.message }, 'held-payment list not updated'));
    }
    return created;
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
}

/** The reservation as the log records it (routing's carries the amounts too). */
function reservationOf(chosen: Chosen): ReservationRef | undefined {
  return chosen.reservation === undefined ? undefined : { reservation_id: chosen.reservation.reservation_id, channel_id: chosen.reservation.channel_id };
}

/** The decision as PaymentCreated carries it (the rest of RiskAssessed is the creation's own). */
function riskOf(event: RiskAssessed | undefined): RiskOfCreation {
  return event === undefined ? undefined : { action: event.action, fired: event.fired.map((f) => ({ ...f })) };
}

function uniqueProblems(problems: readonly FieldViolation[]): FieldViolation[] {
  const seen = new Map<string, FieldViolation>();
  for (const problem of problems) if (!seen.has(problem.field)) seen.set(problem.field, problem);
  return [...seen.values()];
}

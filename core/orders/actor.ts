// Order actors: one per payment, one mailbox each, hosted in a bounded LRU per worker thread.
// This module is the mailbox: one writer per order, actors loaded and cached, each order's
// commands run one at a time in arrival order, each dispatched to its flow. A turn follows one
// fixed order — load → route → persist intent → call the channel → apply the result — and every
// state change goes through decide() and the event store:
//   create-flow.ts   risk, holds, routing, write-ahead of a new payment
//   payment-flow.ts  the channel's create, failover, step-up, callbacks, queries, expiry, close
//   refund-flow.ts   refunds, duplicate refunds, refund callbacks and follow-ups
//   channel-calls.ts the channel-call step (request, timing, health, what a failure proves)
//   journal.ts       the append step (decide → append with OCC, then what the log recorded)

import { actor_thread_commands_max_default, actors_live_max, command_start_margin_ms, mailbox_depth_max, overloaded_retry_after_ms } from '../constants';
import type { IdKey } from '../ids';
import { PaycoreError, errorToWire } from '../errors';
import type { Logger } from '../log';
import type { ActorMetrics } from '../metrics';
import type { Sealer } from '../seal';
import type { RiskEngine } from '../risk/engine';
import type { HeldIndex } from '../risk/held';
import type { ChannelDirectory } from '../routing/directory';
import { Actor, describe, requireState } from './actor-state';
import { ChannelCalls } from './channel-calls';
import { CreateFlow } from './create-flow';
import { scopeRejection } from './decide';
import { Journal } from './journal';
import { PaymentFlow } from './payment-flow';
import { fromWireRefundStatus, fromWireStatus, requestMerchant, unownedReply, type ActorReply, type ActorRequest } from './protocol';
import { RefundFlow } from './refund-flow';
import type { RefundIndex } from './refund-index';
import type { EventStore } from './store';
import type { TimerScheduler } from './timers';
import type { PaymentState } from './types';

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
  risk?: Pick<RiskEngine, 'decide' | 'record'>;
  /** The list of payments held for review (core/risk/held.ts). */
  held?: Pick<HeldIndex, 'add' | 'remove'>;
  /** Commands this thread holds at once, every mailbox together (default
   * actor_thread_commands_max_default), and idle actors kept cached (default actors_live_max). */
  bounds?: { commands_max?: number; live_max?: number };
  now(): Date;
  /** The lease epoch of the payment's shard while this thread may run its commands, undefined
   * once it may not (workers/leases.ts). An actor cached under another epoch is reloaded: the
   * shard was held elsewhere in between. Absent: every shard is this thread's. */
  owner?(payment_id: string): number | undefined;
}

/** The flows a turn dispatches to, wired once from the system's dependencies. */
interface Flows {
  journal: Journal;
  creates: CreateFlow;
  payments: PaymentFlow;
  refunds: RefundFlow;
}

export class ActorSystem {
  readonly #actors = new Map<string, Actor>();
  readonly #flows: Flows;
  readonly #commands_max: number;
  readonly #live_max: number;
  /** Commands queued or running in every mailbox of this system. */
  #commands = 0;

  constructor(private readonly deps: ActorDeps) {
    // A late channel answer (pay_outcome) is work this thread already holds: never refused.
    this.#flows = wireFlows(deps, (request) => this.#enqueue(request, false));
    this.#commands_max = deps.bounds?.commands_max ?? actor_thread_commands_max_default;
    this.#live_max = deps.bounds?.live_max ?? actors_live_max;
  }

  /** Actors cached (idle or busy). */
  get live(): number {
    return this.#actors.size;
  }

  /** Commands queued or running, every mailbox together. */
  get commands(): number {
    return this.#commands;
  }

  /** Runs one request in its actor's mailbox, after every request queued before it. Refused
   * at once (OVERLOADED, with a retry hint) when the thread or the mailbox is full. */
  handle(request: ActorRequest): Promise<ActorReply> {
    return this.#enqueue(request, true);
  }

  #enqueue(request: ActorRequest, refusable: boolean): Promise<ActorReply> {
    // Checked before the actor is looked up: a refused command loads and caches nothing.
    if (refusable && this.#commands >= this.#commands_max) {
      return this.#refuse(request, `this actor thread holds ${this.#commands} commands, its bound; retry with the same key`);
    }
    const actor = this.#actor(request.payment_id);
    if (refusable && actor.queued >= mailbox_depth_max) {
      return this.#refuse(request, `payment ${request.payment_id} has ${actor.queued} commands queued; retry with the same key`);
    }
    actor.queued += 1;
    this.#commands += 1;
    this.deps.metrics.mailbox_depth.inc();
    const turn = actor.tail.then(() => this.#turn(actor, request));
    actor.tail = turn.catch(() => undefined).finally(() => {
      actor.queued -= 1;
      this.#commands -= 1;
      this.deps.metrics.mailbox_depth.dec();
    });
    void turn.then((reply) => this.deps.metrics.commands.inc({ type: request.type, result: reply.ok ? 'ok' : reply.error.reason }));
    return turn;
  }

  /** Drops the idle cached actors `match` selects (a shard this thread no longer holds). */
  forget(match: (payment_id: string) => boolean): void {
    for (const [id, actor] of this.#actors) if (actor.queued === 0 && match(id)) this.#actors.delete(id);
    this.deps.metrics.actors_live.set(this.#actors.size);
  }

  /** OVERLOADED with the retry hint, counted like a turn's result (commands_total). */
  #refuse(request: ActorRequest, message: string): Promise<ActorReply> {
    this.deps.metrics.commands.inc({ type: request.type, result: 'OVERLOADED' });
    return Promise.resolve(failure(new PaycoreError('OVERLOADED', message, [], { retry_after_ms: String(overloaded_retry_after_ms) })));
  }

  #actor(payment_id: string): Actor {
    let actor = this.#actors.get(payment_id);
    if (actor !== undefined) {
      this.#actors.delete(payment_id); // re-insert: Map order is the LRU order
      this.#actors.set(payment_id, actor);
      return actor;
    }
    // Room is made before the new actor goes in: evicting after would find it idle (its
    // command is not queued yet) and drop it when every older actor is busy, and a second
    // command for the payment would then open a second mailbox beside the first.
    this.#evict(this.#live_max - 1);
    actor = new Actor(payment_id);
    this.#actors.set(payment_id, actor);
    this.deps.metrics.actors_live.set(this.#actors.size);
    return actor;
  }

  /** Drops idle actors, least recently used first, down to `keep`. An actor with commands
   * stays (its mailbox is its order), so the cache holds at most max(live_max, commands
   * held) actors: the thread's command bound bounds it when every actor is busy. */
  #evict(keep: number): void {
    if (this.#actors.size <= keep) return;
    for (const [id, actor] of this.#actors) {
      if (this.#actors.size <= keep) return;
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
    // A command queued while the shard's lease was lost (or its release drained) is not run.
    if (this.deps.owner !== undefined) {
      const epoch = this.deps.owner(request.payment_id);
      if (epoch === undefined) return unownedReply(request.payment_id);
      if (epoch !== actor.epoch) {
        actor.epoch = epoch;
        actor.fresh = false;
      }
    }
    try {
      // A create for a payment this thread has not seen is almost always a new payment: it
      // appends with expected last sequence 0 straight away, and a conflict (it existed)
      // reloads and re-decides, so the common case saves a round trip.
      // "Absent" is never cached: another process may create the payment at any moment, and
      // a timer or call for it must then find it (re-checked against the log each time).
      if ((!actor.fresh || actor.loaded === undefined) && request.type !== 'create') await this.#flows.journal.reload(actor);
      // Before anything else: a merchant's call on a payment it does not own does nothing.
      const merchant_id = requestMerchant(request);
      if (merchant_id !== undefined && request.type !== 'create') {
        const rejection = scopeRejection(actor.loaded?.state, merchant_id);
        if (rejection !== undefined) throw new PaycoreError(rejection.reason, rejection.message);
      }
      const state = await this.#dispatch(actor, request);
      return { ok: true, payment: state };
    } catch (error) {
      return this.#failed(actor, error);
    }
  }

  /** A turn that threw: its error for the caller, and the cache marked stale when needed. */
  #failed(actor: Actor, error: unknown): ActorReply {
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

  #dispatch(actor: Actor, request: ActorRequest): Promise<PaymentState> {
    const { creates, payments, refunds } = this.#flows;
    switch (request.type) {
      case 'create':
        return creates.create(actor, request.input);
      case 'get':
        return Promise.resolve(requireState(actor));
      case 'close':
        return payments.close(actor, 'merchant', request.merchant_id);
      case 'notification':
        return payments.notification(actor, request.channel_id, request.attempt_id, fromWireStatus(request.status));
      case 'timer':
        if (request.kind === 'refund') return refunds.followUp(actor, request.refund_id ?? '', request.round ?? 0);
        return request.kind === 'expire' ? payments.expire(actor, request.round ?? 0) : payments.query(actor, request.round ?? 0);
      case 'confirm':
        return payments.confirm(actor, request.merchant_id, request.verification_code);
      case 'create_refund':
        return refunds.create(actor, request.merchant_id, request.input);
      case 'refund_notification':
        return refunds.notification(actor, request.channel_id, request.refund_id, fromWireRefundStatus(request.status));
      case 'pay_outcome':
        return payments.payOutcome(actor, request.attempt_id, request.status);
      case 'release_hold':
        return creates.releaseHold(actor);
      case 'reject_hold':
        if (requireState(actor).held === undefined) throw new PaycoreError('ILLEGAL_STATE', `payment ${actor.payment_id} is not held for review`);
        return payments.close(actor, 'risk');
      case 'reverse':
        return payments.reverse(actor, request.reason_code, request.reference);
      case 'refund_paid_out':
        return refunds.paidOut(actor, request);
      case 'recheck_refund':
        return refunds.recheck(actor, request);
    }
  }
}

/** Each flow gets exactly the dependencies it uses; `enqueue` is the mailbox itself. */
function wireFlows(deps: ActorDeps, enqueue: (request: ActorRequest) => Promise<ActorReply>): Flows {
  const { store, timers, channels, sealer, log, metrics } = deps;
  const now = (): Date => deps.now();
  const journal = new Journal({ store, channels, held: deps.held, log, metrics, now });
  const calls = new ChannelCalls({ channels, sealer, log, metrics, now });
  const refunds = new RefundFlow({
    journal,
    calls,
    channels,
    timers,
    refund_index: deps.refund_index,
    id_key: deps.id_key,
    refund_backoff_ms: deps.refund_backoff_ms,
    log,
    now,
  });
  const payments = new PaymentFlow({ journal, calls, refunds, channels, timers, sealer, query_backoff_ms: deps.query_backoff_ms, log, now, enqueue });
  const creates = new CreateFlow({ journal, payments, channels, timers, sealer, risk: deps.risk, held: deps.held, log, now });
  return { journal, creates, payments, refunds };
}

function failure(error: PaycoreError): ActorReply {
  return { ok: false, error: errorToWire(error) };
}

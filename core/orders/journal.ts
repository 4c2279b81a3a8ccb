// The append step of every turn, in one place: decide → append with the expected last
// sequence (OCC) → re-decide on a fresh load when another writer moved first; then the effects
// that follow what the log recorded (reservations, the held list, outcome metrics).

import type { ActorMetrics } from '../metrics';
import { append_conflict_retries_max } from '../constants';
import { encodeJsonString } from '../codec';
import { PaycoreError } from '../errors';
import type { Logger } from '../log';
import type { ChannelDirectory } from '../routing/directory';
import type { HeldIndex } from '../risk/held';
import type { ReservationRef } from '../routing/types';
import type { Actor } from './actor-state';
import { decide } from './decide';
import { currentAttempt, evolve } from './evolve';
import { ConflictError, type EventStore, type Loaded } from './store';
import type { PaymentCommand, PaymentEvent, PaymentState } from './types';

export interface JournalDeps {
  store: Pick<EventStore, 'load' | 'append'>;
  channels: Pick<ChannelDirectory, 'commit' | 'release'>;
  held?: Pick<HeldIndex, 'remove'>;
  log: Logger;
  metrics: Pick<ActorMetrics, 'conflicts' | 'payments' | 'completion'>;
  now(): Date;
}

export class Journal {
  /** Errors after which the log could not be read to tell whether an append was stored. */
  readonly #outcome_unknown = new WeakSet<object>();

  constructor(private readonly deps: JournalDeps) {}

  /** Whether `error` left an append's outcome unknown: whatever it reserved is left to the
   * reservation sweeper, which reads the log later. */
  outcomeUnknown(error: unknown): boolean {
    return this.#outcome_unknown.has(error as object);
  }

  async reload(actor: Actor): Promise<void> {
    actor.loaded = await this.deps.store.load(actor.payment_id);
    actor.fresh = true;
  }

  /** decide → append, re-deciding on a fresh load when another writer moved first.
   * Returns whether this turn appended anything. */
  async apply(actor: Actor, command: PaymentCommand): Promise<boolean> {
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
          if (found === 'unknown') this.#outcome_unknown.add(error as object);
          if (found !== 'stored') throw error;
        } else if (round >= append_conflict_retries_max) {
          throw error;
        } else {
          await this.reload(actor);
          continue;
        }
      }
      actor.fresh = true; // the append named the subject's last sequence: this is the stream's state
      await this.#appended(actor, before, decision.events);
      return true;
    }
  }

  /** What follows an append the log holds. */
  async #appended(actor: Actor, before: PaymentState | undefined, events: readonly PaymentEvent[]): Promise<void> {
    const after = actor.loaded!.state;
    this.#countOutcome(before?.status, after);
    await this.#settleReservations(before, after, events);
    if (before?.held !== undefined && (after.held === undefined || after.status === 'CLOSED')) {
      await this.deps.held?.remove(actor.payment_id).catch((error: Error) => this.deps.log.warn({ payment_id: actor.payment_id, err: error.message }, 'held-payment list not updated'));
    }
    for (const event of events) this.deps.log.debug({ payment_id: actor.payment_id, event: event.type, status: after.status }, 'payment event');
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
}

/** Whether some attempt of the recorded payment holds this reservation. */
export function holdsReservation(state: PaymentState | undefined, reservation: ReservationRef | undefined): boolean {
  if (reservation === undefined) return true; // nothing to release
  return state?.attempts.some((a) => a.reservation?.reservation_id === reservation.reservation_id) === true;
}

// The payout event log and its durable timers on JetStream, beside the payments' (names from
// the deployment prefix: `<P>_PAYOUT_EVENTS` with one subject `<p>.payout.evt.<payout_id>` per
// payout, `<P>_PAYOUT_TIMERS` on `<p>.payout.timer`). Like core/orders/store.ts: a message is
// the events of one decision and the state after them, an append names the subject's last
// sequence (optimistic concurrency) and carries Nats-Msg-Id <payout_id>:<version>.

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { encodeJson, type MoneySchema } from '../codec';
import { dedupe_window_ms } from '../constants';
import { assert, dependencyFailure } from '../errors';
import { ConflictError, SnapshotLog, upsertStream, type Loaded } from '../snapshot-log';
import { evolvePayout } from './evolve';
import type { PayoutEvent, PayoutState } from './types';

export { ConflictError };

export interface PayoutNames {
  events_stream: string;
  events(payout_id: string): string;
  events_all: string;
  timers_stream: string;
  timer: string;
  timers_consumer: string;
  /** Timers that kept failing (dead letters), one subject per kind. */
  timers_dead_stream: string;
  timerDead(kind: PayoutTimer['kind']): string;
  timers_dead_all: string;
}

export function payoutNames(prefix: string): PayoutNames {
  const upper = prefix.toUpperCase();
  return {
    events_stream: `${upper}_PAYOUT_EVENTS`,
    events: (payout_id) => `${prefix}.payout.evt.${payout_id}`,
    events_all: `${prefix}.payout.evt.>`,
    timers_stream: `${upper}_PAYOUT_TIMERS`,
    timer: `${prefix}.payout.timer`,
    timers_consumer: `${upper}_PAYOUT_TIMER_PUMP`,
    timers_dead_stream: `${upper}_PAYOUT_TIMERS_DEAD`,
    timerDead: (kind) => `${prefix}.payout.timerdead.${kind}`,
    timers_dead_all: `${prefix}.payout.timerdead.>`,
  };
}

const event_schema: MoneySchema = { amount_minor: 'minor' };
const payout_state_schema: MoneySchema = { amount_minor: 'minor' };
const stored_schema: MoneySchema = { events: [event_schema], state: payout_state_schema };

export type LoadedPayout = Loaded<PayoutState>;

/** A durable follow-up of one payout: `round` counts the queries (or return checks) made so far. */
export interface PayoutFollowUp {
  payout_id: string;
  /** follow_up: an open payout's next step or query; return_watch: whether a paid one came back. */
  kind: 'follow_up' | 'return_watch';
  round: number;
  due_at: string;
  /** Failed deliveries so far (the pump's retries); absent: none. */
  failures?: number;
}

/** A settlement batch's payout (settlement.ts): `round` counts the checks of an attempt in
 * flight; a failed attempt counts as a failure of the timer, so the retries' backoff spaces
 * the attempts and the dead letter ends them. */
export interface SettlementTimer {
  kind: 'settlement';
  batch_id: string;
  /** The attempt this timer drives (1, 2, ...): payout `settle:<batch_id>:<attempt>`. */
  attempt: number;
  round: number;
  due_at: string;
  failures?: number;
}

export type PayoutTimer = PayoutFollowUp | SettlementTimer;

/** A timer that kept failing, on `<p>.payout.timerdead.<kind>`. */
export interface DeadPayoutTimer {
  timer: PayoutTimer;
  failures: number;
  /** The last failure. */
  reason: string;
  dead_at: string;
}

/** What a timer is about: the payout, or the settlement batch. */
export function timerSubject(timer: PayoutTimer): string {
  return timer.kind === 'settlement' ? `batch:${timer.batch_id}:${timer.attempt}` : timer.payout_id;
}

export class PayoutStore {
  readonly #log: SnapshotLog<PayoutEvent, PayoutState>;

  constructor(private readonly js: JetStreamClient, jsm: JetStreamManager, readonly names: PayoutNames) {
    this.#log = new SnapshotLog(js, jsm, {
      label: 'payout', stream: names.events_stream, subject: names.events, evolve: evolvePayout, schema: stored_schema, idOf: (state) => state.payout_id,
      check: (state) => assert(state.amount_minor > 0n, 'payout store: a payout needs a positive amount'),
    });
  }

  load(payout_id: string): Promise<LoadedPayout | undefined> {
    return this.#log.load(payout_id);
  }

  /** The events of one decision as one message after `loaded`; ConflictError when another
   * writer moved first. */
  append(payout_id: string, loaded: LoadedPayout | undefined, events: readonly PayoutEvent[]): Promise<LoadedPayout> {
    return this.#log.append(payout_id, loaded, events);
  }

  async schedule(timer: PayoutTimer): Promise<void> {
    try {
      const retry = timer.failures === undefined || timer.failures === 0 ? '' : `:f${timer.failures}`;
      await this.js.publish(this.names.timer, encodeJson(timer), { msgID: `${timerSubject(timer)}:${timer.kind}:${timer.round}:${timer.due_at}${retry}` });
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
  }
}

/** Creates or updates the payout streams and the timer consumer (idempotent, at boot). */
export async function ensurePayoutStreams(jsm: JetStreamManager, names: PayoutNames, replicas: number): Promise<void> {
  const duplicate_window = dedupe_window_ms * 1_000_000;
  await upsertStream(jsm, { name: names.events_stream, subjects: [names.events_all], storage: 'file', retention: 'limits', duplicate_window, allow_direct: true, num_replicas: replicas });
  await upsertStream(jsm, { name: names.timers_stream, subjects: [names.timer], storage: 'file', retention: 'workqueue', duplicate_window, num_replicas: replicas });
  await upsertStream(jsm, { name: names.timers_dead_stream, subjects: [names.timers_dead_all], storage: 'file', retention: 'limits', duplicate_window, allow_direct: true, num_replicas: replicas });
  try {
    await jsm.consumers.info(names.timers_stream, names.timers_consumer);
  } catch {
    await jsm.consumers.add(names.timers_stream, { durable_name: names.timers_consumer, ack_policy: 'explicit', ack_wait: 60_000_000_000, max_deliver: -1 } as never);
  }
}

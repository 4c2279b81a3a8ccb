// The payout event log and its durable timers on JetStream, beside the payments' (names from
// the deployment prefix: `<P>_PAYOUT_EVENTS` with one subject `<p>.payout.evt.<payout_id>` per
// payout, `<P>_PAYOUT_TIMERS` on `<p>.payout.timer`). Like core/orders/store.ts: a message is
// the events of one decision and the state after them, an append names the subject's last
// sequence (optimistic concurrency) and carries Nats-Msg-Id <payout_id>:<version>.

import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decodeJson, encodeJson, type MoneySchema } from '../codec';
import { dedupe_window_ms } from '../constants';
import { assert, dependencyFailure } from '../errors';
import { ConflictError } from '../orders/store';
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

interface StoredPayoutMessage {
  events: PayoutEvent[];
  state: PayoutState;
}

export interface LoadedPayout {
  state: PayoutState;
  seq: number;
}

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

const wrong_last_sequence = 10071;

export class PayoutStore {
  constructor(private readonly js: JetStreamClient, private readonly jsm: JetStreamManager, readonly names: PayoutNames) {}

  async load(payout_id: string): Promise<LoadedPayout | undefined> {
    let message;
    try {
      message = await this.jsm.direct.getMessage(this.names.events_stream, { last_by_subj: this.names.events(payout_id) });
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
    if (message === null) return undefined;
    const stored = decodeJson<StoredPayoutMessage>(message.data, stored_schema);
    assert(stored.state.payout_id === payout_id, 'payout store: snapshot belongs to another payout');
    return { state: stored.state, seq: message.seq };
  }

  /** The events of one decision as one message after `loaded`; ConflictError when another
   * writer moved first. */
  async append(payout_id: string, loaded: LoadedPayout | undefined, events: readonly PayoutEvent[]): Promise<LoadedPayout> {
    assert(events.length > 0, 'payout store: append needs at least one event');
    let state = loaded?.state;
    for (const event of events) state = evolvePayout(state, event);
    assert(state !== undefined && state.amount_minor > 0n, 'payout store: a payout needs a positive amount');
    try {
      const ack = await this.js.publish(this.names.events(payout_id), encodeJson({ events, state }), {
        expect: { lastSubjectSequence: loaded?.seq ?? 0 },
        msgID: `${payout_id}:${state.version}`,
      });
      if (ack.duplicate) throw new ConflictError(`${payout_id}: version ${state.version} already stored`);
      return { state, seq: ack.seq };
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === wrong_last_sequence) throw new ConflictError(`${payout_id}: another writer appended first`);
      throw error instanceof ConflictError ? error : dependencyFailure(error, 'NATS');
    }
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

async function upsertStream(jsm: JetStreamManager, config: Record<string, unknown> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config as never);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === 10059) {
      await jsm.streams.add(config as never);
      return;
    }
    throw error;
  }
}

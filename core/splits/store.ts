// The split event log and its durable timers on JetStream, like the payouts' (core/payouts/
// store.ts): `<P>_SPLIT_EVENTS` with one subject `<p>.split.evt.<split_id>` per split, a message
// being the events of one decision and the state after them, appended with optimistic
// concurrency on the subject's last sequence and Nats-Msg-Id <split_id>:<version>;
// `<P>_SPLIT_TIMERS` (work queue on `<p>.split.timer`, consumer `<P>_SPLIT_TIMER_PUMP`).

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { encodeJson, type MoneySchema } from '../codec';
import { dedupe_window_ms } from '../constants';
import { assert, dependencyFailure } from '../errors';
import { SnapshotLog, upsertStream, type Loaded } from '../snapshot-log';
import { evolveSplit } from './decide';
import type { SplitEvent, SplitState } from './types';

export interface SplitNames {
  events_stream: string;
  events(split_id: string): string;
  events_all: string;
  timers_stream: string;
  timer: string;
  timers_consumer: string;
}

export function splitNames(prefix: string): SplitNames {
  const upper = prefix.toUpperCase();
  return {
    events_stream: `${upper}_SPLIT_EVENTS`,
    events: (split_id) => `${prefix}.split.evt.${split_id}`,
    events_all: `${prefix}.split.evt.>`,
    timers_stream: `${upper}_SPLIT_TIMERS`,
    timer: `${prefix}.split.timer`,
    timers_consumer: `${upper}_SPLIT_TIMER_PUMP`,
  };
}

const receivers_schema: MoneySchema = { receivers: [{ amount_minor: 'minor' }], channel: { amount_minor: 'minor' } };
// An event's own amount_minor: a return's (SplitReturnRequested).
const event_schema: MoneySchema = { ...receivers_schema, amount_minor: 'minor' };
const state_schema: MoneySchema = { ...receivers_schema, amount_minor: 'minor', returns: [{ amount_minor: 'minor' }] };
const stored_schema: MoneySchema = { events: [event_schema], state: state_schema };

export type LoadedSplit = Loaded<SplitState>;

/** A durable follow-up: `round` counts the tries made so far. */
export interface SplitTimer {
  split_id: string;
  round: number;
  due_at: string;
}

export class SplitStore {
  readonly #log: SnapshotLog<SplitEvent, SplitState>;

  constructor(private readonly js: JetStreamClient, jsm: JetStreamManager, readonly names: SplitNames) {
    this.#log = new SnapshotLog(js, jsm, {
      label: 'split', stream: names.events_stream, subject: names.events, evolve: evolveSplit, schema: stored_schema, idOf: (state) => state.split_id,
      check: (state) => assert(state.amount_minor > 0n || (state.finish === true && state.receivers.length === 0), 'split store: a split needs a positive amount (only an unfreeze has none)'),
    });
  }

  async load(split_id: string): Promise<LoadedSplit | undefined> {
    const loaded = await this.#log.load(split_id);
    // Splits recorded before returns through the provider existed have none.
    return loaded === undefined || loaded.state.returns !== undefined ? loaded : { ...loaded, state: { ...loaded.state, returns: [] } };
  }

  /** The events of one decision as one message after `loaded`; ConflictError when another
   * writer moved first. */
  append(split_id: string, loaded: LoadedSplit | undefined, events: readonly SplitEvent[]): Promise<LoadedSplit> {
    return this.#log.append(split_id, loaded, events);
  }

  async schedule(timer: SplitTimer): Promise<void> {
    try {
      await this.js.publish(this.names.timer, encodeJson(timer), { msgID: `${timer.split_id}:${timer.round}:${timer.due_at}` });
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
  }
}

/** Creates or updates the split streams and the timer consumer (idempotent, at boot). */
export async function ensureSplitStreams(jsm: JetStreamManager, names: SplitNames, replicas: number): Promise<void> {
  const duplicate_window = dedupe_window_ms * 1_000_000;
  await upsertStream(jsm, { name: names.events_stream, subjects: [names.events_all], storage: 'file', retention: 'limits', duplicate_window, allow_direct: true, num_replicas: replicas });
  await upsertStream(jsm, { name: names.timers_stream, subjects: [names.timer], storage: 'file', retention: 'workqueue', duplicate_window, num_replicas: replicas });
  try {
    await jsm.consumers.info(names.timers_stream, names.timers_consumer);
  } catch {
    await jsm.consumers.add(names.timers_stream, { durable_name: names.timers_consumer, ack_policy: 'explicit', ack_wait: 60_000_000_000, max_deliver: -1 } as never);
  }
}

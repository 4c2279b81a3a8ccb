// The split event log and its durable timers on JetStream, like the payouts' (core/payouts/
// store.ts): `<P>_SPLIT_EVENTS` with one subject `<p>.split.evt.<split_id>` per split, a message
// being the events of one decision and the state after them, appended with optimistic
// concurrency on the subject's last sequence and Nats-Msg-Id <split_id>:<version>;
// `<P>_SPLIT_TIMERS` (work queue on `<p>.split.timer`, consumer `<P>_SPLIT_TIMER_PUMP`).

import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decodeJson, encodeJson, type MoneySchema } from '../codec';
import { dedupe_window_ms } from '../constants';
import { assert, dependencyFailure } from '../errors';
import { ConflictError } from '../orders/store';
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

const receivers_schema: MoneySchema = { receivers: [{ amount_minor: 'minor' }] };
const state_schema: MoneySchema = { ...receivers_schema, amount_minor: 'minor' };
const stored_schema: MoneySchema = { events: [receivers_schema], state: state_schema };

export interface LoadedSplit {
  state: SplitState;
  seq: number;
}

/** A durable follow-up: `round` counts the tries made so far. */
export interface SplitTimer {
  split_id: string;
  round: number;
  due_at: string;
}

const wrong_last_sequence = 10071;

export class SplitStore {
  constructor(private readonly js: JetStreamClient, private readonly jsm: JetStreamManager, readonly names: SplitNames) {}

  async load(split_id: string): Promise<LoadedSplit | undefined> {
    let message;
    try {
      message = await this.jsm.direct.getMessage(this.names.events_stream, { last_by_subj: this.names.events(split_id) });
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
    if (message === null) return undefined;
    const stored = decodeJson<{ events: SplitEvent[]; state: SplitState }>(message.data, stored_schema);
    assert(stored.state.split_id === split_id, 'split store: snapshot belongs to another split');
    return { state: stored.state, seq: message.seq };
  }

  /** The events of one decision as one message after `loaded`; ConflictError when another
   * writer moved first. */
  async append(split_id: string, loaded: LoadedSplit | undefined, events: readonly SplitEvent[]): Promise<LoadedSplit> {
    assert(events.length > 0, 'split store: append needs at least one event');
    let state = loaded?.state;
    for (const event of events) state = evolveSplit(state, event);
    assert(state !== undefined && state.amount_minor > 0n, 'split store: a split needs a positive amount');
    try {
      const ack = await this.js.publish(this.names.events(split_id), encodeJson({ events, state }), {
        expect: { lastSubjectSequence: loaded?.seq ?? 0 },
        msgID: `${split_id}:${state.version}`,
      });
      if (ack.duplicate) throw new ConflictError(`${split_id}: version ${state.version} already stored`);
      return { state, seq: ack.seq };
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === wrong_last_sequence) throw new ConflictError(`${split_id}: another writer appended first`);
      throw error instanceof ConflictError ? error : dependencyFailure(error, 'NATS');
    }
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

// The payment event log on JetStream. One subject per payment; every message is one event
// plus the state after it (a derived snapshot, so loading is one direct get instead of a
// replay). Appends name the subject's last sequence (optimistic concurrency) and carry
// Nats-Msg-Id <payment_id>:<version>, so a retried publish is deduplicated by the server.

import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decodeJson, encodeJson } from '../codec';
import { stored_message_schema, type StoredMessage } from '../events/stored';
import { dedupe_window_ms, timers_pending_max } from '../constants';
import { assert, dependencyFailure } from '../errors';
import { headers } from '@nats-io/transport-node';
import type { Names } from '../names';
import { injectInto } from '../tracing';
import { ConflictError, upsertStream } from '../snapshot-log';
import type { ActorMetrics } from '../metrics';
import { evolve } from './evolve';
import type { PaymentEvent, PaymentState } from './types';

export interface Loaded {
  state: PaymentState;
  /** Stream sequence of the subject's last message: the next append's expectation. */
  seq: number;
}

export { ConflictError };

const wrong_last_sequence = 10071;

export class EventStore {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: Names,
    private readonly publish_latency?: ActorMetrics['publish'],
  ) {}

  async load(payment_id: string): Promise<Loaded | undefined> {
    let message;
    try {
      message = await this.jsm.direct.getMessage(this.names.events_stream, { last_by_subj: this.names.events(payment_id) });
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
    if (message === null) return undefined;
    const stored = decodeJson<StoredMessage>(message.data, stored_message_schema);
    assert(stored.state.payment_id === payment_id, 'store: snapshot belongs to another payment');
    checkMoney(stored.state);
    return { state: stored.state, seq: message.seq };
  }

  /** Appends the events of one decision after `loaded` (undefined: the payment must not
   * exist yet) as ONE message: a decision's events are written together or not at all, in
   * one round trip. Returns the new state and sequence; throws ConflictError if anyone else
   * moved first. */
  async append(payment_id: string, loaded: Loaded | undefined, events: readonly PaymentEvent[]): Promise<Loaded> {
    assert(events.length > 0, 'store: append needs at least one event');
    let state = loaded?.state;
    for (const event of events) {
      state = evolve(state, event);
      checkMoney(state);
    }
    assert(state !== undefined, 'store: unreachable');
    const last = events[events.length - 1]!;
    const message: StoredMessage = events.length === 1 ? { event: last, state } : { event: last, events: [...events], state };
    try {
      const started = process.hrtime.bigint();
      const ack = await this.js.publish(this.names.events(payment_id), encodeJson(message), {
        expect: { lastSubjectSequence: loaded?.seq ?? 0 },
        msgID: `${payment_id}:${state.version}`,
        // The trace of the call that caused the events travels with them to every consumer.
        headers: injectInto(headers()),
      });
      this.publish_latency?.observe({ stream: 'events' }, Number(process.hrtime.bigint() - started) / 1e9);
      // A duplicate ack means a message with this version is stored already, perhaps not
      // ours: only a reload can tell.
      if (ack.duplicate) throw new ConflictError(`${payment_id}: version ${state.version} already stored`);
      return { state, seq: ack.seq };
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === wrong_last_sequence) {
        throw new ConflictError(`${payment_id}: another writer appended first`);
      }
      // Ambiguous (a timeout may hide a stored message): the caller reloads before retrying.
      throw error instanceof ConflictError ? error : dependencyFailure(error, 'NATS');
    }
  }
}

/** Money invariants, checked before a state is persisted and after it is loaded. */
function checkMoney(state: PaymentState): void {
  assert(typeof state.amount_minor === 'bigint' && state.amount_minor > 0n, 'payment amount must be a positive bigint');
  assert(state.refunded_minor >= 0n && state.refunded_minor <= state.amount_minor, 'refunds must stay within the paid amount');
  let held = 0n;
  for (const refund of state.refunds) {
    assert(typeof refund.amount_minor === 'bigint' && refund.amount_minor > 0n, 'refund amounts must be positive bigints');
    if (refund.kind === 'merchant' && refund.state !== 'FAILED') held += refund.amount_minor;
  }
  assert(held <= state.amount_minor, 'refunds held must stay within the paid amount');
  assert(state.fee_minor >= 0n, 'fee must not be negative');
  assert((state.merchant_fee_minor ?? 0n) >= 0n, 'merchant fee must not be negative');
}

/** Creates or updates the streams (idempotent; every process calls it at boot). */
export async function ensureStreams(jsm: JetStreamManager, names: Names, replicas: number): Promise<void> {
  const duplicate_window = dedupe_window_ms * 1_000_000; // nanoseconds
  await upsertStream(jsm, {
    name: names.events_stream,
    subjects: [names.events_all],
    storage: 'file',
    retention: 'limits',
    duplicate_window,
    allow_direct: true,
    num_replicas: replicas,
  });
  await upsertStream(jsm, {
    name: names.timers_stream,
    subjects: [names.timers_all],
    storage: 'file',
    retention: 'workqueue',
    duplicate_window,
    num_replicas: replicas,
  });
  await upsertStream(jsm, {
    name: names.timers_dead_stream,
    subjects: [names.timers_dead_all],
    storage: 'file',
    retention: 'limits',
    duplicate_window,
    allow_direct: true,
    num_replicas: replicas,
  });
  await upsertStream(jsm, {
    name: names.refund_index_stream,
    subjects: [names.refundIndex('*')],
    storage: 'file',
    retention: 'limits',
    max_msgs_per_subject: 1,
    duplicate_window,
    allow_direct: true,
    num_replicas: replicas,
  });
  await upsertStream(jsm, {
    name: names.risk_events_stream,
    subjects: [names.risk_events_all],
    storage: 'file',
    retention: 'limits',
    duplicate_window,
    num_replicas: replicas,
  });
  const consumer = {
    durable_name: names.timers_consumer,
    ack_policy: 'explicit' as const,
    ack_wait: 30_000_000_000, // 30 s in ns: a due timer's command must finish within it
    max_deliver: -1,
    max_ack_pending: timers_pending_max,
  };
  try {
    await jsm.consumers.info(names.timers_stream, names.timers_consumer);
  } catch {
    await jsm.consumers.add(names.timers_stream, consumer as never);
  }
}

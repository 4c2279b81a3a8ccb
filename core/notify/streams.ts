// The notifier's JetStream layout, created idempotently at boot:
//   <PREFIX>_NOTIFY       work queue of pending deliveries, <p>.notify.send.<merchant_id>
//   <PREFIX>_NOTIFY_DLQ   dead letters, <p>.notify.dead.<merchant_id>.<notification_id>, one per subject
//   <PREFIX>_NOTIFY_SENDER  durable consumer delivering NOTIFY
//   <PREFIX>_NOTIFIER       durable consumer on PAY_EVENTS (<p>.pay.evt.>) queueing notifications

import { JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { dedupe_window_ms } from '../constants';
import { upsertStream } from '../snapshot-log';
import {
  notify_ack_wait_ms_default,
  notify_dead_letter_age_ms_max,
  notify_dead_letters_max,
  notify_events_pending_max,
  notify_pending_max,
  notify_stream_msgs_max,
} from './constants';
import { notifyNames } from './names';

/** Where the events consumer starts when it is first created (an existing one keeps its
 * position): every stored event, only events stored from now on, or from a point. A
 * deployment that already has payment history and turns the notifier on starts at 'new'
 * or at a time, or every old outcome is notified again. */
type EventsStart = 'all' | 'new' | { time: Date } | { seq: number };

export interface NotifyStreamOptions {
  replicas?: number;
  events_start?: EventsStart;
  /** The sender consumer's ack wait (tests shorten it so a stopped notifier's unacked
   * messages come back quickly). Applied on creation and on every boot. */
  ack_wait_ms?: number;
}

const stream_not_found = 10059;
const consumer_not_found = 10014;
const ns_per_ms = 1_000_000;

/** Creates or updates the notifier's streams and consumers. PAY_EVENTS must exist already
 * (core/orders/store.ts ensureStreams). */
export async function ensureNotifyStreams(jsm: JetStreamManager, prefix: string, options: NotifyStreamOptions = {}): Promise<void> {
  const names = notifyNames(prefix);
  const replicas = options.replicas ?? 1;
  await upsertStream(jsm, {
    name: names.stream,
    subjects: [names.send_all],
    storage: 'file',
    retention: 'workqueue',
    duplicate_window: dedupe_window_ms * ns_per_ms,
    max_msgs: notify_stream_msgs_max,
    discard: 'new',
    num_replicas: replicas,
  });
  await upsertStream(jsm, {
    name: names.dead_stream,
    subjects: [names.dead_of(undefined)],
    storage: 'file',
    retention: 'limits',
    duplicate_window: dedupe_window_ms * ns_per_ms,
    max_msgs: notify_dead_letters_max,
    max_msgs_per_subject: 1,
    max_age: notify_dead_letter_age_ms_max * ns_per_ms,
    discard: 'new',
    allow_direct: true,
    num_replicas: replicas,
  });
  const sender_editable = { ack_wait: (options.ack_wait_ms ?? notify_ack_wait_ms_default) * ns_per_ms, max_ack_pending: notify_pending_max };
  await upsertConsumer(jsm, names.stream, { durable_name: names.sender_consumer, ack_policy: 'explicit', max_deliver: -1, ...sender_editable }, sender_editable);
  const events_editable = { max_ack_pending: notify_events_pending_max };
  await upsertConsumer(jsm, names.events_stream, {
    durable_name: names.events_consumer,
    filter_subject: names.events_all,
    ack_policy: 'explicit',
    ack_wait: 30_000 * ns_per_ms, // an outcome's publishes, or a due creation timer's command: far below this
    max_deliver: -1,
    ...events_editable,
    ...deliverFrom(options.events_start ?? 'all'),
  }, events_editable);
}

/** Deletes the notifier's streams and its PAY_EVENTS consumer (tests, decommissioning). */
export async function deleteNotifyStreams(jsm: JetStreamManager, prefix: string): Promise<void> {
  const names = notifyNames(prefix);
  for (const stream of [names.stream, names.dead_stream]) {
    await jsm.streams.delete(stream).catch(ignoreNotFound);
  }
  await jsm.consumers.delete(names.events_stream, names.events_consumer).catch(ignoreNotFound);
}

function deliverFrom(start: EventsStart): Record<string, unknown> {
  if (start === 'all') return { deliver_policy: 'all' };
  if (start === 'new') return { deliver_policy: 'new' };
  if ('time' in start) return { deliver_policy: 'by_start_time', opt_start_time: start.time.toISOString() };
  return { deliver_policy: 'by_start_sequence', opt_start_seq: start.seq };
}

/** Adds a durable consumer if missing; `update` holds settings re-applied to an existing one
 * (never the events consumer's start position: fixed at creation, never moved). */
async function upsertConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Record<string, unknown> & { durable_name: string },
  update?: Record<string, unknown>,
): Promise<void> {
  try {
    await jsm.consumers.info(stream, config.durable_name);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === consumer_not_found) {
      await jsm.consumers.add(stream, config as never);
      return;
    }
    throw error;
  }
  if (update !== undefined) await jsm.consumers.update(stream, config.durable_name, update as never);
}

function ignoreNotFound(error: unknown): void {
  if (error instanceof JetStreamApiError && (error.code === stream_not_found || error.code === consumer_not_found)) return;
  throw error;
}

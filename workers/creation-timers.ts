// The creations' timers (docs/architecture.md §3). A payment's expiry and its first
// pending-attempt query are facts of its creation message (expires_at, created_at + the first
// query step): a create publishes no timer. The main thread's event reader (event-reader.ts)
// holds each creation message with nak-delays until its first timer is due — the durability of
// a PAY_TIMERS message: the creation is in the stream before the create is answered, and it is
// acked only once its timer was handled. At the first query's time it sends the query, then
// (the payment still open) hands the expiry to PAY_TIMERS and acks; when the expiry comes first
// it sends the expiry. A command that fails goes to PAY_TIMERS as the timer pump's first retry
// (workers/timer-pump.ts: its backoff, then its dead letter).

import { JetStreamApiError, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { decodeJson } from '../core/codec';
import { consumeEach, type Consuming } from '../core/consume';
import { timer_retry_delay_ms } from '../core/constants';
import { eventsOf, stored_message_schema, type StoredMessage } from '../core/events/stored';
import type { Logger } from '../core/log';
import type { ActorMetrics } from '../core/metrics';
import type { Names } from '../core/names';
import { isOpen } from '../core/orders/evolve';
import { type ActorCommand, type ActorReply } from '../core/orders/protocol';
import { eventTimersConsumer, nextQueryAt, TimerScheduler, type TimerMessage } from '../core/orders/timers';
import { dueAndOpen, handBackDelayMs, type PumpGate } from './timer-pump';

export interface CreationTimersOptions {
  js: JetStreamClient;
  names: Names;
  /** Open while every thread of this process is up (workers/pool.ts). */
  gate: Pick<PumpGate, 'wait'>;
  /** The payment's actor's reply to one of paycore's commands (unowned when no process held
   * its shard until the deadline); throws when none answered. */
  command: (command: ActorCommand) => Promise<ActorReply>;
  /** The pending-attempt query schedule (PAYCORE_QUERY_BACKOFF_MS): its first step. */
  query_backoff_ms: readonly number[];
  /** The timer pump's retry delays (PAYCORE_TIMER_RETRY_BACKOFF_MS): a failed command's timer
   * is due again after the first. */
  retry_backoff_ms: readonly number[];
  timer_lag: ActorMetrics['timer_lag'];
  log: Logger;
}

interface Due {
  query_at?: number;
  expire_at: number;
}

/** The creation's timers: the first query (if the payment went to a channel and the query
 * falls before its expiry's last step) and the expiry. undefined: not a creation, one the actor
 * gave timers of its own (a payment held for review), or one already over when created. */
export function creationTimersOf(stored: StoredMessage, query_backoff_ms: readonly number[]): Due | undefined {
  if (!eventsOf(stored).some((e) => e.type === 'PaymentCreated')) return undefined;
  const state = stored.state;
  if (state.held !== undefined || state.expires_at === '' || !isOpen(state)) return undefined;
  const expire_at = Date.parse(state.expires_at);
  const attempt = state.attempts[state.attempts.length - 1];
  const query = attempt === undefined ? undefined : nextQueryAt(new Date(state.created_at), 0, query_backoff_ms, state.expires_at);
  const query_at = query?.getTime();
  return query_at === undefined || query_at >= expire_at ? { expire_at } : { query_at, expire_at };
}

/** Holds a creation message until its first timer is due, then fires that timer and acks. */
export async function fireWhenDue(options: CreationTimersOptions, message: JsMsg, stored: StoredMessage, due: Due): Promise<void> {
  const due_at = due.query_at ?? due.expire_at;
  const wait_ms = due_at - Date.now();
  if (!(await dueAndOpen(message, wait_ms, options.gate))) return;
  const payment_id = stored.state.payment_id;
  const kind = due.query_at === undefined ? 'expire' : 'query';
  options.timer_lag.observe({ kind }, -wait_ms / 1000);
  const scheduler = new TimerScheduler(options.js, options.names);
  const expiry: TimerMessage = { kind: 'expire', payment_id, due_at: new Date(due.expire_at).toISOString() };
  const timer: TimerMessage = { kind, payment_id, due_at: new Date(due_at).toISOString(), round: 0 };
  let reply: ActorReply;
  try {
    reply = await options.command({ type: 'timer', payment_id, kind, round: 0 });
  } catch (error) {
    // Handed to PAY_TIMERS with its retries and dead letter, the expiry with it.
    if (kind === 'query') await scheduler.schedule(expiry);
    await retryOnPump(options, scheduler, message, timer, `command failed: ${String(error)}`);
    return;
  }
  // Not executed, and not the timer failing (no process held the shard, or back-pressure): the
  // creation is handed back and handled whole later.
  const hand_back_ms = handBackDelayMs(reply);
  if (hand_back_ms !== undefined) {
    message.nak(hand_back_ms);
    return;
  }
  // After the first query the expiry waits on PAY_TIMERS (unless the payment is over).
  const over = reply.ok ? !isOpen(reply.payment) : reply.error.reason === 'NOT_FOUND';
  if (kind === 'query' && !over) await scheduler.schedule(expiry);
  if (reply.ok || reply.error.reason === 'NOT_FOUND' || reply.error.reason === 'ILLEGAL_STATE') {
    message.ack();
    return;
  }
  await retryOnPump(options, scheduler, message, timer, `${reply.error.reason}: ${reply.error.message}`);
}

/** A failed command: its timer on PAY_TIMERS as the pump's first retry (published before the
 * creation message is acked; if publishing fails the message is handed back as is). */
async function retryOnPump(options: CreationTimersOptions, scheduler: TimerScheduler, message: JsMsg, timer: TimerMessage, reason: string): Promise<void> {
  const delay_ms = options.retry_backoff_ms[0] ?? timer_retry_delay_ms;
  options.log.warn({ payment_id: timer.payment_id, kind: timer.kind, failures: 1, reason }, 'timer command failed; retry scheduled');
  await scheduler.schedule({ ...timer, failures: 1, due_at: new Date(Date.now() + delay_ms).toISOString() });
  message.ack();
}

/** Before the event reader, the creations' timers had a consumer of their own on PAY_EVENTS
 * (`<PREFIX>_EVENT_TIMERS`, read by the actor threads). A creation it delivered may be held
 * there only, so one left by an earlier version is read on with the same handling up to the
 * later of the two consumers' positions when this process started (past it the event reader
 * fires the timers, and such messages are acked at once), then deleted once it has acked all
 * of them. Every process of a deployment must run this version: an earlier one still acks,
 * without timers, what it reads of that consumer past the point. */
export async function retireEventTimers(options: CreationTimersOptions & { jsm: JetStreamManager; reader_consumer: string }): Promise<Consuming> {
  const { jsm, names, log } = options;
  const stream = names.events_stream;
  const legacy = eventTimersConsumer(names);
  const info = await jsm.consumers.info(stream, legacy).catch(() => undefined);
  if (info === undefined) return { stop: () => Promise.resolve() };
  const reader = await jsm.consumers.info(stream, options.reader_consumer);
  const until = Math.max(info.delivered.stream_seq, reader.delivered.stream_seq);
  log.info({ consumer: legacy, until_seq: until }, 'creation timers: draining the former consumer');
  const reading = await consumeEach(options.js, stream, legacy, (message) => drainOne(options, message, until), log, 'creation timer handling failed; handed back');
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    clearInterval(check);
    await reading.stop();
  };
  const retireIfDrained = async (): Promise<void> => {
    // null: gone (another process deleted it); undefined: not reachable now, the next check tells.
    const now = await jsm.consumers.info(stream, legacy).catch((error: unknown) => (isNotFound(error) ? null : undefined));
    if (now === undefined || (now !== null && now.ack_floor.stream_seq < until)) return;
    await stop();
    if (now === null) return;
    await jsm.consumers.delete(stream, legacy).catch(() => undefined);
    log.info({ consumer: legacy }, 'creation timers: the former consumer is drained and deleted');
  };
  const check = setInterval(() => void retireIfDrained(), retire_check_ms);
  check.unref();
  return { stop };
}

const retire_check_ms = 10_000;
const consumer_not_found = 10014;

function isNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === consumer_not_found;
}

async function drainOne(options: CreationTimersOptions, message: JsMsg, until: number): Promise<void> {
  if (message.seq > until) {
    message.ack();
    return;
  }
  let stored: StoredMessage;
  try {
    stored = decodeJson<StoredMessage>(message.data, stored_message_schema);
  } catch (error) {
    // Not ours to keep: the event log holds it, and the notifier sets it aside loudly.
    options.log.error({ subject: message.subject, seq: message.seq, err: String(error) }, 'creation timers: unreadable event; skipped');
    message.term('unreadable');
    return;
  }
  const due = creationTimersOf(stored, options.query_backoff_ms);
  if (due === undefined) message.ack();
  else await fireWhenDue(options, message, stored, due);
}

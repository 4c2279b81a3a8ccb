// The timer pump: holds each PAY_TIMERS message with nak-delays until it is due, then sends
// it to the payment's actor as a command. Acked only once the actor has handled it, so a
// timer survives any crash; the actors make repeated timers harmless.

import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { isNoResponders } from '../core/nats-link';
import { decodeJson, encodeJson, no_money } from '../core/codec';
import { consumeEach } from '../core/consume';
import { timer_gate_wait_ms_max, timer_nak_delay_ms_max, timer_retry_delay_ms } from '../core/constants';
import { shardOf } from '../core/ids';
import type { Logger } from '../core/log';
import type { ActorMetrics } from '../core/metrics';
import type { Names } from '../core/names';
import { isUnowned, type ActorReply, type ActorRequest } from '../core/orders/protocol';
import { isOpen } from '../core/orders/evolve';
import { actor_reply_schema } from '../core/orders/schemas';
import { eventsOf, stored_message_schema, type StoredMessage } from '../core/events/stored';
import { eventTimersConsumer, nextQueryAt, TimerScheduler, type DeadTimerMessage, type TimerMessage } from '../core/orders/timers';

/** Opened by the pool once every thread of the process is up with its NATS link. A shard with
 * no holder at the moment (workers/leases.ts) is the pump's own wait: such a timer is handed
 * back and tried again, not counted as a failure. */
export class PumpGate {
  #open = false;
  #waiters: (() => void)[] = [];

  get open(): boolean {
    return this.#open;
  }

  set(open: boolean): void {
    this.#open = open;
    if (!open) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves true once open, false if still closed after timeout_ms. */
  wait(timeout_ms: number): Promise<boolean> {
    if (this.#open) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeout_ms);
      this.#waiters.push(wake);
    });
  }
}

interface TimerPumpOptions {
  gate: PumpGate;
  nc: NatsConnection;
  js: JetStreamClient;
  names: Names;
  shards: number;
  command_timeout_ms: number;
  log: Logger;
  timer_lag: ActorMetrics['timer_lag'];
  /** Delays before each retry of a failing timer; once spent, the timer is dead-lettered. */
  retry_backoff_ms: readonly number[];
}

export interface TimerPump {
  stop(): Promise<void>;
}

/** Both pumps of a thread: PAY_TIMERS, and the creations' timers on PAY_EVENTS. */
export async function startTimerPumps(options: EventTimersOptions): Promise<TimerPump> {
  const pumps = [await startTimerPump(options), await startEventTimers(options)];
  return { stop: async () => void (await Promise.all(pumps.map((p) => p.stop()))) };
}

async function startTimerPump(options: TimerPumpOptions): Promise<TimerPump> {
  const { js, names, log } = options;
  return consumeEach(js, names.timers_stream, names.timers_consumer, (message) => handle(options, message), log, 'timer handling failed; handed back');
}

async function handle(options: TimerPumpOptions, message: JsMsg): Promise<void> {
  let timer: TimerMessage;
  try {
    timer = decodeJson<TimerMessage>(message.data, no_money);
  } catch (error) {
    // It will not read better later: set aside for an operator with what it was.
    const raw = new TextDecoder().decode(message.data).slice(0, 512);
    await deadLetter(options, message, { kind: 'query', payment_id: 'undecodable', due_at: new Date().toISOString() }, 0, `undecodable timer: ${String(error)}: ${raw}`);
    return;
  }
  const wait_ms = Date.parse(timer.due_at) - Date.now();
  if (wait_ms > 0) {
    message.nak(Math.min(wait_ms, timer_nak_delay_ms_max));
    return;
  }
  // Held (not acked) while this process's threads are not all up; handed back for a later try
  // if that lasts, well within the consumer's ack wait.
  if (!(await options.gate.wait(timer_gate_wait_ms_max))) {
    message.nak(timer_retry_delay_ms);
    return;
  }
  options.timer_lag.observe({ kind: timer.kind }, -wait_ms / 1000);
  const request: ActorRequest = { type: 'timer', payment_id: timer.payment_id, kind: timer.kind, round: timer.round, refund_id: timer.refund_id, deadline_at_ms: Date.now() + options.command_timeout_ms };
  const subject = options.names.command(shardOf(timer.payment_id, options.shards));
  let reply: ActorReply | undefined;
  try {
    reply = await sendToShard(options, subject, request);
  } catch (error) {
    await retryOrDeadLetter(options, message, timer, `command failed: ${String(error)}`);
    return;
  }
  if (reply === undefined) {
    message.nak(timer_retry_delay_ms);
    return;
  }
  if (reply.ok || reply.error.reason === 'NOT_FOUND' || reply.error.reason === 'ILLEGAL_STATE') {
    message.ack();
    return;
  }
  await retryOrDeadLetter(options, message, timer, `${reply.error.reason}: ${reply.error.message}`);
}

/** The timer's command to the process holding the payment's shard; undefined when no process
 * holds it this moment (a lease changing hands, workers/leases.ts): not executed, and not a
 * failure of the timer — handed back and tried again shortly, never dead-lettered for it. */
async function sendToShard(options: TimerPumpOptions, subject: string, request: ActorRequest): Promise<ActorReply | undefined> {
  let reply: ActorReply;
  try {
    const answer = await options.nc.request(subject, encodeJson(request), { timeout: options.command_timeout_ms });
    reply = decodeJson<ActorReply>(answer.data, actor_reply_schema);
  } catch (error) {
    if (isNoResponders(error)) return undefined;
    throw error;
  }
  return isUnowned(reply) ? undefined : reply;
}

/** A failed delivery: the timer again after the next backoff delay (a new message carrying
 * its failure count), or, once the backoff is spent, its dead letter. Either is published
 * before the original is acked; if publishing fails the original is handed back as is. */
async function retryOrDeadLetter(options: TimerPumpOptions, message: JsMsg, timer: TimerMessage, reason: string): Promise<void> {
  const failures = (timer.failures ?? 0) + 1;
  const delay_ms = options.retry_backoff_ms[failures - 1];
  if (delay_ms === undefined) {
    await deadLetter(options, message, timer, failures, reason);
    return;
  }
  options.log.warn({ payment_id: timer.payment_id, kind: timer.kind, failures, reason }, 'timer command failed; retry scheduled');
  await new TimerScheduler(options.js, options.names).schedule({ ...timer, failures, due_at: new Date(Date.now() + delay_ms).toISOString() });
  message.ack();
}

async function deadLetter(options: TimerPumpOptions, message: JsMsg, timer: TimerMessage, failures: number, reason: string): Promise<void> {
  const dead: DeadTimerMessage = { timer, failures, reason: reason.slice(0, 1_000), dead_at: new Date().toISOString() };
  const subject = options.names.timerDead(timer.kind, isSubjectToken(timer.payment_id) ? timer.payment_id : 'invalid');
  await options.js.publish(subject, encodeJson(dead), { msgID: `dead:${message.info.stream}:${message.seq}` });
  message.ack();
  options.log.error({ payment_id: timer.payment_id, kind: timer.kind, failures, reason: dead.reason }, 'timer dead-lettered: kept failing; TimerAdminService lists and re-drives it');
}

function isSubjectToken(text: string): boolean {
  return /^[A-Za-z0-9_-]{1,128}$/.test(text);
}

// ---- the creation's timers, read from the event log --------------------------------------
//
// A payment's expiry and its first pending-attempt query are facts of its creation message
// (expires_at, created_at + the first query step): a create publishes no timer. This pump reads
// PAY_EVENTS on a durable consumer of its own (`<PREFIX>_EVENT_TIMERS`, shared by every thread
// of every process), acks every other message at once, and holds each creation message with
// nak-delays until its first timer is due — the same durability as a PAY_TIMERS message: the
// creation is in the stream before the create is answered, and it is acked only once its timer
// was handled. At the first query's time it sends the query, then (the payment still open)
// hands the expiry to PAY_TIMERS and acks; when the expiry comes first it sends the expiry.

export interface EventTimersOptions extends TimerPumpOptions {
  /** The pending-attempt query schedule (PAYCORE_QUERY_BACKOFF_MS): its first step. */
  query_backoff_ms: readonly number[];
}

async function startEventTimers(options: EventTimersOptions): Promise<TimerPump> {
  const { js, names, log } = options;
  const failure = 'creation timer handling failed; handed back';
  return consumeEach(js, names.events_stream, eventTimersConsumer(names), (message) => handleEvent(options, message), log, failure);
}

/** The creation's timers: the first query (if the payment went to a channel and the query
 * falls before its expiry's last step) and the expiry. undefined: not a creation, or one the
 * actor gave timers of its own (a payment held for review). */
function creationTimers(stored: StoredMessage, query_backoff_ms: readonly number[]): { query_at?: number; expire_at: number } | undefined {
  if (!eventsOf(stored).some((e) => e.type === 'PaymentCreated')) return undefined;
  const state = stored.state;
  if (state.held !== undefined || state.expires_at === '') return undefined;
  const expire_at = Date.parse(state.expires_at);
  const attempt = state.attempts[state.attempts.length - 1];
  const query = attempt === undefined ? undefined : nextQueryAt(new Date(state.created_at), 0, query_backoff_ms, state.expires_at);
  const query_at = query?.getTime();
  return query_at === undefined || query_at >= expire_at ? { expire_at } : { query_at, expire_at };
}

async function handleEvent(options: EventTimersOptions, message: JsMsg): Promise<void> {
  let stored: StoredMessage;
  try {
    stored = decodeJson<StoredMessage>(message.data, stored_message_schema);
  } catch (error) {
    // Not ours to keep: the event log holds it, and the notifier sets it aside loudly.
    options.log.error({ subject: message.subject, seq: message.seq, err: String(error) }, 'creation timers: unreadable event; skipped');
    message.term('unreadable');
    return;
  }
  const timers = creationTimers(stored, options.query_backoff_ms);
  if (timers === undefined) {
    message.ack();
    return;
  }
  const due_at = timers.query_at ?? timers.expire_at;
  const wait_ms = due_at - Date.now();
  if (wait_ms > 0) {
    message.nak(Math.min(wait_ms, timer_nak_delay_ms_max));
    return;
  }
  if (!(await options.gate.wait(timer_gate_wait_ms_max))) {
    message.nak(timer_retry_delay_ms);
    return;
  }
  const payment_id = stored.state.payment_id;
  const kind = timers.query_at === undefined ? 'expire' : 'query';
  options.timer_lag.observe({ kind }, -wait_ms / 1000);
  const scheduler = new TimerScheduler(options.js, options.names);
  const expiry: TimerMessage = { kind: 'expire', payment_id, due_at: new Date(timers.expire_at).toISOString() };
  const request: ActorRequest = { type: 'timer', payment_id, kind, round: 0, deadline_at_ms: Date.now() + options.command_timeout_ms };
  let reply: ActorReply | undefined;
  try {
    reply = await sendToShard(options, options.names.command(shardOf(payment_id, options.shards)), request);
  } catch (error) {
    // Handed to PAY_TIMERS with its retries and dead letter, the expiry with it.
    if (kind === 'query') await scheduler.schedule(expiry);
    await retryOrDeadLetter(options, message, { kind, payment_id, due_at: new Date(due_at).toISOString(), round: 0 }, `command failed: ${String(error)}`);
    return;
  }
  if (reply === undefined) {
    message.nak(timer_retry_delay_ms);
    return;
  }
  // After the first query the expiry waits on PAY_TIMERS (unless the payment is over).
  const over = reply.ok ? !isOpen(reply.payment) : reply.error.reason === 'NOT_FOUND';
  if (kind === 'query' && !over) await scheduler.schedule(expiry);
  if (reply.ok || reply.error.reason === 'NOT_FOUND' || reply.error.reason === 'ILLEGAL_STATE') {
    message.ack();
    return;
  }
  await retryOrDeadLetter(options, message, { kind, payment_id, due_at: new Date(due_at).toISOString(), round: 0 }, `${reply.error.reason}: ${reply.error.message}`);
}

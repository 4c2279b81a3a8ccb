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
import { actor_reply_schema } from '../core/orders/schemas';
import { TimerScheduler, type DeadTimerMessage, type TimerMessage } from '../core/orders/timers';

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

/** A thread's pump of PAY_TIMERS. The creations' timers are read from the event log by the
 * main thread (workers/event-reader.ts). */
export async function startTimerPump(options: TimerPumpOptions): Promise<TimerPump> {
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
  if (!(await dueAndOpen(message, wait_ms, options.gate))) return;
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
  const hand_back_ms = handBackDelayMs(reply);
  if (hand_back_ms !== undefined || reply === undefined) {
    message.nak(hand_back_ms ?? timer_retry_delay_ms);
    return;
  }
  if (reply.ok || reply.error.reason === 'NOT_FOUND' || reply.error.reason === 'ILLEGAL_STATE') {
    message.ack();
    return;
  }
  await retryOrDeadLetter(options, message, timer, `${reply.error.reason}: ${reply.error.message}`);
}

/** Whether a timer message may fire now: due (else handed back until it is, capped) and this
 * process's threads all up (held, not acked, while they are not; handed back for a later try
 * if that lasts, well within the consumer's ack wait). */
export async function dueAndOpen(message: JsMsg, wait_ms: number, gate: Pick<PumpGate, 'wait'>): Promise<boolean> {
  if (wait_ms > 0) {
    message.nak(Math.min(wait_ms, timer_nak_delay_ms_max));
    return false;
  }
  if (!(await gate.wait(timer_gate_wait_ms_max))) {
    message.nak(timer_retry_delay_ms);
    return false;
  }
  return true;
}

/** When a timer's command was not executed and that is not the timer failing, how long until
 * it is handed to the actor again: no process held the shard (undefined or an unowned reply: a
 * lease changing hands, workers/leases.ts), shortly; back-pressure (the actor thread or the
 * payment's mailbox full, OVERLOADED), after the refusal's retry hint. Neither counts toward the
 * timer's dead letter. Otherwise undefined: the reply is the timer's outcome. */
export function handBackDelayMs(reply: ActorReply | undefined): number | undefined {
  if (reply === undefined || isUnowned(reply)) return timer_retry_delay_ms;
  if (!reply.ok && reply.error.reason === 'OVERLOADED') return retryAfterMs(reply.error.metadata);
  return undefined;
}

/** An OVERLOADED refusal's retry hint (ErrorInfo metadata retry_after_ms), else the default. */
function retryAfterMs(metadata: Record<string, string> | undefined): number {
  const hint = Number(metadata?.retry_after_ms);
  return Number.isInteger(hint) && hint > 0 && hint <= timer_nak_delay_ms_max ? hint : timer_retry_delay_ms;
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

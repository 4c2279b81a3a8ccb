// The merchant notifier: two JetStream loops in one process.
//
// 1. The events loop reads PAY_EVENTS with the durable consumer <PREFIX>_NOTIFIER and, for an
//    outcome event with a notify URL, queues a pending delivery on <PREFIX>_NOTIFY (message id
//    = notification id + attempt, so re-reading an event queues nothing twice), then acks.
//    With `events: 'fed'` it opens no consumer: the caller reads <PREFIX>_NOTIFIER and hands
//    it the messages that are the notifier's (paycore's event reader, workers/event-reader.ts,
//    which also fires the creations' timers from the same deliveries).
// 2. The sender loop reads <PREFIX>_NOTIFY: a message not yet due is nak-delayed until it is
//    (like the timer pump); a due one whose merchant has its in-flight slots taken waits a
//    short nak; otherwise it is POSTed. Success acks it; a failure queues the next attempt (or
//    the dead letter) and only then acks, so every attempt survives a crash: at least once.

import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { decodeJson, encodeJson, no_money } from '../codec';
import { assert } from '../errors';
import type { Logger } from '../log';
import { SpanKind, extractFrom, inSpan } from '../tracing';
import { stored_message_schema, type StoredMessage } from '../events/stored';
import { InflightBounds } from './bounds';
import {
  notify_busy_delay_ms_default,
  notify_fetch_batch_max,
  notify_inflight_max,
  notify_inflight_per_merchant_max,
  notify_nak_delay_ms_max,
  notify_retry_delay_ms,
  notify_retry_delay_ms_max,
  notify_timeout_ms_max,
} from './constants';
import { notify_schedule_ms_default, notify_timeout_ms_default } from '../constants';
import { listDeadLetters, resendDeadLetter, type DeadLetterQuery } from './dead-letters';
import { createNotifyAgent, deliver, type DeliveryResult } from './deliver';
import type { DestinationPolicy } from './destination';
import { isSubjectToken, notifyNames, type NotifyNames } from './names';
import { isOutcomeEvent, OutcomeShapeError, plannedNotifications } from './outcomes';
import { afterFailure, deadMessageId, firstPending, pendingMessageId, scheduleProblems } from './schedule';
import type { DeadLetter, NotificationBody, PendingNotification } from './types';

/** The merchant's notification secret; undefined when the merchant has none (yet). */
type SecretOf = (merchant_id: string) => Promise<string | undefined>;

export interface NotifierOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  secretOf: SecretOf;
  /** Which addresses notifications may go to (core/notify/destination.ts). */
  destinations: DestinationPolicy;
  /** Delay before each attempt (default notify_schedule_ms_default); its length is the
   * number of attempts before the dead letter. */
  schedule_ms?: readonly number[];
  /** How long a merchant has to answer 2xx (default 5 s). */
  timeout_ms?: number;
  /** nak delay of a due notification whose merchant is at its in-flight bound. */
  busy_delay_ms?: number;
  /** Deliveries in flight per merchant and in all (default notify_inflight_per_merchant_max,
   * notify_inflight_max); past either a due notification goes back to the stream. */
  inflight_max?: { per_merchant: number; total: number };
  /** Told of every attempt's result (metrics). */
  onAttempt?: (result: 'delivered' | 'retry' | 'dead') => void;
  /** A message set aside because it cannot be read or planned (the alert counts these). */
  onUnreadable?: (stage: 'event' | 'outcome_shape' | 'pending') => void;
  /** Told, when a notification is first delivered (not a re-send from the dead letters), how
   * long after its outcome the merchant answered 2xx: the notification SLI (ops/slo.md). */
  onDelivered?: (after_outcome_ms: number) => void;
  /** 'consume' (default): the notifier reads <PREFIX>_NOTIFIER itself. 'fed': the caller
   * reads it and hands each message to `handleEvent`. */
  events?: 'consume' | 'fed';
  log: Logger;
}

export interface Notifier {
  /** Stops both loops and waits for deliveries in flight (each bounded by timeout_ms). */
  stop(): Promise<void>;
  listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]>;
  /** Re-queues a dead letter with its attempts reset and removes it; NOT_FOUND if none. */
  resend(notification_id: string): Promise<void>;
  /** One PAY_EVENTS message of the notifier's consumer (`events: 'fed'`): queues the
   * notifications it calls for, then acks it (or naks / terms it). Messages are handled one at
   * a time in the order handed over, like the notifier's own loop; `stored` is the message
   * already decoded (decoded here when absent). */
  handleEvent(message: JsMsg, stored?: StoredMessage): Promise<void>;
}

interface Context {
  js: JetStreamClient;
  names: NotifyNames;
  secretOf: SecretOf;
  schedule_ms: readonly number[];
  timeout_ms: number;
  busy_delay_ms: number;
  bounds: InflightBounds;
  agent: ReturnType<typeof createNotifyAgent>;
  destinations: DestinationPolicy;
  onAttempt: (result: 'delivered' | 'retry' | 'dead') => void;
  onUnreadable: (stage: 'event' | 'outcome_shape' | 'pending') => void;
  onDelivered: (after_outcome_ms: number) => void;
  log: Logger;
}

/** Starts the notifier; ensureNotifyStreams must have run (at boot, like ensureStreams). */
export async function startNotifier(options: NotifierOptions): Promise<Notifier> {
  const schedule_ms = [...(options.schedule_ms ?? notify_schedule_ms_default)];
  const timeout_ms = options.timeout_ms ?? notify_timeout_ms_default;
  const problems = scheduleProblems(schedule_ms);
  assert(problems.length === 0, `notify: schedule_ms ${problems.join('; ')}`);
  assert(Number.isInteger(timeout_ms) && timeout_ms >= 1 && timeout_ms <= notify_timeout_ms_max, `notify: timeout_ms must be 1..${notify_timeout_ms_max}`);
  const names = notifyNames(options.prefix);
  const context: Context = {
    js: options.js,
    names,
    secretOf: options.secretOf,
    schedule_ms,
    timeout_ms,
    busy_delay_ms: options.busy_delay_ms ?? notify_busy_delay_ms_default,
    bounds: new InflightBounds(options.inflight_max?.per_merchant ?? notify_inflight_per_merchant_max, options.inflight_max?.total ?? notify_inflight_max),
    agent: createNotifyAgent(timeout_ms, options.destinations),
    destinations: options.destinations,
    onAttempt: options.onAttempt ?? (() => undefined),
    onUnreadable: options.onUnreadable ?? (() => undefined),
    onDelivered: options.onDelivered ?? (() => undefined),
    log: options.log.child({ component: 'notify' }),
  };
  const events = options.events === 'fed' ? undefined : await (await options.js.consumers.get(names.events_stream, names.events_consumer)).consume({ max_messages: notify_fetch_batch_max });
  const sends = await (await options.js.consumers.get(names.stream, names.sender_consumer)).consume({ max_messages: notify_fetch_batch_max });
  let stopping = false;
  const inflight = new Set<Promise<void>>();
  // Fed events, one at a time in the order handed over.
  let fed: Promise<void> = Promise.resolve();

  const events_loop = (async () => {
    if (events === undefined) return;
    for await (const message of events) {
      if (stopping) {
        message.nak();
        continue;
      }
      await queueEvent(context, message);
    }
  })();
  const sends_loop = (async () => {
    for await (const message of sends) {
      if (stopping) {
        message.nak();
        continue;
      }
      const started = dispatch(context, message);
      if (started === undefined) continue;
      inflight.add(started);
      void started.finally(() => inflight.delete(started));
    }
  })();

  return {
    async stop() {
      stopping = true;
      events?.stop();
      sends.stop();
      await Promise.all([events_loop, sends_loop, fed]);
      await Promise.allSettled([...inflight]);
      await context.agent.close();
    },
    listDeadLetters: (query) => listDeadLetters(options.jsm, names, query),
    resend: (notification_id) => resendDeadLetter(options.js, options.jsm, names, notification_id, schedule_ms),
    handleEvent(message, stored) {
      const handled = fed.then(() => {
        if (stopping) message.nak();
        else return queueEvent(context, message, stored);
      });
      fed = handled.catch(() => undefined);
      return handled;
    },
  };
}

/** Queues the notifications one PAY_EVENTS message calls for, then acks it. */
async function queueEvent(context: Context, message: JsMsg, decoded?: StoredMessage): Promise<void> {
  let stored: StoredMessage;
  try {
    stored = decoded ?? decodeJson<StoredMessage>(message.data, stored_message_schema);
  } catch (error) {
    // A message we cannot read will not read better later: set it aside loudly.
    // It stays in the event stream (only this consumer lets it go); counted for the alert.
    context.log.error({ subject: message.subject, seq: message.seq, err: String(error) }, 'notify: unreadable event; set aside');
    context.onUnreadable('event');
    message.term('unreadable');
    return;
  }
  if (!isOutcomeEvent(stored.event.type)) {
    message.ack();
    return;
  }
  try {
    const now = new Date();
    for (const planned of plannedNotifications(stored)) {
      if (!isSubjectToken(planned.merchant_id) || !isSubjectToken(planned.id)) {
        context.log.error({ payment_id: planned.payment_id, notification_id: planned.id }, 'notify: merchant or notification id is not a subject token; skipped');
        continue;
      }
      const traceparent = message.headers?.get('traceparent') ?? '';
      const pending = { ...firstPending(planned, now, context.schedule_ms), ...(traceparent === '' ? {} : { traceparent }) };
      await context.js.publish(context.names.send(planned.merchant_id), encodeJson(pending), { msgID: pendingMessageId(pending) });
      context.log.info({ notification_id: pending.id, payment_id: pending.payment_id, merchant_id: pending.merchant_id, type: pending.type }, 'notify: queued');
    }
    message.ack();
  } catch (error) {
    if (error instanceof OutcomeShapeError) {
      context.log.error({ payment_id: stored.state.payment_id, event: stored.event.type, err: error.message }, 'notify: outcome event without what it needs; skipped');
      context.onUnreadable('outcome_shape');
      message.term('outcome shape');
      return;
    }
    // Our own stream failing: retried on a doubling delay, capped (the outage may be long).
    const delay_ms = Math.min(notify_retry_delay_ms * 2 ** Math.min(message.info.deliveryCount - 1, 16), notify_retry_delay_ms_max);
    context.log.warn({ payment_id: stored.state.payment_id, err: String(error), retry_in_ms: delay_ms }, 'notify: queueing failed; will retry');
    message.nak(delay_ms);
  }
}

/** Decides what to do with one pending message now; returns the delivery if one started. */
function dispatch(context: Context, message: JsMsg): Promise<void> | undefined {
  let pending: PendingNotification;
  try {
    pending = decodeJson<PendingNotification>(message.data, no_money);
  } catch (error) {
    context.log.error({ subject: message.subject, seq: message.seq, err: String(error) }, 'notify: unreadable pending notification; set aside');
    context.onUnreadable('pending');
    message.term('unreadable');
    return undefined;
  }
  const wait_ms = Date.parse(pending.due_at) - Date.now();
  if (wait_ms > 0) {
    message.nak(Math.min(wait_ms, notify_nak_delay_ms_max));
    return undefined;
  }
  if (!context.bounds.tryAcquire(pending.merchant_id)) {
    message.nak(context.busy_delay_ms);
    return undefined;
  }
  return attempt(context, message, pending)
    .catch((error: unknown) => {
      context.log.warn({ notification_id: pending.id, merchant_id: pending.merchant_id, err: String(error) }, 'notify: attempt could not be settled; will retry');
      message.nak(notify_retry_delay_ms);
    })
    .finally(() => context.bounds.release(pending.merchant_id));
}

/** One attempt: POST, then ack on success, or queue what follows the failure and ack. */
async function attempt(context: Context, message: JsMsg, pending: PendingNotification): Promise<void> {
  const fields = {
    notification_id: pending.id,
    payment_id: pending.payment_id,
    merchant_id: pending.merchant_id,
    type: pending.type,
    attempt: pending.attempt + 1,
  };
  // A secret store that throws or hangs is our dependency failing, not the merchant: no
  // attempt is spent (the caller naks and retries).
  const secret = await withTimeout(context.secretOf(pending.merchant_id), context.timeout_ms, 'secret lookup');
  let result: DeliveryResult;
  if (secret === undefined || secret === '') {
    context.log.warn({ merchant_id: pending.merchant_id, notification_id: pending.id }, 'notify: merchant has no notification secret; attempt counted as failed');
    result = { ok: false, error: 'secret_missing' };
  } else {
    const parent = extractFrom(pending.traceparent === undefined ? {} : { traceparent: pending.traceparent });
    result = await inSpan('notify deliver', SpanKind.CLIENT, parent, () =>
      deliver(context.agent, context.destinations, {
        url: pending.url,
        body: pending.body,
        notification_id: pending.id,
        attempt_no: pending.attempt + 1,
        secret,
        timeout_ms: context.timeout_ms,
      }),
    );
  }
  if (result.ok) {
    message.ack();
    context.onAttempt('delivered');
    reportDelivered(context, pending);
    context.log.info({ ...fields, status: result.status }, 'notify: delivered');
    return;
  }
  const next = afterFailure(pending, result.error, new Date(), context.schedule_ms);
  if (next.kind === 'retry') {
    await context.js.publish(context.names.send(pending.merchant_id), encodeJson(next.pending), { msgID: pendingMessageId(next.pending) });
    message.ack();
    context.onAttempt('retry');
    context.log.info({ ...fields, error: result.error, next_due_at: next.pending.due_at }, 'notify: attempt failed; retry scheduled');
    return;
  }
  await context.js.publish(context.names.dead(pending.merchant_id, pending.id), encodeJson(next.dead), { msgID: deadMessageId(next.dead) });
  message.ack();
  context.onAttempt('dead');
  context.log.warn({ ...fields, error: result.error }, 'notify: last attempt failed; dead-lettered');
}

/** A re-sent dead letter was already counted bad when it died: only first deliveries count. */
function reportDelivered(context: Context, pending: PendingNotification): void {
  if (pending.resends > 0) return;
  const outcome_ms = Date.parse((JSON.parse(pending.body) as Partial<NotificationBody>).created_at ?? '');
  if (Number.isFinite(outcome_ms)) context.onDelivered(Math.max(0, Date.now() - outcome_ms));
}

function withTimeout<T>(promise: Promise<T>, timeout_ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeout_ms} ms`)), timeout_ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

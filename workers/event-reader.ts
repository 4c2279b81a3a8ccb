// The main thread's reader of the event log: one durable consumer on PAY_EVENTS (the
// notifier's, <PREFIX>_NOTIFIER) whose every message is decoded once and serves both readers
// that need each message. A creation message with timers is held until its first timer is due
// (creation-timers.ts); every other message goes to the merchant notifier (core/notify), which
// queues an outcome's notifications and acks. One delivery and one ack per message for both,
// where a consumer each cost two of each. A payment that is over when created has no timers,
// and a message that moves a payment to an outcome is never one the timers hold, so neither
// reader loses a message to the other.

import type { JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { decodeJson } from '../core/codec';
import { consumeEach, type Consuming } from '../core/consume';
import { stored_message_schema, type StoredMessage } from '../core/events/stored';
import type { Notifier } from '../core/notify';
import { creationTimersOf, fireWhenDue, retireEventTimers, type CreationTimersOptions } from './creation-timers';

export interface EventReaderOptions extends CreationTimersOptions {
  jsm: JetStreamManager;
  /** Started with `events: 'fed'`. */
  notifier: Pick<Notifier, 'handleEvent'>;
  /** The durable consumer read (the notifier's events consumer). */
  consumer: string;
}

export async function startEventReader(options: EventReaderOptions): Promise<Consuming> {
  const reading = await consumeEach(options.js, options.names.events_stream, options.consumer, (message) => read(options, message), options.log, 'event or creation timer handling failed; handed back');
  const former = await retireEventTimers({ ...options, reader_consumer: options.consumer });
  return {
    async stop() {
      await former.stop();
      await reading.stop();
    },
  };
}

async function read(options: EventReaderOptions, message: JsMsg): Promise<void> {
  let stored: StoredMessage;
  try {
    stored = decodeJson<StoredMessage>(message.data, stored_message_schema);
  } catch {
    // The notifier sets it aside loudly (and counts it for the alert).
    await options.notifier.handleEvent(message);
    return;
  }
  const due = creationTimersOf(stored, options.query_backoff_ms);
  if (due === undefined) await options.notifier.handleEvent(message, stored);
  else await fireWhenDue(options, message, stored, due);
}

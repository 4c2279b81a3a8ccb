// The orders module as the gateway sees it: send a command to a payment's actor, read a
// payment or a refund, watch a payment. How commands travel (NATS requests), how events are
// stored (JetStream, one subject per payment) and decoded stay inside core/orders: the gateway
// never opens a JetStream consumer nor decodes a stored message itself.

import type { ConsumerMessages, JetStreamClient } from '@nats-io/jetstream';
import { decodeJson } from '../codec';
import type { Names } from '../names';
import type { ActorsClient } from './actors-client';
import { findRefund, isOpen } from './evolve';
import type { ActorCommand } from './protocol';
import type { RefundIndex } from './refund-index';
import { stored_message_schema, type StoredMessage } from '../events/stored';
import type { EventStore, Loaded } from './store';

export type { Loaded } from './store';
import type { PaymentState, Refund } from './types';

/** A payment's states after a given one, in order, ending after the first that is no longer
 * open. `stop()` ends it early (the iteration then ends without another state). */
export interface PaymentWatch extends AsyncIterable<PaymentState> {
  stop(): void;
}

export interface OrdersClient {
  /** Hands a command to the payment's actor and returns the payment after it; a refusal or an
   * unreachable actor is a PaycoreError (core/orders/actors-client.ts). */
  send(command: ActorCommand): Promise<PaymentState>;
  /** The payment as last stored and its position in the log (for `watch`); undefined if none. */
  get(payment_id: string): Promise<Loaded | undefined>;
  /** The payment holding a refund id (the refund index); undefined if none does. */
  refundHolder(refund_id: string): Promise<string | undefined>;
  /** A refund and the payment it belongs to; undefined if the refund id is not recorded. */
  getRefund(refund_id: string): Promise<{ state: PaymentState; refund: Refund } | undefined>;
  /** Every state of the payment stored after position `after_seq` (from `get`). */
  watch(payment_id: string, after_seq: number): PaymentWatch;
}

export interface OrdersClientDeps {
  actors: Pick<ActorsClient, 'send'>;
  store: Pick<EventStore, 'load'>;
  refund_index: Pick<RefundIndex, 'lookup'>;
  js: JetStreamClient;
  names: Names;
}

export function ordersClient(deps: OrdersClientDeps): OrdersClient {
  return {
    send: (command) => deps.actors.send(command),
    get: (payment_id) => deps.store.load(payment_id),
    refundHolder: (refund_id) => deps.refund_index.lookup(refund_id),
    async getRefund(refund_id) {
      const payment_id = await deps.refund_index.lookup(refund_id);
      const loaded = payment_id === undefined ? undefined : await deps.store.load(payment_id);
      const refund = loaded === undefined ? undefined : findRefund(loaded.state, refund_id);
      return loaded === undefined || refund === undefined ? undefined : { state: loaded.state, refund };
    },
    watch: (payment_id, after_seq) => watchPayment(deps.js, deps.names, payment_id, after_seq),
  };
}

function watchPayment(js: JetStreamClient, names: Names, payment_id: string, after_seq: number): PaymentWatch {
  let messages: ConsumerMessages | undefined;
  let stopped = false;
  async function* states(): AsyncGenerator<PaymentState> {
    // An ordered consumer on the payment's subject, from the message after the one given.
    const consumer = await js.consumers.get(names.events_stream, { filter_subjects: names.events(payment_id), opt_start_seq: after_seq + 1 });
    if (stopped) return;
    messages = await consumer.consume();
    if (stopped) {
      messages.stop();
      return;
    }
    try {
      for await (const message of messages) {
        const stored = decodeJson<StoredMessage>(message.data, stored_message_schema);
        yield stored.state;
        if (!isOpen(stored.state)) return;
      }
    } finally {
      messages.stop();
    }
  }
  return {
    [Symbol.asyncIterator]: () => states(),
    stop() {
      stopped = true;
      messages?.stop();
    },
  };
}

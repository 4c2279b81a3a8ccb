// A message of the payment event log as stored on JetStream (core/orders/store.ts writes
// them): the events of one decision and the state after them, and where money sits in it
// (core/codec.ts decodes by this). Whoever reads the log — the orders module, the books, the
// merchant notifier, routing's cap re-derivation — reads it through this module.

import type { MoneySchema } from '../codec';
import type { PaymentEvent, PaymentState } from './types';

/** One message on a payment's subject: the events of one decision (usually one) and the
 * state after them. `event` is the last of them; `events` lists all when there are several
 * (an outcome, if any, is always the last). */
export interface StoredMessage {
  event: PaymentEvent;
  events?: PaymentEvent[];
  state: PaymentState;
}

/** Every event a stored message carries, in order. */
export function eventsOf(message: StoredMessage): readonly PaymentEvent[] {
  return message.events ?? [message.event];
}

// A money field added to an event or the state is added here too; the round-trip tests in
// core/orders/schemas.test.ts fail when one is missed.

/** Every event's money fields (the union over event types: each names a subset). */
const event: MoneySchema = { amount_minor: 'minor', fee_minor: 'minor', merchant_fee_minor: 'minor', share_returns: [{ amount_minor: 'minor' }] };

/** A PaymentState's money fields. */
export const payment_state_schema: MoneySchema = {
  amount_minor: 'minor',
  refunded_minor: 'minor',
  fee_minor: 'minor',
  merchant_fee_minor: 'minor',
  attempts: [{ fee_minor: 'minor' }],
  duplicates: [{ amount_minor: 'minor' }],
  refunds: [{ amount_minor: 'minor', share_returns: [{ amount_minor: 'minor' }] }],
};

/** A StoredMessage's money fields. */
export const stored_message_schema: MoneySchema = { event, events: [event], state: payment_state_schema };

// Where money sits in what the orders side puts on NATS (core/codec.ts decodes by these).
// A money field added to an event, the state, a request or a reply is added here too; the
// round-trip tests in core/orders/schemas.test.ts fail when one is missed.

import type { MoneySchema } from '../codec';

/** Every event's money fields (the union over event types: each names a subset). */
const event: MoneySchema = { amount_minor: 'minor', fee_minor: 'minor', merchant_fee_minor: 'minor' };

const payment_state_schema: MoneySchema = {
  amount_minor: 'minor',
  refunded_minor: 'minor',
  fee_minor: 'minor',
  merchant_fee_minor: 'minor',
  attempts: [{ fee_minor: 'minor' }],
  duplicates: [{ amount_minor: 'minor' }],
  refunds: [{ amount_minor: 'minor' }],
};

/** A message of the event log (core/orders/store.ts StoredMessage). */
export const stored_message_schema: MoneySchema = { event, events: [event], state: payment_state_schema };

/** An ActorRequest: a create's or refund's input, a channel's status. */
export const actor_request_schema: MoneySchema = { input: { amount_minor: 'minor' }, status: { amount_minor: 'minor' } };

/** An ActorReply. */
export const actor_reply_schema: MoneySchema = { payment: payment_state_schema };

// Where money sits in what the orders side puts on NATS besides the event log (core/codec.ts
// decodes by these; the log's own is core/events/stored.ts). A money field added to a request
// or a reply is added here too; the round-trip tests in core/orders/schemas.test.ts fail when
// one is missed.

import type { MoneySchema } from '../codec';
import { payment_state_schema } from '../events/stored';

/** An ActorRequest: a create's or refund's input, a channel's status. */
export const actor_request_schema: MoneySchema = { input: { amount_minor: 'minor', share_returns: [{ amount_minor: 'minor' }] }, status: { amount_minor: 'minor' } };

/** An ActorReply. */
export const actor_reply_schema: MoneySchema = { payment: payment_state_schema };

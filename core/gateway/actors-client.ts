// The gateway's side of `<p>.pay.cmd.<shard>`: one NATS request per command, its reply
// turned back into a payment or a PaycoreError.

import { errors as nats_errors, headers, type NatsConnection } from '@nats-io/transport-node';
import { decodeJson, encodeJson } from '../codec';
import { actor_reply_schema } from '../orders/schemas';
import { PaycoreError, errorFromWire } from '../errors';
import { shardOf } from '../ids';
import type { Names } from '../names';
import type { ActorReply, ActorRequest } from '../orders/protocol';
import type { PaymentState } from '../orders/types';
import { injectInto } from '../tracing';

export class ActorsClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly names: Names,
    private readonly shards: number,
    private readonly timeout_ms: number,
  ) {}

  async send(request: ActorRequest): Promise<PaymentState> {
    const subject = this.names.command(shardOf(request.payment_id, this.shards));
    let reply: ActorReply;
    try {
      const message = await this.nc.request(subject, encodeJson(request), { timeout: this.timeout_ms, headers: injectInto(headers()) });
      reply = decodeJson<ActorReply>(message.data, actor_reply_schema);
    } catch (error) {
      if (error instanceof nats_errors.NoRespondersError) {
        throw new PaycoreError('DEPENDENCY_DOWN', 'no actor host serves this payment now; retry with the same key');
      }
      if (error instanceof nats_errors.TimeoutError) {
        throw new PaycoreError('DEPENDENCY_DOWN', `the payment's actor did not answer within ${this.timeout_ms} ms; retry with the same key`);
      }
      throw new PaycoreError('DEPENDENCY_DOWN', `NATS request failed (${(error as Error).message}); retry with the same key`);
    }
    if (!reply.ok) throw errorFromWire(reply.error);
    return reply.payment;
  }
}

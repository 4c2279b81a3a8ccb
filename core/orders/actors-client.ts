// The gateway's side of `<p>.pay.cmd.<shard>`: one NATS request per command, its reply
// turned back into a payment or a PaycoreError.
//
// While NATS is down a command is refused at once (DEPENDENCY_DOWN), never published into the
// client's reconnect buffer. A command published just before the link dropped may sit in that
// buffer and reach the server after reconnecting; it carries its deadline (deadline_at_ms),
// and an actor refuses to start a command past it, so a command its caller was told failed
// is never executed later behind the caller's back (it may have run before the failure was
// reported, exactly as with any timeout: the caller retries with the same key).

import { errors as nats_errors, headers, type NatsConnection } from '@nats-io/transport-node';
import { decodeJson, encodeJson } from '../codec';
import { actor_reply_schema } from './schemas';
import { PaycoreError, dependencyDown, errorFromWire } from '../errors';
import { shardOf } from '../ids';
import type { Names } from '../names';
import type { NatsLink } from '../nats-link';
import type { ActorCommand, ActorReply, ActorRequest } from './protocol';
import type { PaymentState } from './types';
import { injectInto } from '../tracing';

export class ActorsClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly names: Names,
    private readonly shards: number,
    private readonly timeout_ms: number,
    private readonly link?: NatsLink,
  ) {}

  async send(command: ActorCommand): Promise<PaymentState> {
    if (this.link !== undefined && !this.link.up) throw dependencyDown('NATS');
    const subject = this.names.command(shardOf(command.payment_id, this.shards));
    const request: ActorRequest = { ...command, deadline_at_ms: Date.now() + this.timeout_ms };
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
      throw new PaycoreError('DEPENDENCY_DOWN', 'the command bus (NATS) failed the request; retry with the same key');
    }
    if (!reply.ok) throw errorFromWire(reply.error);
    return reply.payment;
  }
}

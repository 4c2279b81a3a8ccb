// The gateway's side of `<p>.pay.cmd.<shard>`: one NATS request per command, its reply
// turned back into a payment or a PaycoreError. When this process holds the payment's shard
// (`local`, workers/pool.ts), the command goes to its thread over the port instead, with no
// NATS message. Only the process holding the shard's lease runs it (workers/leases.ts); while
// the shard has no holder (no responder, or a process answering it does not hold it: not
// executed) the command is sent again after a short wait, until its deadline.
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
import { isNoResponders, type NatsLink } from '../nats-link';
import { command_start_margin_ms, unowned_retry_ms } from '../constants';
import { isUnowned, unownedReply, type ActorCommand, type ActorReply, type ActorRequest } from './protocol';
import type { PaymentState } from './types';
import { injectInto } from '../tracing';

/** This process's actor threads: a reply, or undefined when the thread serving the
 * payment's shard cannot take it now (then the command goes over NATS). */
export interface LocalActors {
  dispatch(request: ActorRequest, trace: Record<string, string>): Promise<ActorReply> | undefined;
}

export class ActorsClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly names: Names,
    private readonly shards: number,
    private readonly timeout_ms: number,
    private readonly link?: NatsLink,
    private readonly local?: LocalActors,
  ) {}

  async send(command: ActorCommand): Promise<PaymentState> {
    const reply = await this.reply(command);
    if (!reply.ok) throw errorFromWire(reply.error);
    return reply.payment;
  }

  /** The actor's reply as it came (a refusal is a reply; unowned, isUnowned, when no process
   * held the shard until the deadline); a PaycoreError (DEPENDENCY_DOWN) when no actor answered.
   * For paycore's own commands that act on the reason (the creation timers). */
  async reply(command: ActorCommand): Promise<ActorReply> {
    // The actors need NATS for everything they do: refused at once while it is down.
    if (this.link !== undefined && !this.link.up) throw dependencyDown('NATS');
    const request: ActorRequest = { ...command, deadline_at_ms: Date.now() + this.timeout_ms };
    // A shard changing hands (released, its holder dead, not claimed yet) has no holder for a
    // moment: the command, not executed, is sent again until the deadline.
    for (let attempt = 0; ; attempt++) {
      const reply = (await this.#sendLocal(request)) ?? (await this.#sendOverNats(request));
      if (isUnowned(reply)) {
        const wait_ms = unowned_retry_ms[Math.min(attempt, unowned_retry_ms.length - 1)]!;
        if (Date.now() + wait_ms < request.deadline_at_ms! - command_start_margin_ms) {
          await new Promise((resolve) => setTimeout(resolve, wait_ms));
          continue;
        }
      }
      return reply;
    }
  }

  async #sendLocal(request: ActorRequest): Promise<ActorReply | undefined> {
    if (this.local === undefined) return undefined;
    const trace: Record<string, string> = {};
    injectInto({ set: (key: string, value: string) => void (trace[key] = value) });
    const answer = this.local.dispatch(request, trace);
    if (answer === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      const message = `the payment's actor did not answer within ${this.timeout_ms} ms; retry with the same key`;
      timer = setTimeout(() => reject(new PaycoreError('DEPENDENCY_DOWN', message)), Math.max(1, request.deadline_at_ms! - Date.now()));
    });
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #sendOverNats(request: ActorRequest): Promise<ActorReply> {
    const subject = this.names.command(shardOf(request.payment_id, this.shards));
    try {
      const timeout = Math.max(1, request.deadline_at_ms! - Date.now());
      const message = await this.nc.request(subject, encodeJson(request), { timeout, headers: injectInto(headers()) });
      return decodeJson<ActorReply>(message.data, actor_reply_schema);
    } catch (error) {
      if (isNoResponders(error)) return unownedReply(request.payment_id);
      if (error instanceof nats_errors.TimeoutError) {
        throw new PaycoreError('DEPENDENCY_DOWN', `the payment's actor did not answer within ${this.timeout_ms} ms; retry with the same key`);
      }
      throw new PaycoreError('DEPENDENCY_DOWN', 'the command bus (NATS) failed the request; retry with the same key');
    }
  }
}

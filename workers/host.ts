// What an actor-host thread does once its object graph is built (workers/root/actor-host.ts):
// serves the commands of the shards its process holds (workers/leases.ts) with s mod W = w,
// the set its pool sends; runs the timer pump; and talks to its pool over the thread's port
// (workers/messages.ts): ready, requests in hand, shards drained, link and routability,
// metrics, stop.

import type { MessagePort } from 'node:worker_threads';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { decodeJson, encodeJson } from '../core/codec';
import { health_poll_ms, worker_drain_ms_max } from '../core/constants';
import type { Logger } from '../core/log';
import type { MetricsJson } from '../core/metrics';
import type { Names } from '../core/names';
import { NatsLink } from '../core/nats-link';
import { shardOf } from '../core/ids';
import { unownedReply, type ActorReply, type ActorRequest } from '../core/orders/protocol';
import { actor_request_schema } from '../core/orders/schemas';
import { SpanKind, extractFrom, extractFromHeaders, inSpan } from '../core/tracing';
import type { ShardLease } from './leases';
import type { FromWorker, ToWorker } from './messages';
import { PumpGate, type TimerPump } from './timer-pump';

export interface HostDeps {
  port: MessagePort;
  /** The shards the thread holds now (its pool's `shards` messages). */
  held: HeldShards;
  nc: NatsConnection;
  names: Names;
  log: Logger;
  /** The thread's actors: one request in, one reply out. */
  handle(request: ActorRequest): Promise<ActorReply>;
  /** Drops the thread's cached actors of a shard it no longer holds. */
  forget(shard: number): void;
  /** Started once the thread subscribes to its shards; fires only while the gate is open. */
  startPump(gate: PumpGate): Promise<TimerPump>;
  /** Whether the thread's routing table can route now. */
  routable(): boolean;
  /** Calls `listener` whenever the thread's Redis connection changes state. */
  onRedisChange(listener: () => void): void;
  /** The thread's metrics, for the pool's /metrics. */
  metrics(): Promise<MetricsJson>;
  /** Closes what the thread opened (after its subscriptions, pump and requests are done),
   * the NATS connection last. */
  close(): Promise<void>;
}

/** The shards this thread holds now, as its pool last said (workers/leases.ts), each fenced
 * by the process's monotonic clock: past `until_ns` it is not served even if no word came. */
export class HeldShards {
  readonly #leases = new Map<number, ShardLease>();

  constructor(readonly shards: number) {}

  shardOf(payment_id: string): number {
    return shardOf(payment_id, this.shards);
  }

  /** Whether the thread takes new commands for the shard. */
  accepting(shard: number): boolean {
    const lease = this.#leases.get(shard);
    return lease !== undefined && lease.accepting && process.hrtime.bigint() < lease.until_ns;
  }

  /** The lease's epoch while the thread may run the payment's commands (ActorDeps.owner). */
  epochOf(payment_id: string): number | undefined {
    const lease = this.#leases.get(this.shardOf(payment_id));
    return lease !== undefined && process.hrtime.bigint() < lease.until_ns ? lease.epoch : undefined;
  }

  has(shard: number): boolean {
    return this.#leases.has(shard);
  }

  get size(): number {
    return this.#leases.size;
  }

  /** The new set; returns the shards it no longer holds. */
  set(leases: readonly ShardLease[]): number[] {
    const gone = [...this.#leases.keys()].filter((shard) => !leases.some((l) => l.shard === shard));
    this.#leases.clear();
    for (const lease of leases) this.#leases.set(lease.shard, lease);
    return gone;
  }

  /** Drops the shards whose fence passed; returns them. */
  expire(): number[] {
    const now = process.hrtime.bigint();
    const expired = [...this.#leases].filter(([, l]) => now >= l.until_ns).map(([shard]) => shard);
    for (const shard of expired) this.#leases.delete(shard);
    return expired;
  }
}

/** Commands in hand per shard, so that a shard being released can wait for its own. */
class ShardCounts {
  readonly #counts = new Map<number, number>();
  readonly #idle = new Map<number, (() => void)[]>();

  add(shard: number): void {
    this.#counts.set(shard, (this.#counts.get(shard) ?? 0) + 1);
  }

  done(shard: number): void {
    const left = (this.#counts.get(shard) ?? 1) - 1;
    if (left > 0) {
      this.#counts.set(shard, left);
      return;
    }
    this.#counts.delete(shard);
    for (const wake of this.#idle.get(shard) ?? []) wake();
    this.#idle.delete(shard);
  }

  idle(shard: number): Promise<void> {
    if (!this.#counts.has(shard)) return Promise.resolve();
    return new Promise((resolve) => this.#idle.set(shard, [...(this.#idle.get(shard) ?? []), resolve]));
  }
}

/** How the thread serves a command: one from NATS (answered on its reply subject, which the
 * pool answers if the thread dies), or one of its own process handed over the port (answered
 * on the port); `inflight` holds both until they are answered. A command for a shard the
 * thread does not take now is answered `unownedReply`, not executed. */
function commandServer(deps: HostDeps, post: (message: FromWorker) => void) {
  const { log, held } = deps;
  const inflight = new Set<Promise<void>>();
  const per_shard = new ShardCounts();
  const track = (served: Promise<void>): void => {
    inflight.add(served);
    void served.finally(() => inflight.delete(served));
  };
  const run = async (request: ActorRequest, run_turn: () => Promise<ActorReply>): Promise<ActorReply> => {
    const shard = held.shardOf(request.payment_id);
    if (!held.accepting(shard)) return unownedReply(request.payment_id);
    per_shard.add(shard);
    try {
      return await run_turn();
    } finally {
      per_shard.done(shard);
    }
  };
  const serve = async (message: Msg): Promise<void> => {
    const reply = message.reply;
    if (reply !== undefined) post({ type: 'inflight', reply });
    try {
      const request = decodeJson<ActorRequest>(message.data, actor_request_schema);
      const answer = await run(request, () => inSpan(`actor ${request.type}`, SpanKind.CONSUMER, extractFromHeaders(message.headers), () => deps.handle(request)));
      if (reply !== undefined) message.respond(encodeJson(answer));
    } catch (error) {
      log.error({ err: String(error) }, 'undecodable actor request');
      if (reply !== undefined) message.respond(encodeJson({ ok: false, error: { reason: 'INTERNAL', message: 'INTERNAL: undecodable request' } }));
    } finally {
      if (reply !== undefined) post({ type: 'settled', reply });
    }
  };
  const serveLocal = async (message: Extract<ToWorker, { type: 'command' }>): Promise<void> => {
    let reply: ActorReply;
    try {
      reply = await run(message.request, () => inSpan(`actor ${message.request.type}`, SpanKind.CONSUMER, extractFrom(message.trace), () => deps.handle(message.request)));
    } catch (error) {
      log.error({ err: String(error) }, 'actor command failed');
      reply = { ok: false, error: { reason: 'INTERNAL', message: 'INTERNAL: the command failed' } };
    }
    post({ type: 'answer', id: message.id, reply });
  };
  return { inflight, per_shard, serve: (message: Msg) => track(serve(message)), serveLocal: (message: Extract<ToWorker, { type: 'command' }>) => track(serveLocal(message)) };
}

/** The thread's subscriptions follow its held shards: one per shard it takes commands for.
 * A shard being released is unsubscribed (drained: requests already sent are still answered,
 * `unownedReply`), its commands in hand finish, then the pool hears `drained`. */
function shardSubscriptions(deps: HostDeps, server: ReturnType<typeof commandServer>, post: (message: FromWorker) => void) {
  const { nc, names, log, held } = deps;
  const subscriptions = new Map<number, Subscription>();
  const subscribe = (shard: number): void => {
    subscriptions.set(shard, nc.subscribe(names.command(shard), {
      queue: 'actors',
      callback: (error, message) => {
        if (error !== null) {
          log.error({ err: String(error) }, 'command subscription failed');
          return;
        }
        server.serve(message);
      },
    }));
  };
  const stop = (shard: number): Promise<void> => {
    const subscription = subscriptions.get(shard);
    subscriptions.delete(shard);
    return subscription === undefined ? Promise.resolve() : subscription.drain().catch(() => undefined);
  };
  const apply = (leases: readonly ShardLease[]): void => {
    for (const shard of held.set(leases)) deps.forget(shard);
    for (const lease of leases) {
      if (lease.accepting && !subscriptions.has(lease.shard)) subscribe(lease.shard);
      if (lease.accepting) continue;
      // Said again at every round while the release lasts: the pool listens only while it waits.
      void stop(lease.shard).then(() => server.per_shard.idle(lease.shard)).then(() => post({ type: 'drained', shard: lease.shard }));
    }
    for (const shard of [...subscriptions.keys()]) if (!held.has(shard)) void stop(shard);
  };
  // A fence that passes with no word from the pool (its main thread stalled, or the bucket
  // unreachable): the thread stops serving the shard on its own.
  const fence = setInterval(() => {
    for (const shard of held.expire()) {
      log.warn({ shard }, 'shard lease not renewed in time; not serving it');
      void stop(shard);
      deps.forget(shard);
    }
  }, health_poll_ms);
  fence.unref();
  return {
    apply,
    async stopAll(): Promise<void> {
      clearInterval(fence);
      await Promise.all([...subscriptions.keys()].map(stop));
    },
  };
}

export async function serveActorHost(deps: HostDeps): Promise<void> {
  const { port, nc, log } = deps;
  const post = (message: FromWorker): void => port.postMessage(message);
  const server = commandServer(deps, post);
  const { inflight, serveLocal } = server;
  const shards = shardSubscriptions(deps, server, post);

  const gate = new PumpGate();
  const pump = await deps.startPump(gate);
  await nc.flush();
  log.info('actor host ready');
  post({ type: 'ready' });
  // After a reconnect the client re-sends its subscriptions first; a flush round trip proves
  // the server has them before the pool hears the link is up.
  new NatsLink(nc).onChange((up) => {
    if (!up) post({ type: 'link', up: false });
    else void nc.flush().then(() => post({ type: 'link', up: true }), () => undefined);
  });

  // The gateway's health includes every thread's ability to route (each has its own Redis
  // connection, which reconnects on its own schedule).
  // Said at once when its Redis connection changes state (a poll alone left the gateway
  // SERVING for up to two poll rounds while a thread was still reconnecting after a Redis
  // restart), and polled for what changes without a connection event (the configuration
  // lost with an empty Redis, then rebuilt).
  let routable = deps.routable();
  post({ type: 'routable', up: routable });
  const checkRoutable = (): void => {
    if (deps.routable() === routable) return;
    routable = deps.routable();
    post({ type: 'routable', up: routable });
  };
  deps.onRedisChange(checkRoutable);
  const routable_poll = setInterval(checkRoutable, health_poll_ms);
  routable_poll.unref();

  port.on('message', (message: ToWorker) => {
    if (message.type === 'command') {
      serveLocal(message);
      return;
    }
    if (message.type === 'metrics') {
      void deps.metrics().then((json) => post({ type: 'metrics', request_id: message.request_id, metrics: json }));
      return;
    }
    if (message.type === 'pump') {
      gate.set(message.open);
      return;
    }
    if (message.type === 'shards') {
      shards.apply(message.shards);
      return;
    }
    if (message.type !== 'stop') return;
    void (async () => {
      await shards.stopAll();
      await pump.stop();
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, worker_drain_ms_max))]);
      await deps.close();
      post({ type: 'stopped' });
      process.exit(0);
    })();
  });
}

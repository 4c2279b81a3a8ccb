// What an actor-host thread does once its object graph is built (workers/root/actor-host.ts):
// serves the commands of the shards s with s mod W = w (queue group, so several processes may
// serve the same shards), runs the timer pump, and talks to its pool over the thread's port
// (workers/messages.ts): ready, requests in hand, link and routability, metrics, stop.

import type { MessagePort } from 'node:worker_threads';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { decodeJson, encodeJson } from '../core/codec';
import { health_poll_ms, worker_drain_ms_max } from '../core/constants';
import type { Logger } from '../core/log';
import type { MetricsJson } from '../core/metrics';
import type { Names } from '../core/names';
import { NatsLink } from '../core/nats-link';
import type { ActorReply, ActorRequest } from '../core/orders/protocol';
import { actor_request_schema } from '../core/orders/schemas';
import { SpanKind, extractFrom, extractFromHeaders, inSpan } from '../core/tracing';
import type { FromWorker, ToWorker } from './messages';
import { PumpGate, type TimerPump } from './timer-pump';

export interface HostDeps {
  port: MessagePort;
  worker_index: number;
  worker_count: number;
  shards: number;
  nc: NatsConnection;
  names: Names;
  log: Logger;
  /** The thread's actors: one request in, one reply out. */
  handle(request: ActorRequest): Promise<ActorReply>;
  /** Started once the thread subscribes to its shards; fires only while the gate is open. */
  startPump(gate: PumpGate): Promise<TimerPump>;
  /** Whether the thread's routing table can route now. */
  routable(): boolean;
  /** The thread's metrics, for the pool's /metrics. */
  metrics(): Promise<MetricsJson>;
  /** Closes what the thread opened (after its subscriptions, pump and requests are done),
   * the NATS connection last. */
  close(): Promise<void>;
}

/** How the thread serves a command: one from NATS (answered on its reply subject, which the
 * pool answers if the thread dies), or one of its own process handed over the port (answered
 * on the port); `inflight` holds both until they are answered. */
function commandServer(deps: HostDeps, post: (message: FromWorker) => void) {
  const { log } = deps;
  const inflight = new Set<Promise<void>>();
  const track = (served: Promise<void>): void => {
    inflight.add(served);
    void served.finally(() => inflight.delete(served));
  };
  const serve = async (message: Msg): Promise<void> => {
    const reply = message.reply;
    if (reply !== undefined) post({ type: 'inflight', reply });
    try {
      const request = decodeJson<ActorRequest>(message.data, actor_request_schema);
      const answer = await inSpan(`actor ${request.type}`, SpanKind.CONSUMER, extractFromHeaders(message.headers), () => deps.handle(request));
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
      reply = await inSpan(`actor ${message.request.type}`, SpanKind.CONSUMER, extractFrom(message.trace), () => deps.handle(message.request));
    } catch (error) {
      log.error({ err: String(error) }, 'actor command failed');
      reply = { ok: false, error: { reason: 'INTERNAL', message: 'INTERNAL: the command failed' } };
    }
    post({ type: 'answer', id: message.id, reply });
  };
  return { inflight, serve: (message: Msg) => track(serve(message)), serveLocal: (message: Extract<ToWorker, { type: 'command' }>) => track(serveLocal(message)) };
}

export async function serveActorHost(deps: HostDeps): Promise<void> {
  const { port, nc, names, log } = deps;
  const post = (message: FromWorker): void => port.postMessage(message);
  const { inflight, serve, serveLocal } = commandServer(deps, post);

  const subscriptions: Subscription[] = [];
  for (let shard = deps.worker_index; shard < deps.shards; shard += deps.worker_count) {
    subscriptions.push(
      nc.subscribe(names.command(shard), {
        queue: 'actors',
        callback: (error, message) => {
          if (error !== null) {
            log.error({ err: String(error) }, 'command subscription failed');
            return;
          }
          serve(message);
        },
      }),
    );
  }
  const gate = new PumpGate();
  const pump = await deps.startPump(gate);
  await nc.flush();
  log.info({ shards: subscriptions.length }, 'actor host ready');
  post({ type: 'ready' });
  // After a reconnect the client re-sends its subscriptions first; a flush round trip proves
  // the server has them before the pool hears the link is up.
  new NatsLink(nc).onChange((up) => {
    if (!up) post({ type: 'link', up: false });
    else void nc.flush().then(() => post({ type: 'link', up: true }), () => undefined);
  });

  // The gateway's health includes every thread's ability to route (each has its own Redis
  // connection, which reconnects on its own schedule).
  let routable = deps.routable();
  post({ type: 'routable', up: routable });
  const routable_poll = setInterval(() => {
    if (deps.routable() === routable) return;
    routable = deps.routable();
    post({ type: 'routable', up: routable });
  }, health_poll_ms);
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
    if (message.type !== 'stop') return;
    void (async () => {
      await Promise.all(subscriptions.map((s) => s.drain()));
      await pump.stop();
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, worker_drain_ms_max))]);
      await deps.close();
      post({ type: 'stopped' });
      process.exit(0);
    })();
  });
}

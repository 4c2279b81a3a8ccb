// An actor-host worker thread: its own NATS connection, the actors of the shards s with
// s mod W = w (queue group, so several processes may serve the same shards), and a timer
// pump. Loaded as compiled JavaScript by workers/pool.ts.

import { parentPort, workerData } from 'node:worker_threads';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type Msg, type Subscription } from '@nats-io/transport-node';
import { decodeJson, encodeJson } from '../core/codec';
import { actor_request_schema } from '../core/orders/schemas';
import { health_poll_ms, worker_drain_ms_max } from '../core/constants';
import { idKey } from '../core/ids';
import { natsAuthOptions, redisAuthOptions } from '../core/connections';
import { createLogger } from '../core/log';
import { createActorMetrics, type MetricsJson } from '../core/metrics';
import { names as namesOf } from '../core/names';
import { ActorSystem } from '../core/orders/actor';
import type { ActorRequest } from '../core/orders/protocol';
import { RefundIndex } from '../core/orders/refund-index';
import { EventStore } from '../core/orders/store';
import { TimerScheduler } from '../core/orders/timers';
import { Redis } from 'ioredis';
import { createChannel } from '../channels';
import { ChannelDirectory } from '../core/routing/directory';
import { RiskEngine, riskDigestKey } from '../core/risk/engine';
import { HeldIndex } from '../core/risk/held';
import { openRouting } from '../core/routing/open';
import { Sealer } from '../core/seal';
import { SpanKind, extractFromHeaders, inSpan, initTracing } from '../core/tracing';
import type { ActorHostData, FromWorker, ToWorker } from './messages';
import { NatsLink } from '../core/nats-link';
import { PumpGate, startTimerPump } from './timer-pump';

const port = parentPort;
if (port === null) throw new Error('actor-host must run as a worker thread');

function post(message: FromWorker): void {
  port!.postMessage(message);
}

async function main(): Promise<void> {
  const data = workerData as ActorHostData;
  // Buffers cross the thread boundary as plain Uint8Arrays.
  const config = { ...data.config, data_key: Buffer.from(data.config.data_key), id_key: idKey(data.config.id_key) };
  const log = createLogger(config.log_level, { thread: `actor-${data.worker_index}` });
  const tracing = initTracing('paycore');
  const names = namesOf(config.prefix);
  const nc = await connect({ servers: config.nats_url, name: `paycore-actor-${data.worker_index}`, maxReconnectAttempts: -1, noAsyncTraces: true, ...natsAuthOptions(config.actor_nats_auth) });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const metrics = createActorMetrics();
  // No offline queue: while Redis is away a decision fails at once (DEPENDENCY_DOWN) instead of
  // waiting for a reconnect its caller has long stopped waiting for.
  const redis = new Redis(config.redis_url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, ...redisAuthOptions(config.redis_url, config.redis_auth) });
  await redis.connect();
  const sealer = new Sealer(config.data_key);
  const table = await openRouting(config, js, redis, names, sealer, log);
  await table.cache.start();
  const routing = new ChannelDirectory(config.channels, new Map(config.channels.map((c) => [c.channel_id, createChannel(c)])), table, config.public_url, log, metrics.actor);
  const risk = new RiskEngine(redis, config.prefix, {
    rules: () => table.risk_rules.riskRules(),
    digest_key: riskDigestKey(config.data_key),
    publish: async (event) => void (await js.publish(names.riskEvents(event.payment_id), encodeJson(event))),
    metrics: { decisions: metrics.actor.risk_decisions, rule_hits: metrics.actor.risk_rule_hits },
  });
  const actors = new ActorSystem({
    store: new EventStore(js, jsm, names, metrics.actor.publish),
    timers: new TimerScheduler(js, names, metrics.actor.publish),
    channels: routing,
    sealer,
    query_backoff_ms: config.query_backoff_ms,
    refund_backoff_ms: config.refund_backoff_ms,
    refund_index: new RefundIndex(js, jsm, names),
    id_key: config.id_key,
    log,
    metrics: metrics.actor,
    risk,
    held: new HeldIndex(redis, config.prefix),
    now: () => new Date(),
  });

  const inflight = new Set<Promise<void>>();
  const serve = async (message: Msg): Promise<void> => {
    const reply = message.reply;
    if (reply !== undefined) post({ type: 'inflight', reply });
    try {
      const request = decodeJson<ActorRequest>(message.data, actor_request_schema);
      const answer = await inSpan(`actor ${request.type}`, SpanKind.CONSUMER, extractFromHeaders(message.headers), () => actors.handle(request));
      if (reply !== undefined) message.respond(encodeJson(answer));
    } catch (error) {
      log.error({ err: String(error) }, 'undecodable actor request');
      if (reply !== undefined) message.respond(encodeJson({ ok: false, error: { reason: 'INTERNAL', message: 'INTERNAL: undecodable request' } }));
    } finally {
      if (reply !== undefined) post({ type: 'settled', reply });
    }
  };

  const subscriptions: Subscription[] = [];
  for (let shard = data.worker_index; shard < config.shards; shard += data.worker_count) {
    subscriptions.push(
      nc.subscribe(names.command(shard), {
        queue: 'actors',
        callback: (error, message) => {
          if (error !== null) {
            log.error({ err: String(error) }, 'command subscription failed');
            return;
          }
          const served = serve(message);
          inflight.add(served);
          void served.finally(() => inflight.delete(served));
        },
      }),
    );
  }
  const gate = new PumpGate();
  const pump = await startTimerPump({ gate, nc, js, names, shards: config.shards, command_timeout_ms: config.command_timeout_ms, log, timer_lag: metrics.actor.timer_lag, retry_backoff_ms: config.timer_retry_backoff_ms });
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
  let routable = table.cache.routable;
  post({ type: 'routable', up: routable });
  const routable_poll = setInterval(() => {
    if (table.cache.routable === routable) return;
    routable = table.cache.routable;
    post({ type: 'routable', up: routable });
  }, health_poll_ms);
  routable_poll.unref();

  port!.on('message', (message: ToWorker) => {
    if (message.type === 'metrics') {
      void metrics.registry.getMetricsAsJSON().then((json) => post({ type: 'metrics', request_id: message.request_id, metrics: json as MetricsJson }));
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
      await routing.close();
      await table.cache.stop();
      redis.disconnect();
      await tracing.shutdown();
      await nc.drain();
      post({ type: 'stopped' });
      process.exit(0);
    })();
  });
}

main().catch((error: Error) => {
  post({ type: 'fatal', error: { name: error.name, message: error.message, stack: error.stack } });
  process.exit(1);
});

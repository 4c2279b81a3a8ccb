// The composition root (workers/root/), one actor-host thread: its connections, the routing
// table, then `buildActorHost` (channel directory, risk engine, event store, timers,
// ActorSystem, which runs commands only for the shards the thread holds), served by
// workers/host.ts with the timer pump. Entered from
// workers/actor-host.ts; it loads none of the gateway's modules. docs/architecture.md §10.

import type { MessagePort } from 'node:worker_threads';
import { closeAdapters, createAdapters } from './adapters';
import { encodeJson } from '../../core/codec';
import type { Config } from '../../core/config';
import { idKey } from '../../core/ids';
import { createLogger, type Logger } from '../../core/log';
import { createActorMetrics, type MetricsJson, type ThreadMetrics } from '../../core/metrics';
import { ActorSystem } from '../../core/orders/actor';
import { RefundIndex } from '../../core/orders/refund-index';
import { EventStore } from '../../core/orders/store';
import { TimerScheduler } from '../../core/orders/timers';
import { RiskEngine, riskDigestKey } from '../../core/risk/engine';
import { HeldIndex } from '../../core/risk/held';
import { ChannelDirectory } from '../../core/routing/directory';
import { initTracing } from '../../core/tracing';
import { HeldShards, serveActorHost } from '../host';
import type { ActorHostData, FromWorker } from '../messages';
import { startTimerPump } from '../timer-pump';
import { openConnections, type Connections } from './connections';

interface ActorHostDeps {
  config: Config;
  log: Logger;
  connections: Connections;
  metrics: ThreadMetrics;
  held: HeldShards;
}

/** One thread's actors on its connections: the channel directory, the risk engine, the event
 * store, the timers and the ActorSystem; `close` closes the channel adapters. */
function buildActorHost(deps: ActorHostDeps): { actors: ActorSystem; close(): Promise<void> } {
  const { config, log, metrics } = deps;
  const { names, js, jsm, redis, sealer, table } = deps.connections;
  const adapters = createAdapters(config.channels);
  const routing = new ChannelDirectory(
    config.channels,
    adapters,
    table,
    config.public_url,
    log,
    metrics.actor,
  );
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
    bounds: { commands_max: config.actor_commands_max },
    now: () => new Date(),
    owner: (payment_id) => deps.held.epochOf(payment_id),
  });
  return { actors, close: () => closeAdapters(adapters, table.health, log) };
}

/** The body of an actor-host thread: `port` and `data` are the thread's parentPort and
 * workerData (workers/pool.ts starts the thread). */
export async function runActorHost(port: MessagePort, data: ActorHostData): Promise<void> {
  // Buffers cross the thread boundary as plain Uint8Arrays.
  const config = { ...data.config, data_key: Buffer.from(data.config.data_key), id_key: idKey(data.config.id_key) };
  const log = createLogger(config.log_level, { thread: `actor-${data.worker_index}` });
  const tracing = initTracing('paycore');
  const c = await openConnections(config, { name: `paycore-actor-${data.worker_index}`, auth: config.actor_nats_auth }, log);
  const metrics = createActorMetrics();
  await c.table.cache.start();
  const held = new HeldShards(config.shards);
  const host = buildActorHost({ config, log, connections: c, metrics, held });
  await serveActorHost({
    port,
    held,
    nc: c.nc,
    names: c.names,
    log,
    handle: (request) => host.actors.handle(request),
    forget: (shard) => host.actors.forget((payment_id) => held.shardOf(payment_id) === shard),
    startPump: (gate) =>
      startTimerPump({
        gate,
        nc: c.nc,
        js: c.js,
        names: c.names,
        shards: config.shards,
        command_timeout_ms: config.command_timeout_ms,
        log,
        timer_lag: metrics.actor.timer_lag,
        retry_backoff_ms: config.timer_retry_backoff_ms,
      }),
    routable: () => c.table.cache.routable,
    onRedisChange: (listener) => {
      for (const event of ['ready', 'close', 'reconnecting', 'end']) c.redis.on(event, listener);
    },
    metrics: async () => (await metrics.registry.getMetricsAsJSON()) as MetricsJson,
    async close() {
      await host.close();
      await c.table.cache.stop();
      c.redis.disconnect();
      await tracing.shutdown();
      await c.nc.drain();
    },
  });
}

/** How a thread that failed to start tells its pool. */
export function reportFatal(port: MessagePort, error: Error): void {
  port.postMessage({ type: 'fatal', error: { name: error.name, message: error.message, stack: error.stack } } satisfies FromWorker);
}

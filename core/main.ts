// paycore's process: the gRPC gateway and the callback HTTP port on the main thread, the
// order actors on PAYCORE_WORKERS worker threads. `node dist/core/main.js`.

import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { createChannel } from '../channels';
import { ActorPool } from '../workers/pool';
import { ConfigError, loadConfig, notifyPolicy, type Config } from './config';
import { grpc_drain_ms_max, health_poll_ms, ledger_lag_poll_ms, metrics_collect_ms_max, notify_backlog_poll_ms, reservation_sweep_grace_ms, reservation_sweep_interval_ms } from './constants';
import { ActorsClient } from './orders/actors-client';
import { ordersClient } from './orders/api';
import { startGrpc } from './gateway/grpc';
import { startHttp } from './gateway/http';
import { createLogger, type Logger } from './log';
import { createGatewayMetrics, exposition, type GatewayMetrics } from './metrics';
import { names as namesOf } from './names';
import { NatsLink } from './nats-link';
import { RefundIndex } from './orders/refund-index';
import { deadTimers } from './orders/dead-timers';
import { sweepReservations } from './orders/reservation-sweeper';
import { EventStore, ensureStreams } from './orders/store';
import { readFileSync } from 'node:fs';
import { ensureNotifyStreams, notifyNames, startNotifier } from './notify';
import { ChannelDirectory } from './routing/directory';
import { CardService } from './cards/service';
import { CardStore } from './cards/store';
import { HeldIndex } from './risk/held';
import { openRouting } from './routing/open';
import { initTracing } from './tracing';
import { Authenticator } from './auth/authenticator';
import { Sealer } from './seal';
import { natsAuthOptions, redisAuthOptions } from './connections';
import { LedgerStore } from './ledger/store';
import { migrate } from './recon/store';
import { startProjection, type Projection } from './ledger/projection';
import { scheduleCutoff } from './ledger/cutoff';

export interface Paycore {
  grpc_port: number;
  admin_grpc_port: number;
  http_port: number;
  pool: ActorPool;
  stop(): Promise<void>;
}

export async function startPaycore(config: Config, log: Logger): Promise<Paycore> {
  const names = namesOf(config.prefix);
  // noAsyncTraces: no stack captured per request (a measured ~4% of CPU under load); a failed
  // request still says what failed.
  const nc = await connect({ servers: config.nats_url, name: 'paycore-gateway', maxReconnectAttempts: -1, noAsyncTraces: true, ...natsAuthOptions(config.nats_auth) });
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, names, config.stream_replicas);
  const js = jetstream(nc);
  const redis = new Redis(config.redis_url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, ...redisAuthOptions(config.redis_url, config.redis_auth) });
  await redis.connect();
  const sealer = new Sealer(config.data_key);
  const table = await openRouting(config, js, redis, names, sealer, log);
  if (config.routing_file !== undefined) {
    const applied = await table.admin.applyTable(JSON.parse(readFileSync(config.routing_file, 'utf8')));
    log.info({ file: config.routing_file, channels: applied.channels, merchants: applied.merchants }, 'routing table applied');
  }
  await table.cache.start();
  await ensureNotifyStreams(jsm, config.prefix, { replicas: config.stream_replicas });

  const metrics = createGatewayMetrics();
  const pool = new ActorPool(config, nc, log);
  pool.onRestart = () => metrics.gateway.worker_restarts.inc();
  await pool.start();
  const routing = new ChannelDirectory(config.channels, new Map(config.channels.map((c) => [c.channel_id, createChannel(c)])), table, config.public_url, log);
  const link = new NatsLink(nc);
  const actors = new ActorsClient(nc, names, config.shards, config.command_timeout_ms, link);
  const store = new EventStore(js, jsm, names);
  const refund_index = new RefundIndex(js, jsm, names);
  const orders = ordersClient({ actors, store, refund_index, js, names });
  const notifier = await startNotifier({
    js,
    jsm,
    prefix: config.prefix,
    secretOf: (merchant_id) => table.merchants.notifySecret(merchant_id),
    destinations: notifyPolicy(config),
    schedule_ms: config.notify_schedule_ms,
    timeout_ms: config.notify_timeout_ms,
    onAttempt: (result) => metrics.gateway.notify_attempts.inc({ result }),
    onUnreadable: (stage) => metrics.gateway.notify_unreadable.inc({ stage }),
    onDelivered: (after_outcome_ms) => metrics.gateway.notify_delivery_delay.observe(after_outcome_ms / 1000),
    log,
  });
  const books = await startBooks(config, js, jsm, names, metrics.gateway, log);
  const dependencies = { nats: () => link.up, redis: () => redis.status === 'ready' };
  const authenticator = new Authenticator(table.apps, redis, `${config.prefix}:nonce`);
  const cards = new CardService({
    store: await CardStore.open(js, config.prefix, config.data_key, config.stream_replicas), channels: routing, merchants: table.merchants, routing_channels: table.cache, sealer, id_key: config.id_key, log, now: () => new Date(),
  });
  const grpc = await startGrpc({ held: new HeldIndex(redis, config.prefix), cards, ledger: books?.store, config, orders, routing: table, notifier, dead_timers: deadTimers(js, jsm, names), log, metrics: metrics.gateway, dependencies, authenticator });
  watchNotifyBacklog(jsm, config.prefix, metrics.gateway);
  // Reservation markers the actors left behind (a process killed between route and append,
  // a failed release) are settled from the event log.
  const sweeping = setInterval(() => {
    void sweepReservations({ channels: table.cache, reservations: table.reservations, store, log, grace_ms: reservation_sweep_grace_ms }).catch((error: unknown) => log.warn({ err: String(error) }, 'reservation sweep failed; next round retries'));
  }, reservation_sweep_interval_ms);
  sweeping.unref();

  // SERVING only while a payment can be routed: NATS and Redis answer, and the routing table
  // holds its configuration (after Redis comes back empty, not until it is rebuilt).
  const healthy = (): boolean => link.up && redis.status === 'ready' && table.cache.routable && pool.serving;
  const refreshHealth = (): void => {
    metrics.gateway.dependency_up.set({ dependency: 'nats' }, link.up ? 1 : 0);
    metrics.gateway.dependency_up.set({ dependency: 'redis' }, redis.status === 'ready' ? 1 : 0);
    const status = healthy() ? 'SERVING' : 'NOT_SERVING';
    grpc.health.setStatus('', status);
    grpc.health.setStatus('paycore.v1.PaymentService', status);
  };
  link.onChange(refreshHealth);
  const health_poll = setInterval(refreshHealth, health_poll_ms);
  health_poll.unref();
  redis.on('ready', refreshHealth).on('end', refreshHealth).on('error', refreshHealth).on('close', refreshHealth);
  refreshHealth();

  const metricsText = async (): Promise<string> => exposition(metrics.registry, await pool.collectMetrics(metrics_collect_ms_max));
  const http = await startHttp({ host: config.http_host, port: config.http_port, channel: (id) => routing.get(id), orders, healthy, metricsText, metrics: metrics.gateway, log });
  log.info({ grpc_port: grpc.port, admin_grpc_port: grpc.admin_port, http_port: http.port, workers: config.workers, prefix: config.prefix, grpc_tls: config.grpc_tls !== undefined }, 'paycore ready');

  return {
    grpc_port: grpc.port,
    admin_grpc_port: grpc.admin_port,
    http_port: http.port,
    pool,
    async stop() {
      clearInterval(health_poll);
      clearInterval(sweeping);
      await grpc.shutdown(grpc_drain_ms_max);
      await http.close();
      await notifier.stop();
      await books?.projection.stop();
      await books?.store.close();
      await pool.stop();
      await routing.close();
      await table.cache.stop();
      redis.disconnect();
      await nc.drain();
    },
  };
}

/** The books: migrates PostgreSQL (versioned SQL, core/ledger/migrations, then core/recon/migrations) and starts the
 * projection of the payment events into it. Without PAYCORE_DATABASE_URL, no books. */
async function startBooks(config: Config, js: ReturnType<typeof jetstream>, jsm: JetStreamManager, names: ReturnType<typeof namesOf>, gateway: GatewayMetrics, log: Logger): Promise<{ store: LedgerStore; projection: Projection } | undefined> {
  if (config.database_url === undefined) {
    log.warn('PAYCORE_DATABASE_URL is not set: no books are kept (core/ledger)');
    return undefined;
  }
  await migrate(config.database_url, (message) => log.debug({ message }, 'ledger migration'));
  const store = new LedgerStore(config.database_url, config.ledger_timezone);
  const projection = await startProjection({ js, jsm, names, prefix: config.prefix, store, log, metrics: { lag_messages: gateway.ledger_lag, entries: gateway.ledger_entries } });
  // PostgreSQL's reachability as a metric only: the books being down never stops payments
  // (the projection catches up; new refunds wait for the funding check).
  const ping = (): void => void store.pool.query('SELECT 1').then(() => gateway.dependency_up.set({ dependency: 'postgres' }, 1), () => gateway.dependency_up.set({ dependency: 'postgres' }, 0));
  const probe = setInterval(ping, ledger_lag_poll_ms);
  probe.unref();
  ping();
  const stopCutoff = config.ledger_cutoff_interval_ms === 0 ? () => undefined : scheduleCutoff(store, config.ledger_timezone, config.ledger_cutoff_interval_ms, log);
  return { store, projection: { get applied_seq() { return projection.applied_seq; }, async stop() { clearInterval(probe); stopCutoff(); await projection.stop(); } } };
}

/** The notification backlog and dead letters, read from JetStream at most every few seconds. */
function watchNotifyBacklog(jsm: JetStreamManager, prefix: string, gateway: GatewayMetrics): void {
  const n = notifyNames(prefix);
  const read = async (): Promise<void> => {
    const sender = await jsm.consumers.info(n.stream, n.sender_consumer);
    gateway.notify_backlog.set(sender.num_pending + sender.num_ack_pending);
    gateway.notify_dead_letters.set((await jsm.streams.info(n.dead_stream)).state.messages);
    gateway.timer_dead_letters.set((await jsm.streams.info(namesOf(prefix).timers_dead_stream)).state.messages);
  };
  const timer = setInterval(() => void read().catch(() => undefined), notify_backlog_poll_ms);
  timer.unref();
  void read().catch(() => undefined);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`paycore: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.log_level, { thread: 'main' });
  const tracing = initTracing('paycore');
  const paycore = await startPaycore(config, log);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'paycore stopping: draining calls in flight');
    paycore.stop().then(() => tracing.shutdown()).then(
      () => process.exit(0),
      (error: Error) => {
        log.error({ err: error.message }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`paycore: failed to start: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}

// The composition root (workers/root/), main thread: its connections, the routing table, the
// actor-host pool, then `buildGateway` (orders client, notifier, books, card binding,
// authentication, gRPC and the callback HTTP port, health). Every module it builds gets what
// it needs passed in. Entered from workers/main.ts; docs/architecture.md §10.

import { readFileSync } from 'node:fs';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { closeAdapters, createAdapters } from './adapters';
import { Authenticator } from '../../core/auth/authenticator';
import { CardService } from '../../core/cards/service';
import { CardStore } from '../../core/cards/store';
import type { Config } from '../../core/config';
import { notifyPolicy } from '../../core/notify/destination';
import { gateway_commands_in_flight_max, grpc_drain_ms_max, health_poll_ms, ledger_lag_poll_ms, metrics_collect_ms_max, notify_backlog_poll_ms, reservation_sweep_grace_ms, reservation_sweep_interval_ms } from '../../core/constants';
import { startGrpc } from '../../core/gateway/grpc';
import { boundInFlight } from '../../core/gateway/in-flight';
import { startHttp } from '../../core/gateway/http';
import { scheduleCutoff } from '../../core/ledger/cutoff';
import { startProjection, type Projection } from '../../core/ledger/projection';
import { LedgerStore } from '../../core/ledger/store';
import { startPayouts } from '../../core/payouts';
import { startSplits } from '../../core/splits';
import type { PayoutState } from '../../core/payouts/types';
import { migrate, ReconStore } from '../../core/recon/store';
import { ReconPool } from '../../core/recon/parallel';
import { pool_days_default } from '../../core/recon/run';
import { scheduleRecon } from '../../core/recon/schedule';
import type { ReconRuntime } from '../../core/gateway/recon';
import { statementParsers, type Channel } from '../../channels';
import type { OrdersClient } from '../../core/orders/api';
import type { Logger } from '../../core/log';
import { createGatewayMetrics, exposition, type GatewayMetrics } from '../../core/metrics';
import { names as namesOf, type Names } from '../../core/names';
import { NatsLink } from '../../core/nats-link';
import { ensureNotifyStreams, notifyNames, startNotifier } from '../../core/notify';
import { ActorsClient } from '../../core/orders/actors-client';
import { ordersClient } from '../../core/orders/api';
import { deadTimers } from '../../core/orders/dead-timers';
import { RefundIndex } from '../../core/orders/refund-index';
import { sweepReservations } from '../../core/orders/reservation-sweeper';
import { EventStore, ensureStreams } from '../../core/orders/store';
import { HeldIndex } from '../../core/risk/held';
import { ChannelDirectory } from '../../core/routing/directory';
import { startEventReader } from '../event-reader';
import { ActorPool } from '../pool';
import { openConnections, type Connections } from './connections';

export interface Paycore {
  grpc_port: number;
  admin_grpc_port: number;
  http_port: number;
  pool: ActorPool;
  stop(): Promise<void>;
}

export async function startPaycore(config: Config, log: Logger): Promise<Paycore> {
  const c = await openConnections(config, { name: 'paycore-gateway', auth: config.nats_auth }, log, ({ jsm, names }) => ensureStreams(jsm, names, config.stream_replicas));
  if (config.routing_file !== undefined) {
    const applied = await c.table.admin.applyTable(JSON.parse(readFileSync(config.routing_file, 'utf8')));
    log.info({ file: config.routing_file, channels: applied.channels, merchants: applied.merchants }, 'routing table applied');
  }
  await c.table.cache.start();
  await ensureNotifyStreams(c.jsm, config.prefix, { replicas: config.stream_replicas });

  const metrics = createGatewayMetrics();
  const pool = new ActorPool(config, c.nc, log);
  pool.onRestart = () => metrics.gateway.worker_restarts.inc();
  pool.onLease = (event, held) => {
    metrics.gateway.shard_handovers.inc({ event });
    metrics.gateway.shards_held.set(held);
  };
  await pool.start();
  const gateway = await buildGateway({ config, log, connections: c, metrics, pool });
  return {
    grpc_port: gateway.grpc_port,
    admin_grpc_port: gateway.admin_grpc_port,
    http_port: gateway.http_port,
    pool,
    async stop() {
      await gateway.stop();
      await pool.stop();
      await gateway.close();
      await c.table.cache.stop();
      c.redis.disconnect();
      await c.nc.drain();
    },
  };
}

interface GatewayDeps {
  config: Config;
  log: Logger;
  connections: Connections;
  metrics: ReturnType<typeof createGatewayMetrics>;
  /** The actor-host threads: their health and metrics are the gateway's too. */
  pool: Pick<ActorPool, 'serving' | 'collectMetrics' | 'dispatch' | 'gate' | 'onServingChange'>;
}

interface Gateway {
  grpc_port: number;
  admin_grpc_port: number;
  http_port: number;
  /** Stops serving: health polls, gRPC (drained), the HTTP port, the event reader, the notifier, the books. */
  stop(): Promise<void>;
  /** Closes the channel adapters (after the actor threads stopped). */
  close(): Promise<void>;
}

/** The main thread's object graph on its connections: the orders client, the notifier, the
 * books, card binding, authentication, the gRPC and HTTP servers and their health. */
async function buildGateway(deps: GatewayDeps): Promise<Gateway> {
  const { config, log, metrics, pool } = deps;
  const { names, nc, js, jsm, redis, sealer, table } = deps.connections;
  const adapters = createAdapters(config.channels);
  const routing = new ChannelDirectory(config.channels, adapters, table, config.public_url, log);
  const link = new NatsLink(nc);
  const store = new EventStore(js, jsm, names);
  // Back-pressure: commands waiting on the actors are bounded per gateway (core/gateway/in-flight.ts).
  const actors_client = new ActorsClient(nc, names, config.shards, config.command_timeout_ms, link, pool);
  const actors = boundInFlight(actors_client, gateway_commands_in_flight_max);
  const orders = ordersClient({ actors, store, refund_index: new RefundIndex(js, jsm, names), js, names });
  const notifier = await startNotifier({
    js, jsm, prefix: config.prefix, secretOf: (merchant_id) => table.merchants.notifySecret(merchant_id), destinations: notifyPolicy(config),
    schedule_ms: config.notify_schedule_ms, timeout_ms: config.notify_timeout_ms,
    onAttempt: (result) => metrics.gateway.notify_attempts.inc({ result }),
    onUnreadable: (stage) => metrics.gateway.notify_unreadable.inc({ stage }),
    onDelivered: (after_outcome_ms) => metrics.gateway.notify_delivery_delay.observe(after_outcome_ms / 1000),
    events: 'fed', log,
  });
  // The event log read once for the notifier and the creations' timers (workers/event-reader.ts).
  const events = await startEventReader({
    js, jsm, names, notifier, consumer: notifyNames(config.prefix).events_consumer, gate: pool.gate, command: (command) => actors_client.reply(command),
    query_backoff_ms: config.query_backoff_ms, retry_backoff_ms: config.timer_retry_backoff_ms, timer_lag: metrics.gateway.timer_lag, log,
  });
  const books = await startBooks(config, js, jsm, names, metrics.gateway, log);
  const { payouts, splits } = await startMoneyOut(deps, books?.store, routing, orders);
  // Reconciliation pulls statements through the adapters and acts through the orders module.
  const stopRecon = books === undefined ? () => undefined : startRecon(books.recon, adapters, orders, config, log);
  const dependencies = { nats: () => link.up, redis: () => redis.status === 'ready' };
  const authenticator = new Authenticator(table.apps, redis, `${config.prefix}:nonce`);
  const cards = new CardService({
    store: await CardStore.open(js, config.prefix, config.data_key, config.stream_replicas), channels: routing, merchants: table.merchants,
    routing_channels: table.cache, sealer, id_key: config.id_key, log, now: () => new Date(),
  });
  const grpc = await startGrpc({
    held: new HeldIndex(redis, config.prefix), cards, ledger: books?.store, recon: books?.recon, config, orders, routing: table, notifier,
    dead_timers: deadTimers(js, jsm, names), log, metrics: metrics.gateway, dependencies, authenticator, payouts, splits,
  });
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
  pool.onServingChange = refreshHealth;
  const health_poll = setInterval(refreshHealth, health_poll_ms);
  health_poll.unref();
  redis.on('ready', refreshHealth).on('end', refreshHealth).on('error', refreshHealth).on('close', refreshHealth);
  refreshHealth();

  const metricsText = async (): Promise<string> => exposition(metrics.registry, await pool.collectMetrics(metrics_collect_ms_max));
  const http = await startHttp({
    host: config.http_host, port: config.http_port, channel: (id) => routing.get(id), orders, healthy, metricsText, metrics: metrics.gateway, log,
    ...(splits === undefined ? {} : { splits: splits.service }),
  });
  log.info({ grpc_port: grpc.port, admin_grpc_port: grpc.admin_port, http_port: http.port, workers: config.workers, prefix: config.prefix, grpc_tls: config.grpc_tls !== undefined }, 'paycore ready');

  return {
    grpc_port: grpc.port,
    admin_grpc_port: grpc.admin_port,
    http_port: http.port,
    async stop() {
      clearInterval(health_poll);
      clearInterval(sweeping);
      await grpc.shutdown(grpc_drain_ms_max);
      await http.close();
      await events.stop();
      await notifier.stop();
      await payouts?.stop();
      await splits?.stop();
      stopRecon();
      await books?.projection.stop();
      await books?.store.close();
    },
    close: () => closeAdapters(adapters, table.health, log),
  };
}

/** Money out of a merchant's balance (payouts, splits): each keeps its funds in the books, so
 * none runs without them. */
async function startMoneyOut(deps: GatewayDeps, ledger: LedgerStore | undefined, routing: ChannelDirectory, orders: OrdersClient) {
  if (ledger === undefined) return { payouts: undefined, splits: undefined };
  const { config, log } = deps;
  const { js, jsm, sealer, table } = deps.connections;
  const payouts = await startPayouts({
    js, jsm, prefix: config.prefix, replicas: config.stream_replicas, ledger, settlement_scan_ms: config.ledger_cutoff_interval_ms,
    adapters: config.channels.flatMap((c) => routing.get(c.channel_id) ?? []), sealer, id_key: config.id_key, log, groupOf: (id) => table.merchants.groupOf(id),
    // The deployment's limits (PAYCORE_*_MAX_MINOR), each under the merchant's own where it has one.
    limitsOf: (id) => ({ ...config.payout_limits, ...table.merchants.payoutLimitsOf(id) }),
    onRefundPaid: recordRefundPayout(orders),
  });
  const splits = await startSplits({
    js, jsm, prefix: config.prefix, replicas: config.stream_replicas, ledger, id_key: config.id_key, sealer, log,
    adapters: config.channels.flatMap((c) => routing.get(c.channel_id) ?? []),
    payment: async (payment_id) => (await orders.get(payment_id))?.state,
    unfreeze_after_ms: config.split_unfreeze_after_ms, unfreeze_sweep_ms: Math.min(60_000, Math.max(1_000, config.split_unfreeze_after_ms)),
    stall_queries: config.split_stall_queries, follow_up_ms: config.split_follow_up_ms,
    claim_orphan_after_ms: config.split_claim_orphan_after_ms, claim_sweep_ms: Math.min(60_000, Math.max(1_000, config.split_claim_orphan_after_ms)),
  });
  return { payouts, splits };
}

/** A refund's payout paid (core/payouts): the refund's actor records it (idempotent). */
function recordRefundPayout(orders: OrdersClient): (state: PayoutState) => Promise<void> {
  return async (state) => {
    const refund = state.refund!;
    await orders.send({
      type: 'refund_paid_out', payment_id: refund.payment_id, refund_id: refund.refund_id, payout_id: state.payout_id, channel_id: state.channel_id,
      channel_payout_no: state.channel_payout_no ?? '', paid_at: state.paid_at ?? state.updated_at,
    });
  };
}

/** The books: migrates PostgreSQL (versioned SQL, core/ledger/migrations, then core/recon/migrations) and starts the
 * projection of the payment events into it. Without PAYCORE_DATABASE_URL, no books. */
async function startBooks(
  config: Config, js: JetStreamClient, jsm: JetStreamManager, names: Names, gateway: GatewayMetrics, log: Logger,
): Promise<{ store: LedgerStore; projection: Projection; recon: ReconRuntime } | undefined> {
  if (config.database_url === undefined) {
    log.warn('PAYCORE_DATABASE_URL is not set: no books are kept (core/ledger)');
    return undefined;
  }
  await migrate(config.database_url, (message) => log.debug({ message }, 'ledger migration'));
  const store = new LedgerStore(config.database_url, config.ledger_timezone);
  const projection = await startProjection({
    js, jsm, names, prefix: config.prefix, store, log, metrics: { lag_messages: gateway.ledger_lag, entries: gateway.ledger_entries },
  });
  // PostgreSQL's reachability as a metric only: the books being down never stops payments
  // (the projection catches up; new refunds wait for the funding check).
  const ping = (): void => void store.pool.query('SELECT 1').then(() => gateway.dependency_up.set({ dependency: 'postgres' }, 1), () => gateway.dependency_up.set({ dependency: 'postgres' }, 0));
  // Reconciliation (core/recon): its worker threads start with the first run.
  const recon: ReconRuntime = { store: new ReconStore(store), pool: new ReconPool(), pool_days: pool_days_default, parsers: statementParsers() };
  const countUnresolved = (): void => void recon.store.unresolvedCounts().then((counts) => {
    gateway.recon_unresolved.reset();
    for (const [key, count] of counts) {
      const [channel, found] = key.split('|') as [string, string];
      gateway.recon_unresolved.set({ channel, class: found }, count);
    }
  }, () => undefined);
  const probe = setInterval(() => {
    ping();
    countUnresolved();
  }, ledger_lag_poll_ms);
  probe.unref();
  ping();
  countUnresolved();
  const stopCutoff = config.ledger_cutoff_interval_ms === 0
    ? () => undefined
    : scheduleCutoff(store, config.ledger_timezone, config.ledger_cutoff_interval_ms, log);
  return {
    store, recon,
    projection: {
      get applied_seq() { return projection.applied_seq; },
      async stop() { clearInterval(probe); stopCutoff(); await projection.stop(); await recon.pool.close(); },
    },
  };
}

/** Reconciliation's daily pull (core/recon/schedule.ts), when PAYCORE_RECON_INTERVAL_MS is set. */
function startRecon(recon: ReconRuntime, adapters: ReadonlyMap<string, Channel>, orders: OrdersClient, config: Config, log: Logger): () => void {
  recon.channels = adapters;
  recon.act = { orders };
  if (config.recon_interval_ms === 0) return () => undefined;
  return scheduleRecon({ ...recon, channels: adapters, time_zone: config.ledger_timezone, log }, config.recon_interval_ms);
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

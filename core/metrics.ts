// Prometheus metrics (prom-client). Each thread has its own registry; the main thread
// serves /metrics by asking every actor-host thread for its metrics as JSON and
// aggregating them with its own (workers/pool.ts). Label values come from small fixed sets
// (methods, products, channel ids, statuses, reasons): never an id of a payment or merchant.

import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { notify_delivery_delay_buckets_seconds, payment_completion_buckets_seconds } from './constants';

/** Seconds; from a cache hit to a slow provider call. */
const latency_buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

function gatewayMetrics(registry: Registry) {
  return {
    grpc_requests: new Counter({ name: 'paycore_grpc_requests_total', help: 'gRPC calls by method and status code', labelNames: ['method', 'code'] as const, registers: [registry] }),
    auth_refusals: new Counter({ name: 'paycore_grpc_auth_refusals_total', help: 'gRPC calls refused before their handler, by reason (UNAUTHENTICATED, FORBIDDEN)', labelNames: ['reason'] as const, registers: [registry] }),
    grpc_duration: new Histogram({ name: 'paycore_grpc_request_duration_seconds', help: 'gRPC call latency by method', labelNames: ['method'] as const, buckets: latency_buckets, registers: [registry] }),
    callbacks: new Counter({ name: 'paycore_channel_callbacks_total', help: 'Provider callbacks by channel and result', labelNames: ['channel', 'result'] as const, registers: [registry] }),
    dependency_up: new Gauge({ name: 'paycore_dependency_up', help: '1 while the dependency is reachable', labelNames: ['dependency'] as const, registers: [registry] }),
    worker_restarts: new Counter({ name: 'paycore_actor_thread_restarts_total', help: 'Actor-host threads replaced after dying', registers: [registry] }),
    shards_held: new Gauge({ name: 'paycore_shards_held', help: 'Command shards whose lease this process holds (workers/leases.ts)', registers: [registry] }),
    shard_handovers: new Counter({ name: 'paycore_shard_handovers_total', help: 'Shard leases this process claimed, released (rebalance, stop) or lost (not renewed in time)', labelNames: ['event'] as const, registers: [registry] }),
    notify_attempts: new Counter({ name: 'paycore_notify_attempts_total', help: 'Merchant notification attempts by result (delivered, retry, dead)', labelNames: ['result'] as const, registers: [registry] }),
    notify_backlog: new Gauge({ name: 'paycore_notify_backlog', help: 'Merchant notifications waiting for delivery or a retry', registers: [registry] }),
    notify_delivery_delay: new Histogram({ name: 'paycore_notify_delivery_delay_seconds', help: 'From a payment or refund outcome to the merchant answering 2xx to its notification (first delivery, not re-sends)', buckets: [...notify_delivery_delay_buckets_seconds], registers: [registry] }),
    ledger_lag: new Gauge({ name: 'paycore_ledger_projection_lag_messages', help: 'Payment event stream messages not yet posted to the books (PostgreSQL)', registers: [registry] }),
    recon_unresolved: new Gauge({ name: 'paycore_recon_unresolved_differences', help: 'Reconciliation differences not yet resolved, by channel and class (core/recon)', labelNames: ['channel', 'class'] as const, registers: [registry] }),
    ledger_entries: new Counter({ name: 'paycore_ledger_entries_total', help: 'Journal entries the ledger projection posted', registers: [registry] }),
    notify_dead_letters: new Gauge({ name: 'paycore_notify_dead_letters', help: 'Notifications in the dead letter, waiting for an operator', registers: [registry] }),
    notify_unreadable: new Counter({ name: 'paycore_notify_unreadable_total', help: 'Messages the notifier set aside because it cannot read or plan them, by stage (event, outcome_shape, pending)', labelNames: ['stage'] as const, registers: [registry] }),
    timer_dead_letters: new Gauge({ name: 'paycore_timer_dead_letters', help: 'Timers that kept failing, dead-lettered and waiting for an operator (TimerAdminService)', registers: [registry] }),
    // The creations' timers fire in the main thread (workers/event-reader.ts), the others in
    // the actor threads: one series, summed over the threads like every metric.
    timer_lag: timerLag(registry),
  };
}

function timerLag(registry: Registry) {
  return new Histogram({ name: 'paycore_timer_lag_seconds', help: 'How late a timer fired after its due time', labelNames: ['kind'] as const, buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300], registers: [registry] });
}

function actorMetrics(registry: Registry) {
  return {
    payments: new Counter({ name: 'paycore_payments_total', help: 'Payments reaching an outcome, by product, channel and status', labelNames: ['product', 'channel', 'status'] as const, registers: [registry] }),
    completion: new Histogram({ name: 'paycore_payment_completion_seconds', help: 'From the payer paying (the provider\'s paid_at) to the payment reaching SUCCEEDED, by channel', labelNames: ['channel'] as const, buckets: [...payment_completion_buckets_seconds], registers: [registry] }),
    commands: new Counter({ name: 'paycore_actor_commands_total', help: 'Actor commands by type and result reason (ok or an error reason)', labelNames: ['type', 'result'] as const, registers: [registry] }),
    channel_calls: new Histogram({ name: 'paycore_channel_call_duration_seconds', help: 'Channel calls by channel, operation and outcome', labelNames: ['channel', 'operation', 'outcome'] as const, buckets: latency_buckets, registers: [registry] }),
    route_decisions: new Counter({ name: 'paycore_route_decisions_total', help: 'Routing decisions by product and chosen channel (none = NO_ROUTE)', labelNames: ['product', 'channel'] as const, registers: [registry] }),
    circuit_open: new Gauge({ name: 'paycore_channel_circuit_open', help: '1 while a channel\'s circuit is open or half-open (last state this process saw)', labelNames: ['channel'] as const, aggregator: 'max', registers: [registry] }),
    route_exclusions: new Counter({ name: 'paycore_route_exclusions_total', help: 'Channels excluded from a decision, by reason', labelNames: ['reason'] as const, registers: [registry] }),
    mailbox_depth: new Gauge({ name: 'paycore_actor_mailbox_depth', help: 'Commands queued in actor mailboxes (sum over actors)', registers: [registry] }),
    actors_live: new Gauge({ name: 'paycore_actors_live', help: 'Actors held in memory', registers: [registry] }),
    conflicts: new Counter({ name: 'paycore_append_conflicts_total', help: 'Optimistic-concurrency conflicts on appends (another writer moved first)', registers: [registry] }),
    timer_lag: timerLag(registry),
    risk_decisions: new Counter({ name: 'paycore_risk_decisions_total', help: 'Risk decisions on creates, by action (allow, step_up, review, block)', labelNames: ['action'] as const, registers: [registry] }),
    risk_rule_hits: new Counter({ name: 'paycore_risk_rule_hits_total', help: 'Risk rules that fired, by rule id (operator-named, bounded by risk_rules_max) and action', labelNames: ['rule', 'action'] as const, registers: [registry] }),
    publish: new Histogram({ name: 'paycore_jetstream_publish_duration_seconds', help: 'JetStream publish latency (until the ack) by stream', labelNames: ['stream'] as const, buckets: latency_buckets, registers: [registry] }),
  };
}

export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;
export type ActorMetrics = ReturnType<typeof actorMetrics>;

export interface ThreadMetrics {
  registry: Registry;
  actor: ActorMetrics;
}

/** The registry of the main thread: gateway metrics and Node's runtime defaults. */
export function createGatewayMetrics(): { registry: Registry; gateway: GatewayMetrics } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: '' });
  return { registry, gateway: gatewayMetrics(registry) };
}

/** The registry of one actor-host thread. */
export function createActorMetrics(): ThreadMetrics {
  const registry = new Registry();
  return { registry, actor: actorMetrics(registry) };
}

/** One exposition of the main registry plus every thread's JSON (summed per series). */
export async function exposition(main: Registry, threads: MetricsJson[]): Promise<string> {
  const own = await main.getMetricsAsJSON();
  if (threads.length === 0) return main.metrics();
  const aggregated = AggregatorRegistry.aggregate([...threads, own as MetricsJson]);
  return aggregated.metrics();
}

/** Times an async step into a histogram, labelling the outcome the step reports. */
export async function timed<T>(
  histogram: Histogram<string>,
  labels: Record<string, string>,
  step: () => Promise<T>,
  outcome: (result: T | undefined, error: unknown) => string,
): Promise<T> {
  const started = process.hrtime.bigint();
  try {
    const result = await step();
    histogram.observe({ ...labels, outcome: outcome(result, undefined) }, Number(process.hrtime.bigint() - started) / 1e9);
    return result;
  } catch (error) {
    histogram.observe({ ...labels, outcome: outcome(undefined, error) }, Number(process.hrtime.bigint() - started) / 1e9);
    throw error;
  }
}

// Every bound paycore runs under, with its unit and why it holds. Values that operators tune
// per deployment are defaults here and overridable in core/config.ts.

/** Commands one actor may queue before callers get OVERLOADED. A payment sees a handful of
 * commands in its life; more than this queued at once is a retry storm, not traffic. */
export const mailbox_depth_max = 64;

/** Live actors per worker thread. An actor is ~2 KiB; evicted ones reload from one
 * JetStream direct get, so this only trades memory for a round trip. */
export const actors_live_max = 20_000;

/** Re-decide rounds after an optimistic-concurrency conflict before giving up. Conflicts
 * need a second writer on the same payment; three rounds means something is wrong. */
export const append_conflict_retries_max = 3;

/** Compare-and-set rounds of a refund-id claim: each lost round means another payment
 * released or claimed the id meanwhile; a few are plenty, more means something is wrong. */
export const refund_claim_rounds_max = 3;

/** Attempts per payment (channel calls with a fresh attempt id). Bounded so an id fits the
 * providers' 32-character out_trade_no (see core/ids.ts). */
export const attempts_per_payment_max = 9;

/** How long the gateway waits for an actor's answer. Longer than a channel call's timeout
 * plus two appends, so a slow channel is reported by the actor, not by this timer. */
export const command_timeout_ms_default = 20_000;

/** Waits before sending again a command whose shard has no holder at the moment (a lease
 * changing hands, workers/leases.ts); the last repeats until the command's deadline. */
export const unowned_retry_ms: readonly number[] = [10, 25, 50, 100, 200];

/** A shard lease's time to live (PAYCORE_LEASE_TTL_MS, workers/leases.ts). */
export const lease_ttl_ms_default = 5_000;

/** An actor does not start a command with less than this left before its caller's deadline:
 * covers clock skew between the gateway and actor hosts on other machines (NTP keeps it to
 * milliseconds) and the time the reply needs to travel back. */
export const command_start_margin_ms = 500;

/** How long a create waits for the channel's answer before it answers the caller with the
 * pending payment (next action POLL) and applies the channel's answer later: a provider's
 * create answers in well under a second when healthy. Per channel: `create_deadline_ms` in
 * the channels file. */
export const create_deadline_ms_default = 3_000;
export const create_deadline_ms_min = 200;
export const create_deadline_ms_max = 60_000;

/** The poll interval a POLL next action suggests (ms): the pending-attempt queries run every
 * few seconds, a callback may come sooner. */
export const poll_interval_ms = 1_000;

/** Pending-attempt queries after a channel call: 5 s, 15 s, 30 s, 1 min, 5 min, then every
 * 30 min until the payment's expiry (docs/architecture.md §3). */
export const query_backoff_ms_default: readonly number[] = [5_000, 15_000, 30_000, 60_000, 300_000, 1_800_000];

/** Longest single nak delay of a timer message: a due time further away is reached in
 * hops, so a timer never sleeps past a clock change by more than this. */
export const timer_nak_delay_ms_max = 600_000;

/** A due timer handed back without counting as a failure (no subscriber for its shard yet,
 * the dead-letter stream unreachable) is tried again after this. */
export const timer_retry_delay_ms = 2_000;

/** A due timer whose command fails (actor busy, dependency down, a bug) is retried after
 * these delays (PAYCORE_TIMER_RETRY_BACKOFF_MS), doubling to a 5-minute cap, about 29 minutes
 * in all; then it is dead-lettered with its reason for an operator (TimerAdminService). */
export const timer_retry_backoff_ms_default: readonly number[] = [
  2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000, 300_000,
];

/** Dead-lettered timers one ListDeadTimers call returns at most. */
export const timer_dead_letters_list_max = 1_000;

/** How long a due timer waits for every shard to have a subscriber (start, reconnect)
 * before it is handed back to JetStream: well below the timer consumer's 30 s ack wait. */
export const timer_gate_wait_ms_max = 10_000;

/** Unacknowledged timers one consumer may hold: every payment has an expiry timer waiting,
 * so this bounds the number of payments open at once per deployment (nak-delayed messages
 * count as pending). */
export const timers_pending_max = 500_000;

/** Timer messages fetched per pull. */
export const timer_fetch_batch_max = 256;

/** JetStream's duplicate window: a publish retried within it is deduplicated by Nats-Msg-Id. */
export const dedupe_window_ms = 120_000;

/** Time a worker thread gets to finish in-flight commands on shutdown. */
export const worker_drain_ms_max = 10_000;

/** Time the gRPC server gets to drain calls in flight on shutdown before it is forced. */
export const grpc_drain_ms_max = 15_000;

/** Largest provider callback body accepted on /notify: real ones are a few KiB. */
export const notify_body_bytes_max = 64 * 1024;

/** Payment expiry bounds (docs/api.md): 60 s to 24 h, default 30 min. */
export const expire_seconds_min_default = 60;
export const expire_seconds_max = 86_400;
export const expire_seconds_default = 1_800;

/** Largest payment amount in minor units (docs/api.md). */
export const amount_minor_max = 1_000_000_000_000n;

/** How long a /metrics scrape waits for each actor thread's metrics; a thread busier than
 * this is left out of that scrape rather than stalling Prometheus. */
export const metrics_collect_ms_max = 2_000;

/** Refund policy of a channel that declares none: WeChat Pay's (365 days, 50 refunds), the
 * strictest of the providers paycore speaks, so a refund is never promised that fails. */
export const refund_window_days_default = 365;
export const refund_count_max_default = 50;

/** Follow-ups of a refund (query, or resubmit of a retryable failure): 5 s, 30 s, 2 min,
 * 10 min, 1 h, then every 6 h. */
export const refund_backoff_ms: readonly number[] = [5_000, 30_000, 120_000, 600_000, 3_600_000, 21_600_000];

/** Follow-ups of a split (core/splits): a pending one (the books catching up with its
 * payment) for about ten minutes, then FAILED; one at the channel is queried on at the last. */
export const split_follow_up_ms_default: readonly number[] = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000];

/** Retryable refund failures before the refund is handed to a manual payout. */
export const refund_retries_max = 8;

/** How often health is re-evaluated besides on connection events (the routing table's
 * state changes on its own reloads): as often as the table polls its version. */
export const health_poll_ms = 250;

/** How often the notification backlog gauge is read from JetStream: a backlog that matters
 * lasts minutes, and each read is two API calls. */
export const notify_backlog_poll_ms = 5_000;

/** Buckets (seconds) of paycore_payment_completion_seconds: from the moment the payer paid
 * (the provider's paid_at) to paycore applying SUCCEEDED. A callback lands within seconds; a
 * lost callback waits for the next query (5 s, 15 s, 30 s, 1 min, 5 min after the call), so
 * the tail reaches minutes. 60 is the completion SLO's bound (ops/slo.md): keep it a bucket. */
export const payment_completion_buckets_seconds: readonly number[] = [1, 2, 5, 10, 30, 60, 120, 300, 900, 1800];

/** Buckets (seconds) of paycore_notify_delivery_delay_seconds: from the outcome (the event's
 * time) to the merchant's 2xx. The first attempt goes at once, the second 15 s after a
 * failure, the third a minute after that (core/notify/constants.ts). 60 is the notification
 * SLO's bound (ops/slo.md): keep it a bucket. */
export const notify_delivery_delay_buckets_seconds: readonly number[] = [1, 5, 10, 30, 60, 120, 300, 900, 3600, 21_600, 86_400];

/** The reservation sweeper (core/orders/reservation-sweeper.ts) runs this often, and leaves
 * alone markers younger than the grace: a create or failover in flight has routed (reserved)
 * and not yet appended; commands give up long before this. */
export const reservation_sweep_interval_ms = 300_000;
export const reservation_sweep_grace_ms = 600_000;

/** App-key signatures (docs/security.md): a request's timestamp may differ from the gateway's
 * clock by at most this, either way. Wide enough for ordinary NTP drift and a retry, narrow
 * enough that a captured request is useless soon after. */
export const app_key_clock_skew_ms = 5 * 60_000;

/** How long a used nonce is remembered: the whole span a timestamp is accepted over (skew
 * both ways), so a replay inside the window always finds its nonce. */
export const app_key_nonce_ttl_ms = 2 * app_key_clock_skew_ms;

/** WatchPayment streams: each holds a JetStream consumer on the gateway's NATS connection.
 * Per app, so one caller's leak cannot starve the others; in total, so the gateway's NATS
 * connection stays small; and a lifetime after which the stream ends RESOURCE_EXHAUSTED and the
 * client watches again (a payment lives at most expire_seconds_max, a watch need not). */
export const watches_per_app_max_default = 500;
export const watches_max_default = 5_000;
export const watch_lifetime_ms_default = 30 * 60_000;

/** Ledger projection: stream messages posted in one PostgreSQL transaction at most (large
 * enough to amortise the commit, small enough to keep a transaction short). */
export const ledger_batch_max = 200;
/** How often the projection's lag (stream messages not yet in the books) is measured. */
export const ledger_lag_poll_ms = 5_000;
/** The longest wait between retries of a batch PostgreSQL refused or could not take. */
export const ledger_retry_ms_max = 5_000;
/** Rows of one ListPayments / ListRefunds page at most. */
export const ledger_page_size_max = 500;
/** How long a refund's funding reservation counts against the merchant's balance when the
 * projection never posts the refund (its actor refused it): far above the projection's normal
 * lag, short enough that a refused refund does not block the merchant's money for long. */
export const refund_reservation_ttl_ms = 10 * 60_000;
/** How long stopping the ledger projection may take before the process goes on stopping. */
export const ledger_stop_ms_max = 3_000;

/** Risk rules (core/risk). Velocity sums run in a Redis Lua script, whose numbers are
 * doubles: exact below 2^53 (~9.0e15). A threshold is at most 1e15 minor units, so a
 * comparison is exact — a sum large enough to round is far above every threshold. */
export const risk_amount_minor_max = 1_000_000_000_000_000n;
/** Longest velocity window: a day. Longer windows are settlement limits (routing's caps). */
export const risk_window_seconds_max = 86_400;
/** Highest count a velocity rule may allow; also how many entries a counter keeps per window. */
export const risk_velocity_count_max = 10_000;
/** Values in one block or allow list (a list is read whole into every process's cache). */
export const risk_list_values_max = 10_000;
/** Rules in the table: every one is checked on every create. */
export const risk_rules_max = 500;
/** How long a payer counts as new at most: 90 days; the first-seen marker lives that long. */
export const risk_new_for_seconds_max = 7_776_000;

/** Wrong SMS codes one card binding takes before it fails (the payer starts again with a new
 * binding number); the provider keeps its own count too. */
export const binding_wrong_codes_max = 5;

/** Wrong SMS codes one quick-pay attempt takes (ConfirmPayment) before it fails: the payer
 * may mistype without losing the payment; the provider keeps its own count too. */
export const confirm_wrong_codes_max = 5;

// Merchant notifications as a deployment configures them (core/config.ts; the notifier's other
// bounds are core/notify/constants.ts).

/** Delay before each delivery attempt, measured from the previous attempt's failure (the
 * first from the moment the event is seen). Ten attempts over 48 h 21 min:
 * 0 s, 15 s, 1 min, 5 min, 15 min, 1 h, 2 h, 6 h, 15 h, 24 h.
 * The first five (within 21 min) ride out a merchant's deploy, restart or load-balancer blip;
 * the gaps then grow about threefold so that a merchant down for a working day or a night is
 * still reached the next day, and the last one, two days after the payment, outlives a
 * weekend outage's first day without hammering a dead endpoint (WeChat Pay gives up after
 * 24 h, Alipay after 25 h; a merchant who needs longer re-sends from the dead letters). */
export const notify_schedule_ms_default: readonly number[] = [
  0, 15_000, 60_000, 300_000, 900_000, 3_600_000, 7_200_000, 21_600_000, 54_000_000, 86_400_000,
];

/** How long a merchant has to answer 2xx (API contract: 5 s). */
export const notify_timeout_ms_default = 5_000;

/** Routing's circuit breaker and exploration as a deployment configures them (core/config.ts;
 * the rest of the options and why they hold: core/routing/scoring.ts). A channel's circuit stays
 * open this long before probes; it needs this many outcomes in the health window before it may
 * open; this share of decisions measures a healthy channel other than the best. */
export const circuit_cooldown_ms_default = 30_000;
export const circuit_volume_min_default = 20;
export const exploration_share_default = 0.02;

/** Commands one gateway process may have waiting on actors at once. Each waits at most the
 * command timeout; past this the actors are not keeping up (or a NATS node or a process is
 * failing over), and a caller told OVERLOADED at once, with a retry hint, does better than
 * one queued behind thousands of others until its deadline. */
export const gateway_commands_in_flight_max = 4_096;

/** Commands one actor-host thread may hold at once, every mailbox together (queued or
 * running; they arrive from every gateway of the deployment and from the timer pumps). Past it
 * a command is refused at once OVERLOADED with the retry hint, before its actor is loaded: a
 * thread whose actors fall behind (a slow store, a provider answering slowly) holds a bounded
 * amount of work and memory instead of a queue that grows until the callers' deadlines. It also
 * bounds the actor cache: an actor with commands is never evicted, so at most this many are
 * live beyond actors_live_max. Per deployment: PAYCORE_ACTOR_COMMANDS_MAX. */
export const actor_thread_commands_max_default = 4_096;

/** The retry hint an OVERLOADED refusal carries (ErrorInfo metadata retry_after_ms). */
export const overloaded_retry_after_ms = 1_000;

/** Money-out limits (core/payouts: member withdrawals, transfers), in minor units. The
 * deployment's defaults are PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR and its three siblings; a
 * merchant's `payout_limits` (the merchants configuration, core/merchants) overrides any of them. */
export interface PayoutLimits {
  /** One member withdrawal at most. */
  member_withdrawal_max_minor: bigint;
  /** A member's withdrawals of one calendar day (the books' zone), in one currency, at most. */
  member_withdrawal_daily_max_minor: bigint;
  /** One transfer at most. */
  transfer_max_minor: bigint;
  /** A payer's transfers of one business day (in one currency) at most. */
  transfer_daily_max_minor: bigint;
}

/** 50,000.00 per member withdrawal, 200,000.00 per member and day; 1,000,000.00 per transfer,
 * 5,000,000.00 per payer and business day. */
export const payout_limits_default: PayoutLimits = {
  member_withdrawal_max_minor: 5_000_000n,
  member_withdrawal_daily_max_minor: 20_000_000n,
  transfer_max_minor: 100_000_000n,
  transfer_daily_max_minor: 500_000_000n,
};

/** The largest amount a limit may be: PostgreSQL's bigint. */
export const minor_max = 9_223_372_036_854_775_807n;

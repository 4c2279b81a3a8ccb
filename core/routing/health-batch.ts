// Each channel's live health as one process sees it, without a Redis call per provider answer:
// outcomes are counted in memory and flushed per channel in batches (at most every
// `flush_ms`, ≤ 250 ms), each flush one script call on the channel's own keys
// (health_flush_script, lua.ts) that adds the batch to the fleet's sliding window, moves the
// circuit, and answers the fleet's window and circuit. A decision reads `view()`: the fleet's
// window as of the last flush plus this process's outcomes not flushed yet, and the circuit as
// of the last flush (a circuit's moves that must be atomic across the fleet — admitting a
// half-open probe — are the reservation script's, reserve.ts).
//
// A channel's view is refreshed by the flushes that follow a decision reading it, so a
// channel nobody routes to costs nothing; a view read after a quiet spell is as old as the
// spell (`read_at_ms` says how old) and is refreshed within one flush.

import type { RedisClient } from '../connections';
import { assert } from '../errors';
import { health_flush_head_args, health_flush_script } from './lua';
import type { CircuitOptions, ScoringOptions } from './scoring';
import type { CircuitState, HealthSnapshot, Outcome } from './types';

/** The longest a batch of outcomes waits before it is flushed (issue 13: ≤ 250 ms). */
const health_flush_ms_max = 250;
/** Longest latency recorded for one outcome (a hung call is capped, not averaged in whole). */
const outcome_latency_ms_max = 120_000;
const outcome_fields = { success: 's', system_error: 'e', timeout: 't', payer_decline: 'd' } as const;
const circuit_names: Record<string, CircuitState> = { C: 'CLOSED', O: 'OPEN', H: 'HALF_OPEN' };

export interface ChannelView {
  health: HealthSnapshot;
  circuit: CircuitState;
  /** When the circuit opened or became half-open (ms); 0 when closed. */
  circuit_since_ms: number;
  /** Half-open probes admitted (fleet-wide, as of the last flush). */
  probes_admitted: number;
  /** When the fleet's part was read (ms); 0: never read yet. */
  read_at_ms: number;
}

type HealthRedis = RedisClient & { paycoreHealthFlush(health_key: string, circuit_key: string, ...args: (string | number)[]): Promise<string> };

interface Pending {
  /** field → increment, fields as the flush script names them. */
  fields: Map<string, number>;
  /** Latest start of a failed create (ms), or undefined. */
  fail_started_ms: number | undefined;
  /** Starts of successful creates, newest last (at most probe_successes_close kept). */
  success_started_ms: number[];
  /** The latest outcome's time: the flush's "now" (its window and its circuit's clock). */
  latest_at_ms: number;
}

export interface HealthBatcherOptions {
  scoring: ScoringOptions;
  circuit: CircuitOptions;
  /** The channel's hash-tagged base key, `{<prefix>:ch:<channel_id>}`. */
  key(channel_id: string): string;
  flush_ms?: number;
  clock?: () => Date;
  /** A failed flush (its outcomes are kept for the next one). */
  on_error?: (error: unknown) => void;
}

const empty_health = (): HealthSnapshot => ({ successes: 0, system_errors: 0, timeouts: 0, payer_declines: 0, latency_ms_sum: 0, latency_count: 0 });

export class HealthBatcher {
  readonly #redis: HealthRedis;
  readonly #options: HealthBatcherOptions;
  readonly #flush_ms: number;
  readonly #clock: () => Date;
  readonly #fleet = new Map<string, ChannelView>();
  #pending = new Map<string, Pending>();
  /** Channels a decision read since the last flush: refreshed by the next one. */
  #watched = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(redis: RedisClient, options: HealthBatcherOptions) {
    this.#redis = redis as HealthRedis;
    this.#options = options;
    this.#flush_ms = options.flush_ms ?? health_flush_ms_max;
    assert(this.#flush_ms > 0 && this.#flush_ms <= health_flush_ms_max, `health flush_ms must be 1..${health_flush_ms_max}`);
    this.#clock = options.clock ?? (() => new Date());
    if (typeof this.#redis.paycoreHealthFlush !== 'function') this.#redis.defineCommand('paycoreHealthFlush', { lua: health_flush_script, numberOfKeys: 2 });
  }

  start(): void {
    if (this.#timer !== undefined) return;
    // A tick while a flush is still out skips: the next tick takes what it missed.
    this.#timer = setInterval(() => {
      if (this.#flushing === undefined) void this.flush().catch((error: unknown) => this.#options.on_error?.(error));
    }, this.#flush_ms);
    this.#timer.unref();
  }

  /** Stops the timer and flushes what is counted. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush().catch((error: unknown) => this.#options.on_error?.(error));
  }

  /** Counts one call's outcome; flushed with the next batch. Payer declines are recorded (for
   * explanation) but never count against the channel. */
  record(channel_id: string, outcome: Outcome): void {
    assert(Number.isFinite(outcome.latency_ms) && outcome.latency_ms >= 0, `bad outcome latency ${outcome.latency_ms}`);
    const at = (outcome.at ?? this.#clock()).getTime();
    const bucket = Math.floor(at / this.#options.scoring.bucket_ms);
    const query = outcome.operation === 'query';
    const code = outcome_fields[outcome.kind];
    let pending = this.#pending.get(channel_id);
    if (pending === undefined)
      this.#pending.set(
        channel_id,
        (pending = { fields: new Map(), fail_started_ms: undefined, success_started_ms: [], latest_at_ms: at }),
      );
    pending.latest_at_ms = Math.max(pending.latest_at_ms, at);
    const add = (field: string, by: number): void => void pending.fields.set(`${bucket}:${field}`, (pending.fields.get(`${bucket}:${field}`) ?? 0) + by);
    add(query ? `q${code}` : code, 1);
    add('n', 1);
    if (query) return;
    add('ls', Math.min(Math.round(outcome.latency_ms), outcome_latency_ms_max));
    add('ln', 1);
    const started = outcome.started_at?.getTime() ?? at - Math.round(outcome.latency_ms);
    if (code === 'e' || code === 't') pending.fail_started_ms = Math.max(pending.fail_started_ms ?? started, started);
    if (code === 's') {
      pending.success_started_ms.push(started);
      pending.success_started_ms.sort((a, b) => a - b);
      if (pending.success_started_ms.length > this.#options.circuit.probe_successes_close) pending.success_started_ms.shift();
    }
  }

  /** The channel as a decision sees it now; marks it for the next flush's refresh. */
  view(channel_id: string): ChannelView {
    this.#watched.add(channel_id);
    const fleet = this.#fleet.get(channel_id);
    const view: ChannelView = fleet === undefined
      ? { health: empty_health(), circuit: 'CLOSED', circuit_since_ms: 0, probes_admitted: 0, read_at_ms: 0 }
      : { ...fleet, health: { ...fleet.health } };
    const pending = this.#pending.get(channel_id);
    if (pending === undefined) return view;
    const s = this.#options.scoring;
    const first = Math.floor(this.#clock().getTime() / s.bucket_ms) - Math.ceil(s.window_ms / s.bucket_ms) + 1;
    const h = view.health;
    for (const [field, by] of pending.fields) {
      const colon = field.indexOf(':');
      if (Number(field.slice(0, colon)) < first) continue;
      switch (field.slice(colon + 1)) {
        case 's': h.successes += by; break;
        case 'e': h.system_errors += by; break;
        case 't': h.timeouts += by; break;
        case 'd': h.payer_declines += by; break;
        case 'ls': h.latency_ms_sum += by; break;
        case 'ln': h.latency_count += by; break;
      }
    }
    return view;
  }

  /** Marks channels for refresh by the next flush (e.g. every channel at start). */
  watch(channel_ids: Iterable<string>): void {
    for (const id of channel_ids) this.#watched.add(id);
  }

  /** Sends every channel's batch (and refreshes the watched ones): one script call per
   * channel, all sent at once. A failed call keeps its batch for the next flush. */
  flush(): Promise<void> {
    // After the flush in progress (which may have taken its batches before the latest
    // outcomes), so that everything recorded before this call is sent.
    const previous = this.#flushing?.catch(() => undefined) ?? Promise.resolve();
    const next = previous.then(() => this.#flush());
    this.#flushing = next;
    void next.finally(() => {
      if (this.#flushing === next) this.#flushing = undefined;
    }).catch(() => undefined);
    return next;
  }

  async #flush(): Promise<void> {
    const pending = this.#pending;
    const channels = new Set([...pending.keys(), ...this.#watched]);
    if (channels.size === 0) return;
    this.#pending = new Map();
    this.#watched = new Set();
    const now = this.#clock().getTime();
    const s = this.#options.scoring;
    const c = this.#options.circuit;
    const failures: unknown[] = [];
    await Promise.all([...channels].map(async (channel_id) => {
      const batch = pending.get(channel_id);
      const base = this.#options.key(channel_id);
      // A batch is judged at its latest outcome's time (as one outcome was at its own), a
      // refresh at the clock's.
      const at = batch?.latest_at_ms ?? now;
      const args: (string | number)[] = [
        at, s.bucket_ms, s.window_ms, c.failure_rate_open, c.volume_min, c.probe_successes_close, c.cooldown_ms,
        batch?.fail_started_ms ?? '', batch === undefined ? '' : [...batch.success_started_ms].reverse().join(','),
      ];
      assert(args.length === health_flush_head_args, 'health flush arguments out of step with the script');
      for (const [field, by] of batch?.fields ?? []) args.push(field, by);
      try {
        const reply = await this.#redis.paycoreHealthFlush(`${base}:h`, `${base}:cb`, ...args);
        this.#fleet.set(channel_id, parseFlushReply(reply, at));
      } catch (error) {
        if (batch !== undefined) this.#merge(channel_id, batch);
        this.#watched.add(channel_id);
        failures.push(error);
      }
    }));
    if (failures.length > 0) throw failures[0];
  }

  /** A batch whose flush failed goes back in front of what was counted since. */
  #merge(channel_id: string, batch: Pending): void {
    const now = this.#pending.get(channel_id);
    if (now === undefined) {
      this.#pending.set(channel_id, batch);
      return;
    }
    for (const [field, by] of now.fields) batch.fields.set(field, (batch.fields.get(field) ?? 0) + by);
    const fail = [batch.fail_started_ms, now.fail_started_ms].filter((x): x is number => x !== undefined);
    batch.fail_started_ms = fail.length === 0 ? undefined : Math.max(...fail);
    batch.success_started_ms = [...batch.success_started_ms, ...now.success_started_ms]
      .sort((a, b) => a - b)
      .slice(-this.#options.circuit.probe_successes_close);
    batch.latest_at_ms = Math.max(batch.latest_at_ms, now.latest_at_ms);
    this.#pending.set(channel_id, batch);
  }
}

/** 'st|since|pa|s|e|t|d|ls|ln' (lua.ts health_flush_script). */
function parseFlushReply(reply: string, read_at_ms: number): ChannelView {
  const f = reply.split('|');
  assert(f.length === 9, `health flush reply malformed: ${reply}`);
  return {
    circuit: circuit_names[f[0]!] ?? 'CLOSED',
    circuit_since_ms: Number(f[1]),
    probes_admitted: Number(f[2]),
    health: {
      successes: Number(f[3]),
      system_errors: Number(f[4]),
      timeouts: Number(f[5]),
      payer_declines: Number(f[6]),
      latency_ms_sum: Number(f[7]),
      latency_count: Number(f[8]),
    },
    read_at_ms,
  };
}

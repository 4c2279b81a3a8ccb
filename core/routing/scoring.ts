// Scoring and circuit-breaker parameters: every default lives here, named, with its reason (the
// three a deployment configures take their values from core/constants.ts, which core/config.ts
// reads too);
// README.md in this folder explains the formula in prose. The decision (decision.ts) scores each
// candidate with staticScore + healthScore below, in process; the health flush script (lua.ts)
// opens circuits by shouldOpen's rule with the same parameters passed in (Lua holds no
// defaults of its own).
//
// Score, in basis points of the order amount (higher is better):
//
//   score = − cost_bp                                        fee for this amount
//           + bp_per_priority × priority                     operator bias
//           − bp_per_success_pct × 100 × (1 − success_rate)  lost conversions
//           − bp_per_latency_second × latency_ms / 1000      slow channels lose payers
//           − bp_per_timeout_pct × 100 × timeout_rate        timeouts cost queries and doubt
//
//   cost_bp      = fee_minor × 10 000 / amount_minor
//   n            = successes + system_errors + timeouts over the window (payer declines excluded)
//   success_rate = (successes + success_rate_prior × prior_attempts) / (n + prior_attempts)
//   timeout_rate = timeouts / (n + prior_attempts)
//   latency_ms   = (latency_ms_sum + latency_ms_prior × prior_attempts) / (latency_count + prior_attempts)
//
// The prior makes a new (or just recovered) channel look "typical" until it has volume, so
// one early failure does not bury it and one early success does not crown it.

import { circuit_cooldown_ms_default, circuit_volume_min_default, exploration_share_default } from '../constants';
import type { HealthSnapshot } from './types';

export interface ScoringOptions {
  /** Success rate assumed before a channel has volume. Typical of a healthy Chinese PSP. */
  success_rate_prior: number;
  /** Pseudo-attempts the prior weighs: after ~20 real attempts data dominates. */
  prior_attempts: number;
  /** Latency assumed before data (ms): a typical unified-order call. */
  latency_ms_prior: number;
  /** One percentage point of success rate is worth this many basis points of fee: a failed
   * attempt loses the sale (or costs a failover), far more than fee differences. */
  bp_per_success_pct: number;
  /** One second of mean latency is worth this many basis points. */
  bp_per_latency_second: number;
  /** Extra penalty per percentage point of timeouts (on top of counting as failures): an
   * ambiguous attempt cannot fail over and needs queries to settle. */
  bp_per_timeout_pct: number;
  /** One unit of a channel's `priority` is worth this many basis points. */
  bp_per_priority: number;
  /** Share of decisions that pick a non-best healthy candidate (weighted by `weight`), so the
   * other channels stay measured. */
  exploration_share: number;
  /** Sliding window of health counters and its bucket size. */
  window_ms: number;
  bucket_ms: number;
}

export interface CircuitOptions {
  /** Opens when failures / (successes + failures) over the window reaches this… */
  failure_rate_open: number;
  /** …with at least this many counted outcomes in the window (no opening on 2 of 3). */
  volume_min: number;
  /** Open this long before probes are let through (half-open). */
  cooldown_ms: number;
  /** Probes admitted at once while half-open. */
  probes_max: number;
  /** Successful probes that close the circuit. */
  probe_successes_close: number;
  /** Probes admitted but never reported (a crashed caller) free their slots after this. */
  probe_timeout_ms: number;
}

export const scoring_defaults: Readonly<ScoringOptions> = Object.freeze({
  success_rate_prior: 0.95,
  prior_attempts: 20,
  latency_ms_prior: 1_500,
  bp_per_success_pct: 10,
  bp_per_latency_second: 5,
  bp_per_timeout_pct: 5,
  bp_per_priority: 1,
  exploration_share: exploration_share_default,
  window_ms: 60_000,
  bucket_ms: 10_000,
});

export const circuit_defaults: Readonly<CircuitOptions> = Object.freeze({
  failure_rate_open: 0.5,
  volume_min: circuit_volume_min_default,
  cooldown_ms: circuit_cooldown_ms_default,
  probes_max: 3,
  probe_successes_close: 2,
  probe_timeout_ms: 30_000,
});

/** The scoring options a deployment configures (core/config.ts), the rest defaults. */
export function scoringOptions(config: { exploration_share: number }): ScoringOptions {
  return { ...scoring_defaults, exploration_share: config.exploration_share };
}

/** The circuit options a deployment configures (core/config.ts), the rest defaults. */
export function circuitOptions(config: { circuit_cooldown_ms: number; circuit_volume_min: number }): CircuitOptions {
  return { ...circuit_defaults, cooldown_ms: config.circuit_cooldown_ms, volume_min: config.circuit_volume_min };
}

export interface HealthMetrics {
  success_rate: number;
  timeout_rate: number;
  latency_ms: number;
}

export function healthMetrics(h: HealthSnapshot, o: ScoringOptions): HealthMetrics {
  const n = h.successes + h.system_errors + h.timeouts;
  return {
    success_rate: (h.successes + o.success_rate_prior * o.prior_attempts) / (n + o.prior_attempts),
    timeout_rate: h.timeouts / (n + o.prior_attempts),
    latency_ms: (h.latency_ms_sum + o.latency_ms_prior * o.prior_attempts) / (h.latency_count + o.prior_attempts),
  };
}

/** The part of the score known before Redis is read: cost and priority. */
export function staticScore(fee_minor: bigint, amount_minor: bigint, priority: number, o: ScoringOptions): number {
  const cost_bp = Number(fee_minor * 1_000_000n / amount_minor) / 100; // 0.01 bp resolution, no float on money
  return -cost_bp + o.bp_per_priority * priority;
}

/** The live part, from health: what the decision (decision.ts) adds to the static score. */
export function healthScore(h: HealthSnapshot, o: ScoringOptions): number {
  const m = healthMetrics(h, o);
  return -(o.bp_per_success_pct * 100 * (1 - m.success_rate)) - o.bp_per_latency_second * m.latency_ms / 1000 - o.bp_per_timeout_pct * 100 * m.timeout_rate;
}

export function scoreOf(fee_minor: bigint, amount_minor: bigint, priority: number, h: HealthSnapshot, o: ScoringOptions): number {
  return staticScore(fee_minor, amount_minor, priority, o) + healthScore(h, o);
}

/** Whether a circuit should open on this window (the health flush script applies the same rule). */
export function shouldOpen(h: HealthSnapshot, c: CircuitOptions): boolean {
  const failures = h.system_errors + h.timeouts;
  const n = h.successes + failures;
  return n >= c.volume_min && failures / n >= c.failure_rate_open;
}

/** A deterministic [0, 1) source for tests and benchmarks (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

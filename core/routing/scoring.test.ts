import { circuitOptions, circuit_defaults, healthMetrics, healthScore, scoreOf, scoringOptions, scoring_defaults, seededRandom, shouldOpen, staticScore } from './scoring';
import type { HealthSnapshot } from './types';

const none: HealthSnapshot = { successes: 0, system_errors: 0, timeouts: 0, payer_declines: 0, latency_ms_sum: 0, latency_count: 0 };
const h = (o: Partial<HealthSnapshot>): HealthSnapshot => ({ ...none, ...o });
const o = scoring_defaults;

test('routing - scoring: a channel without data gets the prior', () => {
  expect(healthMetrics(none, o)).toEqual({ success_rate: 0.95, timeout_rate: 0, latency_ms: 1500 });
  // 0.6% fee → −60 bp; prior: −10×100×0.05 = −50, latency −7.5
  expect(scoreOf(60n, 10_000n, 0, none, o)).toBeCloseTo(-60 - 50 - 7.5, 9);
});

test('routing - scoring: payer declines do not count against a channel', () => {
  const declines = h({ successes: 50, payer_declines: 50, latency_ms_sum: 100 * 800, latency_count: 100 });
  const clean = h({ successes: 50, latency_ms_sum: 100 * 800, latency_count: 100 });
  expect(scoreOf(60n, 10_000n, 0, declines, o)).toBe(scoreOf(60n, 10_000n, 0, clean, o));
  expect(shouldOpen(h({ successes: 1, payer_declines: 99 }), circuit_defaults)).toBe(false);
});

test.each<[string, [bigint, number, HealthSnapshot], [bigint, number, HealthSnapshot], 'first' | 'second']>([
  ['cheaper wins at equal health', [38n, 0, none], [60n, 0, none], 'first'],
  ['system errors outweigh a cheaper fee', [38n, 0, h({ successes: 60, system_errors: 40 })], [60n, 0, h({ successes: 100 })], 'second'],
  ['timeouts outweigh a cheaper fee', [38n, 0, h({ successes: 80, timeouts: 20 })], [60n, 0, h({ successes: 100 })], 'second'],
  ['timeouts hurt more than system errors', [60n, 0, h({ successes: 90, timeouts: 10 })], [60n, 0, h({ successes: 90, system_errors: 10 })], 'second'],
  ['a slow channel loses at equal fee and success', [60n, 0, h({ successes: 100, latency_ms_sum: 100 * 5_000, latency_count: 100 })], [60n, 0, h({ successes: 100, latency_ms_sum: 100 * 300, latency_count: 100 })], 'second'],
  ['priority breaks a small fee gap', [61n, 5, none], [60n, 0, none], 'first'],
  ['payer declines do not tip the balance', [20n, 0, h({ successes: 10, payer_declines: 90 })], [60n, 0, h({ successes: 100 })], 'first'],
])('routing - scoring: %s', (_name, a, b, winner) => {
  const sa = scoreOf(a[0], 10_000n, a[1], a[2], o);
  const sb = scoreOf(b[0], 10_000n, b[1], b[2], o);
  expect(winner === 'first' ? sa > sb : sb > sa).toBe(true);
});

test.each<[string, HealthSnapshot, boolean]>([
  ['under the minimum volume stays closed', h({ system_errors: 19 }), false],
  ['at the minimum volume and all failing opens', h({ system_errors: 20 }), true],
  ['exactly at the failure rate opens', h({ successes: 10, system_errors: 5, timeouts: 5 }), true],
  ['under the failure rate stays closed', h({ successes: 11, system_errors: 9 }), false],
])('routing - circuit: %s', (_name, health, open) => {
  expect(shouldOpen(health, circuit_defaults)).toBe(open);
});

test('routing - seeded random is deterministic and in [0, 1)', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 1000 }, () => a());
  expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
  expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  expect(new Set(xs).size).toBeGreaterThan(990);
});

test('routing - scoring: the formula, term by term, on a channel with data', () => {
  // n = 100; success (80 + 0.95×20) / 120 = 0.825; timeouts 10 / 120; latency (80 000 + 1 500×20) / 120.
  const health = h({ successes: 80, system_errors: 10, timeouts: 10, payer_declines: 7, latency_ms_sum: 80_000, latency_count: 100 });
  const m = healthMetrics(health, o);
  expect(m.success_rate).toBeCloseTo(0.825, 12);
  expect(m.timeout_rate).toBeCloseTo(10 / 120, 12);
  expect(m.latency_ms).toBeCloseTo(110_000 / 120, 9);
  // −10×100×0.175 − 5×0.91667 − 5×100×0.08333 = −175 − 4.5833 − 41.6667
  expect(healthScore(health, o)).toBeCloseTo(-175 - 5 * (110_000 / 120) / 1000 - 500 * (10 / 120), 9);
  // 0.38 % fee → −38 bp, priority 2 → +2 bp
  expect(staticScore(38n, 10_000n, 2, o)).toBe(-36);
  expect(scoreOf(38n, 10_000n, 2, health, o)).toBeCloseTo(-36 + healthScore(health, o), 9);
});

test('routing - scoring: cost in basis points at 0.01 bp resolution, truncated, no float on money', () => {
  expect(staticScore(1n, 3n, 0, o)).toBe(-3333.33);
  expect(staticScore(0n, 10_000n, 0, o) === 0).toBe(true);
  expect(staticScore(60n, 10_000n, -3, { ...o, bp_per_priority: 7 })).toBe(-81);
});

test('routing - scoring and circuit options: what a deployment configures, the rest the defaults', () => {
  expect(scoringOptions({ exploration_share: 0.1 })).toEqual({ ...scoring_defaults, exploration_share: 0.1 });
  expect(circuitOptions({ circuit_cooldown_ms: 5_000, circuit_volume_min: 7 })).toEqual({ ...circuit_defaults, cooldown_ms: 5_000, volume_min: 7 });
});

test('routing - circuit: timeouts count as failures; the rate is over successes and failures only', () => {
  expect(shouldOpen(h({ successes: 10, timeouts: 10 }), circuit_defaults)).toBe(true);
  expect(shouldOpen(h({ successes: 10, timeouts: 9, payer_declines: 50 }), { ...circuit_defaults, volume_min: 19 })).toBe(false);
  expect(shouldOpen(h({ successes: 1, system_errors: 1 }), { ...circuit_defaults, volume_min: 2 })).toBe(true);
  expect(shouldOpen(h({ successes: 1, system_errors: 1 }), { ...circuit_defaults, volume_min: 3 })).toBe(false);
});

test('routing - seeded random is mulberry32: the same sequence on every machine', () => {
  const r = seededRandom(42);
  expect([r(), r(), r()]).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
  expect(seededRandom(0)()).toBe(0.26642920868471265);
  expect(seededRandom(42 + 2 ** 32)()).toBe(0.6011037519201636); // the seed is taken as 32 bits
});

// Routing benchmark: decisions per second and latency per decision (p50, p99) of
// Routing.route() against a real Redis of its own (testing/deps.ts, so INFO commandstats
// counts only this run), with N eligible channels — all capped (every decision reserves: one
// script call on the chosen channel's keys) and all uncapped (no Redis call) — next to the
// Redis round-trip floor (a plain GET) measured in the same run on the same connection; per
// decision the Redis commands, the microseconds of Redis's thread (commandstats) and this
// process's CPU. Then the risk decision (core/risk) that precedes routing on every create, with
// a rule of every kind.
//
//   npm run build && node dist/bench/routing.js [--channels 8] [--iterations 20000] [--concurrency 64]

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRouting, type RoutingChannel } from '../core/routing';
import { Sealer } from '../core/seal';
import type { FieldViolation } from '../core/errors';
import { RiskEngine } from '../core/risk/engine';
import { readRiskRule, type RiskRule } from '../core/risk/rules';
import { startPrivateRedis } from '../testing/deps';
import { redisCounts } from './counters';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const channels_count = arg('channels', 8);
const iterations = arg('iterations', 20_000);
const concurrency = arg('concurrency', 64);
const prefix = `bench-routing-${process.pid}-${randomBytes(3).toString('hex')}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

interface Run {
  per_second: number;
  p50_ms: number;
  p99_ms: number;
  /** Per operation, over the whole measurement (warm-up included). */
  redis_commands: number;
  redis_us: number;
  /** Of which the scripts (EVALSHA: their time includes the commands they run). */
  evalsha_us: number;
  redis_cpu_us: number;
  cpu_us: number;
}

let stats: Redis;

/** Sequential calls give the latency per call; `concurrency` callers give the throughput. */
async function measure(op: (i: number) => Promise<unknown>): Promise<Run> {
  const counted_before = await redisCounts(stats);
  const cpu_before = process.cpuUsage();
  for (let i = 0; i < Math.min(1_000, iterations); i += 1) await op(i); // warm-up (EVALSHA cached, JIT)
  const latencies: number[] = [];
  for (let i = 0; i < iterations; i += 1) {
    const started = process.hrtime.bigint();
    await op(i);
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  latencies.sort((a, b) => a - b);
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < iterations) {
      next += 1;
      await op(next);
    }
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu_before);
  const counted_after = await redisCounts(stats);
  const ops = Math.min(1_000, iterations) + 2 * iterations;
  return {
    per_second: iterations / seconds, p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99),
    redis_commands: (counted_after.calls - counted_before.calls) / ops, redis_us: (counted_after.usec - counted_before.usec) / ops,
    evalsha_us: ((counted_after.by_command.evalsha?.usec ?? 0) - (counted_before.by_command.evalsha?.usec ?? 0)) / ops,
    redis_cpu_us: (counted_after.cpu_us - counted_before.cpu_us) / ops, cpu_us: (cpu.user + cpu.system) / ops,
  };
}

function channel(i: number, capped = true): RoutingChannel {
  return {
    channel_id: capped ? `bench_${i}` : `free_${i}`, provider: 'wechatpay', state: 'ENABLED', products: ['WECHAT_NATIVE'], currencies: ['CNY'],
    amount_min_minor: 1n, amount_max_minor: 1_000_000_000_000n,
    service_windows: { time_zone: 'Asia/Shanghai', open: [], closed: [{ days: [], start: '03:00', end: '03:05' }] },
    required_payer_elements: {},
    limits: capped ? { day_amount_minor: 1_000_000_000_000_000n, day_count: 1_000_000_000, month_amount_minor: 1_000_000_000_000_000n } : {},
    fee: { rate_bp: 30 + i, fixed_minor: 0n, min_minor: 1n },
    priority: 0, weight: 1,
  };
}

/** A rule of every kind, each applying to the benchmark's payments. */
function benchRiskRules(): RiskRule[] {
  const violations: FieldViolation[] = [];
  const rules = [
    { rule_id: 'card_1m', action: 'block', kind: 'velocity', dimension: 'card_token', window_seconds: 60, count_max: 1_000 },
    { rule_id: 'ip_1h', action: 'block', kind: 'velocity', dimension: 'client_ip', window_seconds: 3_600, count_max: 1_000, amount_max_minor: '100000000' },
    { rule_id: 'payer_1d', action: 'block', kind: 'velocity', dimension: 'payer_id', window_seconds: 86_400, amount_max_minor: '100000000' },
    { rule_id: 'fresh_card', action: 'block', kind: 'new_payer', dimension: 'card_token', new_for_seconds: 86_400, amount_max_minor: '100000000' },
    { rule_id: 'big', action: 'block', kind: 'amount', amount_max_minor: '100000000' },
    { rule_id: 'ips', action: 'block', kind: 'list', dimension: 'client_ip', values: ['192.0.2.1', '192.0.2.2'] },
  ].map((json, i) => readRiskRule(json, `rules[${i}]`, violations)!);
  if (violations.length > 0) throw new Error(JSON.stringify(violations));
  return rules;
}

async function main(): Promise<void> {
  const server = await startPrivateRedis();
  const redis_url = server.url;
  const redis = new Redis(redis_url);
  stats = new Redis(redis_url);
  const table = createRouting(redis, prefix, { sealer: new Sealer(randomBytes(32)) });
  await table.cache.start();
  try {
    for (let i = 0; i < channels_count; i += 1) await table.admin.upsertChannel(channel(i));
    for (let i = 0; i < channels_count; i += 1) await table.admin.upsertChannel(channel(i, false));
    await table.merchants.upsertMerchant({ merchant_id: 'bench', products: ['WECHAT_NATIVE'], channel_ids: Array.from({ length: channels_count }, (_, i) => `bench_${i}`), fee_rates: {}, notify_secret: 'bench-secret-0123456789' });
    await table.merchants.upsertMerchant({ merchant_id: 'bench_free', products: ['WECHAT_NATIVE'], channel_ids: Array.from({ length: channels_count }, (_, i) => `free_${i}`), fee_rates: {}, notify_secret: 'bench-secret-0123456789' });
    // Give every channel some health history, so decisions read real windows.
    for (let i = 0; i < channels_count; i += 1) {
      for (let k = 0; k < 50; k += 1) {
        await table.health.recordOutcome(`bench_${i}`, { kind: k % 10 === 0 ? 'system_error' : 'success', latency_ms: 200 + k });
        await table.health.recordOutcome(`free_${i}`, { kind: k % 10 === 0 ? 'system_error' : 'success', latency_ms: 200 + k });
      }
    }
    await redis.set(`{${prefix}:floor}`, 'x');
    const floor = await measure(() => redis.get(`{${prefix}:floor}`));
    const routeOf = (merchant_id: string) => (i: number) => table.decisions.route({
      payment_id: `p${i}`, merchant_id, product: 'WECHAT_NATIVE', amount_minor: BigInt(100 + (i % 10_000)), currency: 'CNY',
      payer_elements_present: ['client_ip'], include_channels: [], exclude_channels: [],
    }).then((d) => {
      if (d.chosen === undefined) throw new Error(`no route: ${JSON.stringify(d.excluded)}`);
      // Each decision's outcome, counted as the actor counts it (flushed in batches).
      table.health.count(d.chosen.channel_id, { kind: 'success', latency_ms: 200 });
    });
    const route = await measure(routeOf('bench'));
    const free = await measure(routeOf('bench_free'));
    const risk_redis = new Redis(redis_url);
    let risk_commands = 0;
    const send = risk_redis.sendCommand.bind(risk_redis);
    risk_redis.sendCommand = ((...args: Parameters<typeof send>) => ((risk_commands += 1), send(...args))) as typeof send;
    const engine = new RiskEngine(risk_redis, prefix, { rules: () => benchRiskRules(), digest_key: randomBytes(32), publish: async () => undefined });
    // 2 000 cards and IPs: each counter holds a handful of entries, as in production.
    const risk = await measure((i) => engine.assess({
      payment_id: `p${i}`, merchant_id: 'bench', product: 'WECHAT_NATIVE', amount_minor: BigInt(100 + (i % 10_000)),
      payer: { card_token: `tok${i % 2_000}`, client_ip: `10.0.${(i >> 8) % 8}.${i % 256}`, openid: `o${i % 2_000}` },
    }));
    const commands_per_decision = risk_commands / (Math.min(1_000, iterations) + 2 * iterations);
    risk_redis.disconnect();
    const f = (x: number) => x.toFixed(3);
    console.log(`routing benchmark: ${channels_count} eligible channels, ${iterations} iterations, concurrency ${concurrency}, ${redis_url}`);
    console.log(`redis GET floor : ${floor.per_second.toFixed(0)} ops/s   p50 ${f(floor.p50_ms)} ms   p99 ${f(floor.p99_ms)} ms`);
    const per = (r: Run) => `per decision: ${r.redis_commands.toFixed(2)} Redis commands ${r.redis_us.toFixed(1)} us (EVALSHA ${r.evalsha_us.toFixed(1)} us), redis-server CPU ${r.redis_cpu_us.toFixed(1)} us, this process CPU ${r.cpu_us.toFixed(1)} us`;
    console.log(`route() capped  : ${route.per_second.toFixed(0)} decisions/s   p50 ${f(route.p50_ms)} ms   p99 ${f(route.p99_ms)} ms   ${per(route)}`);
    console.log(`ratio route/GET : p50 ${(route.p50_ms / floor.p50_ms).toFixed(2)}x   p99 ${(route.p99_ms / floor.p99_ms).toFixed(2)}x   throughput ${(floor.per_second / route.per_second).toFixed(2)}x lower`);
    console.log(`route() uncapped: ${free.per_second.toFixed(0)} decisions/s   p50 ${f(free.p50_ms)} ms   p99 ${f(free.p99_ms)} ms   ${per(free)}`);
    console.log(`risk assess()   : ${risk.per_second.toFixed(0)} decisions/s   p50 ${f(risk.p50_ms)} ms   p99 ${f(risk.p99_ms)} ms   (${benchRiskRules().length} rules, ${commands_per_decision.toFixed(2)} Redis commands per decision)`);
    console.log(`ratio risk/GET  : p50 ${(risk.p50_ms / floor.p50_ms).toFixed(2)}x   p99 ${(risk.p99_ms / floor.p99_ms).toFixed(2)}x`);
  } finally {
    await table.cache.stop();
    await table.health.stop();
    redis.disconnect();
    stats.disconnect();
    await server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Integration: routing's live state in Redis without a call per decision or per provider
// answer — the reservation script (caps and probes, one channel's keys) and the batched
// health flush — against the real Redis at 127.0.0.1:6379, each test under its own prefix.

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { HealthBatcher } from './health-batch';
import { release_script } from './lua';
import { ChannelReserver, needsRedis, type ReserveRequest } from './reserve';
import { circuit_defaults, scoring_defaults, type CircuitOptions } from './scoring';
import type { ChannelLimits } from './types';

const redis_url = process.env.PAYCORE_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const run = `test-live-${process.pid}-${randomBytes(3).toString('hex')}`;
let redis: Redis;
let n = 0;

beforeAll(() => {
  redis = new Redis(redis_url, { maxRetriesPerRequest: 2 });
  redis.defineCommand('testRelease', { lua: release_script, numberOfKeys: 1 });
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${run}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
});

function base(): string {
  n += 1;
  return `{${run}-${n}:ch:c1}`;
}

async function keysOf(b: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${b.replace(/[{}[\]*?]/g, (c) => `\\${c}`)}*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}

function request(b: string, limits: ChannelLimits, overrides: Partial<ReserveRequest> = {}): ReserveRequest {
  return {
    base: b, channel_id: 'c1', limits, amount_minor: 1_000n, day: '20261201', month: '202612', card_digest: '',
    reservation_id: `p${randomBytes(4).toString('hex')}.r`, now_ms: Date.now(), reserve: true, ...overrides,
  };
}

const fast: CircuitOptions = { ...circuit_defaults, cooldown_ms: 150, probes_max: 1, probe_successes_close: 2, volume_min: 20 };

describe('routing live state', () => {
  test('routing live state - a closed channel without caps needs no Redis, and a reservation on it writes nothing', async () => {
    expect(needsRedis({}, 'CLOSED')).toBe(false);
    expect(needsRedis({ day_count: 5 }, 'CLOSED')).toBe(true);
    expect(needsRedis({}, 'HALF_OPEN')).toBe(true);
    const b = base();
    const answer = await new ChannelReserver(redis, fast).reserve(request(b, {}));
    expect(answer).toEqual({ ok: true, circuit: 'CLOSED', probe: false });
    expect(await keysOf(b)).toEqual([]);
  });

  test('routing live state - caps are reserved atomically under one hash tag, once per reservation id, and refused past the cap', async () => {
    const b = base();
    const reserver = new ChannelReserver(redis, fast);
    const limits: ChannelLimits = { day_count: 2, month_amount_minor: 10_000n };
    const first = await reserver.reserve(request(b, limits, { reservation_id: 'p1.a' }));
    expect(first).toEqual({ ok: true, circuit: 'CLOSED', probe: false, reservation: { reservation_id: 'p1.a', channel_id: 'c1', amount_minor: '1000', day: '20261201', month: '202612' } });
    // The same reservation again (a retried call) adds nothing.
    await reserver.reserve(request(b, limits, { reservation_id: 'p1.a' }));
    expect(await redis.hgetall(`${b}:u:d:20261201`)).toEqual({ a: '1000', n: '1' });
    expect((await reserver.reserve(request(b, limits, { reservation_id: 'p2.a' }))).ok).toBe(true);
    const third = await reserver.reserve(request(b, limits, { reservation_id: 'p3.a' }));
    expect(third).toEqual({ ok: false, circuit: 'CLOSED', reason: 'DAILY_COUNT_CAP', detail: 'reserved count 2 + 1 > cap 2' });
    // A dry run checks without writing.
    const dry = await reserver.reserve(request(b, { month_amount_minor: 2_500n }, { reservation_id: 'p4.a', reserve: false }));
    expect(dry).toEqual({ ok: false, circuit: 'CLOSED', reason: 'MONTHLY_AMOUNT_CAP', detail: 'reserved 2000 + 1000 > cap 2500' });
    expect(await keysOf(b)).toEqual([`${b}:r:p1.a`, `${b}:r:p2.a`, `${b}:u:d:20261201`, `${b}:u:m:202612`]);
    // The release script reads the marker this one wrote: the counters go back exactly once.
    expect(await (redis as Redis & { testRelease(key: string, id: string): Promise<number> }).testRelease(b, 'p1.a')).toBe(1);
    expect(await (redis as Redis & { testRelease(key: string, id: string): Promise<number> }).testRelease(b, 'p1.a')).toBe(0);
    expect(await redis.hgetall(`${b}:u:d:20261201`)).toEqual({ a: '1000', n: '1' });
  });

  test('routing live state - per-card caps use the card digest keys only on a channel that has them', async () => {
    const b = base();
    const reserver = new ChannelReserver(redis, fast);
    const card = await reserver.reserve(request(b, { card_day_count: 1 }, { card_digest: 'abcd', reservation_id: 'p1.c' }));
    expect(card.ok && card.reservation?.card_digest).toBe('abcd');
    const again = await reserver.reserve(request(b, { card_day_count: 1 }, { card_digest: 'abcd', reservation_id: 'p2.c' }));
    expect(again).toMatchObject({ ok: false, reason: 'CARD_DAILY_COUNT_CAP' });
    const other_card = await reserver.reserve(request(b, { card_day_count: 1 }, { card_digest: 'ef01', reservation_id: 'p3.c' }));
    expect(other_card.ok).toBe(true);
    const b2 = base();
    await reserver.reserve(request(b2, { day_count: 10 }, { card_digest: 'abcd', reservation_id: 'p1.d' }));
    expect((await keysOf(b2)).filter((k) => k.includes(':k:'))).toEqual([]);
  });

  test('routing live state - outcomes are counted in memory and reach Redis only with a flush, which opens the circuit', async () => {
    const b = base();
    const health = new HealthBatcher(redis, { scoring: scoring_defaults, circuit: fast, key: () => b });
    for (let i = 0; i < 10; i += 1) health.record('c1', { kind: 'success', latency_ms: 100 });
    for (let i = 0; i < 15; i += 1) health.record('c1', { kind: 'system_error', latency_ms: 300 });
    health.record('c1', { kind: 'payer_decline', latency_ms: 50 });
    expect(await redis.exists(`${b}:h`)).toBe(0);
    // The view holds this process's counts before they are flushed.
    expect(health.view('c1')).toMatchObject({ circuit: 'CLOSED', health: { successes: 10, system_errors: 15, payer_declines: 1, latency_count: 26 } });
    await health.flush();
    const view = health.view('c1');
    expect(view.circuit).toBe('OPEN');
    expect(view.health).toEqual({
      successes: 10,
      system_errors: 15,
      timeouts: 0,
      payer_declines: 1,
      latency_ms_sum: 10 * 100 + 15 * 300 + 50,
      latency_count: 26,
    });
    expect(await redis.hget(`${b}:cb`, 'st')).toBe('O');
    const refused = await new ChannelReserver(redis, fast).reserve(request(b, {}));
    expect(refused).toMatchObject({ ok: false, reason: 'CIRCUIT_OPEN', circuit: 'OPEN' });
  });

  test('routing live state - two processes\' batches add up in the fleet view; a failed query rate opens on its own', async () => {
    const b = base();
    const one = new HealthBatcher(redis, { scoring: scoring_defaults, circuit: fast, key: () => b });
    const two = new HealthBatcher(redis, { scoring: scoring_defaults, circuit: fast, key: () => b });
    for (let i = 0; i < 12; i += 1) one.record('c1', { kind: 'success', latency_ms: 10 });
    for (let i = 0; i < 7; i += 1) two.record('c1', { kind: 'timeout', latency_ms: 10 });
    await one.flush();
    await two.flush();
    one.view('c1'); // a decision read it: the next flush refreshes it
    await one.flush();
    expect(one.view('c1').health).toMatchObject({ successes: 12, timeouts: 7 });
    expect(one.view('c1').circuit).toBe('CLOSED'); // 19 < volume_min
    for (let i = 0; i < 20; i += 1) two.record('c1', { kind: 'system_error', latency_ms: 10, operation: 'query' });
    await two.flush();
    expect(two.view('c1').circuit).toBe('OPEN');
    expect(two.view('c1').health.system_errors).toBe(0); // queries never enter the score
  });

  test('routing live state - half-open: one probe at a time, a stale failure does not re-open, fresh successes close with a clean window', async () => {
    const b = base();
    const health = new HealthBatcher(redis, { scoring: scoring_defaults, circuit: fast, key: () => b });
    const reserver = new ChannelReserver(redis, fast);
    for (let i = 0; i < 20; i += 1) health.record('c1', { kind: 'timeout', latency_ms: 5 });
    await health.flush();
    expect(health.view('c1').circuit).toBe('OPEN');
    const opened_at = Number(await redis.hget(`${b}:cb`, 'at'));
    // The condition, not a sleep: the circuit refuses until its cool-down is over.
    let probe = await reserver.reserve(request(b, {}));
    while (!probe.ok) {
      expect(probe).toMatchObject({ reason: 'CIRCUIT_OPEN' });
      await new Promise((r) => setImmediate(r));
      probe = await reserver.reserve(request(b, {}));
    }
    expect(probe).toEqual({ ok: true, circuit: 'HALF_OPEN', probe: true });
    expect(await reserver.reserve(request(b, {}))).toMatchObject({ ok: false, reason: 'CIRCUIT_PROBES_BUSY' });
    const since = Number(await redis.hget(`${b}:cb`, 'at'));
    expect(since).toBeGreaterThanOrEqual(opened_at + fast.cooldown_ms);
    // A call started before the circuit became half-open says nothing about it now.
    health.record('c1', { kind: 'timeout', latency_ms: 5, started_at: new Date(since - 1) });
    await health.flush();
    expect(health.view('c1').circuit).toBe('HALF_OPEN');
    health.record('c1', { kind: 'success', latency_ms: 5, started_at: new Date(since) });
    await health.flush();
    expect(health.view('c1').circuit).toBe('HALF_OPEN');
    health.record('c1', { kind: 'success', latency_ms: 5, started_at: new Date(since + 1) });
    await health.flush();
    expect(health.view('c1')).toMatchObject({ circuit: 'CLOSED', health: { successes: 0, timeouts: 0 } });
    expect(await keysOf(b)).toEqual([]);
  });

  test('routing live state - a fresh failed probe re-opens a half-open circuit', async () => {
    const b = base();
    const health = new HealthBatcher(redis, { scoring: scoring_defaults, circuit: fast, key: () => b });
    const since = Date.now();
    await redis.hset(`${b}:cb`, 'st', 'H', 'at', String(since), 'pa', '1', 'ps', '0');
    health.record('c1', { kind: 'system_error', latency_ms: 5, started_at: new Date(since) });
    await health.flush();
    expect(health.view('c1').circuit).toBe('OPEN');
  });

  test('routing live state - started, the batcher flushes on its own within its interval; stop flushes the rest', async () => {
    const b = base();
    const health = new HealthBatcher(redis, { scoring: scoring_defaults, circuit: fast, key: () => b, flush_ms: 20 });
    health.start();
    health.record('c1', { kind: 'success', latency_ms: 7 });
    while ((await redis.exists(`${b}:h`)) === 0) await new Promise((r) => setTimeout(r, 5));
    health.record('c1', { kind: 'success', latency_ms: 7 });
    await health.stop();
    const fields = await redis.hgetall(`${b}:h`);
    expect(Object.entries(fields).filter(([f]) => f.endsWith(':s')).reduce((sum, [, v]) => sum + Number(v), 0)).toBe(2);
    expect(() => new HealthBatcher(redis, { scoring: scoring_defaults, circuit: fast, key: () => b, flush_ms: 251 })).toThrow(/flush_ms/);
  });

  test('routing live state - a failed flush keeps its batch for the next one', async () => {
    const b = base();
    const broken = new Redis(redis_url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    await broken.connect();
    await broken.quit();
    const health = new HealthBatcher(broken, { scoring: scoring_defaults, circuit: fast, key: () => b });
    health.record('c1', { kind: 'success', latency_ms: 7 });
    await expect(health.flush()).rejects.toThrow();
    health.record('c1', { kind: 'timeout', latency_ms: 7 });
    await broken.connect();
    await health.flush();
    broken.disconnect();
    expect(health.view('c1').health).toMatchObject({ successes: 1, timeouts: 1, latency_count: 2 });
  });
});

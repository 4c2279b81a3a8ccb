// Integration: the routing table against the real Redis at 127.0.0.1:6379, each test under its
// own key prefix, every key deleted afterwards.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { PaycoreError } from '../errors';
import { channel, merchant, order } from './fixtures.test-helper';
import { scoreOf, scoring_defaults, seededRandom } from './scoring';
import { createRouting, type Routing, type RoutingOptions } from './routing';
import { Sealer } from '../seal';
import type { Reservation, RoutingChannel } from './types';

const test_sealer = new Sealer(Buffer.alloc(32, 7));

const redis_url = process.env.PAYCORE_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const run = `test-routing-${process.pid}-${randomBytes(3).toString('hex')}`;
const connections: Redis[] = [];
const tables: Routing[] = [];
let prefix_no = 0;

function connect(): Redis {
  const redis = new Redis(redis_url, { maxRetriesPerRequest: 2 });
  connections.push(redis);
  return redis;
}

async function table(prefix: string, options: Partial<RoutingOptions> = {}, redis = connect()): Promise<Routing> {
  const t = createRouting(redis, prefix, { scoring: { exploration_share: 0 }, sealer: test_sealer, ...options });
  tables.push(t);
  await t.cache.start();
  return t;
}

function nextPrefix(): string {
  prefix_no += 1;
  return `${run}-${prefix_no}`;
}

async function setup(channels: RoutingChannel[], merchant_channels = channels.map((c) => c.channel_id), options: Partial<RoutingOptions> = {}): Promise<Routing> {
  const t = await table(nextPrefix(), options);
  for (const c of channels) await t.admin.upsertChannel(c);
  await t.merchants.upsertMerchant({ ...merchant('m1', merchant_channels), notify_secret: 'm1-secret-0123456789' });
  return t;
}

async function withTimeout<T>(what: string, ms: number, f: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([f(), new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (dry runs only: explain moves no circuit) until the channel's circuit has cooled down,
 * i.e. the channel is no longer excluded as CIRCUIT_OPEN — the condition, not a sleep. */
async function cooledDown(t: Routing, channel_id: string, timeout_ms = 10_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const decision = await t.decisions.explain(order({ payment_id: '' }));
    if (!decision.excluded.some((e) => e.channel_id === channel_id && e.reason === 'CIRCUIT_OPEN')) return;
    if (Date.now() > deadline) throw new Error(`${channel_id}'s circuit still open after ${timeout_ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function usage(t: Routing, channel_id: string, day: string): Promise<{ a: string | null; n: string | null }> {
  const [a, n] = await connections[0]!.hmget(`${t.cache.keys.channel(channel_id)}:u:d:${day}`, 'a', 'n');
  return { a: a ?? null, n: n ?? null };
}

afterAll(async () => {
  for (const t of tables) await t.cache.stop();
  const redis = connections[0] ?? connect();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${run}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  for (const c of connections) c.disconnect();
});

const at = new Date('2025-01-06T04:00:00Z'); // Monday noon in Shanghai
const day = '20250106';

test('routing - hundreds of concurrent decisions never exceed a daily cap, and releases restore it', async () => {
  const cap = 100_000n;
  const t1 = await setup([channel('capped', { limits: { day_amount_minor: cap, day_count: 60 } })]);
  const t2 = await table(t1.cache.keys.channel('x').slice(1).split(':ch:')[0]!); // a second instance on its own connection
  const amounts = Array.from({ length: 400 }, (_, i) => BigInt(100 + ((i * 7919) % 4_900)));
  const decisions = await withTimeout('400 decisions', 20_000, () =>
    Promise.all(amounts.map((amount_minor, i) => (i % 2 === 0 ? t1 : t2).decisions.route(order({ payment_id: `p${i}`, amount_minor, now: at })))),
  );
  const reservations = decisions.flatMap((d) => (d.chosen?.reservation === undefined ? [] : [d.chosen.reservation]));
  const reserved = reservations.reduce((sum, r) => sum + BigInt(r.amount_minor), 0n);
  expect(reserved).toBeLessThanOrEqual(cap);
  expect(reservations.length).toBeLessThanOrEqual(60);
  expect(reservations.length).toBeGreaterThan(10);
  expect(await usage(t1, 'capped', day)).toEqual({ a: reserved.toString(), n: String(reservations.length) });
  const refused = decisions.filter((d) => d.chosen === undefined);
  expect(refused.length).toBe(400 - reservations.length);
  expect(new Set(refused.map((d) => d.excluded[0]?.reason))).toEqual(expect.any(Set));
  for (const d of refused) expect(['DAILY_AMOUNT_CAP', 'DAILY_COUNT_CAP']).toContain(d.excluded[0]?.reason);

  const released = await Promise.all(reservations.map((r) => (Number(r.amount_minor) % 2 === 0 ? t1 : t2).reservations.release(r)));
  expect(released.every((x) => x)).toBe(true);
  expect(await usage(t1, 'capped', day)).toEqual({ a: '0', n: '0' });
  // Idempotent: a second release (another process, a retried event) changes nothing.
  expect(await Promise.all(reservations.slice(0, 5).map((r) => t1.reservations.release(r)))).toEqual([false, false, false, false, false]);
  expect(await usage(t1, 'capped', day)).toEqual({ a: '0', n: '0' });
  const again = await t1.decisions.route(order({ payment_id: 'again', amount_minor: 5_000n, now: at }));
  expect(again.chosen?.channel_id).toBe('capped');
});

test('routing - excludes a channel over its daily cap and a card over its per-card cap', async () => {
  const t = await setup([
    channel('quick', { products: ['UNIONPAY_QUICK'], limits: { card_day_count: 2, day_amount_minor: 1_000_000n }, required_payer_elements: { UNIONPAY_QUICK: ['card_token'] } }),
  ]);
  const quick = (payment_id: string, card_token: string, amount_minor = 1_000n) =>
    t.decisions.route(order({ payment_id, product: 'UNIONPAY_QUICK', payer_elements_present: ['card_token'], card_token, amount_minor, now: at }));
  const r1 = await quick('q1', 'tok_a');
  const r2 = await quick('q2', 'tok_a');
  const r3 = await quick('q3', 'tok_a');
  expect([r1.chosen?.channel_id, r2.chosen?.channel_id, r3.chosen]).toEqual(['quick', 'quick', undefined]);
  expect(r3.excluded).toEqual([{ channel_id: 'quick', reason: 'CARD_DAILY_COUNT_CAP', detail: 'reserved count 2 + 1 > cap 2' }]);
  expect((await quick('q4', 'tok_b')).chosen?.channel_id).toBe('quick');
  // The token never appears in a key or in the reservation.
  expect(JSON.stringify(r1.chosen?.reservation)).not.toContain('tok_a');
  expect(await connections[0]!.keys(`*tok_a*`)).toEqual([]);
  // Releasing one of tok_a's reservations frees one slot for that card.
  expect(await t.reservations.release(r1.chosen!.reservation!)).toBe(true);
  expect((await quick('q5', 'tok_a')).chosen?.channel_id).toBe('quick');
  const over = await quick('q6', 'tok_c', 999_000n);
  expect(over.excluded[0]?.reason).toBe('DAILY_AMOUNT_CAP');
});

test('routing - a degraded channel loses traffic, its circuit opens, and it wins traffic back after probes', async () => {
  const cooldown_ms = 400;
  const t = await setup(
    [channel('cheap', { fee: { rate_bp: 30, fixed_minor: 0n, min_minor: 0n } }), channel('dear', { fee: { rate_bp: 60, fixed_minor: 0n, min_minor: 0n } })],
    undefined,
    { circuit: { cooldown_ms, volume_min: 20, failure_rate_open: 0.5, probes_max: 2, probe_successes_close: 2 } },
  );
  const pick = async (n: string) => (await t.decisions.route(order({ payment_id: n }))).chosen;
  expect((await pick('a1'))?.channel_id).toBe('cheap');
  // Payer declines say nothing about the channel.
  for (let i = 0; i < 40; i += 1) expect(await t.health.recordOutcome('cheap', { kind: 'payer_decline', latency_ms: 300 })).toBe('CLOSED');
  expect((await pick('a2'))?.channel_id).toBe('cheap');
  // Ten system errors: still under the circuit's minimum volume, but the score already loses.
  for (let i = 0; i < 10; i += 1) expect(await t.health.recordOutcome('cheap', { kind: 'system_error', latency_ms: 2_000 })).toBe('CLOSED');
  expect((await pick('a3'))?.channel_id).toBe('dear');
  for (let i = 0; i < 9; i += 1) await t.health.recordOutcome('cheap', { kind: 'timeout', latency_ms: 10_000 });
  expect(await t.health.recordOutcome('cheap', { kind: 'timeout', latency_ms: 10_000 })).toBe('OPEN');
  const open = await t.decisions.explain(order({ payment_id: '' }));
  expect(open.excluded).toEqual([expect.objectContaining({ channel_id: 'cheap', reason: 'CIRCUIT_OPEN' })]);
  expect(open.chosen?.channel_id).toBe('dear');
  await cooledDown(t, 'cheap');
  // Half-open: probes go to the recovering channel, at most probes_max at once.
  const p1 = await pick('a4');
  const p2 = await pick('a5');
  const p3 = await pick('a6');
  expect([p1?.channel_id, p1?.probe, p2?.channel_id, p2?.probe, p3?.channel_id, p3?.probe]).toEqual(['cheap', true, 'cheap', true, 'dear', false]);
  // The probes' outcomes: calls started after the circuit became half-open.
  expect(await t.health.recordOutcome('cheap', { kind: 'success', latency_ms: 200, started_at: new Date() })).toBe('HALF_OPEN');
  expect(await t.health.recordOutcome('cheap', { kind: 'success', latency_ms: 200, started_at: new Date() })).toBe('CLOSED');
  const back = await pick('a7');
  expect([back?.channel_id, back?.probe]).toEqual(['cheap', false]);
});

test('routing - a failed probe reopens the circuit', async () => {
  const t = await setup([channel('flaky'), channel('other', { fee: { rate_bp: 100, fixed_minor: 0n, min_minor: 0n } })], undefined, {
    circuit: { cooldown_ms: 200, volume_min: 5, probes_max: 1 },
  });
  for (let i = 0; i < 5; i += 1) await t.health.recordOutcome('flaky', { kind: 'system_error', latency_ms: 100 });
  await cooledDown(t, 'flaky');
  expect((await t.decisions.route(order({ payment_id: 'b1' }))).chosen).toEqual(expect.objectContaining({ channel_id: 'flaky', probe: true }));
  expect(await t.health.recordOutcome('flaky', { kind: 'system_error', latency_ms: 100, started_at: new Date() })).toBe('OPEN');
  expect((await t.decisions.route(order({ payment_id: 'b2' }))).chosen?.channel_id).toBe('other');
});

test('routing - ExplainRoute names why each channel was excluded, and reserves nothing', async () => {
  const t = await setup(
    [
      channel('ok', { fee: { rate_bp: 60, fixed_minor: 0n, min_minor: 0n } }),
      channel('ok_dear', { fee: { rate_bp: 60, fixed_minor: 50n, min_minor: 0n } }),
      channel('off', { state: 'DISABLED' }),
      channel('draining', { state: 'DRAINING' }),
      channel('alipay', { products: ['ALIPAY_QR'] }),
      channel('usd', { currencies: ['USD'] }),
      channel('uncontracted'),
      channel('hinted'),
      channel('min', { amount_min_minor: 50_000n }),
      channel('max', { amount_max_minor: 5_000n }),
      channel('night', { service_windows: { time_zone: 'Asia/Shanghai', open: [{ days: [], start: '00:00', end: '06:00' }], closed: [] } }),
      channel('needs_openid', { required_payer_elements: { WECHAT_NATIVE: ['openid'] } }),
      channel('full', { limits: { day_count: 1 } }),
      channel('broken'),
    ],
    ['ok', 'ok_dear', 'off', 'draining', 'alipay', 'usd', 'hinted', 'min', 'max', 'night', 'needs_openid', 'full', 'broken'],
    { circuit: { volume_min: 3, cooldown_ms: 60_000 } },
  );
  const fill = await t.decisions.route(order({ payment_id: 'fill', include_channels: ['full'], now: at }));
  expect(fill.chosen?.channel_id).toBe('full');
  for (let i = 0; i < 3; i += 1) await t.health.recordOutcome('broken', { kind: 'system_error', latency_ms: 100, at });
  const before = await usage(t, 'ok', day);
  const decision = await t.decisions.explain(order({ payment_id: '', exclude_channels: ['hinted'], now: at }));
  const reasons = Object.fromEntries(decision.excluded.map((e) => [e.channel_id, e.reason]));
  expect(reasons).toEqual({
    off: 'NOT_ENABLED', draining: 'DRAINING', alipay: 'PRODUCT', usd: 'CURRENCY', uncontracted: 'NOT_CONTRACTED', hinted: 'EXCLUDED_BY_HINT',
    min: 'AMOUNT_BELOW_MIN', max: 'AMOUNT_ABOVE_MAX', night: 'OUTSIDE_WINDOW', needs_openid: 'PAYER_ELEMENT_MISSING',
    full: 'DAILY_COUNT_CAP', broken: 'CIRCUIT_OPEN',
  });
  for (const e of decision.excluded) expect(e.detail).not.toBe('');
  expect(decision.chosen).toEqual({ channel_id: 'ok', fee_minor: 60n, probe: false, explored: false });
  expect(decision.candidates.map((c) => c.channel_id)).toEqual(['ok', 'ok_dear', 'full', 'broken']);
  expect(decision.candidates.map((c) => c.status)).toEqual(['CHOSEN', 'ELIGIBLE', 'DAILY_COUNT_CAP', 'CIRCUIT_OPEN']);
  expect(decision.candidates[0]!.score).toBeGreaterThan(decision.candidates[1]!.score);
  expect(await usage(t, 'ok', day)).toEqual(before);
  // The script's score is the documented formula (scoring.ts), to the last digit it prints.
  const broken = decision.candidates.find((c) => c.channel_id === 'broken')!;
  expect(broken.score).toBeCloseTo(scoreOf(broken.fee_minor, 10_000n, 0, broken.health, scoring_defaults), 9);
  expect(broken.health.system_errors).toBe(3);
});

test('routing - exploration picks a non-best healthy candidate for a seeded share of decisions', async () => {
  const t = await setup(
    [channel('best', { fee: { rate_bp: 20, fixed_minor: 0n, min_minor: 0n } }), channel('second', { weight: 3 }), channel('third', { weight: 1 })],
    undefined,
    { scoring: { exploration_share: 0.2 }, random: seededRandom(7) },
  );
  const decisions = await Promise.all(Array.from({ length: 500 }, (_, i) => t.decisions.route(order({ payment_id: `e${i}` }))));
  const explored = decisions.filter((d) => d.chosen?.explored);
  expect(explored.length).toBeGreaterThan(60);
  expect(explored.length).toBeLessThan(140);
  expect(explored.every((d) => d.chosen?.channel_id !== 'best')).toBe(true);
  const second = explored.filter((d) => d.chosen?.channel_id === 'second').length;
  expect(second).toBeGreaterThan(explored.length - second); // weighted 3:1
  expect(decisions.filter((d) => !d.chosen?.explored).every((d) => d.chosen?.channel_id === 'best')).toBe(true);
  // Deterministic under the same seed: a fresh table with the same seed explores the same decisions.
  const t2 = await table(nextPrefix(), { scoring: { exploration_share: 0.2 }, random: seededRandom(7) });
  await t2.admin.applyTable(await t.admin.exportTable().then((f) => ({ ...f, merchants: f.merchants.map((m) => ({ ...(m as object), notify_secret: 'm1-secret-0123456789' })) })));
  const replay: boolean[] = [];
  for (let i = 0; i < 50; i += 1) replay.push((await t2.decisions.route(order({ payment_id: `r${i}` }))).chosen?.explored ?? false);
  const t3 = await table(nextPrefix(), { scoring: { exploration_share: 0.2 }, random: seededRandom(7) });
  await t3.admin.applyTable(await t2.admin.exportTable().then((f) => ({ ...f, merchants: f.merchants.map((m) => ({ ...(m as object), notify_secret: 'm1-secret-0123456789' })) })));
  const replay3: boolean[] = [];
  for (let i = 0; i < 50; i += 1) replay3.push((await t3.decisions.route(order({ payment_id: `r${i}` }))).chosen?.explored ?? false);
  expect(replay3).toEqual(replay);
});

test('routing - a config change through one instance reaches a second instance within a second', async () => {
  const prefix = nextPrefix();
  const a = await table(prefix);
  const b = await table(prefix); // its own Redis connection and subscriber
  const seen = async (check: () => boolean): Promise<number> => {
    const started = Date.now();
    while (!check()) {
      if (Date.now() - started > 1_000) throw new Error('change not seen within 1 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    return Date.now() - started;
  };
  await a.admin.upsertChannel(channel('new_one'));
  await seen(() => b.cache.listChannels().some((c) => c.channel_id === 'new_one'));
  await a.admin.setChannelState('new_one', 'DRAINING');
  await seen(() => b.cache.getChannel('new_one').state === 'DRAINING');
  // Fallback: a change whose pub/sub message is lost is still found by the version poll.
  const raw = connections[0]!;
  const key = `{${prefix}:rt}`;
  await raw.multi().hset(`${key}:states`, 'new_one', 'DISABLED').incr(`${key}:version`).exec();
  await seen(() => b.cache.getChannel('new_one').state === 'DISABLED');
});

test('routing - a bad declarative file is refused whole, naming entry and field', async () => {
  const t = await setup([channel('keep')]);
  const before = await t.admin.exportTable();
  const file = {
    version: 1,
    channels: [
      { channel_id: 'good', provider: 'wechatpay', products: ['WECHAT_NATIVE'], currencies: ['CNY'], fee: { rate_bp: 60 } },
      { channel_id: 'bad', provider: 'wechatpay', products: ['WECHAT_NATIVE', 'NOPE'], currencies: ['CNY'], fee: { rate_bp: 60.5, min_minor: 10 }, limits: { day_amount_minor: '10', dayly_count: 3 } },
      { channel_id: 'good', provider: 'wechatpay', products: ['WECHAT_NATIVE'], currencies: ['CNY'], fee: { rate_bp: 60 } },
    ],
    merchants: [{ merchant_id: 'm2', products: ['WECHAT_NATIVE'], channel_ids: ['good', 'missing'] }],
  };
  let error: unknown;
  try {
    await t.admin.applyTable(file);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(PaycoreError);
  const fields = (error as PaycoreError).violations.map((v) => v.field).sort();
  expect((error as PaycoreError).reason).toBe('INVALID_FIELD');
  expect(fields).toEqual([
    'channels[1].fee.min_minor', 'channels[1].fee.rate_bp', 'channels[1].limits.dayly_count', 'channels[1].products[1]',
    'channels[2].channel_id', 'merchants[0].channel_ids[1]', 'merchants[0].notify_secret',
  ]);
  expect(await t.admin.exportTable()).toEqual(before);
});

test('routing - the example file applies, exports and re-applies unchanged', async () => {
  const t = await table(nextPrefix());
  const example = JSON.parse(readFileSync(path.resolve(__dirname, '../../ops/routing.example.json'), 'utf8')) as unknown;
  const applied = await t.admin.applyTable(example);
  expect(applied.channels).toBeGreaterThan(0);
  const exported = await t.admin.exportTable();
  await t.admin.applyTable(exported); // no secrets in an export: merchants keep theirs
  expect(await t.admin.exportTable()).toEqual(exported);
  const m = t.merchants.getMerchant(t.cache.listChannels().length > 0 ? (exported.merchants[0] as { merchant_id: string }).merchant_id : '');
  expect(m.notify_secret_last4).toHaveLength(4);
  expect(JSON.stringify(exported)).not.toContain('notify_secret');
});

test('routing - the notify secret is write-only', async () => {
  const t = await setup([channel('c1')]);
  const view = t.merchants.getMerchant('m1');
  expect(view).toEqual(expect.objectContaining({ notify_secret_last4: '6789', notify_secret_fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/) }));
  expect(JSON.stringify(view)).not.toContain('m1-secret');
  await t.merchants.upsertMerchant(merchant('m1', ['c1'])); // no secret: the stored one stays
  expect(await t.merchants.notifySecret('m1')).toBe('m1-secret-0123456789');
  await expect(t.merchants.upsertMerchant(merchant('m9', ['c1']))).rejects.toThrow('merchant.notify_secret is required for a new merchant');
  await expect(t.merchants.upsertMerchant({ ...merchant('m9', ['nope']), notify_secret: 'x'.repeat(16) })).rejects.toThrow('merchant.channel_ids[0]');
});

test('routing - payment options follow the scene order and only list products with a channel now', async () => {
  const t = await setup([
    channel('jsapi', { products: ['WECHAT_JSAPI'], required_payer_elements: { WECHAT_JSAPI: ['openid'] } }),
    channel('quick', { products: ['UNIONPAY_QUICK'], required_payer_elements: { UNIONPAY_QUICK: ['card_token'] } }),
    channel('native', { products: ['WECHAT_NATIVE'] }),
    channel('alipay_qr', { products: ['ALIPAY_QR'], amount_max_minor: 5_000n }),
  ]);
  const products = async (scene: string, amount = 1_000n) => (await t.decisions.listPaymentOptions('m1', amount, 'CNY', scene, at)).map((o) => o.product);
  expect(await products('WECHAT_BROWSER')).toEqual(['WECHAT_JSAPI', 'UNIONPAY_QUICK']);
  expect(await products('PC')).toEqual(['WECHAT_NATIVE', 'ALIPAY_QR', 'UNIONPAY_QUICK']);
  expect(await products('PC', 10_000n)).toEqual(['WECHAT_NATIVE', 'UNIONPAY_QUICK']);
  await t.admin.setChannelState('jsapi', 'DISABLED');
  expect(await products('WECHAT_BROWSER')).toEqual(['UNIONPAY_QUICK']);
  await expect(products('SPACESHIP')).rejects.toThrow('scene is not a known scene');
  expect(await t.decisions.listPaymentOptions('nobody', 1_000n, 'CNY', 'PC', at)).toEqual([]);
});

test('routing - a reservation is plain JSON another process can release, and commit keeps the usage', async () => {
  const t = await setup([channel('c1', { limits: { day_count: 10 } })]);
  const other = await table(t.cache.keys.channel('x').slice(1).split(':ch:')[0]!);
  const d1 = await t.decisions.route(order({ payment_id: 'j1', now: at }));
  const d2 = await t.decisions.route(order({ payment_id: 'j2', now: at }));
  const carried = JSON.parse(JSON.stringify(d1.chosen!.reservation)) as Reservation;
  expect(await other.reservations.release(carried)).toBe(true);
  expect(await t.reservations.commit(d2.chosen!.reservation!)).toBe(true);
  expect(await t.reservations.release(d2.chosen!.reservation!)).toBe(false); // committed: usage stays
  expect(await usage(t, 'c1', day)).toEqual({ a: '10000', n: '1' });
});

test('routing - hanging creates open the circuit even while the queries they cause succeed (health per operation)', async () => {
  const t = await setup([channel('hangs'), channel('other', { fee: { rate_bp: 100, fixed_minor: 0n, min_minor: 0n } })], undefined, {
    circuit: { cooldown_ms: 60_000, volume_min: 10, failure_rate_open: 0.5 },
  });
  // What a provider whose create hangs produces: each hung create is followed by queries that
  // succeed (the order is there, pending) — 43% failures overall, 100% of creates.
  let state = 'CLOSED';
  for (let i = 0; i < 10; i += 1) {
    state = await t.health.recordOutcome('hangs', { kind: 'timeout', latency_ms: 10_000, operation: 'create' });
    if (state !== 'CLOSED') break;
    for (let q = 0; q < 2; q += 1) await t.health.recordOutcome('hangs', { kind: 'success', latency_ms: 50, operation: 'query' });
  }
  expect(state).toBe('OPEN');
  expect((await t.decisions.route(order({ payment_id: 'h1' }))).chosen?.channel_id).toBe('other');
});

test('routing - a half-open circuit is judged only by calls started after it became half-open', async () => {
  const cooldown_ms = 300;
  const t = await setup([channel('recovering'), channel('other', { fee: { rate_bp: 100, fixed_minor: 0n, min_minor: 0n } })], undefined, {
    circuit: { cooldown_ms, volume_min: 5, probes_max: 2, probe_successes_close: 2 },
  });
  const stale_start = new Date();
  for (let i = 0; i < 5; i += 1) await t.health.recordOutcome('recovering', { kind: 'timeout', latency_ms: 100, operation: 'create' });
  await cooledDown(t, 'recovering');
  expect((await t.decisions.route(order({ payment_id: 'r1' }))).chosen).toEqual(expect.objectContaining({ channel_id: 'recovering', probe: true }));
  // A timeout of a call started before the cool-down ended says nothing about the recovery.
  expect(await t.health.recordOutcome('recovering', { kind: 'timeout', latency_ms: 10_000, operation: 'create', started_at: stale_start })).toBe('HALF_OPEN');
  expect(await t.health.recordOutcome('recovering', { kind: 'success', latency_ms: 100, operation: 'create', started_at: stale_start })).toBe('HALF_OPEN');
  expect(await t.health.recordOutcome('recovering', { kind: 'success', latency_ms: 100, operation: 'create', started_at: new Date() })).toBe('HALF_OPEN');
  expect(await t.health.recordOutcome('recovering', { kind: 'success', latency_ms: 100, operation: 'create', started_at: new Date() })).toBe('CLOSED');
});

// ---- apps ---------------------------------------------------------------------------------

const sealer = new Sealer(randomBytes(32));

test('apps - an app is validated, stored and read back; admin roles need every merchant', async () => {
  const t = await table(nextPrefix(), { sealer });
  const view = await t.apps.upsertApp({ app_id: 'shop', merchants: ['m2', 'm1'], roles: ['payments:write', 'payments:read'] });
  expect(view).toEqual({ app_id: 'shop', merchants: ['m1', 'm2'], roles: ['payments:read', 'payments:write'], keys: [] });
  await expect(t.apps.upsertApp({ app_id: 'shop', merchants: ['m1'], roles: ['admin:routing'] })).rejects.toThrow("app.roles admin roles need merchants '*'");
  await expect(t.apps.upsertApp({ app_id: 'bad id!', merchants: '*', roles: ['payments:fly' as never] })).rejects.toThrow(/app.app_id .*app.roles\[0\] must be one of/);
  expect(t.apps.getApp('shop').merchants).toEqual(['m1', 'm2']);
});

test('apps - a key secret is sealed in Redis, shown once, and rotates with two valid until the previous is retired', async () => {
  const prefix = nextPrefix();
  const t = await table(prefix, { sealer });
  await t.apps.upsertApp({ app_id: 'shop', merchants: ['m1'], roles: ['payments:read'] });
  const first = await t.apps.rotateAppKey('shop');
  expect(first.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const stored = await connections[0]!.hget(`{${prefix}:rt}:app_keys`, 'shop');
  expect(stored).not.toContain(first.secret);
  expect(JSON.stringify(t.apps.getApp('shop'))).not.toContain(first.secret);
  expect(t.apps.appGrant('shop')!.secrets.get(first.key_id)).toBe(first.secret);
  const second = await t.apps.rotateAppKey('shop');
  expect(t.apps.getApp('shop').keys.map((k) => [k.key_id, k.state])).toEqual([[second.key_id, 'CURRENT'], [first.key_id, 'PREVIOUS']]);
  expect([...t.apps.appGrant('shop')!.secrets.keys()].sort()).toEqual([first.key_id, second.key_id].sort());
  await expect(t.apps.rotateAppKey('shop')).rejects.toThrow('retire it first');
  await t.apps.retireAppKey('shop');
  expect([...t.apps.appGrant('shop')!.secrets.keys()]).toEqual([second.key_id]);
  // Another process with the same data key reads the same keys.
  const other = await table(prefix, { sealer });
  expect(other.apps.appGrant('shop')!.secrets.get(second.key_id)).toBe(second.secret);
});

test('apps - two rotations at once: one wins, the other is refused, never a lost key', async () => {
  const t = await table(nextPrefix(), { sealer });
  await t.apps.upsertApp({ app_id: 'shop', merchants: ['m1'], roles: ['payments:read'] });
  const results = await Promise.allSettled([t.apps.rotateAppKey('shop'), t.apps.rotateAppKey('shop')]);
  const won = results.filter((r) => r.status === 'fulfilled');
  expect(won).toHaveLength(1);
  const winner = (won[0] as PromiseFulfilledResult<{ key_id: string; secret: string }>).value;
  expect(t.apps.appGrant('shop')!.secrets.get(winner.key_id)).toBe(winner.secret);
  expect(t.apps.getApp('shop').keys).toHaveLength(1);
});

test('apps - the declarative file lists apps: absent ones go with their keys, listed ones keep theirs; no apps key leaves them', async () => {
  const t = await table(nextPrefix(), { sealer });
  const example = JSON.parse(readFileSync(path.resolve(__dirname, '../../ops/routing.example.json'), 'utf8')) as Record<string, unknown>;
  await t.admin.applyTable(example);
  expect(t.apps.listApps().map((a) => a.app_id)).toEqual(['checkout', 'ops_console']);
  const key = await t.apps.rotateAppKey('checkout');
  await t.apps.rotateAppKey('ops_console');
  const exported = await t.admin.exportTable();
  expect(exported.apps).toEqual(example.apps);
  expect(JSON.stringify(exported)).not.toContain(key.secret);
  await t.admin.applyTable(exported);
  expect(t.apps.appGrant('checkout')!.secrets.get(key.key_id)).toBe(key.secret);
  await t.admin.applyTable({ ...example, apps: undefined });
  expect(t.apps.listApps()).toHaveLength(2);
  await t.admin.applyTable({ ...example, apps: [(example.apps as unknown[])[0]] });
  expect(t.apps.listApps().map((a) => a.app_id)).toEqual(['checkout']);
  await t.admin.applyTable({ ...example, apps: (example.apps as unknown[]) });
  expect(t.apps.getApp('ops_console').keys).toEqual([]);
  await expect(t.admin.applyTable({ ...example, apps: [{ app_id: 'x', merchants: ['m1'], roles: ['admin:apps'] }, { app_id: 'y', merchants: '*', roles: [] }, { app_id: 'y', merchants: '*', roles: [] }] }))
    .rejects.toThrow(/apps\[0\].roles admin roles need merchants '\*'; apps\[2\].app_id repeats apps\[1\]/);
  expect(t.apps.listApps().map((a) => a.app_id)).toEqual(['checkout', 'ops_console']);
});

test('risk rules - the declarative file carries them (absent: left as they are); upserts and deletes reach another instance; a bad rule is refused whole', async () => {
  const prefix = nextPrefix();
  const t = await table(prefix, { sealer });
  const other = await table(prefix, { sealer });
  const example = JSON.parse(readFileSync(path.resolve(__dirname, '../../ops/routing.example.json'), 'utf8')) as Record<string, unknown>;
  const applied = await t.admin.applyTable(example);
  expect(applied.risk_rules).toBe((example.risk_rules as unknown[]).length);
  const exported = await t.admin.exportTable();
  expect(exported.risk_rules).toEqual([...(example.risk_rules as { rule_id: string }[])].sort((a, b) => (a.rule_id < b.rule_id ? -1 : 1)));
  await t.admin.applyTable({ ...example, risk_rules: undefined });
  expect(t.risk_rules.riskRules()).toHaveLength((example.risk_rules as unknown[]).length);
  await expect(t.admin.applyTable({ ...example, risk_rules: [{ rule_id: 'a', action: 'block', kind: 'amount', amount_max_minor: '1' }, { rule_id: 'a', action: 'allow', kind: 'amount', amount_max_minor: '2' }] }))
    .rejects.toThrow(/risk_rules\[1\].rule_id repeats risk_rules\[0\]/);
  await t.admin.applyTable({ ...example, risk_rules: [] });
  expect(t.risk_rules.riskRules()).toEqual([]);

  await t.risk_rules.upsertRiskRule({ rule_id: 'big', action: 'block', kind: 'amount', amount_max_minor: '100' });
  await waitFor(() => other.risk_rules.riskRules().length === 1);
  expect(other.risk_rules.riskRules()[0]).toMatchObject({ rule_id: 'big', condition: { kind: 'amount', amount_max_minor: 100n } });
  await expect(t.risk_rules.upsertRiskRule({ rule_id: 'big', action: 'block', kind: 'amount' })).rejects.toThrow(/rule.amount_max_minor/);
  await t.risk_rules.deleteRiskRule('big');
  await waitFor(() => other.risk_rules.riskRules().length === 0);
  await expect(t.risk_rules.deleteRiskRule('big')).rejects.toThrow(/no risk rule big/);
});

/** Polls a condition another instance reaches through its change subscription. */
async function waitFor(condition: () => boolean, timeout_ms = 10_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

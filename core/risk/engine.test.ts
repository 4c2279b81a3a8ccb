// The risk engine against the real Redis at 127.0.0.1:6379 (each test its own prefix, keys
// deleted afterwards): velocity counted atomically across engines on separate connections,
// replays not counted twice, blocked payments not counted, new payers, and no payer element
// in clear in Redis or in the event.

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { FieldViolation } from '../errors';
import { RiskEngine, type RiskAssessed, type RiskOrder } from './engine';
import { readRiskRule, type RiskRule } from './rules';

const redis_url = process.env.PAYCORE_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const connections: Redis[] = [];
const prefixes: string[] = [];
const digest_key = randomBytes(32);

afterAll(async () => {
  const redis = connect();
  for (const prefix of prefixes) {
    const keys = await redis.keys(`{${prefix}:risk}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  for (const c of connections) c.disconnect();
});

function connect(): Redis {
  const redis = new Redis(redis_url, { maxRetriesPerRequest: 2 });
  connections.push(redis);
  return redis;
}

function rule(json: Record<string, unknown>): RiskRule {
  const violations: FieldViolation[] = [];
  const parsed = readRiskRule(json, 'rule', violations);
  expect(violations).toEqual([]);
  return parsed!;
}

function engines(rules: RiskRule[], count: number, clock?: () => Date): { engines: RiskEngine[]; events: RiskAssessed[]; prefix: string } {
  const prefix = `risk-${randomBytes(4).toString('hex')}`;
  prefixes.push(prefix);
  const events: RiskAssessed[] = [];
  const made = Array.from(
    { length: count },
    () => new RiskEngine(connect(), prefix, { rules: () => rules, digest_key, publish: async (e) => void events.push(e), clock }),
  );
  return { engines: made, events, prefix };
}

let order_no = 0;
function order(more: Partial<RiskOrder> = {}): RiskOrder {
  order_no += 1;
  return { payment_id: `p${order_no}`, merchant_id: 'm1', product: 'UNIONPAY_QUICK', amount_minor: 1_000n, payer: { card_token: '6222020000000001tok', client_ip: '203.0.113.9' }, ...more };
}

test('risk engine - a card velocity rule lets 5 payments a minute through and blocks the 6th, counted atomically across engines', async () => {
  const { engines: [a, b], events } = engines([rule({ rule_id: 'card_1m', action: 'block', kind: 'velocity', dimension: 'card_token', window_seconds: 60, count_max: 5 })], 2);
  // Twelve at once, half on each connection: exactly five pass, whatever the interleaving.
  const decisions = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a! : b!).assess(order())));
  expect(decisions.filter((d) => d.action === 'allow')).toHaveLength(5);
  expect(decisions.filter((d) => d.action === 'block').every((d) => d.fired.length === 1 && d.fired[0]!.rule_id === 'card_1m')).toBe(true);
  expect(events).toHaveLength(12);
  // Another card is not affected.
  expect((await a!.assess(order({ payer: { card_token: '6222020000000002tok' } }))).action).toBe('allow');
});

test('risk engine - a replayed create is not counted twice; a blocked payment is not counted at all', async () => {
  const { engines: [engine] } = engines([rule({ rule_id: 'two', action: 'block', kind: 'velocity', dimension: 'client_ip', window_seconds: 60, count_max: 2 })], 1);
  const first = order();
  expect((await engine!.assess(first)).action).toBe('allow');
  expect((await engine!.assess(first)).action).toBe('allow'); // the same payment again
  expect((await engine!.assess(order())).action).toBe('allow');
  expect((await engine!.assess(first)).action).toBe('allow'); // still within its own limit
  expect((await engine!.assess(order())).action).toBe('block');
  expect((await engine!.assess(order())).action).toBe('block');
});

test('risk engine - amount velocity sums the window; the window slides', async () => {
  let now = Date.parse('2026-12-01T00:00:00Z');
  const { engines: [engine] } = engines([rule({ rule_id: 'amt', action: 'block', kind: 'velocity', dimension: 'merchant', window_seconds: 60, amount_max_minor: '2500' })], 1, () => new Date(now));
  expect((await engine!.assess(order({ amount_minor: 1_500n }))).action).toBe('allow');
  expect((await engine!.assess(order({ amount_minor: 1_000n }))).action).toBe('allow'); // 2500: at the limit
  expect((await engine!.assess(order({ amount_minor: 1n }))).action).toBe('block');
  now += 61_000;
  expect((await engine!.assess(order({ amount_minor: 2_500n }))).action).toBe('allow');
});

test('risk engine - a new payer is limited until it has been seen for new_for_seconds', async () => {
  let now = Date.parse('2026-12-01T00:00:00Z');
  const { engines: [engine] } = engines([rule({ rule_id: 'fresh', action: 'block', kind: 'new_payer', dimension: 'card_token', new_for_seconds: 3600, amount_max_minor: '2000' })], 1, () => new Date(now));
  expect((await engine!.assess(order({ amount_minor: 5_000n }))).action).toBe('block'); // never seen, big: blocked, not marked
  expect((await engine!.assess(order({ amount_minor: 500n }))).action).toBe('allow'); // first seen now
  now += 60_000;
  expect((await engine!.assess(order({ amount_minor: 5_000n }))).action).toBe('block');
  now += 3_600_000;
  expect((await engine!.assess(order({ amount_minor: 5_000n }))).action).toBe('allow');
});

test('risk engine - an allow list settles the decision; no payer element reaches Redis or the event in clear', async () => {
  const { engines: [engine], events, prefix } = engines([
    rule({ rule_id: 'none', action: 'block', kind: 'velocity', dimension: 'card_token', window_seconds: 60, count_max: 0 }),
    rule({ rule_id: 'trusted', action: 'allow', kind: 'list', dimension: 'client_ip', values: ['198.51.100.1'] }),
  ], 1);
  expect((await engine!.assess(order())).action).toBe('block');
  const trusted = await engine!.assess(order({ payer: { card_token: '6222020000000001tok', client_ip: '198.51.100.1' } }));
  expect(trusted).toEqual({ action: 'allow', fired: [{ rule_id: 'trusted', kind: 'list', action: 'allow' }] });
  const keys = await connect().keys(`{${prefix}:risk}:*`);
  expect(keys.length).toBeGreaterThan(0);
  expect(keys.join(' ')).not.toMatch(/6222|203\.0|198\.51/);
  expect(JSON.stringify(events, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toMatch(/6222|203\.0|198\.51/);
  expect(events[0]).toMatchObject({ type: 'RiskAssessed', payment_id: expect.any(String), action: 'block', fired: [{ rule_id: 'none', kind: 'velocity', action: 'block' }] });
});

test('risk engine - Redis unreachable: DEPENDENCY_DOWN, nothing decided', async () => {
  const redis = new Redis('redis://127.0.0.1:1/0', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  connections.push(redis);
  const engine = new RiskEngine(redis, 'risk-down', { rules: () => [rule({ rule_id: 'v', action: 'block', kind: 'velocity', dimension: 'card_token', window_seconds: 60, count_max: 5 })], digest_key, publish: async () => undefined });
  await expect(engine.assess(order())).rejects.toMatchObject({ reason: 'DEPENDENCY_DOWN' });
});

test('risk engine - one decision over every kind of rule sends one Redis command (one script call)', async () => {
  const redis = connect();
  let commands = 0;
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((...args: Parameters<typeof send>) => ((commands += 1), send(...args))) as typeof send;
  await redis.ping();
  const prefix = `risk-${randomBytes(4).toString('hex')}`;
  prefixes.push(prefix);
  const engine = new RiskEngine(redis, prefix, {
    rules: () => [
      rule({ rule_id: 'card', action: 'block', kind: 'velocity', dimension: 'card_token', window_seconds: 60, count_max: 5 }),
      rule({ rule_id: 'ip', action: 'block', kind: 'velocity', dimension: 'client_ip', window_seconds: 3600, amount_max_minor: '100000' }),
      rule({ rule_id: 'merchant', action: 'block', kind: 'velocity', dimension: 'merchant', window_seconds: 60, count_max: 100 }),
      rule({ rule_id: 'fresh', action: 'block', kind: 'new_payer', dimension: 'card_token', new_for_seconds: 3600, amount_max_minor: '100000' }),
      rule({ rule_id: 'big', action: 'block', kind: 'amount', amount_max_minor: '100000' }),
    ],
    digest_key, publish: async () => undefined,
  });
  await engine.assess(order()); // loads the script (EVALSHA, then EVAL once)
  commands = 0;
  for (let i = 0; i < 10; i += 1) await engine.assess(order());
  expect(commands).toBe(10);
});

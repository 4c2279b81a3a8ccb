// Shared by routing's integration tests: routing parts against the real Redis at
// 127.0.0.1:6379, each test under its own key prefix, every key deleted by cleanup().

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Sealer } from '../seal';
import { merchant, order } from './fixtures.test-helper';
import { createRouting, type Routing, type RoutingOptions } from './routing';
import type { RoutingChannel } from './types';

export const test_sealer = new Sealer(Buffer.alloc(32, 7));

const redis_url = process.env.PAYCORE_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const run = `test-routing-${process.pid}-${randomBytes(3).toString('hex')}`;
export const connections: Redis[] = [];
const tables: Routing[] = [];
let prefix_no = 0;

export function connect(): Redis {
  const redis = new Redis(redis_url, { maxRetriesPerRequest: 2 });
  connections.push(redis);
  return redis;
}

export async function table(prefix: string, options: Partial<RoutingOptions> = {}, redis = connect()): Promise<Routing> {
  const t = createRouting(redis, prefix, { scoring: { exploration_share: 0 }, sealer: test_sealer, ...options });
  tables.push(t);
  await t.cache.start();
  return t;
}

export function nextPrefix(): string {
  prefix_no += 1;
  return `${run}-${prefix_no}`;
}

export async function setup(
  channels: RoutingChannel[],
  merchant_channels = channels.map((c) => c.channel_id),
  options: Partial<RoutingOptions> = {},
): Promise<Routing> {
  const t = await table(nextPrefix(), options);
  for (const c of channels) await t.admin.upsertChannel(c);
  await t.merchants.upsertMerchant({ ...merchant('m1', merchant_channels), notify_secret: 'm1-secret-0123456789' });
  return t;
}

export async function withTimeout<T>(what: string, ms: number, f: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([f(), new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (dry runs only: explain moves no circuit) until the channel's circuit has cooled down,
 * i.e. the channel is no longer excluded as CIRCUIT_OPEN — the condition, not a sleep. */
export async function cooledDown(t: Routing, channel_id: string, timeout_ms = 10_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const decision = await t.decisions.explain(order({ payment_id: '' }));
    if (!decision.excluded.some((e) => e.channel_id === channel_id && e.reason === 'CIRCUIT_OPEN')) return;
    if (Date.now() > deadline) throw new Error(`${channel_id}'s circuit still open after ${timeout_ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function usage(t: Routing, channel_id: string, day: string): Promise<{ a: string | null; n: string | null }> {
  const [a, n] = await connections[0]!.hmget(`${t.cache.keys.channel(channel_id)}:u:d:${day}`, 'a', 'n');
  return { a: a ?? null, n: n ?? null };
}

/** Stops every instance and deletes every key this file's tests wrote: `afterAll(cleanup)`. */
export async function cleanup(): Promise<void> {
  for (const t of tables) await t.cache.stop();
  const redis = connections[0] ?? connect();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${run}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  for (const c of connections) c.disconnect();
}

export const at = new Date('2025-01-06T04:00:00Z'); // Monday noon in Shanghai
export const day = '20250106';

/** Polls a condition another instance reaches through its change subscription. */
export async function waitFor(condition: () => boolean, timeout_ms = 10_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

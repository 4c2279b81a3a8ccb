// Integration: the routing configuration's durable store (JetStream KV on the real NATS) under
// the Redis cache (the real Redis): what Redis loses comes back from the store, writes made
// while Redis is empty land whole, and a deployment from before the store is copied into it.

import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { ConfigStore, configBucket } from './config-store';
import { channel, merchant, order } from './fixtures.test-helper';
import { names } from '../names';
import { ensureStreams } from '../orders/store';
import { cardDigest } from './decision';
import { createRouting, type Routing } from './routing';
import { rederiveUsage } from './usage';
import { Sealer } from '../seal';

const nats_url = process.env.PAYCORE_NATS_URL ?? 'nats://127.0.0.1:4222';
const redis_url = process.env.PAYCORE_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const run = `tcfg${process.pid}${randomBytes(3).toString('hex')}`;
let nc: NatsConnection;
let redis: Redis;
let prefix_no = 0;
const prefixes: string[] = [];
const tables: Routing[] = [];
const connections: Redis[] = [];

beforeAll(async () => {
  nc = await connect({ servers: nats_url });
  redis = new Redis(redis_url, { maxRetriesPerRequest: 2 });
});

afterAll(async () => {
  for (const t of tables) await t.cache.stop();
  const jsm = await jetstreamManager(nc);
  for (const prefix of prefixes) {
    await jsm.streams.delete(`KV_${configBucket(prefix)}`).catch(() => undefined);
    await jsm.streams.delete(names(prefix).events_stream).catch(() => undefined);
    await jsm.streams.delete(names(prefix).timers_stream).catch(() => undefined);
    await jsm.streams.delete(names(prefix).refund_index_stream).catch(() => undefined);
    await jsm.streams.delete(names(prefix).risk_events_stream).catch(() => undefined);
    await forget(prefix);
  }
  redis.disconnect();
  for (const c of connections) c.disconnect();
  await nc.close();
});

/** What a Redis restart does to one prefix: every key gone. */
async function forget(prefix: string): Promise<void> {
  const keys = [...(await redis.keys(`{${prefix}:rt}:*`)), ...(await redis.keys(`{${prefix}:ch:*`))];
  if (keys.length > 0) await redis.del(...keys);
}

async function table(prefix: string, with_store = true, on_rebuilt?: () => void): Promise<Routing> {
  const store = with_store ? await ConfigStore.open(jetstream(nc), prefix) : undefined;
  const connection = new Redis(redis_url, { maxRetriesPerRequest: 2 });
  connections.push(connection);
  const t = createRouting(connection, prefix, { store, on_rebuilt, scoring: { exploration_share: 0 }, sealer: new Sealer(Buffer.alloc(32, 7)) });
  tables.push(t);
  await t.cache.start();
  return t;
}

function nextPrefix(): string {
  prefix_no += 1;
  const prefix = `${run}p${prefix_no}`;
  prefixes.push(prefix);
  return prefix;
}

test('config store - an emptied Redis is rebuilt from the store: channels, states, merchants and secrets', async () => {
  const prefix = nextPrefix();
  const t = await table(prefix);
  await t.admin.upsertChannel(channel('c1'));
  await t.admin.upsertChannel(channel('c2'));
  await t.admin.setChannelState('c2', 'DISABLED');
  await t.merchants.upsertMerchant({ ...merchant('m1', ['c1', 'c2']), notify_secret: 'm1-secret-0123456789' });
  await forget(prefix);
  expect(await redis.exists(`{${prefix}:rt}:version`)).toBe(0);

  await t.cache.reload();
  expect(t.cache.listChannels().map((c) => [c.channel_id, c.state])).toEqual([['c1', 'ENABLED'], ['c2', 'DISABLED']]);
  expect(t.merchants.getMerchant('m1').channel_ids).toEqual(['c1', 'c2']);
  expect(await t.merchants.notifySecret('m1')).toBe('m1-secret-0123456789');
  expect(t.cache.routable).toBe(true);
  expect((await t.decisions.route(order({ merchant_id: 'm1' }))).chosen?.channel_id).toBe('c1');
  // Another instance, started on the rebuilt Redis, sees the same table.
  const other = await table(prefix);
  expect(other.cache.listChannels().map((c) => c.channel_id)).toEqual(['c1', 'c2']);
});

test('config store - a write while Redis is empty lands together with everything else', async () => {
  const prefix = nextPrefix();
  const t = await table(prefix);
  await t.admin.upsertChannel(channel('c1'));
  await forget(prefix);
  await t.admin.upsertChannel(channel('c2')); // Redis has no configuration now: rebuilt, not patched
  expect((await t.admin.exportTable()).channels.map((c) => (c as { channel_id: string }).channel_id)).toEqual(['c1', 'c2']);
});

test('config store - applying a table replaces the stored one (removed entries stay removed after a rebuild)', async () => {
  const prefix = nextPrefix();
  const t = await table(prefix);
  const file = (ids: string[]) => ({
    version: 1,
    channels: ids.map((id) => ({ channel_id: id, provider: 'wechatpay', products: ['WECHAT_NATIVE'], currencies: ['CNY'], fee: { rate_bp: 10, fixed_minor: '0', min_minor: '0' } })),
    merchants: [{ merchant_id: 'm1', products: ['WECHAT_NATIVE'], channel_ids: ids, notify_secret: 'm1-secret-0123456789' }],
  });
  await t.admin.applyTable(file(['a', 'b', 'c']));
  await t.admin.applyTable(file(['b']));
  await forget(prefix);
  await t.cache.reload();
  expect(t.cache.listChannels().map((c) => c.channel_id)).toEqual(['b']);
  expect(t.merchants.getMerchant('m1').channel_ids).toEqual(['b']);
});

test('config store - a deployment from before the store is copied into it once, at start', async () => {
  const prefix = nextPrefix();
  const legacy = await table(prefix, false);
  await legacy.admin.upsertChannel(channel('old1'));
  await legacy.merchants.upsertMerchant({ ...merchant('m1', ['old1']), notify_secret: 'm1-secret-0123456789' });
  await table(prefix); // starts with a store: seeds it from Redis
  await forget(prefix);
  const after = await table(prefix);
  expect(after.cache.listChannels().map((c) => c.channel_id)).toEqual(['old1']);
  expect(await after.merchants.notifySecret('m1')).toBe('m1-secret-0123456789');
});

test('config store - one instance rebuilds an emptied Redis, and it re-derives the caps usage from the event log', async () => {
  const prefix = nextPrefix();
  const rebuilt: string[] = [];
  const a = await table(prefix, true, () => rebuilt.push('a'));
  const b = await table(prefix, true, () => rebuilt.push('b'));
  await a.admin.upsertChannel(channel('capped', { limits: { day_count: 100, month_amount_minor: 1_000_000n } }));
  await a.admin.upsertChannel(channel('free'));
  await a.admin.upsertChannel(channel('per_card', { limits: { card_day_count: 3, card_month_amount_minor: 50_000n } }));
  await a.merchants.upsertMerchant({ ...merchant('m1', ['capped', 'free', 'per_card']), notify_secret: 'm1-secret-0123456789' });
  // The event log: two attempts on the capped channel today, one last year, one on the free one.
  const n = names(prefix);
  await ensureStreams(await jetstreamManager(nc), n, 1);
  const js = jetstream(nc);
  const sealer = new Sealer(Buffer.alloc(32, 9));
  const requested = (payment_id: string, channel_id: string, at: Date, amount: string, card_token?: string) =>
    js.publish(n.events(payment_id), JSON.stringify({
      event: { type: 'ChannelRequested', at: at.toISOString(), attempt_id: `${payment_id}a1`, attempt_no: 1, channel_id },
      state: { payment_id, amount_minor: amount, payer_sealed: sealer.seal(card_token === undefined ? {} : { card_token }) },
    }));
  const now = new Date();
  await requested('p1', 'capped', now, '500');
  await requested('p2', 'capped', now, '700');
  await requested('p3', 'capped', new Date(now.getTime() - 400 * 86_400_000), '900');
  await requested('p4', 'free', now, '300');
  // Per-card caps: two payments with card A today, one with card B, one without a card.
  await requested('p5', 'per_card', now, '100', 'tok_card_a');
  await requested('p6', 'per_card', now, '250', 'tok_card_a');
  await requested('p7', 'per_card', now, '400', 'tok_card_b');
  await requested('p8', 'per_card', now, '800');

  await forget(prefix);
  rebuilt.length = 0;
  await Promise.all([a.cache.reload(), b.cache.reload()]);
  expect(rebuilt).toHaveLength(1); // the first rebuilder wins; the other skips
  const added = await rederiveUsage(js, n, a, (sealed) => sealer.open(sealed), now);
  expect([...added.channels.keys()]).toEqual(['capped']);
  const base = a.cache.keys.channel('capped');
  const day = (await redis.keys(`${base}:u:d:*`))[0]!;
  const month = (await redis.keys(`${base}:u:m:*`))[0]!;
  expect(await redis.hgetall(day)).toEqual({ a: '1200', n: '2' });
  expect(await redis.hgetall(month)).toEqual({ a: '1200', n: '2' });
  // Each card's counters are where the reservation script reads them: one card's usage is its own.
  const card_base = (token: string) => `${a.cache.keys.channel('per_card')}:k:${cardDigest(token)}`;
  expect((await redis.keys(`${card_base('tok_card_a')}:d:*`)).length).toBe(1);
  expect(await redis.hgetall((await redis.keys(`${card_base('tok_card_a')}:d:*`))[0]!)).toEqual({ a: '350', n: '2' });
  expect(await redis.hgetall((await redis.keys(`${card_base('tok_card_a')}:m:*`))[0]!)).toEqual({ a: '350', n: '2' });
  expect(await redis.hgetall((await redis.keys(`${card_base('tok_card_b')}:d:*`))[0]!)).toEqual({ a: '400', n: '1' });
  expect(added.cards.size).toBe(2);
  expect(await redis.keys(`${a.cache.keys.channel('per_card')}:u:*`)).toEqual([]); // no channel-wide caps there
});

// Integration: shard ownership by leases (workers/leases.ts) with several actor pools of one
// deployment (one prefix) against the real NATS: each pool is what one paycore process runs
// behind its gateway. One holder per shard at every moment while pools join and leave; a
// joining pool takes its share while creates keep going, none failing; a payment read through
// a process whose actor had it cached before another process moved it shows the new state; a
// holder cut off from NATS stops serving before another can claim.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { ensureDevKeys, sandboxWechatpayOptions, wechatpayChannelSettings } from '../testing/sandbox/keys';
import { startSandbox, type Sandbox } from '../testing/sandbox/server';
import { loadConfig, type Config } from '../core/config';
import { paymentId, shardOf } from '../core/ids';
import { createLogger } from '../core/log';
import { names } from '../core/names';
import { ActorsClient } from '../core/orders/actors-client';
import type { CreateInput } from '../core/orders/protocol';
import { ensureStreams } from '../core/orders/store';
import { createRouting } from '../core/routing/routing';
import { Sealer } from '../core/seal';
import { ShardLeases } from '../workers/leases';
import { ActorPool } from '../workers/pool';
import { deleteStreams, eventually, freePort, nats_url, routingTable, sandboxRoute, uniquePrefix } from './harness';

const host_script = path.resolve(__dirname, '../dist/workers/actor-host.js');
const shards = 8;

let dir: string;
let sandbox: Sandbox;
let nc: NatsConnection;
let config: Config;
const pools: ActorPool[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'paycore-leases-'));
  const keys = ensureDevKeys(path.join(dir, 'keys'));
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys) });
  const channels_file = path.join(dir, 'channels.json');
  writeFileSync(channels_file, JSON.stringify([{ channel_id: 'wx1', provider: 'wechatpay', products: ['WECHAT_NATIVE'], settings: wechatpayChannelSettings(keys, sandbox.url, 15_000) }]));
  config = loadConfig({
    PAYCORE_PREFIX: uniquePrefix(),
    PAYCORE_NATS_URL: nats_url,
    PAYCORE_CHANNELS_FILE: channels_file,
    PAYCORE_DATA_KEY: randomBytes(32).toString('hex'),
    PAYCORE_ID_KEY: randomBytes(32).toString('hex'),
    PAYCORE_GRPC_INSECURE: '1',
    PAYCORE_WORKERS: '2',
    PAYCORE_SHARDS: String(shards),
    PAYCORE_HTTP_PORT: String(await freePort()),
    PAYCORE_LEASE_TTL_MS: '2000',
    PAYCORE_LOG_LEVEL: 'silent',
  });
  nc = await connect({ servers: nats_url });
  await ensureStreams(await jetstreamManager(nc), names(config.prefix), 1);
  const redis = new Redis(config.redis_url);
  await createRouting(redis, config.prefix, { sealer: new Sealer(config.data_key) }).admin.applyTable(routingTable([sandboxRoute('wx1', ['WECHAT_NATIVE'])], ['m_lease']));
  redis.disconnect();
});

afterAll(async () => {
  for (const pool of pools) await pool.stop();
  await nc?.drain();
  await sandbox?.close();
  await deleteStreams(config.prefix);
  rmSync(dir, { recursive: true, force: true });
});

async function startPool(): Promise<ActorPool> {
  const pool = new ActorPool(config, nc, createLogger('silent'), host_script);
  pools.push(pool);
  await pool.start();
  return pool;
}

async function stopPool(pool: ActorPool): Promise<void> {
  pools.splice(pools.indexOf(pool), 1);
  await pool.stop();
}

/** A gateway of the process running `pool`: its own threads for the shards it holds, NATS otherwise. */
function gatewayOf(pool: ActorPool): ActorsClient {
  return new ActorsClient(nc, names(config.prefix), config.shards, 20_000, undefined, pool);
}

function input(merchant_order_no: string): CreateInput {
  return {
    merchant_id: 'm_lease', merchant_order_no, amount_minor: 100n, currency: 'CNY', product: 'WECHAT_NATIVE', subject: 'lease',
    payer: {}, notify_url: '', expire_seconds: 600, include_channels: [], exclude_channels: [], metadata: {}, fingerprint: merchant_order_no,
  };
}

/** Holders of each shard now, by every pool's own view of its fenced leases. */
function holders(): number[][] {
  const now = process.hrtime.bigint();
  return Array.from({ length: shards }, (_, shard) =>
    pools.flatMap((pool, index) => (pool.leases?.held().some((l) => l.shard === shard && l.until_ns > now) === true ? [index] : [])));
}

/** Every pool at its fair share, every shard held. */
function balanced(): true | undefined {
  const share = Math.ceil(shards / pools.length);
  const counts = pools.map((pool) => pool.leases?.held().filter((l) => l.accepting).length ?? 0);
  return counts.every((c) => c <= share) && counts.reduce((a, b) => a + b, 0) === shards ? true : undefined;
}

test('leases - one holder per shard while processes join and leave; a joining process takes shards while creates keep going, none failing', async () => {
  const first = await startPool();
  expect(first.leases?.count).toBe(shards); // alone: every shard at once
  // The invariant, checked at every turn of the event loop during the churn below.
  const violations: string[] = [];
  // How long a shard went without a holder (a graceful handover: drained, deleted, claimed).
  const unheld_since = new Map<number, bigint>();
  let unheld_ns_max = 0n;
  let watching = true;
  const watch = (): void => {
    const now = process.hrtime.bigint();
    holders().forEach((h, shard) => {
      if (h.length > 1) violations.push(`shard ${shard} held by pools ${h.join(',')}`);
      const since = unheld_since.get(shard);
      if (h.length === 0 && since === undefined) unheld_since.set(shard, now);
      if (h.length > 0 && since !== undefined) {
        unheld_since.delete(shard);
        if (now - since > unheld_ns_max) unheld_ns_max = now - since;
      }
    });
    if (watching) setImmediate(watch);
  };
  watch();

  const failures: string[] = [];
  let created = 0;
  let driving = true;
  const drive = async (lane: number): Promise<void> => {
    for (let i = 0; driving; i++) {
      const merchant_order_no = `lease-${lane}-${i}-${randomBytes(3).toString('hex')}`;
      const payment_id = paymentId(config.id_key, 'm_lease', merchant_order_no);
      const via = pools[i % pools.length]!;
      try {
        await gatewayOf(via).send({ type: 'create', payment_id, input: input(merchant_order_no) });
        created += 1;
      } catch (error) {
        failures.push(`${payment_id}: ${String(error)}`);
      }
    }
  };
  const lanes = [drive(0), drive(1), drive(2)];

  await startPool(); // joins: the first releases half, the newcomer claims it
  await eventually(async () => balanced(), 20_000, 'two processes at their share');
  const third = await startPool();
  await eventually(async () => balanced(), 20_000, 'three processes at their share');
  expect(third.leases!.count).toBeGreaterThan(0);
  await stopPool(pools[1]!); // leaves gracefully: its leases are deleted, the others claim them
  await eventually(async () => balanced(), 20_000, 'two processes again');
  const after_churn = created;
  await eventually(async () => (created >= after_churn + 10 ? true : undefined), 20_000, 'creates after the churn');
  driving = false;
  await Promise.all(lanes);
  watching = false;

  process.stdout.write(`leases churn: created=${created} failed=${failures.length} longest_unheld_ms=${Number(unheld_ns_max / 1_000_000n)}\n`);
  expect(violations).toEqual([]);
  expect(failures).toEqual([]);
  expect(created).toBeGreaterThan(10);
});

test('leases - a payment moved by another process reads its new state through a process that had it cached', async () => {
  while (pools.length > 0) await stopPool(pools[0]!);
  const a = await startPool();
  // Created through A, which holds every shard: A's actors have them cached.
  const ids: string[] = [];
  for (let i = 0; i < shards * 2; i++) {
    const merchant_order_no = `stale-${i}-${randomBytes(3).toString('hex')}`;
    const payment_id = paymentId(config.id_key, 'm_lease', merchant_order_no);
    const created = await gatewayOf(a).send({ type: 'create', payment_id, input: input(merchant_order_no) });
    expect(created.status).toBe('REQUIRES_ACTION');
    ids.push(payment_id);
  }
  const b = await startPool();
  await eventually(async () => balanced(), 20_000, 'two processes at their share');
  const moved = ids.find((id) => b.leases!.accepting(shardOf(id, shards)))!;
  expect(moved).toBeDefined();
  // B closes it (its shard is B's now), then A reads it: over NATS from B.
  expect((await gatewayOf(b).send({ type: 'close', payment_id: moved, merchant_id: 'm_lease' })).status).toBe('CLOSED');
  expect((await gatewayOf(a).send({ type: 'get', payment_id: moved, merchant_id: 'm_lease' })).status).toBe('CLOSED');
  // B leaves: A holds the shard again, and its actor cached before the move reloads.
  await stopPool(b);
  await eventually(async () => (a.leases!.accepting(shardOf(moved, shards)) ? true : undefined), 20_000, 'A holds the shard again');
  expect((await gatewayOf(a).send({ type: 'get', payment_id: moved, merchant_id: 'm_lease' })).status).toBe('CLOSED');
});

test('leases - a holder cut off from NATS stops serving every shard before another process can claim it (fenced by its own clock)', async () => {
  while (pools.length > 0) await stopPool(pools[0]!);
  const ttl_ms = 2_000;
  const lonely_nc = await connect({ servers: nats_url });
  const other_nc = await connect({ servers: nats_url });
  const options = (conn: NatsConnection) => ({
    js: jetstream(conn), prefix: config.prefix, shards, ttl_ms, replicas: 1, log: createLogger('silent'), onChange: () => undefined, drain: async () => undefined,
  });
  const cut_off = new ShardLeases(options(lonely_nc));
  await cut_off.start();
  // A lease or membership the earlier tests' processes left (a stop that could not delete it
  // under load) holds a shard until it expires: the holder claims the rest as they do.
  await eventually(async () => (cut_off.count === shards ? true : undefined), 30_000, 'the holder holds every shard');
  const last_served = new Map<number, bigint>();
  const first_claimed = new Map<number, bigint>();
  const other = new ShardLeases(options(other_nc)); // started once the first is cut off
  let watching = true;
  const watch = (): void => {
    const now = process.hrtime.bigint();
    for (let shard = 0; shard < shards; shard++) {
      if (cut_off.accepting(shard)) last_served.set(shard, now);
      if (!first_claimed.has(shard) && other.held().some((l) => l.shard === shard)) first_claimed.set(shard, now);
    }
    if (watching) setImmediate(watch);
  };
  watch();
  await lonely_nc.close(); // no renewal reaches the bucket any more
  await other.start();
  await eventually(async () => (other.count === shards ? true : undefined), 20_000, 'the other process holds every shard');
  watching = false;
  for (let shard = 0; shard < shards; shard++) expect(last_served.get(shard)! < first_claimed.get(shard)!).toBe(true);
  // Readiness (part of the gateway's health): in touch with the bucket, or not.
  expect({ cut_off: cut_off.ready, other: other.ready }).toEqual({ cut_off: false, other: true });
  await cut_off.stop();
  await other.stop();
  await other_nc.close();
});

// Integration: an actor-host thread dies with a request in hand. The request is answered at
// once (not after the command timeout) and the thread is replaced.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ensureDevKeys, sandboxWechatpayOptions, wechatpayChannelSettings } from '../testing/sandbox/keys';
import { startSandbox, type Sandbox } from '../testing/sandbox/server';
import { loadConfig, type Config } from '../core/config';
import { PaycoreError } from '../core/errors';
import { ActorsClient } from '../core/orders/actors-client';
import { paymentId, shardOf } from '../core/ids';
import { createLogger } from '../core/log';
import { names } from '../core/names';
import { ensureStreams } from '../core/orders/store';
import { ActorPool } from '../workers/pool';
import { Redis } from 'ioredis';
import { createRouting } from '../core/routing/routing';
import { deleteStreams, eventually, freePort, nats_url, routingTable, sandboxRoute, uniquePrefix } from './harness';
import { Sealer } from '../core/seal';

const host_script = path.resolve(__dirname, '../dist/workers/actor-host.js');
const command_timeout_ms = 20_000;

let dir: string;
let sandbox: Sandbox;
let nc: NatsConnection;
let config: Config;
let pool: ActorPool;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'paycore-pool-'));
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
    // Actor threads only: no gRPC port is opened here.
    PAYCORE_GRPC_INSECURE: '1',
    PAYCORE_WORKERS: '2',
    PAYCORE_SHARDS: '4',
    PAYCORE_HTTP_PORT: String(await freePort()),
    PAYCORE_COMMAND_TIMEOUT_MS: String(command_timeout_ms),
    PAYCORE_LOG_LEVEL: 'silent',
  });
  nc = await connect({ servers: nats_url });
  await ensureStreams(await jetstreamManager(nc), names(config.prefix), 1);
  const redis = new Redis(config.redis_url);
  await createRouting(redis, config.prefix, { sealer: new Sealer(config.data_key) }).admin.applyTable(routingTable([sandboxRoute('wx1', ['WECHAT_NATIVE'])], ['m_pool']));
  redis.disconnect();
  pool = new ActorPool(config, nc, createLogger('silent'), host_script);
  await pool.start();
});

afterAll(async () => {
  await pool?.stop();
  await nc?.drain();
  await sandbox?.close();
  await deleteStreams(config.prefix);
  rmSync(dir, { recursive: true, force: true });
});

test('pool - a dead actor thread answers its waiting request at once and is replaced', async () => {
  const merchant_order_no = `pool-${randomBytes(6).toString('hex')}`;
  const payment_id = paymentId(config.id_key, 'm_pool', merchant_order_no);
  await fetch(`${sandbox.url}/sandbox/faults`, {
    method: 'PUT',
    body: JSON.stringify({ scope: { out_trade_no: `${payment_id}a1` }, operations: ['create'], latency_ms: 10_000, times: 1 }),
  });
  const actors = new ActorsClient(nc, names(config.prefix), config.shards, command_timeout_ms);
  const input = {
    merchant_id: 'm_pool', merchant_order_no, amount_minor: 100n, currency: 'CNY', product: 'WECHAT_NATIVE' as const, subject: 'pool',
    payer: {}, notify_url: '', expire_seconds: 600, include_channels: [], exclude_channels: [], metadata: {}, fingerprint: 'f1',
  };
  const started = Date.now();
  const creating = actors.send({ type: 'create', payment_id, input }).then(
    () => undefined,
    (error: PaycoreError) => ({ reason: error.reason, after_ms: Date.now() - started }),
  );
  const orders_url = `${sandbox.url}/sandbox/wechatpay/orders?out_trade_no_prefix=${payment_id}`;
  await eventually(async () => (((await (await fetch(orders_url)).json()) as { orders: unknown[] }).orders.length === 1 ? true : undefined), 10_000, 'the channel call in flight');

  const owner = shardOf(payment_id, config.shards) % config.workers;
  await pool.threads[owner]!.terminate();
  const outcome = await creating;
  expect(outcome?.reason).toBe('DEPENDENCY_DOWN');
  expect(outcome!.after_ms).toBeLessThan(command_timeout_ms / 2);

  await eventually(async () => (pool.restarts === 1 ? true : undefined), 10_000, 'thread replaced');
  // The replacement serves the shard: the payment was written ahead, so it is there.
  const state = await eventually(
    () => actors.send({ type: 'get', payment_id, merchant_id: 'm_pool' }).then((s) => s, () => undefined),
    10_000,
    'replacement answers',
  );
  expect(state.payment_id).toBe(payment_id);
  expect(state.attempts).toHaveLength(1);
});

test('pool - a command of this process reaches the thread serving its shard over the port: the same answer, no NATS message', async () => {
  const merchant_order_no = `pool-${randomBytes(6).toString('hex')}`;
  const payment_id = paymentId(config.id_key, 'm_pool', merchant_order_no);
  const seen: string[] = [];
  const watcher = nc.subscribe(`${config.prefix}.pay.cmd.*`, { callback: (_error, message) => void seen.push(message.subject) });
  await nc.flush();
  const local = new ActorsClient(nc, names(config.prefix), config.shards, command_timeout_ms, undefined, pool);
  const input = {
    merchant_id: 'm_pool', merchant_order_no, amount_minor: 100n, currency: 'CNY', product: 'WECHAT_NATIVE' as const, subject: 'pool',
    payer: {}, notify_url: '', expire_seconds: 600, include_channels: [], exclude_channels: [], metadata: {}, fingerprint: 'f2',
  };
  const created = await local.send({ type: 'create', payment_id, input });
  expect({ status: created.status, amount_minor: created.amount_minor }).toEqual({ status: 'REQUIRES_ACTION', amount_minor: 100n });
  await nc.flush();
  expect(seen).toEqual([]);
  // The same payment over NATS (another process's gateway): the same state, one request seen.
  const remote = new ActorsClient(nc, names(config.prefix), config.shards, command_timeout_ms);
  expect(await remote.send({ type: 'get', payment_id, merchant_id: 'm_pool' })).toEqual(created);
  await nc.flush();
  expect(seen).toEqual([names(config.prefix).command(shardOf(payment_id, config.shards))]);
  watcher.unsubscribe();
});

test('pool - a dead actor thread answers a command handed over its port at once', async () => {
  const merchant_order_no = `pool-${randomBytes(6).toString('hex')}`;
  const payment_id = paymentId(config.id_key, 'm_pool', merchant_order_no);
  await fetch(`${sandbox.url}/sandbox/faults`, {
    method: 'PUT',
    body: JSON.stringify({ scope: { out_trade_no: `${payment_id}a1` }, operations: ['create'], latency_ms: 10_000, times: 1 }),
  });
  const restarts = pool.restarts;
  const actors = new ActorsClient(nc, names(config.prefix), config.shards, command_timeout_ms, undefined, pool);
  const input = {
    merchant_id: 'm_pool', merchant_order_no, amount_minor: 100n, currency: 'CNY', product: 'WECHAT_NATIVE' as const, subject: 'pool',
    payer: {}, notify_url: '', expire_seconds: 600, include_channels: [], exclude_channels: [], metadata: {}, fingerprint: 'f3',
  };
  const started = Date.now();
  const creating = actors.send({ type: 'create', payment_id, input }).then(
    () => undefined,
    (error: PaycoreError) => ({ reason: error.reason, after_ms: Date.now() - started }),
  );
  const orders_url = `${sandbox.url}/sandbox/wechatpay/orders?out_trade_no_prefix=${payment_id}`;
  await eventually(async () => (((await (await fetch(orders_url)).json()) as { orders: unknown[] }).orders.length === 1 ? true : undefined), 10_000, 'the channel call in flight');
  await pool.threads[shardOf(payment_id, config.shards) % config.workers]!.terminate();
  const outcome = await creating;
  expect(outcome?.reason).toBe('DEPENDENCY_DOWN');
  expect(outcome!.after_ms).toBeLessThan(command_timeout_ms / 2);
  await eventually(async () => (pool.restarts === restarts + 1 ? true : undefined), 10_000, 'thread replaced');
  // The replacement takes the payment's commands over its port again.
  const state = await eventually(() => actors.send({ type: 'get', payment_id, merchant_id: 'm_pool' }).then((s) => s, () => undefined), 10_000, 'replacement answers');
  expect(state.attempts).toHaveLength(1);
});

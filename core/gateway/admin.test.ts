// The admin services over real gRPC (loopback) against a routing table in the real Redis.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { ChannelState, type RoutingChannel } from '../../proto/gen/paycore/v1/admin';
import { Product } from '../../proto/gen/paycore/v1/payment';
import { decodeServiceError } from '../errors';
import { createRouting, type Routing } from '../routing';
import { adminServices, merchant_admin_service, routing_admin_service } from './admin';
import { Sealer } from '../seal';

const prefix = `test-admin-${process.pid}-${randomBytes(3).toString('hex')}`;
let redis: Redis;
let table: Routing;
let server: grpc.Server;
let routing: grpc.Client;
let merchants: grpc.Client;

function call<Req, Res>(client: grpc.Client, method: string, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (r: Req, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Res) => void) => void>)[method]!
      .call(client, request, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (error, value) => (error ? reject(error) : resolve(value)));
  });
}

beforeAll(async () => {
  redis = new Redis(process.env.PAYCORE_REDIS_URL ?? 'redis://127.0.0.1:6379/0');
  table = createRouting(redis, prefix, { scoring: { exploration_share: 0 }, sealer: new Sealer(Buffer.alloc(32, 7)) });
  await table.cache.start();
  server = new grpc.Server();
  const services = adminServices(table);
  server.addService(routing_admin_service, services.routing);
  server.addService(merchant_admin_service, services.merchants);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  // Generic clients: a typed class cannot have a getChannel RPC method (see admin.ts).
  routing = new (grpc.makeGenericClientConstructor(routing_admin_service, 'RoutingAdminService'))(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  merchants = new (grpc.makeGenericClientConstructor(merchant_admin_service, 'MerchantAdminService'))(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  routing?.close();
  merchants?.close();
  server?.forceShutdown();
  await table?.cache.stop();
  const keys = await redis.keys(`{${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis?.disconnect();
});

const wire_channel = (channelId: string, rateBp: number): RoutingChannel => ({
  channelId, provider: 'wechatpay', state: ChannelState.CHANNEL_STATE_UNSPECIFIED, products: [Product.PRODUCT_WECHAT_NATIVE], currencies: ['CNY'],
  amountMin: 0n, amountMax: 0n, serviceWindows: undefined, requiredPayerElements: [], limits: { dayCount: 100 },
  fee: { rateBp, fixed: 0n, min: 1n }, priority: 0, weight: 1,
});

test('routing - admin API upserts channels and merchants, drains a channel and explains a route', async () => {
  const a = (await call<unknown, { channel: RoutingChannel }>(routing, 'upsertChannel', { channel: wire_channel('wx_a', 38) })).channel;
  expect(a).toEqual(expect.objectContaining({ channelId: 'wx_a', state: ChannelState.CHANNEL_STATE_ENABLED, amountMin: 1n, amountMax: 1_000_000_000_000n }));
  expect(a.limits?.dayCount).toBe(100);
  await call(routing, 'upsertChannel', { channel: wire_channel('wx_b', 60) });
  const { merchant: m } = await call<unknown, { merchant: { notifySecret: string; notifySecretLast4: string; channelIds: string[] } }>(merchants, 'upsertMerchant', {
    merchant: { merchantId: 'shop1', products: [Product.PRODUCT_WECHAT_NATIVE], channelIds: ['wx_a', 'wx_b'], feeRates: [{ product: Product.PRODUCT_WECHAT_NATIVE, fee: { rateBp: 60, fixed: 0n, min: 0n } }], notifySecret: 'shop1-secret-abcdefgh', notifySecretFingerprint: '', notifySecretLast4: '' },
  });
  expect(m).toEqual(expect.objectContaining({ notifySecret: '', notifySecretLast4: 'efgh', channelIds: ['wx_a', 'wx_b'] }));
  type Decision = { chosenChannelId: string; fee: bigint; excluded: Array<{ channelId: string; reason: string }> };
  const explain = async (): Promise<Decision> =>
    (await call<unknown, { decision: Decision }>(routing, 'explainRoute', { merchantId: 'shop1', product: Product.PRODUCT_WECHAT_NATIVE, amount: 10_000n, currency: 'CNY', payerElementsPresent: [], cardToken: '', routeHints: undefined, at: undefined })).decision;
  expect(await explain()).toEqual(expect.objectContaining({ chosenChannelId: 'wx_a', fee: 38n, excluded: [] }));
  const drained = (await call<unknown, { channel: RoutingChannel }>(routing, 'setChannelState', { channelId: 'wx_a', state: ChannelState.CHANNEL_STATE_DRAINING })).channel;
  expect(drained.state).toBe(ChannelState.CHANNEL_STATE_DRAINING);
  const after = await explain();
  expect(after.chosenChannelId).toBe('wx_b');
  expect(after.excluded).toEqual([expect.objectContaining({ channelId: 'wx_a', reason: 'DRAINING' })]);
  // An upsert without a state keeps the stored one.
  expect((await call<unknown, { channel: RoutingChannel }>(routing, 'upsertChannel', { channel: wire_channel('wx_a', 40) })).channel.state).toBe(ChannelState.CHANNEL_STATE_DRAINING);
  const listed = await call<unknown, { channels: RoutingChannel[] }>(routing, 'listChannels', { product: Product.PRODUCT_WECHAT_NATIVE });
  expect(listed.channels.map((c) => c.channelId)).toEqual(['wx_a', 'wx_b']);
});

test('routing - admin API refuses a bad channel naming each field, and answers NOT_FOUND', async () => {
  const bad = { ...wire_channel('bad id!', 20_000), currencies: ['cny'], fee: { rateBp: 20_000, fixed: -1n, min: 0n } };
  const error = await call(routing, 'upsertChannel', { channel: bad }).catch((e: grpc.ServiceError) => e);
  const decoded = decodeServiceError(error as grpc.ServiceError);
  expect(decoded.reason).toBe('INVALID_FIELD');
  expect(decoded.violations.map((v) => v.field).sort()).toEqual(['channel.channel_id', 'channel.currencies[0]', 'channel.fee.fixed', 'channel.fee.rate_bp']);
  const missing = await call(routing, 'getChannel', { channelId: 'nope' }).catch((e: grpc.ServiceError) => e);
  expect(decodeServiceError(missing as grpc.ServiceError)).toEqual(expect.objectContaining({ code: grpc.status.NOT_FOUND, reason: 'NOT_FOUND' }));
  const no_merchant = await call(merchants, 'getMerchant', { merchantId: 'ghost' }).catch((e: grpc.ServiceError) => e);
  expect(decodeServiceError(no_merchant as grpc.ServiceError).reason).toBe('NOT_FOUND');
});

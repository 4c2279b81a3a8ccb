// Integration: the reservation sweeper against real Redis markers and the real event log of
// a paycore stack — a leaked marker (no recorded attempt holds it) is released with its
// usage; an open payment's stays; a young marker is left to the create in flight.

import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { createLogger } from '../core/log';
import { names } from '../core/names';
import { sweepReservations } from '../core/orders/reservation-sweeper';
import { EventStore } from '../core/orders/store';
import { createRouting, type Routing } from '../core/routing/routing';
import { Sealer } from '../core/seal';
import { PaymentStatus, Product } from '../proto/gen/paycore/v1/payment';
import { nats_url, routingTable, sandboxRoute, startStack, wechat_products, type Stack } from './harness';

let stack: Stack;
let redis: Redis;
let table: Routing;
let nc: NatsConnection;
let store: EventStore;

beforeAll(async () => {
  // Only a capped channel reserves anything (a channel without caps is routed from memory).
  stack = await startStack({ routing: routingTable([sandboxRoute('wx1', wechat_products, { limits: { day_count: 1_000_000 } })]) });
  redis = new Redis(process.env.PAYCORE_REDIS_URL ?? 'redis://127.0.0.1:6379/0');
  table = createRouting(redis, stack.prefix, { sealer: new Sealer(Buffer.from(stack.env.PAYCORE_DATA_KEY!, 'hex')) });
  await table.cache.start();
  nc = await connect({ servers: nats_url });
  store = new EventStore(jetstream(nc), await jetstreamManager(nc), names(stack.prefix));
});

afterAll(async () => {
  await nc?.close();
  await table?.cache.stop();
  redis?.disconnect();
  await stack?.stop();
});

const order = (payment_id: string) => ({
  payment_id, merchant_id: 'm_it', product: 'WECHAT_NATIVE' as const, amount_minor: 777n, currency: 'CNY', payer_elements_present: [], include_channels: [], exclude_channels: [],
});

async function markers(): Promise<string[]> {
  return (await table.reservations.reservationMarkers('wx1')).map((m) => m.reservation_id);
}

test('reservations - the sweeper releases a marker no recorded attempt holds, keeps an open payment\'s, and leaves young ones alone', async () => {
  const open = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `rs-${randomBytes(6).toString('hex')}`, amount: 500n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'sweeper' });
  expect(open.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  // A reservation made for a payment the log never got (a process died between route and append).
  const leaked = await table.decisions.route(order(stack.paymentId('m_it', `rs-${randomBytes(6).toString('hex')}`)));
  const leaked_id = leaked.chosen!.reservation!.reservation_id;
  expect(await markers()).toContain(leaked_id);

  const log = createLogger('silent');
  const young = await sweepReservations({ channels: table.cache, reservations: table.reservations, store, log, grace_ms: 3_600_000 });
  expect(young).toEqual({ released: 0, committed: 0, kept: 0 });
  expect(await markers()).toContain(leaked_id);

  const swept = await sweepReservations({ channels: table.cache, reservations: table.reservations, store, log, grace_ms: 0 });
  expect(swept.released).toBe(1);
  const left = await markers();
  expect(left).not.toContain(leaked_id);
  expect(left.some((id) => id.startsWith(`${open.paymentId}.`))).toBe(true); // the open payment still holds its caps
});

// The refund-id index against the real JetStream: a refund id is held by at most one payment,
// a released id can be claimed again (by the same payment too, inside the duplicate window),
// only its holder releases it, and racing claims leave exactly one winner.

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { names as namesOf } from '../core/names';
import { RefundIndex } from '../core/orders/refund-index';
import { ensureStreams } from '../core/orders/store';
import { deleteStreams, nats_url, uniquePrefix } from './harness';

const prefix = uniquePrefix();
let nc: NatsConnection;
let index: RefundIndex;
let other: NatsConnection;
let index_b: RefundIndex; // a second connection: another gateway or actor host

beforeAll(async () => {
  nc = await connect({ servers: nats_url });
  other = await connect({ servers: nats_url });
  const names = namesOf(prefix);
  await ensureStreams(await jetstreamManager(nc), names, 1);
  index = new RefundIndex(jetstream(nc), await jetstreamManager(nc), names);
  index_b = new RefundIndex(jetstream(other), await jetstreamManager(other), names);
});

afterAll(async () => {
  await nc?.close();
  await other?.close();
  await deleteStreams(prefix);
});

test('refund index - the first claim holds; only the holder releases; a released id is free again', async () => {
  expect(await index.lookup('r1')).toBeUndefined();
  expect(await index.claim('r1', 'p_a')).toBe('p_a');
  expect(await index_b.claim('r1', 'p_b')).toBe('p_a');
  await index_b.release('r1', 'p_b'); // not the holder: nothing happens
  expect(await index.lookup('r1')).toBe('p_a');
  await index.release('r1', 'p_a');
  expect(await index.lookup('r1')).toBeUndefined();
  expect(await index_b.claim('r1', 'p_b')).toBe('p_b');
  expect(await index.claim('r1', 'p_a')).toBe('p_b');
});

test('refund index - a payment re-claims an id it released, inside the duplicate window', async () => {
  expect(await index.claim('r2', 'p_a')).toBe('p_a');
  await index.release('r2', 'p_a');
  expect(await index.claim('r2', 'p_a')).toBe('p_a');
  expect(await index.lookup('r2')).toBe('p_a');
  await index.release('r2', 'p_a');
  expect(await index.claim('r2', 'p_a')).toBe('p_a');
});

test('refund index - racing claims on a fresh and on a released id: one winner, everyone sees it', async () => {
  for (const refund_id of ['r3', 'r4']) {
    if (refund_id === 'r4') {
      await index.claim(refund_id, 'p_first');
      await index.release(refund_id, 'p_first');
    }
    const contenders = Array.from({ length: 12 }, (_, i) => `p_${i}`);
    const holders = await Promise.all(contenders.map((p, i) => (i % 2 === 0 ? index : index_b).claim(refund_id, p)));
    const winner = await index.lookup(refund_id);
    expect(contenders).toContain(winner);
    expect(new Set(holders)).toEqual(new Set([winner]));
  }
});

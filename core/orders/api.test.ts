// The orders client's reads, with stand-ins for the event log and the refund index (pure);
// commands and watches against real NATS are in test/payments.test.ts and test/watch.test.ts.

import { ordersClient } from './api';
import type { Loaded } from './store';
import type { PaymentState } from './types';

function payment(payment_id: string, refund_ids: string[]): Loaded {
  return { state: { payment_id, merchant_id: 'm1', refunds: refund_ids.map((refund_id) => ({ refund_id })) } as unknown as PaymentState, seq: 7 };
}

function client(logs: Record<string, Loaded>, index: Record<string, string>) {
  return ordersClient({
    actors: { send: async () => { throw new Error('no command expected'); } },
    store: { load: async (id) => logs[id] },
    refund_index: { lookup: async (id) => index[id] },
    js: undefined as never,
    names: undefined as never,
  });
}

test('orders client - a refund is read from the payment its index entry names, or is absent', async () => {
  const orders = client({ p1: payment('p1', ['r1']), p2: payment('p2', []) }, { r1: 'p1', r2: 'p2', r3: 'p9' });
  const found = await orders.getRefund('r1');
  expect(found?.state.payment_id).toBe('p1');
  expect(found?.refund.refund_id).toBe('r1');
  expect(await orders.getRefund('r2')).toBeUndefined(); // indexed, but not (yet) in its payment
  expect(await orders.getRefund('r3')).toBeUndefined(); // indexed to a payment with no log
  expect(await orders.getRefund('r4')).toBeUndefined(); // not indexed
  expect(await orders.refundHolder('r2')).toBe('p2');
  expect((await orders.get('p1'))?.seq).toBe(7);
  expect(await orders.get('p3')).toBeUndefined();
});

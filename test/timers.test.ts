// Integration: timers against stale actors and skewed clocks. Another process is played by
// writing to the event log and the timer stream directly (what a second paycore process
// does); the timer must never be lost.

import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encodeJson } from '../core/codec';
import { attemptId, shardOf } from '../core/ids';
import { names, type Names } from '../core/names';
import { EventStore } from '../core/orders/store';
import { TimerScheduler } from '../core/orders/timers';
import type { PaymentEvent, PaymentState } from '../core/orders/types';
import { eventually, nats_url, startStack, type Stack } from './harness';

let stack: Stack;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let n: Names;
let store: EventStore;

beforeAll(async () => {
  stack = await startStack({ env: { PAYCORE_EXPIRE_SECONDS_MIN: '1' } });
  nc = await connect({ servers: nats_url });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  n = names(stack.prefix);
  store = new EventStore(js, jsm, n);
});

afterAll(async () => {
  await nc?.close();
  await stack?.stop();
});

/** A payment created "by another process": its first two events appended to the log, no timers. */
async function createElsewhere(expires_at: Date): Promise<string> {
  const order_no = `tm-${randomBytes(6).toString('hex')}`;
  const payment_id = stack.paymentId('m_rec', order_no);
  const at = new Date().toISOString();
  const events: PaymentEvent[] = [
    {
      type: 'PaymentCreated', at, payment_id, merchant_id: 'm_rec', merchant_order_no: order_no, amount_minor: 300n, currency: 'CNY', product: 'WECHAT_NATIVE',
      subject: 'timers', notify_url: '', metadata: {}, expires_at: expires_at.toISOString(), fingerprint: 'f'.repeat(64), payer_sealed: '', include_channels: [], exclude_channels: [],
    },
    { type: 'ChannelRequested', at, attempt_id: attemptId(payment_id, 1), attempt_no: 1, channel_id: 'wx1' },
  ];
  await store.append(payment_id, undefined, events);
  return payment_id;
}

async function stored(payment_id: string): Promise<PaymentState | undefined> {
  return (await store.load(payment_id))?.state;
}

test('timers - an actor that saw the payment absent still runs its timer once another process created it', async () => {
  const order_no = `tm-${randomBytes(6).toString('hex')}`;
  const payment_id = stack.paymentId('m_rec', order_no);
  // This process is asked about the payment before it exists: the actor finds it absent.
  const asked = await nc.request(n.command(shardOf(payment_id, 8)), encodeJson({ type: 'get', payment_id, merchant_id: 'm_rec' }), { timeout: 10_000 });
  expect(new TextDecoder().decode(asked.data)).toContain('NOT_FOUND');
  // Another process creates it (already due to expire) and its expiry timer comes here.
  const at = new Date().toISOString();
  await store.append(payment_id, undefined, [
    {
      type: 'PaymentCreated', at, payment_id, merchant_id: 'm_rec', merchant_order_no: order_no, amount_minor: 300n, currency: 'CNY', product: 'WECHAT_NATIVE',
      subject: 'timers', notify_url: '', metadata: {}, expires_at: at, fingerprint: 'f'.repeat(64), payer_sealed: '', include_channels: [], exclude_channels: [],
    },
    { type: 'ChannelRequested', at, attempt_id: attemptId(payment_id, 1), attempt_no: 1, channel_id: 'wx1' },
  ]);
  await new TimerScheduler(js, n).schedule({ kind: 'expire', payment_id, due_at: at });
  await eventually(async () => ((await stored(payment_id))?.status === 'CLOSED' ? true : undefined), 15_000, 'the payment closed by its expiry timer');
});

test('timers - an expiry timer delivered early (another process\'s clock ahead) is rescheduled, not lost', async () => {
  const expires_at = new Date(Date.now() + 3_000);
  const payment_id = await createElsewhere(expires_at);
  // The only expiry timer, stamped due now by a clock 3 s ahead of ours.
  await new TimerScheduler(js, n).schedule({ kind: 'expire', payment_id, due_at: new Date().toISOString() });
  const closed = await eventually(async () => {
    const state = await stored(payment_id);
    return state?.status === 'CLOSED' ? state : undefined;
  }, 20_000, 'the payment closed at its own expiry');
  expect(closed.closed_reason).toBe('expired');
  expect(Date.parse(closed.updated_at)).toBeGreaterThanOrEqual(expires_at.getTime());
});

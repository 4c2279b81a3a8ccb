// The notifier against a real NATS (its own prefix and streams per test, deleted after) and a
// real HTTP merchant on 127.0.0.1 that verifies every signature. Payments are appended with
// the real EventStore, so every PAY_EVENTS message is the genuine {event, state}.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PaycoreError } from '../errors';
import { paymentId } from '../ids';
import { test_id_key } from '../ids.fixture';
import { createLogger } from '../log';
import { names as coreNames } from '../names';
import { EventStore, ensureStreams } from '../orders/store';
import { destinationPolicy } from './destination';
import { paymentEvents, refundEvents, type PaymentOutcome } from './fixtures';
import { deleteNotifyStreams, ensureNotifyStreams, notifyNames, startNotifier, verifyNotification, type Notifier, type NotificationBody } from './index';

const nats_url = process.env.PAYCORE_NATS_URL ?? 'nats://127.0.0.1:4222';
const log = createLogger('silent');
const wait_ms_max = 20_000;

interface Received {
  merchant_id: string;
  path: string;
  notification_id: string;
  attempt: number;
  raw: string;
  body: NotificationBody;
  verified: boolean;
}

/** What the merchant does with its n-th request (1-based) on a path. */
type Behaviour = (n: number) => { status: number; gate?: Promise<void> };

const answerOk: Behaviour = () => ({ status: 200 });

/** A merchant endpoint: `/<merchant_id>/<anything>`, verifying with that merchant's secret. */
class TestMerchant {
  readonly received: Received[] = [];
  readonly secrets = new Map<string, string>();
  readonly behaviours = new Map<string, Behaviour>();
  readonly inflight = new Map<string, number>();
  readonly inflight_max = new Map<string, number>();
  readonly completed = new Map<string, number>();
  /** Requests open now and at most at once, every merchant together. */
  open = 0;
  open_max = 0;
  private server: Server | undefined;
  private base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  url(path: string): string {
    return `${this.base}${path}`;
  }

  on(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  of(merchant_id: string): Received[] {
    return this.received.filter((r) => r.merchant_id === merchant_id);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const path = req.url ?? '/';
    const merchant_id = path.split('/')[1] ?? '';
    const secret = this.secrets.get(merchant_id) ?? '';
    this.received.push({
      merchant_id,
      path,
      notification_id: String(req.headers['paycore-notification-id']),
      attempt: Number(req.headers['paycore-attempt']),
      raw,
      body: JSON.parse(raw) as NotificationBody,
      verified: req.method === 'POST' && req.headers['content-type'] === 'application/json' && verifyNotification(secret, req.headers['paycore-signature'] as string | undefined, raw, 300),
    });
    const n = this.on(path).length;
    const behaviour = (this.behaviours.get(path) ?? answerOk)(n);
    this.bump(this.inflight, merchant_id, 1);
    this.open += 1;
    this.open_max = Math.max(this.open_max, this.open);
    this.inflight_max.set(merchant_id, Math.max(this.inflight_max.get(merchant_id) ?? 0, this.inflight.get(merchant_id)!));
    if (behaviour.gate !== undefined) await behaviour.gate;
    this.open -= 1;
    this.bump(this.inflight, merchant_id, -1);
    this.bump(this.completed, merchant_id, 1);
    if (!res.destroyed) res.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end('ok');
  }

  private bump(map: Map<string, number>, key: string, by: number): void {
    map.set(key, (map.get(key) ?? 0) + by);
  }
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeout_ms = wait_ms_max): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let prefix: string;
let store: EventStore;
let merchant: TestMerchant;
const running: Notifier[] = [];

async function pay(merchant_id: string, merchant_order_no: string, outcome: PaymentOutcome, notify_url: string): Promise<string> {
  const payment_id = paymentId(test_id_key, merchant_id, merchant_order_no);
  await store.append(payment_id, undefined, paymentEvents({ merchant_id, merchant_order_no, notify_url }, outcome));
  return payment_id;
}

interface StartOptions {
  schedule_ms: number[];
  timeout_ms?: number;
  onDelivered?: (after_outcome_ms: number) => void;
  inflight_max?: { per_merchant: number; total: number };
}

async function start(options: StartOptions): Promise<Notifier> {
  const notifier = await startNotifier({
    js, jsm, prefix, log,
    inflight_max: options.inflight_max,
    onDelivered: options.onDelivered,
    secretOf: async (merchant_id) => merchant.secrets.get(merchant_id),
    // The merchant under test listens on loopback.
    destinations: destinationPolicy(false, '', '127.0.0.0/8'),
    schedule_ms: options.schedule_ms,
    timeout_ms: options.timeout_ms ?? 1_000,
    busy_delay_ms: 50,
  });
  running.push(notifier);
  return notifier;
}

async function stop(notifier: Notifier): Promise<void> {
  running.splice(running.indexOf(notifier), 1);
  await notifier.stop();
}

/** Every queued delivery was settled (acked): nothing more can reach the merchant. */
async function notifyQueueEmpty(): Promise<boolean> {
  return (await jsm.streams.info(notifyNames(prefix).stream)).state.messages === 0;
}

/** Every PAY_EVENTS message so far was read and acked by the events consumer. */
async function eventsRead(): Promise<boolean> {
  const names = notifyNames(prefix);
  const info = await jsm.consumers.info(names.events_stream, names.events_consumer);
  return info.num_pending === 0 && info.num_ack_pending === 0;
}

beforeAll(async () => {
  nc = await connect({ servers: nats_url, name: 'paycore-notify-test' });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  merchant = new TestMerchant();
  await merchant.start();
});

afterAll(async () => {
  await merchant.close();
  await nc.close();
});

beforeEach(async () => {
  prefix = `tn${randomBytes(5).toString('hex')}`;
  const names = coreNames(prefix);
  await ensureStreams(jsm, names, 1);
  // A short ack wait: a message in flight to a stopped notifier comes back within seconds.
  await ensureNotifyStreams(jsm, prefix, { ack_wait_ms: 3_000 });
  store = new EventStore(js, jsm, names);
});

afterEach(async () => {
  for (const notifier of running.splice(0)) await notifier.stop();
  await deleteNotifyStreams(jsm, prefix);
  // Every stream of this prefix, whatever core/orders creates besides PAY_EVENTS.
  const ours: string[] = [];
  for await (const stream of jsm.streams.list()) if (stream.config.name.startsWith(`${prefix.toUpperCase()}_`)) ours.push(stream.config.name);
  for (const name of ours) await jsm.streams.delete(name);
});

describe('notifier', () => {
  test('notify - posts a succeeded payment once with a signature the merchant verifies', async () => {
    merchant.secrets.set('m_once', 'whsec_once');
    const payment_id = await pay('m_once', 'o-1', 'succeeded', merchant.url('/m_once/notify'));
    const delivered_after_ms: number[] = [];
    const started_ms = Date.now();
    await start({ schedule_ms: [0, 100], onDelivered: (ms) => delivered_after_ms.push(ms) });
    await waitFor('the notification', () => merchant.of('m_once').length === 1);
    await waitFor('the queue to drain', notifyQueueEmpty);
    // The SLI's delay runs from the outcome (the event's time, 2025-03-01T08:00:30Z here).
    expect(delivered_after_ms).toHaveLength(1);
    expect(delivered_after_ms[0]).toBeGreaterThanOrEqual(started_ms - Date.parse('2025-03-01T08:00:30.000Z'));
    expect(delivered_after_ms[0]).toBeLessThanOrEqual(Date.now() - Date.parse('2025-03-01T08:00:30.000Z'));
    const [received] = merchant.of('m_once');
    expect(merchant.of('m_once')).toHaveLength(1);
    expect(received!.verified).toBe(true);
    expect(received!.attempt).toBe(1);
    expect(received!.notification_id).toBe(`${payment_id}:4`);
    expect(received!.body).toMatchObject({ id: `${payment_id}:4`, type: 'payment.succeeded', created_at: '2025-03-01T08:00:30.000Z' });
    expect(received!.body.data).toMatchObject({ object: 'payment', payment_id, merchant_id: 'm_once', status: 'SUCCEEDED', amount: '12345', refunded_amount: '0', fee: '0' });
    expect(received!.raw).not.toMatch(/sealed|fingerprint|payer/);
    // The secret is per merchant: another merchant's secret does not verify it.
    expect(verifyNotification('whsec_other', 't=1,v1=' + '0'.repeat(64), received!.raw, 300)).toBe(false);
  });

  test('notify - a failed and a closed payment are posted as payment.failed and payment.closed', async () => {
    merchant.secrets.set('m_ends', 'whsec_ends');
    await pay('m_ends', 'o-failed', 'failed', merchant.url('/m_ends/notify'));
    await pay('m_ends', 'o-closed', 'closed', merchant.url('/m_ends/notify'));
    await start({ schedule_ms: [0, 100] });
    await waitFor('both notifications', () => merchant.of('m_ends').length === 2);
    await waitFor('the queue to drain', notifyQueueEmpty);
    const types = merchant.of('m_ends').map((r) => [r.body.type, r.body.data.status, r.verified]);
    expect(types.sort()).toEqual([['payment.closed', 'CLOSED', true], ['payment.failed', 'FAILED', true]]);
  });

  test('notify - retries a failing merchant and delivers on attempt 4', async () => {
    merchant.secrets.set('m_flaky', 'whsec_flaky');
    // Two 500s, then a merchant that answers only after the 300 ms timeout (once the fourth
    // attempt has arrived), then a 200.
    let answer_late!: () => void;
    const late = new Promise<void>((resolve) => (answer_late = resolve));
    merchant.behaviours.set('/m_flaky/notify', (n) => (n <= 2 ? { status: 500 } : n === 3 ? { status: 200, gate: late } : { status: 200 }));
    const payment_id = await pay('m_flaky', 'o-1', 'succeeded', merchant.url('/m_flaky/notify'));
    const notifier = await start({ schedule_ms: [0, 100, 200, 300, 400], timeout_ms: 300 });
    try {
      await waitFor('four attempts', () => merchant.of('m_flaky').length === 4);
    } finally {
      answer_late();
    }
    await waitFor('the queue to drain', notifyQueueEmpty);
    const received = merchant.of('m_flaky');
    expect(received).toHaveLength(4);
    expect(received.map((r) => r.attempt)).toEqual([1, 2, 3, 4]);
    expect(new Set(received.map((r) => r.notification_id))).toEqual(new Set([`${payment_id}:4`]));
    expect(new Set(received.map((r) => r.raw)).size).toBe(1); // byte-identical body on every attempt
    expect(received.every((r) => r.verified)).toBe(true);
    expect(await notifier.listDeadLetters({ limit: 10 })).toEqual([]);
  });

  test('notify - a restart in the middle of the schedule resumes at the next attempt', async () => {
    merchant.secrets.set('m_restart', 'whsec_restart');
    merchant.behaviours.set('/m_restart/notify', (n) => ({ status: n <= 2 ? 500 : 200 }));
    const payment_id = await pay('m_restart', 'o-1', 'succeeded', merchant.url('/m_restart/notify'));
    const schedule_ms = [0, 100, 1_000, 100, 100];
    const first = await start({ schedule_ms });
    await waitFor('two failed attempts', () => merchant.of('m_restart').length === 2);
    await stop(first); // waits for the second attempt to queue the third
    const attempts_before_restart = merchant.of('m_restart').length;
    await start({ schedule_ms });
    await waitFor('the third attempt', () => merchant.of('m_restart').length >= 3);
    await waitFor('the queue to drain', notifyQueueEmpty);
    const received = merchant.of('m_restart');
    expect(attempts_before_restart).toBe(2);
    // At least once: never a fresh schedule (attempt 1 again), never more than one extra try.
    expect(received.map((r) => r.attempt).slice(0, 3)).toEqual([1, 2, 3]);
    expect(received.length).toBeLessThanOrEqual(4);
    expect(received.every((r) => r.notification_id === `${payment_id}:4` && r.verified)).toBe(true);
  });

  test('notify - after the last attempt the dead letter is listed and resend delivers it', async () => {
    merchant.secrets.set('m_dead', 'whsec_dead');
    let down = true;
    merchant.behaviours.set('/m_dead/notify', () => ({ status: down ? 500 : 204 }));
    const payment_id = await pay('m_dead', 'o-1', 'succeeded', merchant.url('/m_dead/notify'));
    const delivered_after_ms: number[] = [];
    const notifier = await start({ schedule_ms: [0, 50, 50], onDelivered: (ms) => delivered_after_ms.push(ms) });
    await waitFor('the dead letter', async () => (await notifier.listDeadLetters({ limit: 10 })).length === 1);
    const [dead] = await notifier.listDeadLetters({ merchant_id: 'm_dead', limit: 10 });
    expect(dead).toMatchObject({ id: `${payment_id}:4`, merchant_id: 'm_dead', payment_id, type: 'payment.succeeded', attempts: 3, resends: 0, last_error: 'http_500' });
    expect(JSON.stringify(dead)).not.toMatch(/body|sealed/);
    expect(await notifier.listDeadLetters({ merchant_id: 'm_other', limit: 10 })).toEqual([]);
    expect(merchant.of('m_dead').map((r) => r.attempt)).toEqual([1, 2, 3]);

    down = false;
    await notifier.resend(`${payment_id}:4`);
    await waitFor('the re-sent notification', () => merchant.of('m_dead').length === 4);
    await waitFor('the queue to drain', notifyQueueEmpty);
    const resent = merchant.of('m_dead')[3]!;
    expect(resent).toMatchObject({ notification_id: `${payment_id}:4`, attempt: 1, verified: true });
    expect(delivered_after_ms).toEqual([]); // counted bad when it died; the re-send is not a first delivery
    expect(await notifier.listDeadLetters({ limit: 10 })).toEqual([]);
    await expect(notifier.resend(`${payment_id}:4`)).rejects.toMatchObject({ reason: 'NOT_FOUND' });
    await expect(notifier.listDeadLetters({ limit: 0 })).rejects.toBeInstanceOf(PaycoreError);
  });

  test('notify - a merchant without a secret gets no request and its notification is dead-lettered as secret_missing', async () => {
    const payment_id = await pay('m_nosecret', 'o-1', 'succeeded', merchant.url('/m_nosecret/notify'));
    const notifier = await start({ schedule_ms: [0, 50] });
    await waitFor('the dead letter', async () => (await notifier.listDeadLetters({ merchant_id: 'm_nosecret', limit: 10 })).length === 1);
    const [dead] = await notifier.listDeadLetters({ merchant_id: 'm_nosecret', limit: 10 });
    expect(dead).toMatchObject({ id: `${payment_id}:4`, attempts: 2, last_error: 'secret_missing' });
    expect(merchant.of('m_nosecret')).toEqual([]);
    merchant.secrets.set('m_nosecret', 'whsec_late');
    await notifier.resend(dead!.id);
    await waitFor('the notification', () => merchant.of('m_nosecret').length === 1);
    expect(merchant.of('m_nosecret')[0]!.verified).toBe(true);
  });

  test('notify - one slow merchant does not hold back another merchant', async () => {
    // This test holds requests open on purpose: a long ack wait keeps them from redelivery.
    await ensureNotifyStreams(jsm, prefix, { ack_wait_ms: 60_000 });
    merchant.secrets.set('m_slow', 'whsec_slow');
    merchant.secrets.set('m_fast', 'whsec_fast');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    merchant.behaviours.set('/m_slow/notify', () => ({ status: 200, gate }));
    for (let i = 0; i < 8; i += 1) await pay('m_slow', `o-${i}`, 'succeeded', merchant.url('/m_slow/notify'));
    const fast_id = await pay('m_fast', 'o-1', 'succeeded', merchant.url('/m_fast/notify'));
    await start({ schedule_ms: [0, 100], timeout_ms: 20_000 });
    try {
      await waitFor('the fast merchant', () => merchant.of('m_fast').length === 1);
      // The slow merchant holds its slots and nothing of it has finished, yet the other
      // merchant's notification went through; the slow one never had more than 4 at once.
      expect(merchant.completed.get('m_slow') ?? 0).toBe(0);
      expect(merchant.of('m_slow').length).toBeLessThanOrEqual(4);
      expect(merchant.of('m_fast')[0]).toMatchObject({ notification_id: `${fast_id}:4`, verified: true });
    } finally {
      release();
    }
    await waitFor('all slow notifications', () => new Set(merchant.of('m_slow').map((r) => r.notification_id)).size === 8);
    await waitFor('the queue to drain', notifyQueueEmpty);
    expect(merchant.of('m_slow')).toHaveLength(8);
    expect(merchant.inflight_max.get('m_slow')).toBeLessThanOrEqual(4);
    expect(merchant.of('m_slow').every((r) => r.verified && r.attempt === 1)).toBe(true);
  });

  test('notify - deliveries in flight are bounded per process: past the bound a due notification goes back to the stream, and no merchant sees more', async () => {
    await ensureNotifyStreams(jsm, prefix, { ack_wait_ms: 60_000 });
    merchant.open_max = merchant.open; // the merchant endpoint is shared with earlier tests
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const merchants = ['m_b1', 'm_b2', 'm_b3'];
    for (const m of merchants) {
      merchant.secrets.set(m, `whsec_${m}`);
      merchant.behaviours.set(`/${m}/notify`, () => ({ status: 200, gate }));
      for (let i = 0; i < 2; i += 1) await pay(m, `o-${i}`, 'succeeded', merchant.url(`/${m}/notify`));
    }
    // Two per merchant would let all six through; three in all holds the third merchant's second.
    await start({ schedule_ms: [0, 100], timeout_ms: 20_000, inflight_max: { per_merchant: 2, total: 3 } });
    const names = notifyNames(prefix);
    try {
      // Three open, and a due notification was refused and put back (redelivered later).
      await waitFor('three deliveries open and a refusal', async () => merchant.open === 3 && (await jsm.consumers.info(names.stream, names.sender_consumer)).num_redelivered > 0);
      expect(merchant.open_max).toBe(3);
      expect(merchants.reduce((n, m) => n + (merchant.completed.get(m) ?? 0), 0)).toBe(0);
    } finally {
      release();
    }
    await waitFor('every notification', () => merchants.every((m) => new Set(merchant.of(m).map((r) => r.notification_id)).size === 2));
    await waitFor('the queue to drain', notifyQueueEmpty);
    expect(merchant.open_max).toBe(3);
  });

  test('notify - events without notify_url or without an outcome produce no request', async () => {
    merchant.secrets.set('m_quiet', 'whsec_quiet');
    await pay('m_quiet', 'o-no-url', 'succeeded', '');
    await pay('m_quiet', 'o-failed-no-url', 'failed', '');
    await pay('m_quiet', 'o-waiting', 'requires_action', merchant.url('/m_quiet/notify'));
    const sentinel = await pay('m_quiet', 'o-sentinel', 'succeeded', merchant.url('/m_quiet/notify'));
    await start({ schedule_ms: [0, 100] });
    await waitFor('the sentinel', () => merchant.of('m_quiet').length >= 1);
    await waitFor('every event read', eventsRead);
    await waitFor('the queue to drain', notifyQueueEmpty);
    expect(merchant.of('m_quiet').map((r) => r.notification_id)).toEqual([`${sentinel}:4`]);
  });

  test('notify - a refund outcome goes to the refund notify_url and the payment change to the payment one', async () => {
    merchant.secrets.set('m_refund', 'whsec_refund');
    const payment_url = merchant.url('/m_refund/payments');
    const payment_id = await pay('m_refund', 'o-1', 'succeeded', payment_url);
    const loaded = (await store.load(payment_id))!;
    await store.append(payment_id, loaded, refundEvents(loaded.state, 'rf-1', 2_000n, 'succeeded', merchant.url('/m_refund/refunds')));
    const refund = (await store.load(payment_id))!.state.refunds[0]!;
    await start({ schedule_ms: [0, 100] });
    await waitFor('three notifications', () => merchant.of('m_refund').length === 3);
    await waitFor('the queue to drain', notifyQueueEmpty);
    const by_id = Object.fromEntries(merchant.of('m_refund').map((r) => [r.notification_id, [r.path, r.body.type, r.verified]]));
    expect(by_id).toEqual({
      [`${payment_id}:4`]: ['/m_refund/payments', 'payment.succeeded', true],
      [`${payment_id}:7`]: ['/m_refund/payments', 'payment.partially_refunded', true],
      [`${payment_id}:7:refund`]: ['/m_refund/refunds', 'refund.succeeded', true],
    });
    const refund_body = merchant.on('/m_refund/refunds')[0]!.body;
    expect(refund_body.data).toMatchObject({ object: 'refund', refund_id: refund.refund_id, amount: '2000', payment_refunded_amount: '2000' });
  });
});

// The main thread's event reader against a real NATS (its own prefix and streams per test,
// deleted after): payments appended with the real EventStore, so every PAY_EVENTS message is
// the genuine {event, state}. The actors' side is a recorded reply (what the command carried is
// what is checked), the notifier's a recorded hand-over that acks.

import { randomBytes } from 'node:crypto';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { decodeJson, no_money } from '../core/codec';
import type { Consuming } from '../core/consume';
import type { PaymentEvent } from '../core/events/types';
import { paymentId } from '../core/ids';
import { test_id_key } from '../core/ids.fixture';
import { createLogger } from '../core/log';
import { createActorMetrics } from '../core/metrics';
import { names as coreNames, type Names } from '../core/names';
import { deleteNotifyStreams, ensureNotifyStreams, notifyNames } from '../core/notify';
import { paymentEvents, type PaymentOutcome } from '../core/notify/fixtures';
import type { ActorCommand, ActorReply } from '../core/orders/protocol';
import { EventStore, ensureStreams } from '../core/orders/store';
import { eventTimersConsumer, type TimerMessage } from '../core/orders/timers';
import { startEventReader } from './event-reader';

const nats_url = process.env.PAYCORE_NATS_URL ?? 'nats://127.0.0.1:4222';
const log = createLogger('silent');

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let prefix: string;
let names: Names;
let store: EventStore;
let reading: Consuming | undefined;
let commands: ActorCommand[];
let notified: number[];

beforeAll(async () => {
  nc = await connect({ servers: nats_url, name: 'paycore-event-reader-test' });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc.close();
});

beforeEach(async () => {
  prefix = `te${randomBytes(5).toString('hex')}`;
  names = coreNames(prefix);
  await ensureStreams(jsm, names, 1);
  await ensureNotifyStreams(jsm, prefix);
  store = new EventStore(js, jsm, names);
  commands = [];
  notified = [];
});

afterEach(async () => {
  await reading?.stop();
  reading = undefined;
  await deleteNotifyStreams(jsm, prefix);
  const ours: string[] = [];
  for await (const stream of jsm.streams.list()) if (stream.config.name.startsWith(`${prefix.toUpperCase()}_`)) ours.push(stream.config.name);
  for (const name of ours) await jsm.streams.delete(name);
});

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeout_ms = 30_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Appends a payment's history as one message; `shift_ms` moves every time in it (a creation
 * whose timers are still ahead). */
async function pay(order_no: string, outcome: PaymentOutcome, shift_ms = 0): Promise<string> {
  const payment_id = paymentId(test_id_key, 'm_er', order_no);
  const shift = (iso: string): string => new Date(Date.parse(iso) + shift_ms).toISOString();
  const events = paymentEvents({ merchant_id: 'm_er', merchant_order_no: order_no, notify_url: 'https://merchant.example/notify' }, outcome)
    .map((event) => ({ ...event, at: shift(event.at), ...(event.type === 'PaymentCreated' ? { expires_at: shift(event.expires_at) } : {}) }) as PaymentEvent);
  await store.append(payment_id, undefined, events);
  return payment_id;
}

async function start(reply: (command: ActorCommand) => Promise<ActorReply>): Promise<void> {
  reading = await startEventReader({
    js, jsm, names, log,
    consumer: notifyNames(prefix).events_consumer,
    notifier: {
      handleEvent: async (message: JsMsg) => {
        notified.push(message.seq);
        message.ack();
      },
    },
    gate: { wait: async () => true },
    command: async (command) => {
      commands.push(command);
      return reply(command);
    },
    query_backoff_ms: [5_000],
    retry_backoff_ms: [60_000],
    timer_lag: createActorMetrics().actor.timer_lag,
  });
}

/** The actor's answer: the payment still open (its QR code shown). */
const stillOpen = async (command: ActorCommand): Promise<ActorReply> => {
  const loaded = await store.load(command.payment_id);
  return { ok: true, payment: loaded!.state };
};

async function timersQueued(): Promise<TimerMessage[]> {
  const { state } = await jsm.streams.info(names.timers_stream);
  const timers: TimerMessage[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq += 1) {
    const message = await jsm.streams.getMessage(names.timers_stream, { seq }).catch(() => null);
    if (message !== null) timers.push(decodeJson<TimerMessage>(message.data, no_money));
  }
  return timers;
}

async function readerConsumer() {
  const n = notifyNames(prefix);
  return jsm.consumers.info(n.events_stream, n.events_consumer);
}

test('event reader - one delivery per message serves both: a due creation sends its query and hands its expiry to PAY_TIMERS, a later one is held, an outcome goes to the notifier', async () => {
  const due = await pay('o-due', 'requires_action');
  const ahead = await pay('o-ahead', 'requires_action', Date.now() - Date.parse('2025-03-01T08:00:00.000Z') + 3_600_000);
  await pay('o-paid', 'succeeded');
  await start(stillOpen);
  await waitFor('the due creation handled and the outcome notified', async () => (await readerConsumer()).ack_floor.stream_seq >= 1 && notified.length === 1);
  await waitFor('the expiry on PAY_TIMERS', async () => (await timersQueued()).length === 1);

  expect(commands).toEqual([{ type: 'timer', payment_id: due, kind: 'query', round: 0 }]);
  expect(notified).toEqual([3]); // the paid payment's message: over when created, it has no timers
  const [expiry] = await timersQueued();
  expect(expiry).toMatchObject({ kind: 'expire', payment_id: due, due_at: '2025-03-01T08:30:00.000Z' });
  // The creation an hour ahead is held (nak-delayed), its query not sent; each message was
  // delivered once, for both readers.
  const info = await readerConsumer();
  const counts = { ack_pending: info.num_ack_pending, pending: info.num_pending, delivered: info.delivered.consumer_seq };
  expect(counts).toEqual({ ack_pending: 1, pending: 0, delivered: 3 });
  expect(commands.some((c) => c.payment_id === ahead)).toBe(false);
});

test('event reader - a creation timer no actor answered goes to PAY_TIMERS as the pump\'s first retry, with the expiry, and the creation is acked', async () => {
  const payment_id = await pay('o-down', 'requires_action');
  await start(async () => {
    throw new Error('no actor host serves this payment now');
  });
  await waitFor('the creation acked', async () => (await readerConsumer()).ack_floor.stream_seq >= 1);
  const timers = await timersQueued();
  expect(timers).toHaveLength(2);
  expect(timers).toEqual(expect.arrayContaining([
    expect.objectContaining({ kind: 'expire', payment_id }),
    expect.objectContaining({ kind: 'query', payment_id, round: 0, failures: 1 }),
  ]));
  const retry = timers.find((t) => t.kind === 'query')!;
  expect(Date.parse(retry.due_at)).toBeGreaterThan(Date.now() + 30_000); // the first retry delay (60 s)
});

test('event reader - a creation timer refused OVERLOADED (a full actor thread) is handed back for the refusal\'s hint and handled whole later, not retried as a failure', async () => {
  const payment_id = await pay('o-busy', 'requires_action');
  let refusals = 1;
  await start(async (command) => {
    if (refusals-- > 0) return { ok: false, error: { reason: 'OVERLOADED', message: 'OVERLOADED: the actor thread holds 4096 commands', metadata: { retry_after_ms: '300' } } };
    return stillOpen(command);
  });
  await waitFor('the creation acked', async () => (await readerConsumer()).ack_floor.stream_seq >= 1);
  expect(commands).toEqual([
    { type: 'timer', payment_id, kind: 'query', round: 0 },
    { type: 'timer', payment_id, kind: 'query', round: 0 },
  ]);
  // Only the expiry after the query that went through: no failed query retried on PAY_TIMERS.
  const timers = await timersQueued();
  expect(timers).toEqual([expect.objectContaining({ kind: 'expire', payment_id })]);
  expect((await readerConsumer()).delivered.consumer_seq).toBe(2);
});

test('event reader - the former creation-timer consumer is drained up to where the reader took over, then deleted', async () => {
  // An earlier version's consumer, which had delivered the first creation (held, not acked).
  await jsm.consumers.add(names.events_stream, {
    durable_name: eventTimersConsumer(names), filter_subject: names.events_all, deliver_policy: DeliverPolicy.New, ack_policy: AckPolicy.Explicit,
    ack_wait: 30_000_000_000, max_deliver: -1,
  });
  const before = await pay('o-before', 'requires_action');
  const held = await (await js.consumers.get(names.events_stream, eventTimersConsumer(names))).next({ expires: 5_000 });
  expect(held?.seq).toBe(1);
  held!.nak(200);

  await start(stillOpen);
  const after = await pay('o-after', 'requires_action');
  await waitFor('the former consumer deleted', async () => (await jsm.consumers.info(names.events_stream, eventTimersConsumer(names)).catch(() => null)) === null);
  // The creation it held fired from it too (a repeated timer is harmless); the one after the
  // reader took over fired once, from the reader.
  await waitFor('both creations queried by the reader', () => commands.filter((c) => c.payment_id === after).length === 1);
  expect(commands.filter((c) => c.payment_id === before)).toHaveLength(2);
  expect(commands.filter((c) => c.payment_id === after)).toHaveLength(1);
});

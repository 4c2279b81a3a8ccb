// Integration: paycore against its OWN nats-server and redis-server (started here on free
// ports), stopped and restarted under it. What a caller sees while a dependency is down
// (UNAVAILABLE with reason DEPENDENCY_DOWN, fast, no internal text), and that paycore comes
// back by itself — with its routing configuration — when the dependency does.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { PaycoreClient } from '../testing/client';
import { decodeServiceError } from '../core/errors';
import { app_admin_service } from '../core/gateway/app-admin';
import { names } from '../core/names';
import { notifyNames } from '../core/notify';
import { NextActionType, PaymentStatus, Product, type Payment } from '../proto/gen/paycore/v1/payment';
import { eventually, healthStatus, shardsHeld, startPrivateNats, startPrivateRedis, startStack, type DependencyServer, type PaycoreProcess, type Stack } from './harness';

let nats: DependencyServer;
let redis: DependencyServer;
let stack: Stack;

beforeAll(async () => {
  nats = await startPrivateNats();
  redis = await startPrivateRedis();
  stack = await startStack({ nats_url: nats.url, redis_url: redis.url, create_deadline_ms: 1_000, env: { PAYCORE_WORKERS: '2' } });
}, 60_000);

afterAll(async () => {
  if (nats !== undefined && !nats.running) await nats.start();
  if (redis !== undefined && !redis.running) await redis.start();
  await stack?.stop();
  await nats?.close();
  await redis?.close();
});

function order(): { merchantId: string; merchantOrderNo: string; amount: bigint; currency: string; product: Product; subject: string } {
  return { merchantId: 'm_it', merchantOrderNo: `flt-${randomBytes(6).toString('hex')}`, amount: 1_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'faults' };
}

interface Failure {
  code: number;
  reason?: string;
  message: string;
  elapsed_ms: number;
}

/** Runs a call that must fail; its status, reason, message and how long it took. */
async function failure(call: () => Promise<unknown>): Promise<Failure> {
  const started = Date.now();
  try {
    await call();
  } catch (error) {
    const decoded = decodeServiceError(error as grpc.ServiceError);
    return { code: decoded.code, reason: decoded.reason, message: decoded.message, elapsed_ms: Date.now() - started };
  }
  throw new Error('the call succeeded');
}

function paymentOptions(merchant_id: string): Promise<unknown> {
  return new Promise((resolve, reject) =>
    stack.client.raw.listPaymentOptions({ merchantId: merchant_id, amount: 1_000n, currency: 'CNY', scene: 'PC' }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (error, reply) => (error ? reject(error) : resolve(reply))),
  );
}

const address = (): string => `127.0.0.1:${stack.paycore.grpc_port}`;

/** A failure that the contract calls a dependency outage: retryable, named, no internals. */
function expectDependencyDown(f: Failure, within_ms: number): void {
  expect({ code: grpc.status[f.code], reason: f.reason }).toEqual({ code: 'UNAVAILABLE', reason: 'DEPENDENCY_DOWN' });
  expect(f.message).not.toMatch(/Error|Stream isn't writeable|MaxRetries|TIMEOUT|ECONNREFUSED/);
  expect(f.elapsed_ms).toBeLessThan(within_ms);
}

test('faults - Redis unreachable: creates and payment options answer UNAVAILABLE DEPENDENCY_DOWN at once, and serve again after', async () => {
  await stack.client.createPayment(order()); // warm
  await redis.kill();
  try {
    await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'NOT_SERVING' ? true : undefined), 10_000, 'NOT_SERVING');
    expectDependencyDown(await failure(() => stack.client.createPayment(order())), 3_000);
    expectDependencyDown(await failure(() => paymentOptions('m_it')), 3_000);
  } finally {
    await redis.start();
  }
  await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING again');
  const after = await stack.client.createPayment(order());
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
});

test('faults - Redis unreachable: an app-key call is refused DEPENDENCY_DOWN (no replay check, no entry); a certificate call is not', async () => {
  const admin = stack.serviceClient<grpc.Client & Record<string, (request: unknown, callback: (error: grpc.ServiceError | null, value: unknown) => void) => void>>(app_admin_service, 'AppAdminService');
  const adminCall = <T>(method: string, request: unknown): Promise<T> =>
    new Promise((resolve, reject) => admin[method]!(request, (e, v) => (e ? reject(e) : resolve(v as T))));
  await adminCall('upsertApp', { app: { appId: 'keyed', merchantIds: ['m_it'], allMerchants: false, roles: ['payments:read'], keys: [] } });
  const rotated = await adminCall<{ keyId: string; secret: string }>('rotateAppKey', { appId: 'keyed' });
  admin.close();
  const keyed = new PaycoreClient(stack.address, { ca: stack.auth().ca!, server_name: 'localhost', app_key: { app_id: 'keyed', key_id: rotated.keyId, secret: rotated.secret } });
  const absent = { merchantId: 'm_it', merchantOrderNo: 'flt-absent' };
  try {
    expect((await failure(() => keyed.getPayment(absent))).code).toBe(grpc.status.NOT_FOUND);
    await redis.kill();
    try {
      expectDependencyDown(await failure(() => keyed.getPayment(absent)), 3_000);
      // Reads need NATS only, and a client certificate needs no Redis to be checked.
      expect((await failure(() => stack.client.getPayment(absent))).code).toBe(grpc.status.NOT_FOUND);
    } finally {
      await redis.start();
    }
    await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING again');
    // The app and its key came back with the configuration (its durable store).
    await eventually(async () => ((await failure(() => keyed.getPayment(absent))).code === grpc.status.NOT_FOUND ? true : undefined), 20_000, 'the app key accepted again');
  } finally {
    keyed.close();
  }
});

test('faults - a Redis restart (empty) does not stop payments: the configuration comes back from its durable store', async () => {
  await redis.kill();
  await redis.start(); // keeps nothing on disk: an empty Redis
  // Health is SERVING only while paycore can route: once it says so, a create must succeed.
  await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING after the restart');
  const payment = await stack.client.createPayment(order());
  expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(payment.channelId).toBe('wx1');
  const options = (await paymentOptions('m_it')) as { options: unknown[] };
  expect(options.options.length).toBeGreaterThan(0);
  // One instance won the rebuild and re-derived what Redis lost besides the configuration.
  await eventually(async () => (stack.paycore.output.includes('caps usage re-derived from the event log') ? true : undefined), 10_000, 'the re-derivation log line');
});

test('faults - NATS down: reads and creates answer UNAVAILABLE DEPENDENCY_DOWN fast, and a refused create is never executed later', async () => {
  const existing: Payment = await stack.client.createPayment(order());
  await nats.kill();
  const refused = [order(), order(), order()];
  try {
    await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'NOT_SERVING' ? true : undefined), 10_000, 'NOT_SERVING');
    expectDependencyDown(await failure(() => stack.client.getPayment({ merchantId: 'm_it', paymentId: existing.paymentId })), 1_500);
    for (const request of refused) expectDependencyDown(await failure(() => stack.client.createPayment(request)), 1_500);
  } finally {
    await nats.start();
  }
  await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING again');
  // A create made after the restart works, and reaches the actors: everything before it
  // that could still be delivered has been by now.
  const after = await eventually(async () => stack.client.createPayment(order()).catch(() => undefined), 20_000, 'a create after NATS is back');
  expect(after.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  for (const request of refused) {
    const lookup = await failure(() =>
      stack.client.getPayment({ merchantId: request.merchantId, paymentId: stack.paymentId(request.merchantId, request.merchantOrderNo) }),
    );
    expect(grpc.status[lookup.code]).toBe('NOT_FOUND');
  }
  expect((await stack.client.getPayment({ merchantId: 'm_it', paymentId: existing.paymentId })).status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
});

/** A query timer waiting on PAY_TIMERS (a work queue: a timer leaves it once the pump acked it). */
interface QueuedTimer {
  seq: number;
  payment_id: string;
  due_ms: number;
  /** Failed deliveries before this one (a retry the pump scheduled); 0 for the first. */
  failures: number;
}

/** Read straight from the private NATS, on a connection of the test's own. */
async function withJetStream<T>(read: (jsm: JetStreamManager) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: nats.url, reconnect: false });
  try {
    return await read(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

/** Every query timer PAY_TIMERS holds now, due or not. */
function queuedQueryTimers(): Promise<QueuedTimer[]> {
  const { timers_stream, timer } = names(stack.prefix);
  return withJetStream(async (jsm) => {
    const { state } = await jsm.streams.info(timers_stream, { deleted_details: true });
    const deleted = new Set(state.deleted ?? []);
    const queued: QueuedTimer[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq += 1) {
      if (deleted.has(seq)) continue;
      const message = await jsm.streams.getMessage(timers_stream, { seq }).catch(() => null);
      if (message === null || message.subject !== timer('query')) continue;
      const body = message.json<{ payment_id: string; due_at: string; failures?: number }>();
      queued.push({ seq, payment_id: body.payment_id, due_ms: Date.parse(body.due_at), failures: body.failures ?? 0 });
    }
    return queued;
  });
}

/** Whether every one of these payments has a query timer on PAY_TIMERS published after stream
 * sequence `after`: its query chain moved on (the query due was sent and answered, the next one
 * scheduled). Read per payment rather than per message: in one run of five a timer read from
 * the queue was still listed 90 s later while the consumer delivered the others (cause not
 * found), and a payment's chain is what a lost timer would stop. */
async function chainsMovedOn(payment_ids: ReadonlySet<string>, after: number): Promise<boolean> {
  const moved_on = new Set((await queuedQueryTimers()).filter((t) => t.seq > after).map((t) => t.payment_id));
  return [...payment_ids].every((payment_id) => moved_on.has(payment_id));
}

/** Whether the event reader's consumer (the notifier's, which holds the creations' timers) has
 * acked the event log up to `seq` (each creation's first query sent and answered). */
function creationsHandled(seq: number): Promise<boolean> {
  const n = notifyNames(stack.prefix);
  return withJetStream(async (jsm) => (await jsm.consumers.info(n.events_stream, n.events_consumer)).ack_floor.stream_seq >= seq);
}

const lastTimerSeq = (): Promise<number> => withJetStream(async (jsm) => (await jsm.streams.info(names(stack.prefix).timers_stream)).state.last_seq);

const lastEventSeq = (): Promise<number> => withJetStream(async (jsm) => (await jsm.streams.info(names(stack.prefix).events_stream)).state.last_seq);

/** Resolves once the clock reaches `at_ms` (the due time of timers read from the stream). */
const reached = (at_ms: number, what: string): Promise<true> => eventually(async () => (Date.now() >= at_ms ? true : undefined), 30_000, what);

// A timer the killed process held (handed to it, not yet acked) comes back only after the
// consumer's 30 s ack wait, so a wait for every timer to be handled may last that long.
const handled_wait_ms = 90_000;

/** The pump's log lines about timers that did not go through: `lost` — no actor answered
 * the command (no responder, or none in time) or the timer was dead-lettered; `retried` — an
 * actor answered with a failure (e.g. JetStream not answering yet, DEPENDENCY_DOWN) and the
 * timer was scheduled again on its backoff. */
function timerFailures(lines: readonly string[]): { lost: string[]; retried: number } {
  const lost = lines.filter((line) => /"reason":"command failed: |timer dead-lettered/.test(line));
  return { lost, retried: lines.length - lost.length };
}

/** The timer-failure lines a paycore process logged since it started (its output until
 * now, which is still short) and logs from now on, every one (the kept output is a tail). */
function timerFailureLines(process: PaycoreProcess): string[] {
  const failure = /timer handling failed|timer command failed|timer dead-lettered/;
  const lines = process.output.split('\n').filter((line) => failure.test(line));
  let partial = process.output.endsWith('\n') ? '' : process.output.slice(process.output.lastIndexOf('\n') + 1);
  if (partial !== '' && failure.test(partial)) lines.pop();
  process.child!.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts.filter((line) => failure.test(line)));
  });
  return lines;
}

test('faults - no timer fails for want of a responder across a restart (its shards unheld until the dead process\'s leases expire) and a NATS reconnect', async () => {
  // Open payments whose pending-attempt queries fall due every ~2 s (PAYCORE_QUERY_BACKOFF_MS).
  for (let i = 0; i < 24; i += 1) await stack.client.createPayment(order());
  // The last creation's first query is due by the backoff's first step after this instant.
  const first_query_due_ms = Date.now() + Number(stack.env.PAYCORE_QUERY_BACKOFF_MS!.split(',')[0]);

  await stack.paycore.kill('SIGKILL');
  // Restart only once every timer is due, so the new process finds all of them due at once.
  const at_kill = await queuedQueryTimers();
  const timers_at_kill = await lastTimerSeq();
  const events_at_kill = await lastEventSeq();
  expect(at_kill.length).toBeGreaterThan(0);
  await reached(Math.max(first_query_due_ms, ...at_kill.map((t) => t.due_ms)), 'every query timer due');
  await stack.restart();
  const logged = timerFailureLines(stack.paycore);
  const open_at_kill = new Set(at_kill.map((t) => t.payment_id));
  await eventually(
    async () => ((await chainsMovedOn(open_at_kill, timers_at_kill)) && (await creationsHandled(events_at_kill)) ? true : undefined),
    handled_wait_ms,
    'every payment queried again after the restart',
  );
  const after_restart = timerFailures(logged.slice());
  const logged_at_outage = logged.length;

  const at_outage = await queuedQueryTimers();
  expect(at_outage.length).toBeGreaterThan(0);
  await nats.kill();
  await reached(Math.max(...at_outage.map((t) => t.due_ms)), 'every query timer due while NATS is down');
  await nats.start();
  await eventually(async () => ((await healthStatus(address(), stack.auth())) === 'SERVING' ? true : undefined), 20_000, 'SERVING after NATS is back');
  const resumed_after = await lastTimerSeq();
  const open_at_outage = new Set(at_outage.map((t) => t.payment_id));
  await eventually(async () => ((await chainsMovedOn(open_at_outage, resumed_after)) ? true : undefined), handled_wait_ms, 'every payment queried again after the reconnect');
  // A timer an actor failed (JetStream can take a moment after its server restarts) is retried
  // on its backoff: wait for the retries to be handled too, so a lost one would show.
  await eventually(async () => ((await queuedQueryTimers()).every((t) => t.failures === 0) ? true : undefined), handled_wait_ms, 'every retried timer handled');
  const after_reconnect = timerFailures(logged.slice(logged_at_outage));
  expect({ after_restart: after_restart.lost, after_reconnect: after_reconnect.lost }).toEqual({ after_restart: [], after_reconnect: [] });
  expect(after_restart.retried).toBe(0);
}, 240_000);

test('faults - a provider whose create hangs: the caller gets the pending payment with next action POLL within the create deadline, the action once the provider answers', async () => {
  const request = order();
  const payment_id = stack.paymentId(request.merchantId, request.merchantOrderNo);
  await stack.fault({ scope: { out_trade_no_prefix: payment_id }, operations: ['create'], latency_ms: 2_500, times: 1 });
  // Held by this process again (after the NATS restart above its leases were fenced and had to
  // expire before being claimed anew): a create meanwhile waits for a holder, which is not what
  // this test measures.
  await eventually(async () => ((await shardsHeld(Number(stack.env.PAYCORE_HTTP_PORT))) === Number(stack.env.PAYCORE_SHARDS) ? true : undefined), 30_000, 'every shard held');
  const pending = await stack.client.createPayment(request);
  // Answered at the create deadline (1 s), not after the provider's 2.5 s: had it waited, the
  // answer would carry the QR code (REQUIRES_ACTION). No clock is read: under load the answer
  // itself can take seconds to travel, which says nothing about the deadline.
  expect({ status: PaymentStatus[pending.status], action: NextActionType[pending.nextAction?.type ?? 0] }).toEqual({ status: 'PAYMENT_STATUS_CREATED', action: 'NEXT_ACTION_TYPE_POLL' });
  // The provider's late answer (the QR code) is applied when it comes, without a new order.
  const ready = await eventually(async () => {
    const p = await stack.client.getPayment({ merchantId: request.merchantId, paymentId: payment_id });
    return p.status === PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION ? p : undefined;
  }, 15_000, 'the QR code after the late answer');
  expect(NextActionType[ready.nextAction?.type ?? 0]).toBe('NEXT_ACTION_TYPE_QR_CODE');
  expect((await stack.orders(`${payment_id}a`)).length).toBe(1);
});

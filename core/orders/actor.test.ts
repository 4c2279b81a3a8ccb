// The actor's reservation bookkeeping against an in-memory event log and channel directory
// (pure unit tests: no NATS, Redis or HTTP): a reservation is released exactly when the
// recorded outcome does not hold it, also when a step throws or an append's answer is lost.

import { randomBytes } from 'node:crypto';
import { ChannelError, type AttemptStatus, type Channel } from '../../channels/channel';
import { idKey, paymentId } from '../ids';
import { createLogger } from '../log';
import { overloaded_retry_after_ms } from '../constants';
import { createActorMetrics } from '../metrics';
import type { RiskAssessed } from '../risk/engine';
import type { RiskAction } from '../risk/rules';
import type { ReservationRef } from '../routing/types';
import { ActorSystem, type ActorDeps } from './actor';
import { evolve } from './evolve';
import type { CreateInput } from './protocol';
import { ConflictError, type Loaded } from './store';
import type { PaymentEvent } from './types';

/** The event log: one state per payment; `fail_next` makes the next append throw, after
 * ('stored') or instead of ('lost') storing it — a publish whose answer never came. */
class MemoryStore {
  readonly logs = new Map<string, Loaded>();
  /** Every message stored: the events of each append. */
  readonly appended: PaymentEvent[][] = [];
  fail_next: 'stored' | 'lost' | undefined;

  async load(payment_id: string): Promise<Loaded | undefined> {
    return this.logs.get(payment_id);
  }

  async append(payment_id: string, loaded: Loaded | undefined, events: readonly PaymentEvent[]): Promise<Loaded> {
    const current = this.logs.get(payment_id);
    if ((current?.seq ?? 0) !== (loaded?.seq ?? 0)) throw new ConflictError('moved');
    let state = loaded?.state;
    for (const event of events) state = evolve(state, event);
    const next = { state: state!, seq: (current?.seq ?? 0) + 1 };
    const failing = this.fail_next;
    this.fail_next = undefined;
    if (failing !== 'lost') {
      this.logs.set(payment_id, next);
      this.appended.push([...events]);
    }
    if (failing !== undefined) throw new Error('publish timed out');
    return next;
  }
}

/** Routing and channels: each route reserves on the next channel; releases are recorded. */
class MemoryChannels {
  readonly released: string[] = [];
  readonly committed: string[] = [];
  readonly pay_results: (AttemptStatus | Error)[] = [];
  #routes = 0;
  readonly channels = ['ch_a', 'ch_b', 'ch_c'];
  /** Set: the route after this many throws (an append right after it will fail, see tests). */
  on_route: (() => void) | undefined;

  get(channel_id: string): Channel {
    const pay = async (): Promise<AttemptStatus> => {
      const next = this.pay_results.shift() ?? { kind: 'action_required', next_action: { type: 'QR_CODE', value: 'weixin://x' } };
      if (next instanceof Error) throw next;
      return next;
    };
    return { channel_id, provider: 'memory', products: ['WECHAT_NATIVE'], pay, query: async () => ({ kind: 'not_found' }), close: async () => ({ kind: 'closed' }) } as unknown as Channel;
  }

  async route(order: { payment_id: string }) {
    const channel_id = this.channels[this.#routes % this.channels.length]!;
    this.#routes += 1;
    this.on_route?.();
    const reservation = { reservation_id: `${order.payment_id}.r${this.#routes}`, channel_id, amount_minor: '100', day: '20250301', month: '202503' };
    return { chosen: { channel_id, fee_minor: 1n, reservation, probe: false, explored: false }, candidates: [], excluded: [], payer_problems: [] };
  }

  async release(reservation: ReservationRef | undefined) {
    if (reservation !== undefined) this.released.push(reservation.reservation_id);
  }

  async commit(reservation: ReservationRef | undefined) {
    if (reservation !== undefined) this.committed.push(reservation.reservation_id);
  }

  readonly outcomes: string[] = [];
  async recordOutcome(_channel_id: string, outcome: { kind: string }) {
    this.outcomes.push(outcome.kind);
  }
  /** Generous: these tests are about reservations, not the create deadline. */
  createDeadlineMs() {
    return 60_000;
  }
  merchantFee() {
    return 0n;
  }
  notifyUrl(channel_id: string) {
    return `http://127.0.0.1/notify/${channel_id}`;
  }
}

function system(store: MemoryStore, channels: MemoryChannels, risk?: ActorDeps['risk'], bounds?: ActorDeps['bounds']): ActorSystem {
  return new ActorSystem(systemDeps(store, channels, risk, bounds));
}

function systemDeps(store: MemoryStore, channels: MemoryChannels, risk?: ActorDeps['risk'], bounds?: ActorDeps['bounds']): ActorDeps {
  return {
    store: store as never,
    timers: { schedule: async () => undefined } as never,
    channels: channels as never,
    sealer: { seal: () => 'sealed', open: () => ({}) } as never,
    query_backoff_ms: [1_000],
    refund_backoff_ms: [1_000],
    refund_index: { claim: async (_r: string, p: string) => p } as never,
    id_key: idKey(randomBytes(32)),
    log: createLogger('silent'),
    metrics: createActorMetrics().actor,
    risk,
    bounds,
    now: () => new Date(),
  };
}

function input(merchant_order_no: string): CreateInput {
  return {
    merchant_id: 'm_1', merchant_order_no, amount_minor: 100n, currency: 'CNY', product: 'WECHAT_NATIVE', subject: 's', payer: {}, notify_url: '',
    expire_seconds: 600, include_channels: [], exclude_channels: [], metadata: {}, fingerprint: 'f'.repeat(64),
  };
}

type Fired = { rule_id: string; kind: 'amount'; action: RiskAction };

/** A risk engine that decides `action`; `published` lists the decisions it published on their
 * own subject (record), `decided` the payments it assessed. */
function fakeRisk(action: RiskAction, fired: Fired[] = []) {
  const published: RiskAssessed[] = [];
  const decided: string[] = [];
  const risk = {
    decide: async (order: { payment_id: string; merchant_id: string }) => {
      decided.push(order.payment_id);
      const event: RiskAssessed = { type: 'RiskAssessed', at: 'now', payment_id: order.payment_id, merchant_id: order.merchant_id, product: 'WECHAT_NATIVE', amount_minor: 100n, action, fired };
      return { action, fired, event };
    },
    record: async (event: RiskAssessed) => void published.push(event),
  };
  return { risk, published, decided };
}

const refusal = () => new ChannelError('rejected', 'NOAUTH', 'refused before accepting');

test('actor - a failover reservation is released when the step recording it throws and the log does not hold it', async () => {
  const store = new MemoryStore();
  const channels = new MemoryChannels();
  channels.pay_results.push(refusal());
  // The failover route reserves ch_b; the append of AttemptFailed + ChannelRequested(ch_b) is lost.
  let routes = 0;
  channels.on_route = () => {
    routes += 1;
    if (routes === 2) store.fail_next = 'lost';
  };
  const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-1');
  const reply = await system(store, channels).handle({ type: 'create', payment_id, input: input('o-1') });
  expect(reply.ok).toBe(false);
  expect(channels.released).toContain(`${payment_id}.r2`);
});

test('actor - a failover reservation the log holds (append stored, answer lost) is kept', async () => {
  const store = new MemoryStore();
  const channels = new MemoryChannels();
  channels.pay_results.push(refusal());
  let routes = 0;
  channels.on_route = () => {
    routes += 1;
    if (routes === 2) store.fail_next = 'stored';
  };
  const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-2');
  await system(store, channels).handle({ type: 'create', payment_id, input: input('o-2') });
  expect(store.logs.get(payment_id)!.state.attempts[1]?.reservation?.reservation_id).toBe(`${payment_id}.r2`);
  expect(channels.released).not.toContain(`${payment_id}.r2`);
  expect(channels.released).toContain(`${payment_id}.r1`); // attempt 1 failed: its caps go back
});

test('actor - a create whose append was stored though its answer was lost keeps the reservation the payment holds', async () => {
  const store = new MemoryStore();
  const channels = new MemoryChannels();
  store.fail_next = 'stored';
  const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-3');
  const reply = await system(store, channels).handle({ type: 'create', payment_id, input: input('o-3') });
  // The log shows the creation stored: the create goes on as if the answer had come.
  expect(reply.ok && reply.payment.status).toBe('REQUIRES_ACTION');
  expect(store.logs.get(payment_id)!.state.attempts[0]?.reservation?.reservation_id).toBe(`${payment_id}.r1`);
  expect(channels.released).toEqual([]);
});

test('actor - a create whose append was lost releases its reservation', async () => {
  const store = new MemoryStore();
  const channels = new MemoryChannels();
  store.fail_next = 'lost';
  const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-4');
  const reply = await system(store, channels).handle({ type: 'create', payment_id, input: input('o-4') });
  expect(reply.ok).toBe(false);
  expect(store.logs.get(payment_id)).toBeUndefined();
  expect(channels.released).toEqual([`${payment_id}.r1`]);
});

test('actor - a payment risk control blocks is refused RISK_BLOCKED before routing: nothing reserved, stored or sent', async () => {
  const store = new MemoryStore();
  const channels = new MemoryChannels();
  let routes = 0;
  channels.on_route = () => void (routes += 1);
  const { risk, decided, published } = fakeRisk('block', [{ rule_id: 'r', kind: 'amount', action: 'block' }]);
  const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-5');
  const reply = await system(store, channels, risk).handle({ type: 'create', payment_id, input: input('o-5') });
  expect(reply).toEqual({ ok: false, error: expect.objectContaining({ reason: 'RISK_BLOCKED' }) });
  expect(decided).toEqual([payment_id]);
  // The refusal is on record, on the risk subject (there is no payment to carry it).
  expect(published).toMatchObject([{ payment_id, action: 'block', fired: [{ rule_id: 'r' }] }]);
  expect(routes).toBe(0);
  expect(store.logs.get(payment_id)).toBeUndefined();
});

test('actor - a replayed create of a payment made before a blocking rule answers with the payment', async () => {
  const store = new MemoryStore();
  const channels = new MemoryChannels();
  const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-6');
  const created = await system(store, channels).handle({ type: 'create', payment_id, input: input('o-6') });
  expect(created.ok).toBe(true);
  // Another process (a fresh actor) gets the replay after a rule that blocks it was added.
  const { risk } = fakeRisk('block');
  const replay = await system(store, channels, risk).handle({ type: 'create', payment_id, input: input('o-6') });
  expect(replay.ok && replay.payment.payment_id).toBe(payment_id);
});

test('actor - step up: quick pay goes on to its channel (it challenges every payment with an SMS code); a product without a challenge is held for review, unrouted', async () => {
  const { risk: step_up, published } = fakeRisk('step_up', [{ rule_id: 'odd', kind: 'amount', action: 'step_up' }]);
  const store = new MemoryStore();
  const channels = new MemoryChannels();
  let routes = 0;
  channels.on_route = () => void (routes += 1);
  const native_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-7');
  const native = await system(store, channels, step_up).handle({ type: 'create', payment_id: native_id, input: input('o-7') });
  expect(native.ok && native.payment).toMatchObject({ status: 'CREATED', attempts: [], held: { rules: ['odd'] } });
  expect(routes).toBe(0);
  const quick_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-8');
  const quick = await system(store, channels, step_up).handle({ type: 'create', payment_id: quick_id, input: { ...input('o-8'), product: 'UNIONPAY_QUICK' } });
  expect(quick.ok && quick.payment.held).toBeUndefined();
  expect(routes).toBe(1);
  // Both decisions travel in their creation message, none on a publish of its own.
  const creations = store.appended.filter((events) => events[0]?.type === 'PaymentCreated');
  expect(creations.map((events) => events.map((e) => e.type))).toEqual([['PaymentCreated', 'PaymentHeld'], ['PaymentCreated', 'ChannelRequested']]);
  for (const events of creations) expect(events[0]).toMatchObject({ risk: { action: 'step_up', fired: [{ rule_id: 'odd', kind: 'amount', action: 'step_up' }] } });
  expect(published).toEqual([]);
});

test('actor - an allowed create carries its risk decision in the creation append; a decision no creation of ours carries is published by itself', async () => {
  const store = new MemoryStore();
  const channels = new MemoryChannels();
  const allowed = fakeRisk('allow');
  const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-9');
  const reply = await system(store, channels, allowed.risk).handle({ type: 'create', payment_id, input: input('o-9') });
  expect(reply.ok && reply.payment.status).toBe('REQUIRES_ACTION');
  expect(store.appended[0]).toMatchObject([{ type: 'PaymentCreated', risk: { action: 'allow', fired: [] } }, { type: 'ChannelRequested' }]);
  expect(allowed.published).toEqual([]);
  // A fresh actor (another process) gets the same create: the payment exists, so its creation
  // is not ours and the decision goes on the risk subject.
  const again = fakeRisk('allow');
  const replay = await system(store, channels, again.risk).handle({ type: 'create', payment_id, input: input('o-9') });
  expect(replay.ok && replay.payment.payment_id).toBe(payment_id);
  expect(again.published).toMatchObject([{ payment_id, action: 'allow' }]);
  // The creation append is lost: nothing stored, and the decision is published by itself.
  const lost = fakeRisk('allow');
  store.fail_next = 'lost';
  const lost_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-10');
  expect((await system(store, channels, lost.risk).handle({ type: 'create', payment_id: lost_id, input: input('o-10') })).ok).toBe(false);
  expect(store.logs.get(lost_id)).toBeUndefined();
  expect(lost.published).toMatchObject([{ payment_id: lost_id, action: 'allow' }]);
});

test('actor - channel health hears a payer decline as the adapter classified it, any other refusal as a system error', async () => {
  const store = new MemoryStore();
  const channels = new MemoryChannels();
  // The same provider code either way: the actor reads the adapter's class, not the code.
  channels.pay_results.push(new ChannelError('rejected', 'NOTENOUGH', 'balance', { payer_decline: true }), new ChannelError('rejected', 'NOTENOUGH', 'refused'));
  const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'o-health');
  await system(store, channels).handle({ type: 'create', payment_id, input: input('o-health') });
  // recordOutcome is called (not awaited) inside each channel call, so all are in by now.
  expect(channels.outcomes).toEqual(['payer_decline', 'system_error', 'success']);
});

/** Channels whose create hangs until the test lets it answer; `sent` counts creates sent. */
class HangingChannels extends MemoryChannels {
  readonly #waiting: (() => void)[] = [];
  sent = 0;

  override get(channel_id: string): Channel {
    const channel = super.get(channel_id);
    return {
      ...channel,
      pay: async (...args: Parameters<Channel['pay']>) => {
        this.sent += 1;
        await new Promise<void>((resolve) => this.#waiting.push(resolve));
        return channel.pay(...args);
      },
    } as Channel;
  }

  /** Resolves once `n` creates were sent in all (each turn reaches its channel call after a
   * few appends and lookups). */
  async sending(n: number): Promise<void> {
    while (this.sent < n) await new Promise((r) => setImmediate(r));
  }

  /** Lets every create sent so far answer. */
  answerAll(): void {
    for (const answer of this.#waiting.splice(0)) answer();
  }
}

describe('thread bounds', () => {
  const create = (actors: ActorSystem, n: number) => {
    const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', `b-${n}`);
    return actors.handle({ type: 'create', payment_id, input: input(`b-${n}`) });
  };

  test('actor - past the thread bound a command is refused OVERLOADED with a retry hint, its actor not loaded, nothing sent; a finished command frees its place', async () => {
    const channels = new HangingChannels();
    const actors = system(new MemoryStore(), channels, undefined, { commands_max: 3 });
    const held = [1, 2, 3].map((n) => create(actors, n));
    expect(actors.commands).toBe(3);
    const refused = await create(actors, 4);
    expect(refused).toEqual({ ok: false, error: { reason: 'OVERLOADED', message: expect.stringMatching(/holds 3 commands, its bound/), metadata: { retry_after_ms: String(overloaded_retry_after_ms) } } });
    expect(actors.live).toBe(3);
    // A read is refused too: the bound is the thread's, whatever the command.
    expect((await actors.handle({ type: 'get', payment_id: 'p_any', merchant_id: 'm_1' })).ok).toBe(false);
    await channels.sending(3);
    channels.answerAll();
    for (const reply of await Promise.all(held)) expect(reply.ok).toBe(true);
    expect(actors.commands).toBe(0);
    const admitted = create(actors, 5);
    await channels.sending(4);
    channels.answerAll();
    expect((await admitted).ok).toBe(true);
    expect(channels.sent).toBe(4);
  });

  test('actor - when every cached actor is busy a new one is kept (one mailbox per payment) and the cache grows only up to the thread bound', async () => {
    const channels = new HangingChannels();
    const actors = system(new MemoryStore(), channels, undefined, { commands_max: 4, live_max: 2 });
    const held = [1, 2, 3, 4].map((n) => create(actors, n));
    // Four busy actors over a cache of two: none evicted, the fourth included.
    expect(actors.live).toBe(4);
    expect((await create(actors, 5)).ok).toBe(false);
    expect(actors.live).toBe(4);
    await channels.sending(4);
    channels.answerAll();
    await Promise.all(held);
    // Idle again: the next actor brings the cache back to its size.
    const next = create(actors, 6);
    expect(actors.live).toBe(2);
    await channels.sending(5);
    channels.answerAll();
    expect((await next).ok).toBe(true);
  });
});

// ---- shard leases (workers/leases.ts): what the actor caches across holders ----------------

describe('shard ownership', () => {
  test('actor - "absent" is never cached: a payment another process creates after a miss is found by the next command, a timer included', async () => {
    const store = new MemoryStore();
    const here = system(store, new MemoryChannels());
    const there = system(store, new MemoryChannels());
    const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'absent-1');
    const miss = await here.handle({ type: 'get', payment_id, merchant_id: 'm_1' });
    expect(miss).toMatchObject({ ok: false, error: { reason: 'NOT_FOUND' } });
    expect((await there.handle({ type: 'create', payment_id, input: input('absent-1') })).ok).toBe(true);
    const timer = await here.handle({ type: 'timer', payment_id, kind: 'query', round: 0 });
    expect(timer).toMatchObject({ ok: true, payment: { payment_id } });
  });

  test('actor - a command for a shard the thread does not hold is answered unowned, nothing loaded; an actor cached under another lease epoch reloads', async () => {
    const store = new MemoryStore();
    const channels = new MemoryChannels();
    let epoch: number | undefined;
    const here = new ActorSystem({ ...systemDeps(store, channels), owner: () => epoch });
    const there = system(store, channels);
    const payment_id = paymentId(idKey(randomBytes(32)), 'm_1', 'epoch-1');
    const refused = await here.handle({ type: 'create', payment_id, input: input('epoch-1') });
    expect(refused).toMatchObject({ ok: false, error: { reason: 'DEPENDENCY_DOWN', metadata: { shard: 'unowned' } } });
    expect(store.logs.size).toBe(0);
    epoch = 1;
    expect(await here.handle({ type: 'create', payment_id, input: input('epoch-1') })).toMatchObject({ ok: true, payment: { status: 'REQUIRES_ACTION' } });
    // Another holder moves it meanwhile (the lease went there and came back).
    expect(await there.handle({ type: 'close', payment_id, merchant_id: 'm_1' })).toMatchObject({ ok: true, payment: { status: 'CLOSED' } });
    epoch = 2;
    expect(await here.handle({ type: 'get', payment_id, merchant_id: 'm_1' })).toMatchObject({ ok: true, payment: { status: 'CLOSED' } });
  });
});

// Integration: channel health and the circuit breaker against the real Redis.

import { channel, order } from './fixtures.test-helper';
import { cleanup, cooledDown, setup } from './routing.test-helper';

afterAll(cleanup);

test('routing - a degraded channel loses traffic, its circuit opens, and it wins traffic back after probes', async () => {
  const cooldown_ms = 400;
  const t = await setup(
    [channel('cheap', { fee: { rate_bp: 30, fixed_minor: 0n, min_minor: 0n } }), channel('dear', { fee: { rate_bp: 60, fixed_minor: 0n, min_minor: 0n } })],
    undefined,
    { circuit: { cooldown_ms, volume_min: 20, failure_rate_open: 0.5, probes_max: 2, probe_successes_close: 2 } },
  );
  const pick = async (n: string) => (await t.decisions.route(order({ payment_id: n }))).chosen;
  expect((await pick('a1'))?.channel_id).toBe('cheap');
  // Payer declines say nothing about the channel.
  for (let i = 0; i < 40; i += 1) expect(await t.health.recordOutcome('cheap', { kind: 'payer_decline', latency_ms: 300 })).toBe('CLOSED');
  expect((await pick('a2'))?.channel_id).toBe('cheap');
  // Ten system errors: still under the circuit's minimum volume, but the score already loses.
  for (let i = 0; i < 10; i += 1) expect(await t.health.recordOutcome('cheap', { kind: 'system_error', latency_ms: 2_000 })).toBe('CLOSED');
  expect((await pick('a3'))?.channel_id).toBe('dear');
  for (let i = 0; i < 9; i += 1) await t.health.recordOutcome('cheap', { kind: 'timeout', latency_ms: 10_000 });
  expect(await t.health.recordOutcome('cheap', { kind: 'timeout', latency_ms: 10_000 })).toBe('OPEN');
  const open = await t.decisions.explain(order({ payment_id: '' }));
  expect(open.excluded).toEqual([expect.objectContaining({ channel_id: 'cheap', reason: 'CIRCUIT_OPEN' })]);
  expect(open.chosen?.channel_id).toBe('dear');
  await cooledDown(t, 'cheap');
  // Half-open: probes go to the recovering channel, at most probes_max at once.
  const p1 = await pick('a4');
  const p2 = await pick('a5');
  const p3 = await pick('a6');
  expect([p1?.channel_id, p1?.probe, p2?.channel_id, p2?.probe, p3?.channel_id, p3?.probe]).toEqual(['cheap', true, 'cheap', true, 'dear', false]);
  // The probes' outcomes: calls started after the circuit became half-open.
  expect(await t.health.recordOutcome('cheap', { kind: 'success', latency_ms: 200, started_at: new Date() })).toBe('HALF_OPEN');
  expect(await t.health.recordOutcome('cheap', { kind: 'success', latency_ms: 200, started_at: new Date() })).toBe('CLOSED');
  const back = await pick('a7');
  expect([back?.channel_id, back?.probe]).toEqual(['cheap', false]);
});

test('routing - a failed probe reopens the circuit', async () => {
  const t = await setup([channel('flaky'), channel('other', { fee: { rate_bp: 100, fixed_minor: 0n, min_minor: 0n } })], undefined, {
    circuit: { cooldown_ms: 200, volume_min: 5, probes_max: 1 },
  });
  for (let i = 0; i < 5; i += 1) await t.health.recordOutcome('flaky', { kind: 'system_error', latency_ms: 100 });
  await cooledDown(t, 'flaky');
  expect((await t.decisions.route(order({ payment_id: 'b1' }))).chosen).toEqual(expect.objectContaining({ channel_id: 'flaky', probe: true }));
  expect(await t.health.recordOutcome('flaky', { kind: 'system_error', latency_ms: 100, started_at: new Date() })).toBe('OPEN');
  expect((await t.decisions.route(order({ payment_id: 'b2' }))).chosen?.channel_id).toBe('other');
});

test('routing - hanging creates open the circuit even while the queries they cause succeed (health per operation)', async () => {
  const t = await setup([channel('hangs'), channel('other', { fee: { rate_bp: 100, fixed_minor: 0n, min_minor: 0n } })], undefined, {
    circuit: { cooldown_ms: 60_000, volume_min: 10, failure_rate_open: 0.5 },
  });
  // What a provider whose create hangs produces: each hung create is followed by queries that
  // succeed (the order is there, pending) — 43% failures overall, 100% of creates.
  let state = 'CLOSED';
  for (let i = 0; i < 10; i += 1) {
    state = await t.health.recordOutcome('hangs', { kind: 'timeout', latency_ms: 10_000, operation: 'create' });
    if (state !== 'CLOSED') break;
    for (let q = 0; q < 2; q += 1) await t.health.recordOutcome('hangs', { kind: 'success', latency_ms: 50, operation: 'query' });
  }
  expect(state).toBe('OPEN');
  expect((await t.decisions.route(order({ payment_id: 'h1' }))).chosen?.channel_id).toBe('other');
});

test('routing - a half-open circuit is judged only by calls started after it became half-open', async () => {
  const cooldown_ms = 300;
  const t = await setup([channel('recovering'), channel('other', { fee: { rate_bp: 100, fixed_minor: 0n, min_minor: 0n } })], undefined, {
    circuit: { cooldown_ms, volume_min: 5, probes_max: 2, probe_successes_close: 2 },
  });
  const stale_start = new Date();
  for (let i = 0; i < 5; i += 1) await t.health.recordOutcome('recovering', { kind: 'timeout', latency_ms: 100, operation: 'create' });
  await cooledDown(t, 'recovering');
  expect((await t.decisions.route(order({ payment_id: 'r1' }))).chosen).toEqual(expect.objectContaining({ channel_id: 'recovering', probe: true }));
  // A timeout of a call started before the cool-down ended says nothing about the recovery.
  expect(await t.health.recordOutcome('recovering', { kind: 'timeout', latency_ms: 10_000, operation: 'create', started_at: stale_start })).toBe('HALF_OPEN');
  expect(await t.health.recordOutcome('recovering', { kind: 'success', latency_ms: 100, operation: 'create', started_at: stale_start })).toBe('HALF_OPEN');
  expect(await t.health.recordOutcome('recovering', { kind: 'success', latency_ms: 100, operation: 'create', started_at: new Date() })).toBe('HALF_OPEN');
  expect(await t.health.recordOutcome('recovering', { kind: 'success', latency_ms: 100, operation: 'create', started_at: new Date() })).toBe('CLOSED');
});

// ---- apps ---------------------------------------------------------------------------------

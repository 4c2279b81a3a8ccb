// Integration: the routing decision — caps reserved atomically, explanation, exploration,
// payment options, reservations another process settles — against the real Redis.

import { channel, order } from './fixtures.test-helper';
import { at, cleanup, connections, day, nextPrefix, setup, table, usage, withTimeout } from './routing.test-helper';
import { scoreOf, scoring_defaults, seededRandom } from './scoring';
import type { Reservation } from './types';

afterAll(cleanup);

test('routing - hundreds of concurrent decisions never exceed a daily cap, and releases restore it', async () => {
  const cap = 100_000n;
  const t1 = await setup([channel('capped', { limits: { day_amount_minor: cap, day_count: 60 } })]);
  const t2 = await table(t1.cache.keys.channel('x').slice(1).split(':ch:')[0]!); // a second instance on its own connection
  const amounts = Array.from({ length: 400 }, (_, i) => BigInt(100 + ((i * 7919) % 4_900)));
  const decisions = await withTimeout('400 decisions', 20_000, () =>
    Promise.all(amounts.map((amount_minor, i) => (i % 2 === 0 ? t1 : t2).decisions.route(order({ payment_id: `p${i}`, amount_minor, now: at })))),
  );
  const reservations = decisions.flatMap((d) => (d.chosen?.reservation === undefined ? [] : [d.chosen.reservation]));
  const reserved = reservations.reduce((sum, r) => sum + BigInt(r.amount_minor), 0n);
  expect(reserved).toBeLessThanOrEqual(cap);
  expect(reservations.length).toBeLessThanOrEqual(60);
  expect(reservations.length).toBeGreaterThan(10);
  expect(await usage(t1, 'capped', day)).toEqual({ a: reserved.toString(), n: String(reservations.length) });
  const refused = decisions.filter((d) => d.chosen === undefined);
  expect(refused.length).toBe(400 - reservations.length);
  expect(new Set(refused.map((d) => d.excluded[0]?.reason))).toEqual(expect.any(Set));
  for (const d of refused) expect(['DAILY_AMOUNT_CAP', 'DAILY_COUNT_CAP']).toContain(d.excluded[0]?.reason);

  const released = await Promise.all(reservations.map((r) => (Number(r.amount_minor) % 2 === 0 ? t1 : t2).reservations.release(r)));
  expect(released.every((x) => x)).toBe(true);
  expect(await usage(t1, 'capped', day)).toEqual({ a: '0', n: '0' });
  // Idempotent: a second release (another process, a retried event) changes nothing.
  expect(await Promise.all(reservations.slice(0, 5).map((r) => t1.reservations.release(r)))).toEqual([false, false, false, false, false]);
  expect(await usage(t1, 'capped', day)).toEqual({ a: '0', n: '0' });
  const again = await t1.decisions.route(order({ payment_id: 'again', amount_minor: 5_000n, now: at }));
  expect(again.chosen?.channel_id).toBe('capped');
});

test('routing - excludes a channel over its daily cap and a card over its per-card cap', async () => {
  const t = await setup([
    channel('quick', { products: ['UNIONPAY_QUICK'], limits: { card_day_count: 2, day_amount_minor: 1_000_000n }, required_payer_elements: { UNIONPAY_QUICK: ['card_token'] } }),
  ]);
  const quick = (payment_id: string, card_token: string, amount_minor = 1_000n) =>
    t.decisions.route(order({ payment_id, product: 'UNIONPAY_QUICK', payer_elements_present: ['card_token'], card_token, amount_minor, now: at }));
  const r1 = await quick('q1', 'tok_a');
  const r2 = await quick('q2', 'tok_a');
  const r3 = await quick('q3', 'tok_a');
  expect([r1.chosen?.channel_id, r2.chosen?.channel_id, r3.chosen]).toEqual(['quick', 'quick', undefined]);
  expect(r3.excluded).toEqual([{ channel_id: 'quick', reason: 'CARD_DAILY_COUNT_CAP', detail: 'reserved count 2 + 1 > cap 2' }]);
  expect((await quick('q4', 'tok_b')).chosen?.channel_id).toBe('quick');
  // The token never appears in a key or in the reservation.
  expect(JSON.stringify(r1.chosen?.reservation)).not.toContain('tok_a');
  expect(await connections[0]!.keys(`*tok_a*`)).toEqual([]);
  // Releasing one of tok_a's reservations frees one slot for that card.
  expect(await t.reservations.release(r1.chosen!.reservation!)).toBe(true);
  expect((await quick('q5', 'tok_a')).chosen?.channel_id).toBe('quick');
  const over = await quick('q6', 'tok_c', 999_000n);
  expect(over.excluded[0]?.reason).toBe('DAILY_AMOUNT_CAP');
});

test('routing - ExplainRoute names why each channel was excluded, and reserves nothing', async () => {
  const t = await setup(
    [
      channel('ok', { fee: { rate_bp: 60, fixed_minor: 0n, min_minor: 0n } }),
      channel('ok_dear', { fee: { rate_bp: 60, fixed_minor: 50n, min_minor: 0n } }),
      channel('off', { state: 'DISABLED' }),
      channel('draining', { state: 'DRAINING' }),
      channel('alipay', { products: ['ALIPAY_QR'] }),
      channel('usd', { currencies: ['USD'] }),
      channel('uncontracted'),
      channel('hinted'),
      channel('min', { amount_min_minor: 50_000n }),
      channel('max', { amount_max_minor: 5_000n }),
      channel('night', { service_windows: { time_zone: 'Asia/Shanghai', open: [{ days: [], start: '00:00', end: '06:00' }], closed: [] } }),
      channel('needs_openid', { required_payer_elements: { WECHAT_NATIVE: ['openid'] } }),
      channel('full', { limits: { day_count: 1 } }),
      channel('broken'),
    ],
    ['ok', 'ok_dear', 'off', 'draining', 'alipay', 'usd', 'hinted', 'min', 'max', 'night', 'needs_openid', 'full', 'broken'],
    { circuit: { volume_min: 3, cooldown_ms: 60_000 } },
  );
  const fill = await t.decisions.route(order({ payment_id: 'fill', include_channels: ['full'], now: at }));
  expect(fill.chosen?.channel_id).toBe('full');
  for (let i = 0; i < 3; i += 1) await t.health.recordOutcome('broken', { kind: 'system_error', latency_ms: 100, at });
  const before = await usage(t, 'ok', day);
  const decision = await t.decisions.explain(order({ payment_id: '', exclude_channels: ['hinted'], now: at }));
  const reasons = Object.fromEntries(decision.excluded.map((e) => [e.channel_id, e.reason]));
  expect(reasons).toEqual({
    off: 'NOT_ENABLED', draining: 'DRAINING', alipay: 'PRODUCT', usd: 'CURRENCY', uncontracted: 'NOT_CONTRACTED', hinted: 'EXCLUDED_BY_HINT',
    min: 'AMOUNT_BELOW_MIN', max: 'AMOUNT_ABOVE_MAX', night: 'OUTSIDE_WINDOW', needs_openid: 'PAYER_ELEMENT_MISSING',
    full: 'DAILY_COUNT_CAP', broken: 'CIRCUIT_OPEN',
  });
  for (const e of decision.excluded) expect(e.detail).not.toBe('');
  expect(decision.chosen).toEqual({ channel_id: 'ok', fee_minor: 60n, probe: false, explored: false });
  expect(decision.candidates.map((c) => c.channel_id)).toEqual(['ok', 'ok_dear', 'full', 'broken']);
  expect(decision.candidates.map((c) => c.status)).toEqual(['CHOSEN', 'ELIGIBLE', 'DAILY_COUNT_CAP', 'CIRCUIT_OPEN']);
  expect(decision.candidates[0]!.score).toBeGreaterThan(decision.candidates[1]!.score);
  expect(await usage(t, 'ok', day)).toEqual(before);
  // The script's score is the documented formula (scoring.ts), to the last digit it prints.
  const broken = decision.candidates.find((c) => c.channel_id === 'broken')!;
  expect(broken.score).toBeCloseTo(scoreOf(broken.fee_minor, 10_000n, 0, broken.health, scoring_defaults), 9);
  expect(broken.health.system_errors).toBe(3);
});

test('routing - exploration picks a non-best healthy candidate for a seeded share of decisions', async () => {
  const t = await setup(
    [channel('best', { fee: { rate_bp: 20, fixed_minor: 0n, min_minor: 0n } }), channel('second', { weight: 3 }), channel('third', { weight: 1 })],
    undefined,
    { scoring: { exploration_share: 0.2 }, random: seededRandom(7) },
  );
  const decisions = await Promise.all(Array.from({ length: 500 }, (_, i) => t.decisions.route(order({ payment_id: `e${i}` }))));
  const explored = decisions.filter((d) => d.chosen?.explored);
  expect(explored.length).toBeGreaterThan(60);
  expect(explored.length).toBeLessThan(140);
  expect(explored.every((d) => d.chosen?.channel_id !== 'best')).toBe(true);
  const second = explored.filter((d) => d.chosen?.channel_id === 'second').length;
  expect(second).toBeGreaterThan(explored.length - second); // weighted 3:1
  expect(decisions.filter((d) => !d.chosen?.explored).every((d) => d.chosen?.channel_id === 'best')).toBe(true);
  // Deterministic under the same seed: a fresh table with the same seed explores the same decisions.
  const t2 = await table(nextPrefix(), { scoring: { exploration_share: 0.2 }, random: seededRandom(7) });
  await t2.admin.applyTable(await t.admin.exportTable().then((f) => ({ ...f, merchants: f.merchants.map((m) => ({ ...(m as object), notify_secret: 'm1-secret-0123456789' })) })));
  const replay: boolean[] = [];
  for (let i = 0; i < 50; i += 1) replay.push((await t2.decisions.route(order({ payment_id: `r${i}` }))).chosen?.explored ?? false);
  const t3 = await table(nextPrefix(), { scoring: { exploration_share: 0.2 }, random: seededRandom(7) });
  await t3.admin.applyTable(await t2.admin.exportTable().then((f) => ({ ...f, merchants: f.merchants.map((m) => ({ ...(m as object), notify_secret: 'm1-secret-0123456789' })) })));
  const replay3: boolean[] = [];
  for (let i = 0; i < 50; i += 1) replay3.push((await t3.decisions.route(order({ payment_id: `r${i}` }))).chosen?.explored ?? false);
  expect(replay3).toEqual(replay);
});

test('routing - payment options follow the scene order and only list products with a channel now', async () => {
  const t = await setup([
    channel('jsapi', { products: ['WECHAT_JSAPI'], required_payer_elements: { WECHAT_JSAPI: ['openid'] } }),
    channel('quick', { products: ['UNIONPAY_QUICK'], required_payer_elements: { UNIONPAY_QUICK: ['card_token'] } }),
    channel('native', { products: ['WECHAT_NATIVE'] }),
    channel('alipay_qr', { products: ['ALIPAY_QR'], amount_max_minor: 5_000n }),
  ]);
  const products = async (scene: string, amount = 1_000n) => (await t.decisions.listPaymentOptions('m1', amount, 'CNY', scene, at)).map((o) => o.product);
  expect(await products('WECHAT_BROWSER')).toEqual(['WECHAT_JSAPI', 'UNIONPAY_QUICK']);
  expect(await products('PC')).toEqual(['WECHAT_NATIVE', 'ALIPAY_QR', 'UNIONPAY_QUICK']);
  expect(await products('PC', 10_000n)).toEqual(['WECHAT_NATIVE', 'UNIONPAY_QUICK']);
  await t.admin.setChannelState('jsapi', 'DISABLED');
  expect(await products('WECHAT_BROWSER')).toEqual(['UNIONPAY_QUICK']);
  await expect(products('SPACESHIP')).rejects.toThrow('scene is not a known scene');
  expect(await t.decisions.listPaymentOptions('nobody', 1_000n, 'CNY', 'PC', at)).toEqual([]);
});

test('routing - a reservation is plain JSON another process can release, and commit keeps the usage', async () => {
  const t = await setup([channel('c1', { limits: { day_count: 10 } })]);
  const other = await table(t.cache.keys.channel('x').slice(1).split(':ch:')[0]!);
  const d1 = await t.decisions.route(order({ payment_id: 'j1', now: at }));
  const d2 = await t.decisions.route(order({ payment_id: 'j2', now: at }));
  const carried = JSON.parse(JSON.stringify(d1.chosen!.reservation)) as Reservation;
  expect(await other.reservations.release(carried)).toBe(true);
  expect(await t.reservations.commit(d2.chosen!.reservation!)).toBe(true);
  expect(await t.reservations.release(d2.chosen!.reservation!)).toBe(false); // committed: usage stays
  expect(await usage(t, 'c1', day)).toEqual({ a: '10000', n: '1' });
});

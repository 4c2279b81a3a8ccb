// The driver against the echo server (in this process; the driver runs forked from dist/):
// counts, the open model's schedule and the closed model's loops add up.

import { startEcho } from '../echo-server';
import { Coordinator, split } from './coordinator';
import type { StepPlan } from './protocol';

test('bench driver - split gives each process its share of rate and loops', () => {
  expect(split({ kind: 'open', rate_per_second: 300, in_flight_max: 10 }, 3)).toEqual(Array(3).fill({ kind: 'open', rate_per_second: 100, in_flight_max: 4 }));
  expect(split({ kind: 'closed', concurrency: 5 }, 2)).toEqual([{ kind: 'closed', concurrency: 3 }, { kind: 'closed', concurrency: 2 }]);
});

test('bench driver - two processes drive the echo server in the open and closed models', async () => {
  const echo = await startEcho('127.0.0.1', 0);
  const driver = new Coordinator(2);
  try {
    await driver.start();
    const plan: StepPlan = {
      scenario: 'create_qr',
      // in_flight_max above the request count: a slow moment on a shared CI machine cannot drop any.
      model: { kind: 'open', rate_per_second: 200, in_flight_max: 400 },
      duration_ms: 1_000,
      target: `127.0.0.1:${echo.port}`,
      sandbox_url: '',
      merchant_id: 'm_echo',
      id_key_hex: '11'.repeat(32),
      order_prefix: 'echo-',
      replay_keys: 0,
      poll_interval_ms: 10,
      deadline_ms: 10_000,
    };
    const open = await driver.run('echo', plan);
    expect(open.errors).toEqual({});
    expect(open.issued).toBe(200);
    expect(open.succeeded).toBe(200);
    expect(open.latency.count).toBe(200);
    expect(open.payment_ids_sample).toHaveLength(10);
    const closed = await driver.run('echo', { ...plan, model: { kind: 'closed', concurrency: 4 } });
    expect(closed.errors).toEqual({});
    expect(closed.succeeded).toBeGreaterThan(0);
    expect(closed.succeeded).toBe(closed.issued);
    const unimplemented = await driver.run('echo', { ...plan, scenario: 'mix', model: { kind: 'open', rate_per_second: 20, in_flight_max: 100 } });
    expect(unimplemented.errors).toEqual({ UNIMPLEMENTED: 20 });
  } finally {
    await driver.stop();
    await echo.close();
  }
});

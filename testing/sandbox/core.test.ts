// The sandbox core's shutdown: a callback waiting between retries must not hold close() open
// (a test stack's teardown would otherwise hang until jest's hook timeout).

import { createServer } from 'node:net';
import { SandboxCore } from './core';

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

test('sandbox core - shutdown wakes a callback waiting to be retried, so drain ends at once', async () => {
  const core = new SandboxCore({ callback_retry_delays_ms: [3_600_000], callback_timeout_ms: 1_000 });
  let attempts = 0;
  core.deliver({
    provider: 'wechatpay', event_id: 'e1', mchid: 'm', out_trade_no: 'o1', kind: 'payment',
    notify_url: `http://127.0.0.1:${await closedPort()}/notify/x`,
    build: () => {
      attempts += 1;
      return { body: '{}', headers: {} };
    },
    acknowledged: (status) => status === 200,
    duplicates: 0,
    delay_ms: 0,
  });
  // The first attempt is refused; the delivery then sleeps an hour before its retry.
  const deadline = Date.now() + 5_000;
  while (core.callbacks('o1').length === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  expect(core.callbacks('o1')).toHaveLength(1);
  core.shutdown();
  const drained = await Promise.race([core.drain().then(() => 'drained'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 20_000).unref())]);
  expect(drained).toBe('drained');
  expect(attempts).toBe(1); // woken by the shutdown, it sends nothing more
});

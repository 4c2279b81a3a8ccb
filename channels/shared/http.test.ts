// The provider pool's bounded queue (issue 18 item 4): against a real HTTP server on loopback
// that never answers, every connection fills, then the queue, and the next call is refused at
// once as unsent instead of waiting behind the others.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pool } from 'undici';
import { ChannelError } from '../channel';
import { provider_queued_max, providerPool, transportError } from './http';

let server: Server;
let pool: Pool;
const held: IncomingMessage[] = [];

beforeAll(async () => {
  // Never answers: every request it receives is held until the end.
  server = createServer((request) => void held.push(request));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await pool?.destroy().catch(() => undefined);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('provider pool - with every connection held by a hanging provider, calls past the bounded queue are refused at once, unsent', async () => {
  const { port } = server.address() as AddressInfo;
  pool = providerPool(`http://127.0.0.1:${port}`, 30_000);
  const hanging: Promise<unknown>[] = [];
  const call = (): Promise<unknown> => pool.request({ path: '/pay', method: 'POST', body: '{}' });
  // Enough to occupy every connection (the server holds each request) and fill the queue;
  // a call that finds no free connection is queued at once.
  while (pool.stats.queued < provider_queued_max) {
    hanging.push(call().catch((error: unknown) => error));
    expect(hanging.length).toBeLessThan(1_000);
  }
  await until('every call not queued to reach the provider', () => held.length + pool.stats.queued === hanging.length);
  const running = held.length;
  expect(running).toBeGreaterThan(0);

  const refused = await call().then(() => undefined, (error: unknown) => error);
  expect(refused).toBeDefined();
  const mapped = transportError('wechatpay', 'create', refused);
  expect(mapped).toBeInstanceOf(ChannelError);
  expect({ kind: mapped.kind, code: mapped.code }).toEqual({ kind: 'not_sent', code: 'OVERLOADED' });
  expect(mapped.message).toContain(`${provider_queued_max} calls already wait for a connection`);
  // Nothing reached the provider for it, and the queue did not grow.
  expect(held.length).toBe(running);
  expect(pool.stats.queued).toBe(provider_queued_max);
});

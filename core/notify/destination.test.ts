// Notification destinations: which addresses are refused (ipaddr.js ranges, default-deny), the
// connect-time lookup that checks every resolved address and connects to the checked one,
// and deliveries against a real HTTP server on loopback: refused without the allow-list (no
// request reaches it), delivered with it, and redirects never followed.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNotifyAgent, deliver } from './deliver';
import { addressProblem, checkedLookup, destinationPolicy, no_allow_list_policy, type DestinationPolicy } from './destination';

test.each([
  ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['::1', 'loopback'], ['10.1.2.3', 'private'], ['172.31.0.1', 'private'], ['192.168.7.7', 'private'],
  ['100.64.0.1', 'carrierGradeNat'], ['100.100.100.200', 'carrierGradeNat'], ['169.254.169.254', 'linkLocal'], ['fe80::1%eth0', 'linkLocal'],
  ['fd00:ec2::254', 'uniqueLocal'], ['fc00::1', 'uniqueLocal'], ['::ffff:10.0.0.1', 'private'], ['0.0.0.0', 'unspecified'], ['224.0.0.1', 'multicast'],
])('destination - %s is refused (%s)', (address, range) => {
  expect(addressProblem(address, no_allow_list_policy)).toBe(range);
});

test.each(['93.184.216.34', '8.8.8.8', '2606:4700::1111'])('destination - public %s is allowed', (address) => {
  expect(addressProblem(address, no_allow_list_policy)).toBeUndefined();
});

test('destination - the allow-list opens exactly its ranges', () => {
  const dev = destinationPolicy(false, '', '127.0.0.0/8,::1/128');
  expect(addressProblem('127.0.0.1', dev)).toBeUndefined();
  expect(addressProblem('::1', dev)).toBeUndefined();
  expect(addressProblem('::ffff:127.0.0.1', dev)).toBeUndefined();
  expect(addressProblem('10.0.0.1', dev)).toBe('private');
  expect(() => destinationPolicy(false, '', '10.0.0.0/40')).toThrow(/CIDR/);
});

function lookupWith(policy: DestinationPolicy, addresses: { address: string; family: number }[]) {
  const lookup = checkedLookup(policy, (_host, callback) => callback(null, addresses));
  return new Promise<{ error: Error | null; address?: string }>((resolve) =>
    (lookup as unknown as (h: string, o: object, cb: (e: Error | null, a?: string) => void) => void)('merchant.example', {}, (error, address) => resolve({ error, address })),
  );
}

test('destination - lookup: every resolved address is checked, and the connect gets the checked one', async () => {
  const mixed = await lookupWith(no_allow_list_policy, [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.5', family: 4 }]);
  expect(mixed.error?.name).toBe('ForbiddenDestination');
  const rebinding_answer = await lookupWith(no_allow_list_policy, [{ address: '169.254.169.254', family: 4 }]);
  expect(rebinding_answer.error?.name).toBe('ForbiddenDestination');
  const fine = await lookupWith(no_allow_list_policy, [{ address: '93.184.216.34', family: 4 }, { address: '2606:4700::1111', family: 6 }]);
  expect(fine).toEqual({ error: null, address: '93.184.216.34' });
  const by_name = await lookupWith(destinationPolicy(false, 'merchant.example', ''), [{ address: '10.0.0.5', family: 4 }]);
  expect(by_name).toEqual({ error: null, address: '10.0.0.5' });
});

describe('deliveries to loopback', () => {
  let server: Server;
  let port = 0;
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push(request.url ?? '');
      request.resume();
      if (request.url === '/moved') response.writeHead(302, { location: `http://127.0.0.1:${port}/ok` }).end();
      else response.writeHead(200).end('ok');
    });
    port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const send = (policy: DestinationPolicy, url: string) => {
    const agent = createNotifyAgent(2_000, policy);
    return deliver(agent, policy, { url, body: '{}', notification_id: 'n1', attempt_no: 1, secret: 'secret-0123456789', timeout_ms: 2_000 }).finally(() => agent.close());
  };

  test('destination - without the allow-list a name or an address on loopback gets nothing', async () => {
    seen.length = 0;
    expect(await send(no_allow_list_policy, `http://localhost:${port}/ok`)).toEqual({ ok: false, error: 'FORBIDDEN_DESTINATION' });
    expect(await send(no_allow_list_policy, `http://127.0.0.1:${port}/ok`)).toEqual({ ok: false, error: 'FORBIDDEN_DESTINATION' });
    expect(await send(no_allow_list_policy, `http://vm-${port}.localhost:${port}/ok`)).toEqual({ ok: false, error: 'FORBIDDEN_DESTINATION' });
    expect(seen).toEqual([]);
  });

  test('destination - a name resolving to loopback is refused at connect time', async () => {
    // A public-looking name passes the edge; resolved (here by a stand-in DNS answering
    // 127.0.0.1, as a rebinding name would), the connection is refused.
    seen.length = 0;
    const agent = createNotifyAgent(2_000, no_allow_list_policy, (_host, callback) => callback(null, [{ address: '127.0.0.1', family: 4 }]));
    const result = await deliver(agent, no_allow_list_policy, { url: `http://merchant.example:${port}/ok`, body: '{}', notification_id: 'n1', attempt_no: 1, secret: 'secret-0123456789', timeout_ms: 2_000 });
    await agent.close();
    expect(result).toEqual({ ok: false, error: 'FORBIDDEN_DESTINATION' });
    expect(seen).toEqual([]);
    // The same stand-in DNS with the range allowed: the connect goes to the checked address.
    const dev = destinationPolicy(false, '', '127.0.0.0/8');
    const allowed = createNotifyAgent(2_000, dev, (_host, callback) => callback(null, [{ address: '127.0.0.1', family: 4 }]));
    expect(await deliver(allowed, dev, { url: `http://merchant.example:${port}/ok`, body: '{}', notification_id: 'n2', attempt_no: 1, secret: 'secret-0123456789', timeout_ms: 2_000 })).toEqual({ ok: true, status: 200 });
    await allowed.close();
    expect(seen).toEqual(['/ok']);
  });

  test('destination - with the allow-list it is delivered; a redirect is a failure, not followed', async () => {
    const dev = destinationPolicy(false, 'localhost', '127.0.0.0/8');
    seen.length = 0;
    expect(await send(dev, `http://localhost:${port}/ok`)).toEqual({ ok: true, status: 200 });
    expect(await send(dev, `http://127.0.0.1:${port}/moved`)).toEqual({ ok: false, error: 'http_302' });
    expect(seen).toEqual(['/ok', '/moved']);
  });
});

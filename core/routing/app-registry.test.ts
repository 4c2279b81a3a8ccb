// Integration: the app registry — apps, sealed keys, rotations — against the real Redis.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Sealer } from '../seal';
import { cleanup, connections, nextPrefix, table } from './routing.test-helper';

afterAll(cleanup);

const sealer = new Sealer(randomBytes(32));

test('apps - an app is validated, stored and read back; admin roles need every merchant', async () => {
  const t = await table(nextPrefix(), { sealer });
  const view = await t.apps.upsertApp({ app_id: 'shop', merchants: ['m2', 'm1'], roles: ['payments:write', 'payments:read'] });
  expect(view).toEqual({ app_id: 'shop', merchants: ['m1', 'm2'], roles: ['payments:read', 'payments:write'], keys: [] });
  await expect(t.apps.upsertApp({ app_id: 'shop', merchants: ['m1'], roles: ['admin:routing'] })).rejects.toThrow("app.roles admin roles need merchants '*'");
  await expect(t.apps.upsertApp({ app_id: 'bad id!', merchants: '*', roles: ['payments:fly' as never] })).rejects.toThrow(/app.app_id .*app.roles\[0\] must be one of/);
  expect(t.apps.getApp('shop').merchants).toEqual(['m1', 'm2']);
});

test('apps - a key secret is sealed in Redis, shown once, and rotates with two valid until the previous is retired', async () => {
  const prefix = nextPrefix();
  const t = await table(prefix, { sealer });
  await t.apps.upsertApp({ app_id: 'shop', merchants: ['m1'], roles: ['payments:read'] });
  const first = await t.apps.rotateAppKey('shop');
  expect(first.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const stored = await connections[0]!.hget(`{${prefix}:rt}:app_keys`, 'shop');
  expect(stored).not.toContain(first.secret);
  expect(JSON.stringify(t.apps.getApp('shop'))).not.toContain(first.secret);
  expect(t.apps.appGrant('shop')!.secrets.get(first.key_id)).toBe(first.secret);
  const second = await t.apps.rotateAppKey('shop');
  expect(t.apps.getApp('shop').keys.map((k) => [k.key_id, k.state])).toEqual([[second.key_id, 'CURRENT'], [first.key_id, 'PREVIOUS']]);
  expect([...t.apps.appGrant('shop')!.secrets.keys()].sort()).toEqual([first.key_id, second.key_id].sort());
  await expect(t.apps.rotateAppKey('shop')).rejects.toThrow('retire it first');
  await t.apps.retireAppKey('shop');
  expect([...t.apps.appGrant('shop')!.secrets.keys()]).toEqual([second.key_id]);
  // Another process with the same data key reads the same keys.
  const other = await table(prefix, { sealer });
  expect(other.apps.appGrant('shop')!.secrets.get(second.key_id)).toBe(second.secret);
});

test('apps - two rotations at once: one wins, the other is refused, never a lost key', async () => {
  const t = await table(nextPrefix(), { sealer });
  await t.apps.upsertApp({ app_id: 'shop', merchants: ['m1'], roles: ['payments:read'] });
  const results = await Promise.allSettled([t.apps.rotateAppKey('shop'), t.apps.rotateAppKey('shop')]);
  const won = results.filter((r) => r.status === 'fulfilled');
  expect(won).toHaveLength(1);
  const winner = (won[0] as PromiseFulfilledResult<{ key_id: string; secret: string }>).value;
  expect(t.apps.appGrant('shop')!.secrets.get(winner.key_id)).toBe(winner.secret);
  expect(t.apps.getApp('shop').keys).toHaveLength(1);
});

test('apps - the declarative file lists apps: absent ones go with their keys, listed ones keep theirs; no apps key leaves them', async () => {
  const t = await table(nextPrefix(), { sealer });
  const example = JSON.parse(readFileSync(path.resolve(__dirname, '../../ops/routing.example.json'), 'utf8')) as Record<string, unknown>;
  await t.admin.applyTable(example);
  expect(t.apps.listApps().map((a) => a.app_id)).toEqual(['checkout', 'ops_console']);
  const key = await t.apps.rotateAppKey('checkout');
  await t.apps.rotateAppKey('ops_console');
  const exported = await t.admin.exportTable();
  expect(exported.apps).toEqual(example.apps);
  expect(JSON.stringify(exported)).not.toContain(key.secret);
  await t.admin.applyTable(exported);
  expect(t.apps.appGrant('checkout')!.secrets.get(key.key_id)).toBe(key.secret);
  await t.admin.applyTable({ ...example, apps: undefined });
  expect(t.apps.listApps()).toHaveLength(2);
  await t.admin.applyTable({ ...example, apps: [(example.apps as unknown[])[0]] });
  expect(t.apps.listApps().map((a) => a.app_id)).toEqual(['checkout']);
  await t.admin.applyTable({ ...example, apps: (example.apps as unknown[]) });
  expect(t.apps.getApp('ops_console').keys).toEqual([]);
  await expect(t.admin.applyTable({ ...example, apps: [{ app_id: 'x', merchants: ['m1'], roles: ['admin:apps'] }, { app_id: 'y', merchants: '*', roles: [] }, { app_id: 'y', merchants: '*', roles: [] }] }))
    .rejects.toThrow(/apps\[0\].roles admin roles need merchants '\*'; apps\[2\].app_id repeats apps\[1\]/);
  expect(t.apps.listApps().map((a) => a.app_id)).toEqual(['checkout', 'ops_console']);
});

// Integration: routing administration — changes reaching every instance, the declarative
// file, merchants' write-only secrets, risk rules — against the real Redis.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PaycoreError } from '../errors';
import { Sealer } from '../seal';
import { channel, merchant } from './fixtures.test-helper';
import { cleanup, connections, nextPrefix, setup, table, waitFor } from './routing.test-helper';

afterAll(cleanup);

const sealer = new Sealer(randomBytes(32));

test('routing - a config change through one instance reaches a second instance (pub/sub, and the version poll when a message is lost)', async () => {
  const prefix = nextPrefix();
  const a = await table(prefix);
  const b = await table(prefix); // its own Redis connection and subscriber
  await a.admin.upsertChannel(channel('new_one'));
  await waitFor(() => b.cache.listChannels().some((c) => c.channel_id === 'new_one'));
  await a.admin.setChannelState('new_one', 'DRAINING');
  await waitFor(() => b.cache.getChannel('new_one').state === 'DRAINING');
  // Fallback: a change whose pub/sub message is lost is still found by the version poll.
  const raw = connections[0]!;
  const key = `{${prefix}:rt}`;
  await raw.multi().hset(`${key}:states`, 'new_one', 'DISABLED').incr(`${key}:version`).exec();
  await waitFor(() => b.cache.getChannel('new_one').state === 'DISABLED');
});

test('routing - a bad declarative file is refused whole, naming entry and field', async () => {
  const t = await setup([channel('keep')]);
  const before = await t.admin.exportTable();
  const file = {
    version: 1,
    channels: [
      { channel_id: 'good', provider: 'wechatpay', products: ['WECHAT_NATIVE'], currencies: ['CNY'], fee: { rate_bp: 60 } },
      { channel_id: 'bad', provider: 'wechatpay', products: ['WECHAT_NATIVE', 'NOPE'], currencies: ['CNY'], fee: { rate_bp: 60.5, min_minor: 10 }, limits: { day_amount_minor: '10', dayly_count: 3 } },
      { channel_id: 'good', provider: 'wechatpay', products: ['WECHAT_NATIVE'], currencies: ['CNY'], fee: { rate_bp: 60 } },
    ],
    merchants: [{ merchant_id: 'm2', products: ['WECHAT_NATIVE'], channel_ids: ['good', 'missing'] }],
  };
  let error: unknown;
  try {
    await t.admin.applyTable(file);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(PaycoreError);
  const fields = (error as PaycoreError).violations.map((v) => v.field).sort();
  expect((error as PaycoreError).reason).toBe('INVALID_FIELD');
  expect(fields).toEqual([
    'channels[1].fee.min_minor', 'channels[1].fee.rate_bp', 'channels[1].limits.dayly_count', 'channels[1].products[1]',
    'channels[2].channel_id', 'merchants[0].channel_ids[1]', 'merchants[0].notify_secret',
  ]);
  expect(await t.admin.exportTable()).toEqual(before);
});

test('routing - the example file applies, exports and re-applies unchanged', async () => {
  const t = await table(nextPrefix());
  const example = JSON.parse(readFileSync(path.resolve(__dirname, '../../ops/routing.example.json'), 'utf8')) as unknown;
  const applied = await t.admin.applyTable(example);
  expect(applied.channels).toBeGreaterThan(0);
  const exported = await t.admin.exportTable();
  await t.admin.applyTable(exported); // no secrets in an export: merchants keep theirs
  expect(await t.admin.exportTable()).toEqual(exported);
  const m = t.merchants.getMerchant(t.cache.listChannels().length > 0 ? (exported.merchants[0] as { merchant_id: string }).merchant_id : '');
  expect(m.notify_secret_last4).toHaveLength(4);
  expect(JSON.stringify(exported)).not.toContain('notify_secret');
});

test('routing - the notify secret is write-only', async () => {
  const t = await setup([channel('c1')]);
  const view = t.merchants.getMerchant('m1');
  expect(view).toEqual(expect.objectContaining({ notify_secret_last4: '6789', notify_secret_fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/) }));
  expect(JSON.stringify(view)).not.toContain('m1-secret');
  await t.merchants.upsertMerchant(merchant('m1', ['c1'])); // no secret: the stored one stays
  expect(await t.merchants.notifySecret('m1')).toBe('m1-secret-0123456789');
  await expect(t.merchants.upsertMerchant(merchant('m9', ['c1']))).rejects.toThrow('merchant.notify_secret is required for a new merchant');
  await expect(t.merchants.upsertMerchant({ ...merchant('m9', ['nope']), notify_secret: 'x'.repeat(16) })).rejects.toThrow('merchant.channel_ids[0]');
});

test('risk rules - the declarative file carries them (absent: left as they are); upserts and deletes reach another instance; a bad rule is refused whole', async () => {
  const prefix = nextPrefix();
  const t = await table(prefix, { sealer });
  const other = await table(prefix, { sealer });
  const example = JSON.parse(readFileSync(path.resolve(__dirname, '../../ops/routing.example.json'), 'utf8')) as Record<string, unknown>;
  const applied = await t.admin.applyTable(example);
  expect(applied.risk_rules).toBe((example.risk_rules as unknown[]).length);
  const exported = await t.admin.exportTable();
  expect(exported.risk_rules).toEqual([...(example.risk_rules as { rule_id: string }[])].sort((a, b) => (a.rule_id < b.rule_id ? -1 : 1)));
  await t.admin.applyTable({ ...example, risk_rules: undefined });
  expect(t.risk_rules.riskRules()).toHaveLength((example.risk_rules as unknown[]).length);
  await expect(t.admin.applyTable({ ...example, risk_rules: [{ rule_id: 'a', action: 'block', kind: 'amount', amount_max_minor: '1' }, { rule_id: 'a', action: 'allow', kind: 'amount', amount_max_minor: '2' }] }))
    .rejects.toThrow(/risk_rules\[1\].rule_id repeats risk_rules\[0\]/);
  await t.admin.applyTable({ ...example, risk_rules: [] });
  expect(t.risk_rules.riskRules()).toEqual([]);

  await t.risk_rules.upsertRiskRule({ rule_id: 'big', action: 'block', kind: 'amount', amount_max_minor: '100' });
  await waitFor(() => other.risk_rules.riskRules().length === 1);
  expect(other.risk_rules.riskRules()[0]).toMatchObject({ rule_id: 'big', condition: { kind: 'amount', amount_max_minor: 100n } });
  await expect(t.risk_rules.upsertRiskRule({ rule_id: 'big', action: 'block', kind: 'amount' })).rejects.toThrow(/rule.amount_max_minor/);
  await t.risk_rules.deleteRiskRule('big');
  await waitFor(() => other.risk_rules.riskRules().length === 0);
  await expect(t.risk_rules.deleteRiskRule('big')).rejects.toThrow(/no risk rule big/);
});

// Transfers between merchants of one group and withdrawals (payouts from the available
// balance), against the real parts: PostgreSQL for the books, NATS for the payouts' log, the
// bank gateway adapter against the sandbox PSP. Transfers racing withdrawals on one balance
// never overdraw it; the group, the limits and the key are enforced; the books balance.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createChannel, type Channel } from '../../channels/channel';
import '../../channels/bankgw';
import { bankgwChannelSettings, ensureDevKeys, sandboxBankgwOptions, sandboxWechatpayOptions } from '../../testing/sandbox/keys';
import { startSandbox, type Sandbox } from '../../testing/sandbox/server';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import { idKey, transferId } from '../ids';
import { createLogger } from '../log';
import { Sealer } from '../seal';
import { LedgerStore, openDate } from '../ledger/store';
import { linesOf, platform_owner } from '../ledger/rules';
import { PayoutBooks } from './books';
import { PayoutService, type PayoutChannel } from './service';
import { ensurePayoutStreams, PayoutStore, payoutNames } from './store';
import { Transfers, type TransferInput } from './transfers';

const nats_url = process.env.PAYCORE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const prefix = `t${randomBytes(4).toString('hex')}`;
const names = payoutNames(prefix);
const id_key = idKey(randomBytes(32));
const channel_id = 'bank_payout';
const groups = new Map<string, string>();
let keys_dir: string;
let sandbox: Sandbox;
let bankgw: Channel;
let nc: NatsConnection;
let jsm: JetStreamManager;
let db: TestDatabase;
let ledger: LedgerStore;
let payouts: PayoutService;
let transfers: Transfers;
let merchant_seq = 0;

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-transfer-keys-'));
  const keys = ensureDevKeys(keys_dir);
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), bankgw: sandboxBankgwOptions(keys), callback_retry_delays_ms: [50] });
  bankgw = createChannel({ channel_id, provider: 'bankgw', products: ['BANK_B2C'], settings: bankgwChannelSettings(keys, sandbox.url, 5_000) });
  nc = await connect({ servers: nats_url });
  jsm = await jetstreamManager(nc);
  await ensurePayoutStreams(jsm, names, 1);
  db = await createTestDatabase();
  ledger = new LedgerStore(db.url, 'Asia/Shanghai', 8);
  payouts = new PayoutService({
    store: new PayoutStore(jetstream(nc), jsm, names), books: new PayoutBooks(ledger),
    channels: new Map<string, PayoutChannel>([[channel_id, bankgw as PayoutChannel]]),
    sealer: new Sealer(randomBytes(32)), id_key, query_backoff_ms: [150], return_watch_ms: [], log: createLogger('silent'), now: () => new Date(),
  });
  transfers = new Transfers({ ledger, groupOf: (id) => groups.get(id), id_key, limits: { amount_max_minor: 5_000n, daily_max_minor: 9_000n } });
});

afterAll(async () => {
  for (const stream of [names.events_stream, names.timers_stream, names.timers_dead_stream]) await jsm?.streams.delete(stream).catch(() => undefined);
  await nc?.close();
  await ledger?.close();
  await db?.drop();
  await bankgw?.close_connections();
  await sandbox?.close();
  rmSync(keys_dir, { recursive: true, force: true });
});

/** A merchant in `group` with `amount` settled (available). */
async function merchant(group: string | undefined, amount: bigint): Promise<string> {
  merchant_seq += 1;
  const merchant_id = `m${prefix}${merchant_seq}`;
  if (group !== undefined) groups.set(merchant_id, group);
  if (amount === 0n) return merchant_id;
  await ledger.transaction(async (client, created) => {
    const parties = { merchant_id, channel_id, currency: 'CNY' };
    const at = new Date().toISOString();
    const open = await openDate(client);
    await ledger.post(client, created, { entry_key: `fund:${merchant_id}`, txn_code: 'PAYMENT', merchant_id, currency: 'CNY', at, lines: linesOf('PAYMENT', parties, { gross: amount, net: amount }) }, open);
    await ledger.post(client, created, { entry_key: `fund-settle:${merchant_id}`, txn_code: 'SETTLEMENT', merchant_id, currency: 'CNY', at, lines: linesOf('SETTLEMENT', { ...parties, channel_id: platform_owner }, { gross: amount }) }, open);
  });
  return merchant_id;
}

async function available(merchant_id: string): Promise<bigint> {
  return (await ledger.balances(merchant_id)).find((row) => row.code === 'merchant_available')?.balance_minor ?? 0n;
}

const transfer = (from: string, to: string, no: string, amount_minor: bigint): TransferInput => ({ merchant_id: from, merchant_transfer_no: no, to_merchant_id: to, amount_minor, currency: 'CNY', memo: 'group funds' });

test('transfers racing withdrawals on one balance never overdraw it: exactly what the balance covers goes through, and the books balance', async () => {
  const payer = await merchant('g-race', 10_000n);
  const payee = await merchant('g-race', 0n);
  // 12 requests of 1,500 against 10,000: six fit, whichever kind each one is.
  const requests = Array.from({ length: 12 }, (_, i) => i % 2 === 0
    ? transfers.create(transfer(payer, payee, `race-t${i}`, 1_500n)).then(() => 'transfer', (error: { reason?: string }) => `refused ${error.reason}`)
    : payouts.create({ merchant_id: payer, merchant_payout_no: `race-w${i}`, amount_minor: 1_500n, currency: 'CNY', bank_code: 'ICBC', payee: { account_no: '6222020200112233', account_name: 'Zhang San' }, purpose: 'withdrawal' })
      .then((state) => (state.status === 'SUCCEEDED' ? 'withdrawal' : `withdrawal ${state.status} ${state.failure?.code ?? ''}`)));
  const outcomes = await Promise.all(requests);
  const transferred = outcomes.filter((o) => o === 'transfer').length;
  const withdrawn = outcomes.filter((o) => o === 'withdrawal').length;
  expect(transferred + withdrawn).toBe(6);
  for (const outcome of outcomes) expect(['transfer', 'withdrawal', 'refused INSUFFICIENT_BALANCE', 'withdrawal FAILED INSUFFICIENT_BALANCE']).toContain(outcome);
  expect(await available(payer)).toBe(10_000n - 1_500n * 6n);
  expect(await available(payee)).toBe(1_500n * BigInt(transferred));
  const frozen = (await ledger.balances(payer)).find((row) => row.code === 'merchant_frozen')?.balance_minor ?? 0n;
  expect(frozen).toBe(0n);
  expect((await ledger.trialBalance()).balanced).toBe(true);
});

test('a transfer is posted once per key: a repeat finds it, another transfer under the key is refused; payer and payee see it, nobody else', async () => {
  const payer = await merchant('g-key', 4_000n);
  const payee = await merchant('g-key', 0n);
  const first = await transfers.create(transfer(payer, payee, 'k1', 1_000n));
  expect(first).toMatchObject({ transfer_id: transferId(id_key, payer, 'k1'), amount_minor: 1_000n, to_merchant_id: payee });
  expect(await transfers.create(transfer(payer, payee, 'k1', 1_000n))).toEqual(first);
  await expect(transfers.create(transfer(payer, payee, 'k1', 1_001n))).rejects.toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
  expect(await available(payer)).toBe(3_000n);
  expect(await available(payee)).toBe(1_000n);
  expect(await transfers.get(payee, first.transfer_id)).toEqual(first);
  await expect(transfers.get('stranger', first.transfer_id)).rejects.toMatchObject({ reason: 'NOT_FOUND' });
});

test('outside one group, above the per-transfer limit, past the daily limit or the balance: refused, nothing posted', async () => {
  const payer = await merchant('g-lim', 20_000n);
  const payee = await merchant('g-lim', 0n);
  const outsider = await merchant('g-other', 0n);
  const loner = await merchant(undefined, 5_000n);
  await expect(transfers.create(transfer(payer, outsider, 'l1', 100n))).rejects.toMatchObject({ reason: 'ILLEGAL_STATE', message: expect.stringContaining('not in one group') });
  await expect(transfers.create(transfer(loner, payee, 'l2', 100n))).rejects.toMatchObject({ reason: 'ILLEGAL_STATE' });
  await expect(transfers.create(transfer(payer, payee, 'l3', 5_001n))).rejects.toMatchObject({ reason: 'INVALID_FIELD', violations: [expect.objectContaining({ field: 'amount' })] });
  await transfers.create(transfer(payer, payee, 'l4', 5_000n));
  await transfers.create(transfer(payer, payee, 'l5', 4_000n));
  await expect(transfers.create(transfer(payer, payee, 'l6', 1n))).rejects.toMatchObject({ reason: 'ILLEGAL_STATE', message: expect.stringContaining('daily transfer limit') });
  const poor = await merchant('g-lim', 300n);
  await expect(transfers.create(transfer(poor, payee, 'l7', 301n))).rejects.toMatchObject({ reason: 'INSUFFICIENT_BALANCE' });
  expect(await available(payer)).toBe(11_000n);
  expect(await available(payee)).toBe(9_000n);
  expect(await available(outsider)).toBe(0n);
  expect((await ledger.trialBalance()).balanced).toBe(true);
});

// Settlement payouts against the real parts (NATS, PostgreSQL, the bank gateway adapter and the
// sandbox PSP): a settlement batch paid out to the merchant's settlement account; attempts the
// bank refuses retried on the payout timers with backoff, dead-lettered past the limit, and
// re-driven by an operator to success — the batch paid once, the books balanced throughout.

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
import { call, waitFor } from '../../testing/sandbox/testkit';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import { idKey, payoutId } from '../ids';
import { createLogger } from '../log';
import { Sealer } from '../seal';
import { LedgerStore, openDate } from '../ledger/store';
import { businessDate } from '../ledger/cutoff';
import { linesOf } from '../ledger/rules';
import { PayoutBooks } from './books';
import { PayoutDeadLetters } from './dead-letters';
import { PayoutService, type PayoutChannel } from './service';
import { SettlementPayouts } from './settlement';
import { ensurePayoutStreams, PayoutStore, payoutNames } from './store';
import { startPayoutTimerPump, type PayoutTimerPump } from './timer-pump';

const nats_url = process.env.PAYCORE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const prefix = `t${randomBytes(4).toString('hex')}`;
const names = payoutNames(prefix);
const id_key = idKey(randomBytes(32));
const sealer = new Sealer(randomBytes(32));
const channel_id = 'bank_payout';
let keys_dir: string;
let sandbox: Sandbox;
let bankgw: Channel;
let nc: NatsConnection;
let jsm: JetStreamManager;
let db: TestDatabase;
let ledger: LedgerStore;
let service: PayoutService;
let settlement: SettlementPayouts;
let dead: PayoutDeadLetters;
let pump: PayoutTimerPump;

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-settle-keys-'));
  const keys = ensureDevKeys(keys_dir);
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), bankgw: sandboxBankgwOptions(keys), callback_retry_delays_ms: [50] });
  bankgw = createChannel({ channel_id, provider: 'bankgw', products: ['BANK_B2C'], settings: bankgwChannelSettings(keys, sandbox.url, 2_000) });
  nc = await connect({ servers: nats_url });
  jsm = await jetstreamManager(nc);
  await ensurePayoutStreams(jsm, names, 1);
  db = await createTestDatabase();
  ledger = new LedgerStore(db.url);
  const store = new PayoutStore(jetstream(nc), jsm, names);
  const log = createLogger('silent');
  service = new PayoutService({
    store, books: new PayoutBooks(ledger), channels: new Map<string, PayoutChannel>([[channel_id, bankgw as PayoutChannel]]), sealer, id_key,
    query_backoff_ms: [150, 150, 150, 150], return_watch_ms: [], log, now: () => new Date(),
  });
  settlement = new SettlementPayouts({ ledger, payouts: service, store, sealer, check_ms: [150], now: () => new Date() });
  dead = new PayoutDeadLetters(jsm, names, store);
  // Two retries, then the dead letter: three attempts in all before an operator steps in.
  pump = await startPayoutTimerPump({ js: jetstream(nc), names, store, handlers: { service, settlement }, retry_backoff_ms: [100, 100], log });
});

afterAll(async () => {
  await pump?.stop();
  for (const stream of [names.events_stream, names.timers_stream, names.timers_dead_stream]) await jsm?.streams.delete(stream).catch(() => undefined);
  await nc?.close();
  await ledger?.close();
  await db?.drop();
  await bankgw?.close_connections();
  await sandbox?.close();
  rmSync(keys_dir, { recursive: true, force: true });
});

/** A merchant's paid payment, pending until the cut-off of the next business day. */
async function pendingMoney(merchant_id: string, amount: bigint): Promise<void> {
  await ledger.transaction(async (client, created) => {
    const lines = linesOf('PAYMENT', { merchant_id, channel_id, currency: 'CNY' }, { gross: amount, net: amount });
    await ledger.post(client, created, { entry_key: `pay:${merchant_id}`, txn_code: 'PAYMENT', merchant_id, currency: 'CNY', at: new Date().toISOString(), lines }, await openDate(client));
  });
}

async function balances(merchant_id: string): Promise<Record<string, bigint>> {
  const out: Record<string, bigint> = {};
  for (const row of await ledger.balances(merchant_id)) out[row.code] = row.balance_minor;
  return out;
}

const tomorrow = (): string => businessDate(new Date(Date.now() + 86_400_000), ledger.timezone);

test('a settlement batch refused by the bank is retried with backoff, dead-lettered, re-driven by an operator, and paid once', async () => {
  const merchant_id = `m${prefix}1`;
  await settlement.setAccount(merchant_id, { channel_id, bank_code: 'ICBC', payee: { account_no: '6222020200119988', account_name: 'Li Si' } });
  await pendingMoney(merchant_id, 8_800n);
  // The bank refuses the next three payouts (nothing paid, each FAILED with its funds released).
  await call(sandbox.url, 'PUT', '/sandbox/faults', {
    scope: { provider: 'bankgw' }, operations: ['payout'], reject_before_create: { status: 400, code: 'ACCOUNT_INVALID', message: 'account invalid' }, times: 3,
  });
  const [batch] = await ledger.settle(tomorrow());
  expect(batch).toMatchObject({ merchant_id, amount_minor: 8_800n });
  expect(await settlement.openBatches()).toBe(1);
  expect(await settlement.openBatches()).toBe(0); // opened once

  const letters = await waitFor('the dead letter', async () => {
    const found = await dead.list({ limit: 10, after_seq: 0 });
    return found.length > 0 ? found : undefined;
  });
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({ failures: 3, timer: { kind: 'settlement', batch_id: String(batch!.batch_id), attempt: 4 } });
  expect(letters[0]!.reason).toContain('attempt 3');
  for (const attempt of [1, 2, 3]) {
    const payout = await service.get(merchant_id, payoutId(id_key, merchant_id, `settle:${batch!.batch_id}:${attempt}`));
    expect(payout).toMatchObject({ status: 'FAILED', purpose: 'settlement', amount_minor: 8_800n, failure: { code: 'ACCOUNT_INVALID' } });
  }
  // Every failed attempt released what it froze: the batch's money is available again.
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 8_800n, merchant_frozen: 0n, merchant_pending: 0n });
  expect((await ledger.trialBalance()).balanced).toBe(true);

  // The operator re-drives it: the fourth attempt pays.
  expect(await dead.redrive(letters[0]!.seq)).toMatchObject({ kind: 'settlement', attempt: 4, failures: 0 });
  await expect(dead.redrive(letters[0]!.seq)).rejects.toMatchObject({ reason: 'NOT_FOUND' });
  expect(await dead.list({ limit: 10, after_seq: 0 })).toEqual([]);
  const paid_id = payoutId(id_key, merchant_id, `settle:${batch!.batch_id}:4`);
  const row = await waitFor('the batch paid', async () => {
    const result = await ledger.pool.query<{ status: string; attempts: number; payout_id: string }>('SELECT status, attempts, payout_id FROM settlement_payouts WHERE batch_id = $1', [batch!.batch_id]);
    return result.rows[0]?.status === 'PAID' ? result.rows[0] : undefined;
  });
  expect(row).toEqual({ status: 'PAID', attempts: 4, payout_id: paid_id });
  expect(await service.get(merchant_id, paid_id)).toMatchObject({ status: 'SUCCEEDED', payee_last4: '9988' });
  const at_bank = (await call(sandbox.url, 'GET', `/sandbox/bankgw/payouts?out_trade_no_prefix=${paid_id}`)).json.payouts as { payout_status: string }[];
  expect(at_bank).toEqual([expect.objectContaining({ payout_status: 'SUCCESS' })]);
  await waitFor('the payout posted as sent', async () => ((await balances(merchant_id)).merchant_frozen === 0n && (await balances(merchant_id)).merchant_available === 0n ? true : undefined));
  expect((await ledger.trialBalance()).balanced).toBe(true);
});

test('a batch of a merchant without a settlement account stays available; an account set later does not pay earlier batches', async () => {
  const merchant_id = `m${prefix}2`;
  await pendingMoney(merchant_id, 1_200n);
  const batches = await ledger.settle(tomorrow());
  expect(batches.map((b) => b.merchant_id)).toEqual([merchant_id]);
  expect(await settlement.openBatches()).toBe(0);
  await settlement.setAccount(merchant_id, { channel_id, bank_code: 'ICBC', payee: { account_no: '6222020200110000', account_name: 'Wang Wu' } });
  expect(await settlement.openBatches()).toBe(0);
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 1_200n });
  await expect(settlement.setAccount(merchant_id, { channel_id: 'nope', bank_code: 'ICBC', payee: { account_no: '6222020200110000', account_name: 'Wang Wu' } }))
    .rejects.toMatchObject({ reason: 'INVALID_FIELD' });
  expect(await settlement.getAccount(merchant_id)).toMatchObject({ channel_id, bank_code: 'ICBC', payee_last4: '0000' });
});

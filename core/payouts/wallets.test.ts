// Member wallets (会员钱包) against the real parts: PostgreSQL for the books, NATS for the
// payouts' log and timers, the bank gateway adapter against the sandbox PSP with its payout
// faults. A member is credited by a transfer from its merchant and withdraws to a bank account:
// the wallet covers it, within the per-withdrawal and the daily limits, and a withdrawal that
// fails — or is returned after success — refills the wallet. Concurrent withdrawals never
// overdraw a wallet; every flow balances in the books.

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
import { linesOf, platform_owner } from '../ledger/rules';
import { PayoutBooks } from './books';
import { PayoutService, type CreatePayout, type PayoutChannel } from './service';
import { ensurePayoutStreams, PayoutStore, payoutNames } from './store';
import { startPayoutTimerPump, type PayoutTimerPump } from './timer-pump';
import { Transfers } from './transfers';
import { memberWallet, type MemberLimits } from './wallets';

const nats_url = process.env.PAYCORE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const prefix = `t${randomBytes(4).toString('hex')}`;
const names = payoutNames(prefix);
const id_key = idKey(randomBytes(32));
const channel_id = 'bank_payout';
const limits: MemberLimits = { withdrawal_max_minor: 5_000n, daily_max_minor: 8_000n };
let keys_dir: string;
let sandbox: Sandbox;
let bankgw: Channel;
let nc: NatsConnection;
let jsm: JetStreamManager;
let db: TestDatabase;
let ledger: LedgerStore;
let payouts: PayoutService;
let transfers: Transfers;
let pump: PayoutTimerPump;
let merchant_seq = 0;

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-wallet-keys-'));
  const keys = ensureDevKeys(keys_dir);
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), bankgw: sandboxBankgwOptions(keys), callback_retry_delays_ms: [50] });
  bankgw = createChannel({ channel_id, provider: 'bankgw', products: ['BANK_B2C'], settings: bankgwChannelSettings(keys, sandbox.url, 5_000) });
  nc = await connect({ servers: nats_url });
  jsm = await jetstreamManager(nc);
  await ensurePayoutStreams(jsm, names, 1);
  db = await createTestDatabase();
  ledger = new LedgerStore(db.url, 'Asia/Shanghai', 8);
  const store = new PayoutStore(jetstream(nc), jsm, names);
  payouts = new PayoutService({
    store, books: new PayoutBooks(ledger, limits), channels: new Map<string, PayoutChannel>([[channel_id, bankgw as PayoutChannel]]),
    sealer: new Sealer(randomBytes(32)), id_key, query_backoff_ms: [150, 150, 150, 150, 150, 150], return_watch_ms: [150, 150], log: createLogger('silent'),
    now: () => new Date(),
  });
  pump = await startPayoutTimerPump({ js: jetstream(nc), names, store, handlers: { service: payouts }, retry_backoff_ms: [200, 200], log: createLogger('silent') });
  transfers = new Transfers({ ledger, groupOf: () => undefined, id_key, limits: { amount_max_minor: 1_000_000n, daily_max_minor: 10_000_000n } });
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

/** A merchant (in no group) with `amount` settled, and its member credited `credit` from it. */
async function memberOf(amount: bigint, credit: bigint): Promise<{ merchant_id: string; member_id: string }> {
  merchant_seq += 1;
  const merchant_id = `m${prefix}${merchant_seq}`;
  await ledger.transaction(async (client, created) => {
    const parties = { merchant_id, channel_id, currency: 'CNY' };
    const at = new Date().toISOString();
    const open = await openDate(client);
    await ledger.post(client, created, { entry_key: `fund:${merchant_id}`, txn_code: 'PAYMENT', merchant_id, currency: 'CNY', at, lines: linesOf('PAYMENT', parties, { gross: amount, net: amount }) }, open);
    await ledger.post(client, created, { entry_key: `fund-settle:${merchant_id}`, txn_code: 'SETTLEMENT', merchant_id, currency: 'CNY', at, lines: linesOf('SETTLEMENT', { ...parties, channel_id: platform_owner }, { gross: amount }) }, open);
  });
  const member_id = 'u1';
  if (credit > 0n) {
    await transfers.create({ merchant_id, merchant_transfer_no: 'credit-1', to_merchant_id: merchant_id, to_member_id: member_id, amount_minor: credit, currency: 'CNY', memo: 'cashback' });
  }
  return { merchant_id, member_id };
}

const withdrawal = (who: { merchant_id: string; member_id: string }, no: string, amount_minor: bigint): CreatePayout => ({
  merchant_id: who.merchant_id, member_id: who.member_id, merchant_payout_no: no, amount_minor, currency: 'CNY', bank_code: 'ICBC',
  payee: { account_no: '6222020200445566', account_name: 'Li Si' }, purpose: 'withdrawal',
});

const wallet = (who: { merchant_id: string; member_id: string }) => memberWallet(ledger, limits, who.merchant_id, who.member_id, 'CNY');

async function available(merchant_id: string): Promise<bigint> {
  return (await ledger.balances(merchant_id)).find((row) => row.code === 'merchant_available')?.balance_minor ?? 0n;
}

async function sandboxPayouts(payout_id: string): Promise<{ payout_status: string; submissions: number }[]> {
  return (await call(sandbox.url, 'GET', `/sandbox/bankgw/payouts?out_trade_no_prefix=${payout_id}`)).json.payouts;
}

const settled = (merchant_id: string, payout_id: string, status: string) =>
  waitFor(`payout ${payout_id} ${status}`, async () => ((await payouts.get(merchant_id, payout_id)).status === status ? true : undefined));

async function balanced(): Promise<void> {
  expect((await ledger.trialBalance()).balanced).toBe(true);
}

test('a member credited by its merchant withdraws to the bank: from its wallet, paid once, the merchant untouched', async () => {
  const who = await memberOf(10_000n, 6_000n);
  expect(await available(who.merchant_id)).toBe(4_000n);
  expect(await wallet(who)).toMatchObject({ balance_minor: 6_000n, frozen_minor: 0n, withdrawn_today_minor: 0n });
  const paid = await payouts.create(withdrawal(who, 'w1', 2_500n));
  expect(paid).toMatchObject({ status: 'SUCCEEDED', member_id: 'u1', frozen: true });
  expect(await payouts.create(withdrawal(who, 'w1', 2_500n))).toMatchObject({ payout_id: paid.payout_id, version: paid.version });
  expect(await sandboxPayouts(paid.payout_id)).toEqual([expect.objectContaining({ payout_status: 'SUCCESS', submissions: 1 })]);
  expect(await wallet(who)).toMatchObject({ balance_minor: 3_500n, frozen_minor: 0n, withdrawn_today_minor: 2_500n });
  expect(await available(who.merchant_id)).toBe(4_000n);
  // The same key as the merchant's own payout is another payout: refused.
  await expect(payouts.create({ ...withdrawal(who, 'w1', 2_500n), member_id: undefined })).rejects.toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
  await balanced();
});

test('beyond the wallet: FAILED INSUFFICIENT_BALANCE, nothing sent, though the merchant has money', async () => {
  const who = await memberOf(50_000n, 1_000n);
  const refused = await payouts.create(withdrawal(who, 'w2', 1_001n));
  expect(refused).toMatchObject({ status: 'FAILED', frozen: false, failure: { code: 'INSUFFICIENT_BALANCE' } });
  expect(await sandboxPayouts(refused.payout_id)).toEqual([]);
  expect(await wallet(who)).toMatchObject({ balance_minor: 1_000n, frozen_minor: 0n, withdrawn_today_minor: 0n });
  expect(await available(who.merchant_id)).toBe(49_000n);
  // A member with no wallet at all.
  const stranger = await payouts.create(withdrawal({ merchant_id: who.merchant_id, member_id: 'nobody' }, 'w3', 1n));
  expect(stranger).toMatchObject({ status: 'FAILED', failure: { code: 'INSUFFICIENT_BALANCE' } });
});

test('the limits: above the per-withdrawal max refused up front; past the daily max FAILED; failed withdrawals do not count', async () => {
  const who = await memberOf(50_000n, 20_000n);
  await expect(payouts.create(withdrawal(who, 'l1', 5_001n))).rejects.toMatchObject({ reason: 'INVALID_FIELD', violations: [expect.objectContaining({ field: 'amount' })] });
  expect(await payouts.create(withdrawal(who, 'l2', 5_000n))).toMatchObject({ status: 'SUCCEEDED' });
  // A failure of the bank refills the wallet and leaves the day's total as it was.
  await call(sandbox.url, 'PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: payoutId(id_key, who.merchant_id, 'l3') }, payout_late_failure: true, times: 1 });
  await payouts.create(withdrawal(who, 'l3', 2_000n));
  await settled(who.merchant_id, payoutId(id_key, who.merchant_id, 'l3'), 'FAILED');
  // The books follow the log: until the release is posted the failed one still counts (stricter, never looser).
  await waitFor('the release posted', async () => ((await wallet(who)).frozen_minor === 0n ? true : undefined));
  expect(await payouts.create(withdrawal(who, 'l4', 3_000n))).toMatchObject({ status: 'SUCCEEDED' });
  const over = await payouts.create(withdrawal(who, 'l5', 1n));
  expect(over).toMatchObject({ status: 'FAILED', frozen: false, failure: { code: 'DAILY_LIMIT_EXCEEDED' } });
  expect(await sandboxPayouts(over.payout_id)).toEqual([]);
  expect(await wallet(who)).toMatchObject({ balance_minor: 12_000n, frozen_minor: 0n, withdrawn_today_minor: 8_000n });
  await balanced();
});

test('a late failure refills the wallet; a return after success refills it too', async () => {
  const who = await memberOf(10_000n, 9_000n);
  const late = payoutId(id_key, who.merchant_id, 'f1');
  await call(sandbox.url, 'PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: late }, payout_late_failure: true, times: 1 });
  expect(await payouts.create(withdrawal(who, 'f1', 4_000n))).toMatchObject({ status: 'PROCESSING' });
  expect(await wallet(who)).toMatchObject({ balance_minor: 5_000n, frozen_minor: 4_000n });
  await settled(who.merchant_id, late, 'FAILED');
  await waitFor('the wallet refilled', async () => ((await wallet(who)).frozen_minor === 0n ? true : undefined));
  expect(await wallet(who)).toMatchObject({ balance_minor: 9_000n, frozen_minor: 0n });

  const returned = payoutId(id_key, who.merchant_id, 'f2');
  await call(sandbox.url, 'PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: returned }, payout_return: true, times: 1 });
  expect(await payouts.create(withdrawal(who, 'f2', 3_000n))).toMatchObject({ status: 'SUCCEEDED' });
  expect(await wallet(who)).toMatchObject({ balance_minor: 6_000n, frozen_minor: 0n });
  await settled(who.merchant_id, returned, 'RETURNED');
  await waitFor('the return refilled the wallet', async () => ((await wallet(who)).balance_minor === 9_000n ? true : undefined));
  expect(await available(who.merchant_id)).toBe(1_000n);
  await balanced();
});

test('withdrawals racing on one wallet never overdraw it: exactly what it covers goes through', async () => {
  const who = await memberOf(10_000n, 7_000n);
  // Ten of 1,500 against 7,000 (daily max 8,000): four fit.
  const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => payouts.create(withdrawal(who, `race-${i}`, 1_500n)).then((s) => `${s.status} ${s.failure?.code ?? ''}`.trim())));
  expect(outcomes.filter((o) => o === 'SUCCEEDED')).toHaveLength(4);
  for (const outcome of outcomes) expect(['SUCCEEDED', 'FAILED INSUFFICIENT_BALANCE']).toContain(outcome);
  expect(await wallet(who)).toMatchObject({ balance_minor: 1_000n, frozen_minor: 0n, withdrawn_today_minor: 6_000n });
  await balanced();
});

test('a transfer to a member: once per key, only to a member of the payer, within the merchant balance', async () => {
  const who = await memberOf(3_000n, 0n);
  const credit = { merchant_id: who.merchant_id, merchant_transfer_no: 'c1', to_merchant_id: who.merchant_id, to_member_id: 'u7', amount_minor: 1_000n, currency: 'CNY', memo: '' };
  const first = await transfers.create(credit);
  expect(first).toMatchObject({ to_member_id: 'u7', to_merchant_id: who.merchant_id });
  expect(await transfers.create(credit)).toEqual(first);
  await expect(transfers.create({ ...credit, to_member_id: 'u8' })).rejects.toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
  await expect(transfers.create({ ...credit, merchant_transfer_no: 'c2', to_merchant_id: 'someone-else' })).rejects.toMatchObject({ reason: 'INVALID_FIELD' });
  await expect(transfers.create({ ...credit, merchant_transfer_no: 'c3', amount_minor: 2_001n })).rejects.toMatchObject({ reason: 'INSUFFICIENT_BALANCE' });
  expect(await memberWallet(ledger, limits, who.merchant_id, 'u7', 'CNY')).toMatchObject({ balance_minor: 1_000n });
  expect(await available(who.merchant_id)).toBe(2_000n);
  await balanced();
});

test('a member pays its merchant from its wallet: once per key, within the wallet, the merchant credited, the books balanced', async () => {
  const who = await memberOf(5_000n, 3_000n);
  const pay = { merchant_id: who.merchant_id, merchant_transfer_no: 'p1', to_merchant_id: who.merchant_id, from_member_id: who.member_id, amount_minor: 1_200n, currency: 'CNY', memo: 'order 42' };
  const first = await transfers.create(pay);
  expect(first).toMatchObject({ from_member_id: who.member_id, to_member_id: null, to_merchant_id: who.merchant_id, amount_minor: 1_200n });
  expect(await transfers.create(pay)).toEqual(first);
  await expect(transfers.create({ ...pay, amount_minor: 1_201n })).rejects.toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
  // The same number for a merchant → member credit is another transfer.
  await expect(transfers.create({ ...pay, from_member_id: undefined, to_member_id: who.member_id })).rejects.toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
  expect(await wallet(who)).toMatchObject({ balance_minor: 1_800n });
  expect(await available(who.merchant_id)).toBe(2_000n + 1_200n);
  // Beyond the wallet: refused, nothing posted, though the merchant has money.
  await expect(transfers.create({ ...pay, merchant_transfer_no: 'p2', amount_minor: 1_801n })).rejects.toMatchObject({ reason: 'INSUFFICIENT_BALANCE' });
  await expect(transfers.create({ ...pay, merchant_transfer_no: 'p3', to_merchant_id: 'someone-else' })).rejects.toMatchObject({ reason: 'INVALID_FIELD' });
  await expect(transfers.create({ ...pay, merchant_transfer_no: 'p4', to_member_id: 'u9' })).rejects.toMatchObject({ reason: 'INVALID_FIELD' });
  // A member with no wallet at all.
  await expect(transfers.create({ ...pay, merchant_transfer_no: 'p5', from_member_id: 'nobody', amount_minor: 1n })).rejects.toMatchObject({ reason: 'INSUFFICIENT_BALANCE' });
  expect(await wallet(who)).toMatchObject({ balance_minor: 1_800n });
  expect(await transfers.get(who.merchant_id, first.transfer_id)).toEqual(first);
  await balanced();
});

test('payments to the merchant racing withdrawals on one wallet never overdraw it: exactly what it covers goes through', async () => {
  const who = await memberOf(10_000n, 7_000n);
  // Ten of 1,500 against 7,000, half payments to the merchant, half withdrawals: four fit.
  const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0
    ? transfers.create({ merchant_id: who.merchant_id, merchant_transfer_no: `race-p${i}`, to_merchant_id: who.merchant_id, from_member_id: who.member_id, amount_minor: 1_500n, currency: 'CNY', memo: '' })
      .then(() => 'paid', (error: { reason?: string }) => `refused ${error.reason}`)
    : payouts.create(withdrawal(who, `race-w${i}`, 1_500n)).then((s) => `withdrawal ${s.status} ${s.failure?.code ?? ''}`.trim()))));
  expect(outcomes.filter((o) => o === 'paid' || o === 'withdrawal SUCCEEDED')).toHaveLength(4);
  for (const outcome of outcomes) expect(['paid', 'withdrawal SUCCEEDED', 'refused INSUFFICIENT_BALANCE', 'withdrawal FAILED INSUFFICIENT_BALANCE']).toContain(outcome);
  const paid = BigInt(outcomes.filter((o) => o === 'paid').length);
  expect(await wallet(who)).toMatchObject({ balance_minor: 1_000n, frozen_minor: 0n });
  expect(await available(who.merchant_id)).toBe(3_000n + 1_500n * paid);
  await balanced();
});

test("GetMemberWallet's withdrawn today leaves out a withdrawal the log has FAILED while the books still show it in flight", async () => {
  const who = await memberOf(10_000n, 6_000n);
  // A payout service whose books stop short of the failure (the books behind the log), and whose timers nobody pumps.
  const lagging_names = payoutNames(`${prefix}lag`);
  const lag_key = idKey(randomBytes(32));
  await ensurePayoutStreams(jsm, lagging_names, 1);
  const lagging_store = new PayoutStore(jetstream(nc), jsm, lagging_names);
  const books = new PayoutBooks(ledger, limits);
  const lagging = new PayoutService({
    store: lagging_store,
    books: { freeze: (state) => books.freeze(state), sync: (state) => (state.status === 'FAILED' ? Promise.resolve() : books.sync(state)), memberLimits: (m) => books.memberLimits(m) },
    channels: new Map<string, PayoutChannel>([[channel_id, bankgw as PayoutChannel]]), sealer: new Sealer(randomBytes(32)), id_key: lag_key,
    query_backoff_ms: [60_000, 60_000], return_watch_ms: [], log: createLogger('silent'), now: () => new Date(),
  });
  try {
    expect((await lagging.create(withdrawal(who, 'lag-1', 2_500n))).status).toBe('SUCCEEDED');
    await call(sandbox.url, 'PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: payoutId(lag_key, who.merchant_id, 'lag-2') }, payout_late_failure: true, times: 1 });
    const failing = await lagging.create(withdrawal(who, 'lag-2', 1_500n));
    expect(failing.status).toBe('PROCESSING');
    await lagging.followUp({ payout_id: failing.payout_id, kind: 'follow_up', round: 0 });
    expect((await lagging.get(who.merchant_id, failing.payout_id)).status).toBe('FAILED');
    const row = await ledger.pool.query<{ status: string }>('SELECT status FROM payouts WHERE payout_id = $1', [failing.payout_id]);
    expect(row.rows[0]!.status).toBe('PROCESSING');
    const statusOf = async (payout_id: string) => (await lagging_store.load(payout_id))?.state.status;
    const shown = await memberWallet(ledger, limits, who.merchant_id, who.member_id, 'CNY', statusOf);
    expect(shown).toMatchObject({ withdrawn_today_minor: 2_500n });
  } finally {
    for (const stream of [lagging_names.events_stream, lagging_names.timers_stream, lagging_names.timers_dead_stream]) {
      await jsm.streams.delete(stream).catch(() => undefined);
    }
  }
});

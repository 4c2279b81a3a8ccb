// Payouts end to end against the real parts: the payout event log and timers on NATS, the
// books in PostgreSQL, the bank gateway adapter over HTTP against the sandbox PSP with its
// payout faults (a timeout, a late failure, a return after success), and a crash between the
// write-ahead and the provider call.

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
import { encodeJsonString } from '../codec';
import { idKey, payoutId } from '../ids';
import { createLogger } from '../log';
import { Sealer } from '../seal';
import { LedgerStore, openDate } from '../ledger/store';
import { linesOf, platform_owner } from '../ledger/rules';
import { PayoutBooks } from './books';
import { PayoutService, type CreatePayout, type PayoutChannel } from './service';
import { ensurePayoutStreams, PayoutStore, payoutNames } from './store';
import { startPayoutTimerPump, type PayoutTimerPump } from './timer-pump';

const nats_url = process.env.PAYCORE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const prefix = `t${randomBytes(4).toString('hex')}`;
const names = payoutNames(prefix);
const id_key = idKey(randomBytes(32));
/** The deployment's data key: every process seals and opens payees with it. */
const sealer = new Sealer(randomBytes(32));
const channel_id = 'bank_payout';
let keys_dir: string;
let sandbox: Sandbox;
let bankgw: Channel;
let nc: NatsConnection;
let jsm: JetStreamManager;
let db: TestDatabase;
let ledger: LedgerStore;
let store: PayoutStore;
let service: PayoutService;
let pump: PayoutTimerPump;
let merchant_seq = 0;

const control = (method: string, path: string, body?: unknown) => call(sandbox.url, method, path, body);

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-payout-keys-'));
  const keys = ensureDevKeys(keys_dir);
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), bankgw: sandboxBankgwOptions(keys), callback_retry_delays_ms: [50] });
  bankgw = createChannel({ channel_id, provider: 'bankgw', products: ['BANK_B2C'], settings: bankgwChannelSettings(keys, sandbox.url, 400) });
  nc = await connect({ servers: nats_url });
  jsm = await jetstreamManager(nc);
  await ensurePayoutStreams(jsm, names, 1);
  db = await createTestDatabase();
  ledger = new LedgerStore(db.url);
  store = new PayoutStore(jetstream(nc), jsm, names);
  service = new PayoutService({
    store, books: new PayoutBooks(ledger), channels: new Map<string, PayoutChannel>([[channel_id, bankgw as PayoutChannel]]), sealer, id_key,
    query_backoff_ms: [150, 150, 150, 150, 150, 150], return_watch_ms: [150, 150], log: createLogger('silent'), now: () => new Date(),
  });
  pump = await startPayoutTimerPump({ js: jetstream(nc), names, store, handlers: { service }, retry_backoff_ms: [200, 200, 200], log: createLogger('silent') });
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

/** A merchant with `amount` settled (available) money, paid through the payout channel. */
async function fundedMerchant(amount: bigint): Promise<string> {
  merchant_seq += 1;
  const merchant_id = `m${prefix}${merchant_seq}`;
  await ledger.transaction(async (client, created) => {
    const parties = { merchant_id, channel_id, currency: 'CNY' };
    const at = new Date().toISOString();
    const open = await openDate(client);
    await ledger.post(client, created, { entry_key: `fund:${merchant_id}`, txn_code: 'PAYMENT', merchant_id, currency: 'CNY', at, lines: linesOf('PAYMENT', parties, { gross: amount, net: amount }) }, open);
    await ledger.post(client, created, { entry_key: `fund-settle:${merchant_id}`, txn_code: 'SETTLEMENT', merchant_id, currency: 'CNY', at, lines: linesOf('SETTLEMENT', { ...parties, channel_id: platform_owner }, { gross: amount }) }, open);
  });
  return merchant_id;
}

async function balances(merchant_id: string): Promise<Record<string, bigint>> {
  const out: Record<string, bigint> = {};
  for (const row of await ledger.balances(merchant_id)) out[row.code] = row.balance_minor;
  return out;
}

function request(merchant_id: string, merchant_payout_no: string, amount_minor: bigint): CreatePayout {
  return { merchant_id, merchant_payout_no, amount_minor, currency: 'CNY', bank_code: 'ICBC', payee: { account_no: '6222020200112233', account_name: 'Zhang San' }, purpose: 'settlement' };
}

async function sandboxPayouts(payout_id: string): Promise<{ payout_status: string; submissions: number }[]> {
  return (await control('GET', `/sandbox/bankgw/payouts?out_trade_no_prefix=${payout_id}`)).json.payouts;
}

const settled = (merchant_id: string, payout_id: string, status: string) =>
  waitFor(`payout ${payout_id} ${status}`, async () => {
    const state = await service.get(merchant_id, payout_id);
    return state.status === status ? state : undefined;
  });

async function trialBalanced(): Promise<void> {
  const trial = await ledger.trialBalance();
  expect(trial.balanced).toBe(true);
}

test('a payout is paid once: funds leave available for the channel, a retry with the same key finds it', async () => {
  const merchant_id = await fundedMerchant(10_000n);
  const payout = await service.create(request(merchant_id, 'po-1', 2_500n));
  expect(payout).toMatchObject({ status: 'SUCCEEDED', amount_minor: 2_500n, payee_last4: '2233', channel_id, frozen: true });
  expect(encodeJsonString(payout)).not.toContain('6222020200112233');
  expect(await service.create(request(merchant_id, 'po-1', 2_500n))).toMatchObject({ payout_id: payout.payout_id, status: 'SUCCEEDED', version: payout.version });
  expect(await sandboxPayouts(payout.payout_id)).toEqual([expect.objectContaining({ payout_status: 'SUCCESS', submissions: 1 })]);
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 7_500n, merchant_frozen: 0n });
  await trialBalanced();
});

test('the same merchant_payout_no for another amount is refused; another merchant cannot see the payout', async () => {
  const merchant_id = await fundedMerchant(10_000n);
  const payout = await service.create(request(merchant_id, 'po-2', 1_000n));
  await expect(service.create(request(merchant_id, 'po-2', 1_001n))).rejects.toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
  await expect(service.get('someone-else', payout.payout_id)).rejects.toMatchObject({ reason: 'NOT_FOUND' });
});

test('a payout beyond the available balance fails INSUFFICIENT_BALANCE and reaches no bank', async () => {
  const merchant_id = await fundedMerchant(1_000n);
  const payout = await service.create(request(merchant_id, 'po-3', 1_001n));
  expect(payout).toMatchObject({ status: 'FAILED', frozen: false, failure: { code: 'INSUFFICIENT_BALANCE' } });
  expect(await sandboxPayouts(payout.payout_id)).toEqual([]);
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 1_000n });
});

test('a late failure: frozen while the bank processes it, released when it fails', async () => {
  const merchant_id = await fundedMerchant(10_000n);
  const payout_id = payoutId(id_key, merchant_id, 'po-4');
  await control('PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: payout_id }, payout_late_failure: true, times: 1 });
  const payout = await service.create(request(merchant_id, 'po-4', 4_000n));
  expect(payout.status).toBe('PROCESSING');
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 6_000n, merchant_frozen: 4_000n });
  const failed = await settled(merchant_id, payout_id, 'FAILED');
  expect(failed.failure).toEqual({ code: 'ACCOUNT_FROZEN', message: '' });
  await waitFor('the release posted', async () => ((await balances(merchant_id)).merchant_frozen === 0n ? true : undefined));
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 10_000n, merchant_frozen: 0n });
  await trialBalanced();
});

test('a timeout leaves it PROCESSING; the query timer finds it paid, and it was sent once', async () => {
  const merchant_id = await fundedMerchant(10_000n);
  const payout_id = payoutId(id_key, merchant_id, 'po-5');
  await control('PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: payout_id }, operations: ['payout'], latency_ms: 1_500, times: 1 });
  const payout = await service.create(request(merchant_id, 'po-5', 3_000n));
  expect(payout.status).toBe('PROCESSING');
  await settled(merchant_id, payout_id, 'SUCCEEDED');
  await waitFor('the payout posted as sent', async () => ((await balances(merchant_id)).merchant_frozen === 0n ? true : undefined));
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 7_000n, merchant_frozen: 0n });
  expect(await sandboxPayouts(payout_id)).toEqual([expect.objectContaining({ payout_status: 'SUCCESS', submissions: 1 })]);
});

test('returned after success: the return watch finds it, the books reverse it, it ends RETURNED', async () => {
  const merchant_id = await fundedMerchant(10_000n);
  const payout_id = payoutId(id_key, merchant_id, 'po-6');
  await control('PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: payout_id }, payout_return: true, times: 1 });
  const payout = await service.create(request(merchant_id, 'po-6', 2_000n));
  expect(payout.status).toBe('SUCCEEDED');
  const returned = await settled(merchant_id, payout_id, 'RETURNED');
  expect(returned.failure?.code).toBe('ACCOUNT_CLOSED');
  await waitFor('the return posted', async () => ((await balances(merchant_id)).merchant_available === 10_000n ? true : undefined));
  await trialBalanced();
});

test('a crash between the write-ahead and the provider call: the follow-up sends it, exactly once', async () => {
  const merchant_id = await fundedMerchant(10_000n);
  const payout_id = payoutId(id_key, merchant_id, 'po-7');
  // What a process that died right after the write-ahead leaves: the payout PROCESSING with
  // its funds frozen, its follow-up timer, and nothing at the bank.
  const crash_books = new PayoutBooks(ledger);
  const crashed = new PayoutService({
    store: { load: (id) => store.load(id), schedule: (timer) => store.schedule(timer), append: (id, loaded, events) => store.append(id, loaded, events) },
    // A dead process holds no payout lock (its PostgreSQL session ended with it): no `exclusive`.
    books: { freeze: (state) => crash_books.freeze(state), sync: (state) => crash_books.sync(state) },
    sealer, id_key, query_backoff_ms: [2_000, 150, 150], return_watch_ms: [], log: createLogger('silent'), now: () => new Date(),
    channels: new Map<string, PayoutChannel>([[channel_id, { payout: () => new Promise(() => undefined), queryPayout: () => new Promise(() => undefined) }]]),
  });
  void crashed.create(request(merchant_id, 'po-7', 1_500n));
  await waitFor('the write-ahead', async () => ((await store.load(payout_id))?.state.status === 'PROCESSING' ? true : undefined));
  expect(await sandboxPayouts(payout_id)).toEqual([]);
  await settled(merchant_id, payout_id, 'SUCCEEDED').catch(async () => {
    throw new Error(`payout ended ${(await store.load(payout_id))?.state.status}`);
  });
  expect(await sandboxPayouts(payout_id)).toEqual([expect.objectContaining({ payout_status: 'SUCCESS', submissions: 1 })]);
  await waitFor('the payout posted as sent', async () => ((await balances(merchant_id)).merchant_frozen === 0n ? true : undefined));
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 8_500n, merchant_frozen: 0n });
});

test('refunds allowed but not yet posted count against a payout: the freeze leaves them their money', async () => {
  const merchant_id = await fundedMerchant(10_000n);
  await ledger.reserveRefund(`r-${merchant_id}`, merchant_id, 'CNY', 9_000n);
  const refused = await service.create(request(merchant_id, 'po-8', 2_000n));
  expect(refused).toMatchObject({ status: 'FAILED', frozen: false, failure: { code: 'INSUFFICIENT_BALANCE' } });
  expect(refused.failure?.message).toContain('9000 reserved for refunds');
  expect(await service.create(request(merchant_id, 'po-9', 1_000n))).toMatchObject({ status: 'SUCCEEDED' });
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 9_000n, merchant_frozen: 0n });
});

/** A payout the bank accepted PROCESSING and whose every query fails (5xx): REQUIRES_MANUAL. */
async function manualPayout(merchant_id: string, no: string, amount_minor: bigint): Promise<string> {
  const payout_id = payoutId(id_key, merchant_id, no);
  await control('PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: payout_id }, payout_processing: true, times: 1 });
  await control('PUT', '/sandbox/faults', { scope: { provider: 'bankgw', out_trade_no: payout_id }, operations: ['payout_query'], fail_status: 500, times: 1_000 });
  expect(await service.create(request(merchant_id, no, amount_minor))).toMatchObject({ status: 'PROCESSING' });
  await settled(merchant_id, payout_id, 'REQUIRES_MANUAL');
  return payout_id;
}

test('REQUIRES_MANUAL resolved by an operator: failed releases the frozen funds, succeeded posts them sent with the bank reference; audited; only from REQUIRES_MANUAL', async () => {
  const merchant_id = await fundedMerchant(10_000n);
  const lost = await manualPayout(merchant_id, 'po-m1', 3_000n);
  const kept = await manualPayout(merchant_id, 'po-m2', 2_000n);
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 5_000n, merchant_frozen: 5_000n });
  // Only this merchant's payout; only from REQUIRES_MANUAL.
  await expect(service.resolve('someone-else', lost, { outcome: 'failed', reason: 'r', actor: 'app:ops' })).rejects.toMatchObject({ reason: 'NOT_FOUND' });
  const failed = await service.resolve(merchant_id, lost, { outcome: 'failed', reason: 'the bank confirmed it never paid', actor: 'app:ops' });
  expect(failed).toMatchObject({ status: 'FAILED', failure: { code: 'RESOLVED_FAILED' }, resolution: { outcome: 'failed', actor: 'app:ops', reason: 'the bank confirmed it never paid' } });
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 8_000n, merchant_frozen: 2_000n });
  const paid = await service.resolve(merchant_id, kept, { outcome: 'succeeded', channel_payout_no: 'BANK-REF-9', reason: 'statement line 12', actor: 'app:ops' });
  expect(paid).toMatchObject({ status: 'SUCCEEDED', channel_payout_no: 'BANK-REF-9', resolution: { outcome: 'succeeded', actor: 'app:ops' } });
  expect(await balances(merchant_id)).toMatchObject({ merchant_available: 8_000n, merchant_frozen: 0n });
  // The same resolution again changes nothing; another is refused; so is any payout not REQUIRES_MANUAL.
  expect(await service.resolve(merchant_id, kept, { outcome: 'succeeded', channel_payout_no: 'BANK-REF-9', reason: 'again', actor: 'app:ops' })).toMatchObject({ version: paid.version });
  await expect(service.resolve(merchant_id, kept, { outcome: 'failed', reason: 'changed my mind', actor: 'app:ops' })).rejects.toMatchObject({ reason: 'ILLEGAL_STATE' });
  const normal = await service.create(request(merchant_id, 'po-m3', 1_000n));
  await expect(service.resolve(merchant_id, normal.payout_id, { outcome: 'failed', reason: 'r', actor: 'app:ops' })).rejects.toMatchObject({ reason: 'ILLEGAL_STATE' });
  // The audit record: the event, in the payout's log, with who and why.
  const events = await jsm.streams.getMessage(names.events_stream, { last_by_subj: names.events(kept) });
  expect(new TextDecoder().decode(events!.data)).toContain('"actor":"app:ops"');
  await trialBalanced();
});

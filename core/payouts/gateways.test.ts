// Two gateways sweeping at once (each with its own NATS connection, PostgreSQL pool, payout
// service, settlement sweeper and timer pump on the one shared durable consumer), against the
// real parts: settlement batches opened by both sweepers round after round, their timers taken
// by whichever pump, attempts the bank refuses retried by either — every batch is paid exactly
// once at the bank, its row PAID, and the books balance.

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
import { PayoutService, type PayoutChannel } from './service';
import { SettlementPayouts } from './settlement';
import { ensurePayoutStreams, PayoutStore, payoutNames } from './store';
import { startPayoutTimerPump, type PayoutTimerPump } from './timer-pump';

const nats_url = process.env.PAYCORE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const prefix = `t${randomBytes(4).toString('hex')}`;
const names = payoutNames(prefix);
/** The deployment's keys: every gateway holds the same. */
const id_key = idKey(randomBytes(32));
const sealer = new Sealer(randomBytes(32));
const channel_id = 'bank_payout';
const merchants = 8;

interface Gateway {
  nc: NatsConnection;
  ledger: LedgerStore;
  settlement: SettlementPayouts;
  pump: PayoutTimerPump;
}

let keys_dir: string;
let sandbox: Sandbox;
let bankgw: Channel;
let jsm: JetStreamManager;
let db: TestDatabase;
const gateways: Gateway[] = [];

async function startGateway(): Promise<Gateway> {
  const nc = await connect({ servers: nats_url });
  const js = jetstream(nc);
  const ledger = new LedgerStore(db.url, 'Asia/Shanghai', 8);
  const store = new PayoutStore(js, await jetstreamManager(nc), names);
  const log = createLogger('silent');
  const service = new PayoutService({
    store, books: new PayoutBooks(ledger), channels: new Map<string, PayoutChannel>([[channel_id, bankgw as PayoutChannel]]), sealer, id_key,
    query_backoff_ms: [150, 150, 150, 150], return_watch_ms: [], log, now: () => new Date(),
  });
  const settlement = new SettlementPayouts({ ledger, payouts: service, store, sealer, check_ms: [150], now: () => new Date() });
  const pump = await startPayoutTimerPump({ js, names, store, handlers: { service, settlement }, retry_backoff_ms: [100, 100, 100, 100], log });
  return { nc, ledger, settlement, pump };
}

beforeAll(async () => {
  keys_dir = mkdtempSync(join(tmpdir(), 'paycore-gateways-keys-'));
  const keys = ensureDevKeys(keys_dir);
  sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), bankgw: sandboxBankgwOptions(keys), callback_retry_delays_ms: [50] });
  bankgw = createChannel({ channel_id, provider: 'bankgw', products: ['BANK_B2C'], settings: bankgwChannelSettings(keys, sandbox.url, 5_000) });
  db = await createTestDatabase();
  const nc = await connect({ servers: nats_url });
  jsm = await jetstreamManager(nc);
  await ensurePayoutStreams(jsm, names, 1);
  await nc.close();
  gateways.push(await startGateway(), await startGateway());
});

afterAll(async () => {
  for (const gateway of gateways) await gateway.pump.stop();
  for (const stream of [names.events_stream, names.timers_stream, names.timers_dead_stream]) await jsm?.streams.delete(stream).catch(() => undefined);
  for (const gateway of gateways) {
    await gateway.nc.close();
    await gateway.ledger.close();
  }
  await db?.drop();
  await bankgw?.close_connections();
  await sandbox?.close();
  rmSync(keys_dir, { recursive: true, force: true });
});

test('two gateways sweeping settlement payouts at once: every batch paid exactly once (a refusal another gateway\'s resubmission overtook is not a failure), the books balanced', async () => {
  const [a, b] = gateways as [Gateway, Gateway];
  const ids = Array.from({ length: merchants }, (_, i) => `m${prefix}${i}`);
  for (const [i, merchant_id] of ids.entries()) {
    await (i % 2 === 0 ? a : b).settlement.setAccount(merchant_id, { channel_id, bank_code: 'ICBC', payee: { account_no: `62220202001${String(i).padStart(5, '0')}`, account_name: 'Li Si' } });
    await a.ledger.transaction(async (client, created) => {
      const lines = linesOf('PAYMENT', { merchant_id, channel_id, currency: 'CNY' }, { gross: 1_000n + BigInt(i), net: 1_000n + BigInt(i) });
      await a.ledger.post(client, created, { entry_key: `pay:${merchant_id}`, txn_code: 'PAYMENT', merchant_id, currency: 'CNY', at: new Date().toISOString(), lines }, await openDate(client));
    });
  }
  // The bank refuses the first three payouts it is sent, whoever sends them.
  await call(sandbox.url, 'PUT', '/sandbox/faults', {
    scope: { provider: 'bankgw' }, operations: ['payout'], reject_before_create: { status: 400, code: 'ACCOUNT_INVALID', message: 'account invalid' }, times: 3,
  });
  // Both cut-offs and both sweepers, at once, three rounds.
  const tomorrow = businessDate(new Date(Date.now() + 86_400_000), a.ledger.timezone);
  const batches = (await Promise.all([a.ledger.settle(tomorrow), b.ledger.settle(tomorrow)])).flat();
  expect(batches).toHaveLength(merchants);
  for (let round = 0; round < 3; round += 1) await Promise.all([a.settlement.openBatches(), b.settlement.openBatches()]);

  for (const batch of batches) {
    const row = await waitFor(`batch ${batch.batch_id} paid`, async () => {
      const result = await a.ledger.pool.query<{ status: string; attempts: number; payout_id: string }>('SELECT status, attempts, payout_id FROM settlement_payouts WHERE batch_id = $1', [batch.batch_id]);
      return result.rows[0]?.status === 'PAID' ? result.rows[0] : undefined;
    });
    // Every attempt of the batch at the bank: the refused ones were never made there; exactly one paid.
    const made: { payout_status: string; submissions: number }[] = [];
    for (let attempt = 1; attempt <= row.attempts; attempt += 1) {
      const id = payoutId(id_key, batch.merchant_id, `settle:${batch.batch_id}:${attempt}`);
      made.push(...((await call(sandbox.url, 'GET', `/sandbox/bankgw/payouts?out_trade_no_prefix=${id}`)).json.payouts as typeof made));
    }
    expect(made).toEqual([expect.objectContaining({ payout_status: 'SUCCESS', submissions: 1 })]);
    expect(row.payout_id).toBe(payoutId(id_key, batch.merchant_id, `settle:${batch.batch_id}:${row.attempts}`));
  }
  const attempts = await a.ledger.pool.query<{ total: number }>('SELECT sum(attempts)::int AS total FROM settlement_payouts');
  // At most one more attempt per refusal (a refused request another gateway's resubmission then
  // got through makes none).
  expect(attempts.rows[0]!.total).toBeGreaterThanOrEqual(merchants);
  expect(attempts.rows[0]!.total).toBeLessThanOrEqual(merchants + 3);
  for (const merchant_id of ids) {
    await waitFor(`${merchant_id} paid out`, async () => {
      const balances = await a.ledger.balances(merchant_id);
      const of = (code: string) => balances.find((row) => row.code === code)?.balance_minor ?? 0n;
      return of('merchant_available') === 0n && of('merchant_frozen') === 0n && of('merchant_pending') === 0n ? true : undefined;
    });
  }
  expect((await a.ledger.trialBalance()).balanced).toBe(true);
});

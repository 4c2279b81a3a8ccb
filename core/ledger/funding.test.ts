// The refund funding check (LedgerStore.reserveRefund) against the projection posting a refund
// at the same moment, on a real PostgreSQL (a database of its own per run). The interleaving
// is forced with a row lock the test holds: no timing involved.
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import { historyOf } from './ledger.fixture';
import { close_lock_key, LedgerStore, openDate, type StreamMessage } from './store';
import { allocateSplit } from './splits';
import { fundingCover } from './funding';

let db: TestDatabase;
let store: LedgerStore;

beforeAll(async () => {
  db = await createTestDatabase();
  store = new LedgerStore(db.url);
});
afterAll(async () => {
  await store?.close();
  await db?.drop();
});

/** Until a backend of this database waits for a lock the backend `holder` holds. */
async function blockedBy(holder: number): Promise<void> {
  for (const give_up = Date.now() + 30_000; Date.now() < give_up; ) {
    const waiting = await store.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND $1 = ANY(pg_blocking_pids(pid))', [holder]);
    if (waiting.rows[0]!.n > 0n) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`no backend came to wait for backend ${holder}`);
}

test('a refund checked while the projection posts an earlier refund that opens the merchant_available account is refused: the earlier refund counts once, as a reservation or as a posting', async () => {
  const merchant_id = 'm_fund';
  // Paid 100 000, fee 600: 99 400 pending; no merchant_available account yet (no cut-off).
  const history = historyOf({ merchant_id, channel_id: 'wx1', amount_minor: 100_000n, merchant_fee_minor: 600n, channel_fee_minor: 380n, paid: true, duplicates: [], refunds: [{ share_pm: 990, outcome: 'PENDING' }] }, 'p_fund');
  const messages: StreamMessage[] = history.map((m, index) => ({ seq: index + 1, ...m }));
  const requested = messages[2]!.events[0]!;
  expect(requested).toMatchObject({ type: 'RefundRequested', amount_minor: 99_000n });
  const refund_id = (requested as { refund_id: string }).refund_id;
  await store.applyMessages('funding', messages.slice(0, 2));
  expect((await store.balances(merchant_id)).map((b) => [b.code, b.balance_minor])).toEqual([['merchant_pending', 99_400n]]);

  await store.reserveRefund(refund_id, merchant_id, 'CNY', 99_000n); // the gateway's check, passed

  // The next check stops after it has locked the merchant's accounts (merchant_pending only:
  // merchant_available does not exist) while the test holds the merchant's settings row...
  const holder = new pg.Client({ connectionString: db.url });
  await holder.connect();
  let late: Promise<string>;
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM merchant_settings WHERE merchant_id = $1 FOR UPDATE', [merchant_id]);
    const pid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    late = store.reserveRefund('r_late', merchant_id, 'CNY', 1_000n).then(() => 'accepted', (error: Error & { reason?: string }) => `${error.reason}: ${error.message}`);
    await blockedBy(pid);
    // ...and meanwhile the projection posts the 99 000: merchant_available opens at −99 000
    // and the reservation goes, in one transaction.
    await store.applyMessages('funding', messages.slice(2));
    expect((await store.balances(merchant_id)).map((b) => [b.code, b.balance_minor])).toEqual([['merchant_available', -99_000n], ['merchant_pending', 99_400n]]);
    await holder.query('COMMIT');
  } finally {
    await holder.end();
  }
  // 99 400 − 99 000 = 400 cannot fund 1 000.
  expect(await late).toMatch(/^FAILED_PRECONDITION: the merchant's balance 400 CNY cannot fund a refund of 1000 \(policy refuse\)/);
  const reservations = await store.pool.query<{ refund_id: string }>('SELECT refund_id FROM refund_reservations WHERE merchant_id = $1', [merchant_id]);
  expect(reservations.rows).toEqual([]);
});

/** A paid payment of `amount` (no fee), projected: its net in merchant_pending, its row paid. */
async function paidPayment(merchant_id: string, payment_id: string, amount_minor: bigint): Promise<void> {
  const history = historyOf({ merchant_id, channel_id: 'wx1', amount_minor, merchant_fee_minor: 0n, channel_fee_minor: 0n, paid: true, duplicates: [], refunds: [] }, payment_id);
  await store.applyMessages('funding', history.map((m) => ({ seq: (seq += 1), ...m })));
}
let seq = 1_000;

function split(split_id: string, merchant_id: string, payment_id: string, amount_minor: bigint): Promise<string> {
  return store.transaction(async (client, created) => {
    await client.query('SELECT pg_advisory_xact_lock_shared($1)', [close_lock_key]);
    const open_date = await openDate(client);
    const post = (posting: Parameters<LedgerStore['post']>[2]) => store.post(client, created, posting, open_date);
    const result = await allocateSplit({ client, post }, { split_id, merchant_id, payment_id, currency: 'CNY', receivers: [{ receiver_id: 'r1', amount_minor }], at: new Date().toISOString() });
    return result.kind === 'refused' ? `refused ${result.code}` : result.kind;
  });
}

const refund = (refund_id: string, merchant_id: string, payment_id: string, amount_minor: bigint): Promise<string> =>
  store.reserveRefund(refund_id, merchant_id, 'CNY', amount_minor, payment_id).then(() => 'reserved', (error: { reason?: string }) => `refused ${error.reason}`);

/** What the merchant's refunds can draw on once every reservation is posted: available + pending
 * − reserved + the shares those refunds take back (never below 0 under the refuse policy). */
async function coverOf(merchant_id: string): Promise<bigint> {
  return store.transaction((client) => fundingCover(client, { merchant_id, currency: 'CNY' }));
}

test('a refund and a split racing on one merchant (concurrent transactions): never both when together they would overdraw it', async () => {
  for (let round = 0; round < 6; round += 1) {
    const merchant_id = `m_race${round}`;
    // An old payment (p_old, its money gone: 0 left of it) is refunded 5 000 while the only
    // money, a new payment's 5 000, is split to a receiver: one of the two, not both.
    await paidPayment(merchant_id, `p_new${round}`, 5_000n);
    const outcomes = await Promise.all([
      refund(`r_race${round}`, merchant_id, `p_old${round}`, 5_000n),
      split(`s_race${round}`, merchant_id, `p_new${round}`, 5_000n),
    ]);
    expect(outcomes.filter((o) => o === 'reserved' || o === 'allocated')).toHaveLength(1);
    expect(outcomes.filter((o) => o.startsWith('refused'))).toEqual([expect.stringMatching(/refused (FAILED_PRECONDITION|INSUFFICIENT_BALANCE)/)]);
    expect(await coverOf(merchant_id)).toBeGreaterThanOrEqual(0n);
  }
});

test("a refund funded by its payment's shares and a split of that payment both go through (the refund takes the shares back); refunds of one payment never count its shares twice", async () => {
  const merchant_id = 'm_share';
  await paidPayment(merchant_id, 'p_sh1', 5_000n);
  // The whole payment split and refunded at once: the refund takes the shares back.
  expect(await Promise.all([refund('r_sh1', merchant_id, 'p_sh1', 5_000n), split('s_sh1', merchant_id, 'p_sh1', 5_000n)])).toEqual(['reserved', 'allocated']);
  expect(await coverOf(merchant_id)).toBe(0n);
  // Another payment, 3 000 of it split: its refunds draw on 3 000 of shares and 0 of the merchant's own.
  await paidPayment(merchant_id, 'p_sh2', 3_000n);
  expect(await split('s_sh2', merchant_id, 'p_sh2', 3_000n)).toBe('allocated');
  const racing = await Promise.all([refund('r_sh2a', merchant_id, 'p_sh2', 2_000n), refund('r_sh2b', merchant_id, 'p_sh2', 2_000n)]);
  expect(racing.sort()).toEqual(['refused FAILED_PRECONDITION', 'reserved']);
  expect(await refund('r_sh2c', merchant_id, 'p_sh2', 1_000n)).toBe('reserved');
  expect(await coverOf(merchant_id)).toBe(0n);
});

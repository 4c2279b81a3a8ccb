// The refund funding check (LedgerStore.reserveRefund) against the projection posting a refund
// at the same moment, on a real PostgreSQL (a database of its own per run). The interleaving
// is forced with a row lock the test holds: no timing involved.
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import { historyOf } from './ledger.fixture';
import { LedgerStore, type StreamMessage } from './store';

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

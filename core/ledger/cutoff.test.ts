import fc from 'fast-check';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import { createLogger } from '../log';
import { businessDate, previousDate, runCutoff } from './cutoff';
import { payment_plan, streamOf } from './ledger.fixture';
import { LedgerStore } from './store';

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

test('business dates follow the books time zone (日切 at midnight Beijing time)', () => {
  expect(businessDate(new Date('2026-03-01T15:59:59.999Z'), 'Asia/Shanghai')).toBe('2026-03-01');
  expect(businessDate(new Date('2026-03-01T16:00:00.000Z'), 'Asia/Shanghai')).toBe('2026-03-02');
  expect(businessDate(new Date('2026-03-01T16:00:00.000Z'), 'UTC')).toBe('2026-03-01');
  expect(previousDate('2026-03-01')).toBe('2026-02-28');
});

test('the daily round: T+1 settles the day before, closes it with a zero trial balance, and a second round changes nothing', async () => {
  const plans = fc.sample(payment_plan, { numRuns: 8, seed: 3 }).map((p) => ({ ...p, paid: true, refunds: [], duplicates: [] }));
  const stream = streamOf(plans, []); // dated 2026-03-01 (Beijing)
  await store.applyMessages('cutoff_test', stream);
  const log = createLogger('silent');
  const next_morning = new Date('2026-03-01T17:00:00.000Z'); // 01:00 on 2026-03-02 in Beijing
  await runCutoff(store, 'Asia/Shanghai', new Date('2026-03-01T10:00:00.000Z'), log); // same day: nothing settles
  const pending_before = (await store.balances()).filter((b) => b.code === 'merchant_pending').reduce((sum, b) => sum + b.balance_minor, 0n);
  expect(pending_before).toBeGreaterThan(0n);
  await runCutoff(store, 'Asia/Shanghai', next_morning, log);
  const after = await store.balances();
  expect(after.filter((b) => b.code === 'merchant_pending').every((b) => b.balance_minor === 0n)).toBe(true);
  expect(after.filter((b) => b.code === 'merchant_available').reduce((sum, b) => sum + b.balance_minor, 0n)).toBe(pending_before);
  const closes = await store.pool.query<{ business_date: string; debit_total_minor: bigint; credit_total_minor: bigint }>('SELECT business_date::text, debit_total_minor, credit_total_minor FROM day_closes ORDER BY business_date');
  expect(closes.rows.map((r) => r.business_date)).toContain('2026-03-01');
  await runCutoff(store, 'Asia/Shanghai', next_morning, log);
  expect((await store.balances()).filter((b) => b.code === 'merchant_available').reduce((sum, b) => sum + b.balance_minor, 0n)).toBe(pending_before);
  expect((await store.pool.query('SELECT 1 FROM day_closes')).rows.length).toBe(closes.rows.length);
});

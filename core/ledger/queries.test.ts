// The books' finance queries on a real PostgreSQL (a database of its own): an account's journal
// lines by date with keyset paging, refunds by state and payments and refunds by the
// merchant's order number — each page walk compared with the whole answer asked for at once.
import fc from 'fast-check';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import { payment_plan, streamOf } from './ledger.fixture';
import { LedgerStore, listAccountEntries, listPayments, listRefunds, type AccountEntryFilter, type AccountEntryRow, type PageCursor, type RefundRow } from './store';

let db: TestDatabase;
let store: LedgerStore;

beforeAll(async () => {
  db = await createTestDatabase();
  store = new LedgerStore(db.url);
  // Three merchants' random histories, partly settled (the fixture's payments are dated
  // 2026-03-01; the settlement entries are dated on the day they run).
  const stream = streamOf(fc.sample(payment_plan, { numRuns: 60, seed: 7 }), fc.sample(fc.nat(), { numRuns: 100, seed: 8 }));
  await store.applyMessages('q', stream.slice(0, Math.floor(stream.length / 2)));
  await store.settle('2026-03-02');
  await store.applyMessages('q', stream.slice(Math.floor(stream.length / 2)));
});
afterAll(async () => {
  await store?.close();
  await db?.drop();
});

async function allLines(filter: Omit<AccountEntryFilter, 'page_size' | 'after'>): Promise<AccountEntryRow[]> {
  const result = await store.pool.query<AccountEntryRow>(
    `SELECT l.entry_id, l.line_no, e.txn_code, e.business_date, e.posted_at, e.payment_id, e.ref_id, l.debit_minor, l.credit_minor
       FROM journal_lines l JOIN journal_entries e USING (entry_id) JOIN accounts a USING (account_id)
      WHERE a.code = $1 AND a.owner = $2 AND a.currency = $3 AND ($4::date IS NULL OR e.business_date >= $4) AND ($5::date IS NULL OR e.business_date <= $5)
      ORDER BY l.entry_id DESC, l.line_no DESC`,
    [filter.code, filter.merchant_id, filter.currency, filter.from_date ?? null, filter.to_date ?? null],
  );
  return result.rows;
}

async function walk<R>(page: (after: R | undefined) => Promise<R[]>, page_size: number): Promise<R[]> {
  const rows: R[] = [];
  for (let after: R | undefined, pages = 0; ; pages += 1) {
    const got = await page(after);
    expect(got.length).toBeLessThanOrEqual(page_size);
    rows.push(...got);
    if (got.length < page_size) return rows;
    after = got[got.length - 1];
    expect(pages).toBeLessThan(10_000);
  }
}

describe('ledger queries (PostgreSQL)', () => {
  test('an account\'s lines: every page walk, with and without a date range, gives each line once, newest first, exactly the account\'s', async () => {
    const dates = (await store.pool.query<{ d: string }>('SELECT DISTINCT business_date AS d FROM journal_entries ORDER BY 1')).rows.map((r) => r.d);
    expect(dates.length).toBeGreaterThanOrEqual(2); // the fixture's day and the settlement's
    let compared = 0;
    for (const merchant_id of ['m_a', 'm_b', 'm_c']) {
      for (const code of ['merchant_pending', 'merchant_available', 'merchant_frozen'] as const) {
        for (const [from_date, to_date] of [[undefined, undefined], [dates[0], dates[0]], [dates[1], undefined], [undefined, dates[0]]] as const) {
          const filter = { merchant_id, code, currency: 'CNY', from_date, to_date };
          const expected = await allLines(filter);
          for (const page_size of [1, 3, 50]) {
            const rows = await walk<AccountEntryRow>((after) => listAccountEntries(store.pool, { ...filter, page_size, after }), page_size);
            expect(rows).toEqual(expected);
          }
          compared += expected.length;
        }
      }
    }
    expect(compared).toBeGreaterThan(50);
    // Another merchant's account, or an account that does not exist, has no lines.
    expect(await listAccountEntries(store.pool, { merchant_id: 'm_none', code: 'merchant_pending', currency: 'CNY', page_size: 10 })).toEqual([]);
    expect(await listAccountEntries(store.pool, { merchant_id: 'm_a', code: 'merchant_pending', currency: 'USD', page_size: 10 })).toEqual([]);
  });

  test('refunds by state and by merchant order number, payments by merchant order number: paged with the filter kept', async () => {
    const refunds = await store.pool.query<RefundRow & { merchant_id: string; merchant_order_no: string }>(
      `SELECT r.refund_id, r.payment_id, r.merchant_refund_no, r.state, r.currency, r.amount_minor, r.created_at, r.merchant_id, p.merchant_order_no
         FROM refunds r JOIN payments p USING (payment_id) ORDER BY r.created_at DESC, r.refund_id DESC`,
    );
    const states = new Set(refunds.rows.map((r) => r.state));
    expect(states.size).toBeGreaterThanOrEqual(3);
    const cursor = (r: RefundRow): PageCursor => ({ created_at: r.created_at.toISOString(), id: r.refund_id });
    const strip = ({ merchant_id: _m, merchant_order_no: _o, ...r }: RefundRow & { merchant_id: string; merchant_order_no: string }): RefundRow => r;
    for (const merchant_id of ['m_a', 'm_b', 'm_c']) {
      for (const state of [...states, undefined]) {
        const expected = refunds.rows.filter((r) => r.merchant_id === merchant_id && (state === undefined || r.state === state)).map(strip);
        const rows = await walk<RefundRow>(
          (after) => listRefunds(store.pool, { merchant_id, state, page_size: 2, after: after === undefined ? undefined : cursor(after) }),
          2,
        );
        expect(rows).toEqual(expected);
      }
    }
    // One payment's refunds by its order number; the same number under another merchant finds nothing.
    const refunded = refunds.rows.find((r) => refunds.rows.filter((o) => o.payment_id === r.payment_id).length >= 2)!;
    const of_order = await listRefunds(store.pool, { merchant_id: refunded.merchant_id, merchant_order_no: refunded.merchant_order_no, page_size: 50 });
    expect(of_order).toEqual(refunds.rows.filter((r) => r.payment_id === refunded.payment_id).map(strip));
    expect(await listRefunds(store.pool, { merchant_id: refunded.merchant_id === 'm_a' ? 'm_b' : 'm_a', merchant_order_no: refunded.merchant_order_no, page_size: 50 })).toEqual([]);
    const first = of_order[0]!;
    expect(
      await listRefunds(store.pool, {
        merchant_id: refunded.merchant_id,
        merchant_order_no: refunded.merchant_order_no,
        state: first.state,
        page_size: 50,
      }),
    ).toEqual(of_order.filter((r) => r.state === first.state));
    const payments = await listPayments(store.pool, { merchant_id: refunded.merchant_id, merchant_order_no: refunded.merchant_order_no, page_size: 50 });
    expect(payments.map((p) => p.payment_id)).toEqual([refunded.payment_id]);
    expect(await listPayments(store.pool, { merchant_id: refunded.merchant_id, merchant_order_no: 'o-nothing', page_size: 50 })).toEqual([]);
  });
});

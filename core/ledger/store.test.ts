// The books on a real PostgreSQL: a database of its own per run (testing/database.ts).
import fc from 'fast-check';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import type { AccountCode } from './rules';
import { expectedBooks, payment_plan, streamOf } from './ledger.fixture';
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

function finalStates(stream: readonly StreamMessage[]) {
  const finals = new Map<string, StreamMessage['state']>();
  for (const message of stream) finals.set(message.state.payment_id, message.state);
  return [...finals.values()];
}

async function sumOf(code: AccountCode, owner?: string): Promise<bigint> {
  const result = await store.pool.query<{ sum: bigint }>('SELECT coalesce(sum(balance_minor), 0)::bigint AS sum FROM accounts WHERE code = $1 AND ($2::text IS NULL OR owner = $2)', [code, owner ?? null]);
  return result.rows[0]!.sum;
}

describe('ledger store (PostgreSQL)', () => {
  test('a lopsided entry is refused by the database at commit, and a merchant pending balance cannot go negative', async () => {
    const client = await store.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO accounts (code, owner, currency, floor_minor) VALUES ('suspense', 'x', 'CNY', NULL), ('channel_receivable', 'x', 'CNY', NULL)`);
      const entry = await client.query<{ entry_id: bigint }>(`INSERT INTO journal_entries (entry_key, txn_code, currency, business_date) VALUES ('bad', 'TEST', 'CNY', '2026-01-01') RETURNING entry_id`);
      await client.query(
        `INSERT INTO journal_lines (entry_id, line_no, account_id, debit_minor, credit_minor)
         SELECT $1::bigint, 1, account_id, 100, 0 FROM accounts WHERE code = 'channel_receivable' AND owner = 'x'
         UNION ALL SELECT $1::bigint, 2, account_id, 0, 99 FROM accounts WHERE code = 'suspense' AND owner = 'x'`,
        [entry.rows[0]!.entry_id],
      );
      await expect(client.query('COMMIT')).rejects.toThrow(/does not balance: debits 100, credits 99/);
    } finally {
      client.release();
    }
    expect(await sumOf('suspense', 'x')).toBe(0n);
    await expect(store.pool.query(`INSERT INTO accounts (code, owner, currency, floor_minor, balance_minor) VALUES ('merchant_pending', 'neg', 'CNY', 0, -1)`)).rejects.toThrow(/balance_above_floor/);
  });

  test('random streams, posted in random batches with redeliveries and settlement cut-offs between them: nothing twice, nothing lost, the books match the payments, the trial balance is zero', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(payment_plan, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 10 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        async (plans, interleave, batch_sizes, settle_after) => {
        const stream = streamOf(plans, interleave);
        const consumer = `prop_${Math.random().toString(36).slice(2)}`;
        // Books of this run only: every property run uses fresh merchants' payments, so the
        // comparison is over the deltas of this run.
        const before = await snapshot();
        let at = 0;
        let round = 0;
        while (at < stream.length) {
          const size = batch_sizes[round++ % batch_sizes.length]!;
          // A redelivery: the batch starts a little before what was applied.
          const from = Math.max(0, at - (round % 3));
          await store.applyMessages(consumer, stream.slice(from, at + size));
          at = Math.min(stream.length, at + size);
          // Settlement cut-offs at random points (the fixture's payments are dated 2026-03-01,
          // so the next day's T+1 cut-off takes them): pending moves to available, nothing else.
          if (settle_after[round % settle_after.length]) await store.settle('2026-03-02');
          expect(await store.progress(consumer)).toBe(stream[at - 1]!.seq);
        }
        const after = await snapshot();
        const expected = expectedBooks(finalStates(stream), () => 0n);
        const delta = (code: AccountCode) => after.get(code)! - (before.get(code) ?? 0n);
        expect(delta('suspense')).toBe(expected.suspense);
        expect(delta('fee_income')).toBe(expected.fee_income);
        expect(delta('channel_fee_expense')).toBe(expected.channel_fee_expense);
        expect(delta('channel_receivable')).toBe(expected.channel_receivable);
        expect(delta('refunds_in_transit')).toBe(expected.refunds_in_transit);
        let merchants = 0n;
        for (const total of expected.merchant_total.values()) merchants += total;
        expect(delta('merchant_pending') + delta('merchant_available') + delta('merchant_frozen')).toBe(merchants);
        const trial = await store.trialBalance();
        expect(trial.balanced).toBe(true);
        // A last cut-off leaves no pending money of a past day, and settles none twice.
        await store.settle('2026-03-02');
        const pending = await store.pool.query<{ n: bigint }>(
          `SELECT count(*) AS n FROM journal_lines l JOIN journal_entries e USING (entry_id) JOIN accounts a USING (account_id)
            WHERE a.code = 'merchant_pending' AND e.txn_code <> 'SETTLEMENT' AND NOT EXISTS (SELECT 1 FROM settlement_lines s WHERE s.entry_id = l.entry_id AND s.line_no = l.line_no)`,
        );
        expect(pending.rows[0]!.n).toBe(0n);
        expect(await sumOf('merchant_pending')).toBe(0n);
        const settled_twice = await store.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM (SELECT entry_id, line_no FROM settlement_lines GROUP BY 1, 2 HAVING count(*) > 1) t');
        expect(settled_twice.rows[0]!.n).toBe(0n);
      }),
      { numRuns: 12 },
    );
    // The journal is append-only.
    await expect(store.pool.query(`UPDATE journal_lines SET debit_minor = debit_minor + 1 WHERE debit_minor > 0`)).rejects.toThrow(/append-only/);
  });
});

async function snapshot(): Promise<Map<AccountCode, bigint>> {
  const codes: AccountCode[] = ['suspense', 'fee_income', 'channel_fee_expense', 'channel_receivable', 'refunds_in_transit', 'merchant_pending', 'merchant_available', 'merchant_frozen'];
  const map = new Map<AccountCode, bigint>();
  for (const code of codes) map.set(code, await sumOf(code));
  return map;
}

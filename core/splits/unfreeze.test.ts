// The unfreeze sweep's query on a real PostgreSQL (a database of its own, migrated): it reads
// the payments of the profit-sharing channels through an index, not the whole table, and finds
// each payment's finishing splits through one. The planner is told not to scan sequentially
// where it can avoid it (an empty table is otherwise scanned whatever the indexes), and the
// sweep's own SQL is explained instead of run.

import { Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import type { LedgerStore } from '../ledger/store';
import type { Logger } from '../log';
import { sweepUnfreezes } from './unfreeze';

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new Pool({ connectionString: db.url, options: '-c enable_seqscan=off' });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

test('the unfreeze sweep reads payments by channel and paid_at and splits by payment through indexes, no sequential scan', async () => {
  const plans: string[] = [];
  const explaining = { pool: { query: async (sql: string, params: unknown[]) => {
    const result = await pool.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
    plans.push(JSON.stringify(result.rows[0]!['QUERY PLAN']));
    return { rows: [] };
  } } } as unknown as LedgerStore;
  const log = { warn: () => undefined } as unknown as Logger;
  await sweepUnfreezes(explaining, ['wxps'], 0, async () => { throw new Error('nothing is due'); }, log);
  expect(plans).toHaveLength(1);
  expect(plans[0]).toContain('"Index Name":"payments_channel_paid"');
  expect(plans[0]).toContain('"Index Name":"splits_payment"');
  expect(plans[0]).not.toContain('"Node Type":"Seq Scan"');
});

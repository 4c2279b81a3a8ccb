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

test('the unfreeze sweep: paycore\'s own unfreeze FAILED is tried again as unfreeze:<id>:2, :3 and no more; a payment with a split PROCESSING or REQUIRES_MANUAL waits', async () => {
  const raw = new Pool({ connectionString: db.url });
  try {
    const pay = async (payment_id: string) => raw.query(
      `INSERT INTO payments (payment_id, merchant_id, merchant_order_no, status, product, channel_id, currency, amount_minor, refunded_minor, merchant_fee_minor, version, created_at, updated_at, paid_at)
       VALUES ($1, 'm1', $1, 'SUCCEEDED', 'WECHAT_NATIVE', 'wxps', 'CNY', 100, 0, 0, 1, now(), now(), now() - interval '1 hour')`, [payment_id]);
    const split = async (payment_id: string, no: string, status: string, finish: boolean) => raw.query(
      `INSERT INTO splits (split_id, merchant_id, merchant_split_no, payment_id, status, currency, amount_minor, version, created_at, updated_at, finish)
       VALUES ($1, 'm1', $2, $3, $4, 'CNY', $5, 1, now(), now(), $6)`, [`s-${no}`, no, payment_id, status, finish ? 0 : 10, finish]);
    await pay('p_once');
    await split('p_once', 'unfreeze:p_once', 'FAILED', true);
    await pay('p_twice');
    await split('p_twice', 'unfreeze:p_twice', 'FAILED', true);
    await split('p_twice', 'unfreeze:p_twice:2', 'FAILED', true);
    await pay('p_thrice');
    for (const no of ['unfreeze:p_thrice', 'unfreeze:p_thrice:2', 'unfreeze:p_thrice:3']) await split('p_thrice', no, 'FAILED', true);
    await pay('p_processing');
    await split('p_processing', 'm-processing', 'PROCESSING', false);
    await pay('p_manual');
    await split('p_manual', 'm-manual', 'REQUIRES_MANUAL', false);
    await pay('p_merchant_failed');
    await split('p_merchant_failed', 'm-last', 'FAILED', true);
    const created: string[] = [];
    const ledger = { pool: raw } as unknown as LedgerStore;
    const log = { warn: () => undefined } as unknown as Logger;
    await sweepUnfreezes(ledger, ['wxps'], 0, async (request) => {
      created.push(request.merchant_split_no);
      return undefined as never;
    }, log);
    expect(created.sort()).toEqual(['unfreeze:p_merchant_failed', 'unfreeze:p_once:2', 'unfreeze:p_twice:3']);
  } finally {
    await raw.end();
  }
});

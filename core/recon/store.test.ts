// Reconciliation runs on a real PostgreSQL (a database of its own) with the books' projection
// writing the movements, and the compiled worker pool (build first).
import type { StatementParser } from '../../channels/channel';
import { createTestDatabase, type TestDatabase } from '../../testing/database';
import { payment_plan, streamOf, type PaymentPlan } from '../ledger/ledger.fixture';
import { LedgerStore } from '../ledger/store';
import { encodeRows } from './format';
import { addDays } from './match';
import { ReconPool } from './parallel';
import { reconcileDay } from './run';
import { migrate, ReconStore } from './store';
import type { ReconRow } from './types';
import fc from 'fast-check';

let db: TestDatabase;
let books: LedgerStore;
let store: ReconStore;
let pool: ReconPool;
const day = '2026-03-01';
const pool_days = 3;

const plan = (channel_id: string, overrides: Partial<PaymentPlan> = {}): PaymentPlan => ({
  ...fc.sample(payment_plan, { numRuns: 1, seed: 7 })[0]!, merchant_id: 'm_a', channel_id, amount_minor: 10_000n, merchant_fee_minor: 60n, channel_fee_minor: 30n,
  paid: true, duplicates: [], refunds: [], ...overrides,
});

/** What the channel would list: every movement of the books it took (S, D). */
async function channelRows(channel_id: string): Promise<ReconRow[]> {
  const result = await books.pool.query<{ kind: 'payment' | 'refund'; grp: string; ref: string; trade_no: string; amount_minor: bigint; fee_minor: bigint | null; currency: string; payment_id: string }>(
    `SELECT kind, grp, ref, trade_no, amount_minor, fee_minor, currency, payment_id FROM channel_movements WHERE channel_id = $1 AND status IN ('S', 'D') ORDER BY movement_key`, [channel_id],
  );
  return result.rows.map((r) => ({ side: 'C', kind: r.kind, group: r.grp, ref: r.ref, trade_no: r.trade_no, amount_minor: r.amount_minor, fee_minor: r.fee_minor ?? 0n, currency: r.currency, status: 'S', date: day }));
}

const statement = (channel_id: string, date: string, rows: ReconRow[]) => ({ channel_id, date, format: 'recon' as const, bytes: Buffer.from(encodeRows(rows.map((r) => ({ ...r, date })))) });

async function snapshot(channel_id: string) {
  const q = async (sql: string) => (await books.pool.query(sql, [channel_id])).rows;
  return {
    differences: await q('SELECT difference_key, state, action, suspense_minor, updated_at FROM recon_differences WHERE channel_id = $1 ORDER BY difference_key'),
    trail: await q('SELECT e.difference_id, e.seq FROM recon_difference_events e JOIN recon_differences d USING (difference_id) WHERE d.channel_id = $1 ORDER BY 1, 2'),
    postings: await q(`SELECT entry_key FROM journal_entries WHERE txn_code LIKE 'RECON%' AND ref_id LIKE $1 || ':%' ORDER BY entry_key`),
    pool: await q('SELECT after_date, side, grp FROM recon_pool WHERE channel_id = $1 ORDER BY 1, 2, 3'),
    balances: await q(`SELECT code, owner, balance_minor FROM accounts WHERE owner IN ($1, 'platform') ORDER BY 1, 2`),
  };
}

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  await migrate(db.url);
  books = new LedgerStore(db.url);
  store = new ReconStore(books);
  pool = new ReconPool({ threads: 2, shards_per_thread: 2 });
  // The books: payments of two channels through the projection's own path.
  const stream = streamOf([
    ...Array.from({ length: 6 }, () => plan('wx1')),
    plan('wx1', { refunds: [{ share_pm: 300, outcome: 'SUCCEEDED' }, { share_pm: 500, outcome: 'SUCCEEDED' }] }),
    plan('wx1', { duplicates: ['SUCCEEDED'] }),
    plan('wx1', { paid: false }),
    plan('ali1'), plan('ali1'), plan('ali1'),
    plan('up1', { refunds: [{ share_pm: 400, outcome: 'SUCCEEDED' }] }),
  ], [0]);
  await books.applyMessages('test', stream);
});

afterAll(async () => {
  await pool?.close();
  await books?.close();
  await db?.drop();
});

describe('recon - runs in PostgreSQL', () => {
  test('recon - every statement fault ends in its class, suspense is posted once, a re-run changes nothing, the pool carries the rest', async () => {
    const rows = await channelRows('wx1');
    const payments = rows.filter((r) => r.kind === 'payment' && r.trade_no.startsWith('t-'));
    const [amount, fee, missing, shifted, twice] = payments;
    const day_rows = rows.filter((r) => r !== missing && r !== shifted).map((r) =>
      r === amount ? { ...r, amount_minor: r.amount_minor + 5n } : r === fee ? { ...r, fee_minor: r.fee_minor! + 2n } : r);
    day_rows.push({ ...twice!, trade_no: `${twice!.trade_no}-again` });
    day_rows.push({ side: 'C', kind: 'payment', group: 'PHANTOM1', ref: 'PHANTOM1', trade_no: 'X1', amount_minor: 101n, fee_minor: 1n, currency: 'CNY', status: 'S', date: day });
    const deps = { store, pool, pool_days, parsers: new Map() };

    const first = await reconcileDay(deps, statement('wx1', day, day_rows));
    expect(first.result.differences.map((d) => `${d.class}:${d.group}`).sort()).toEqual([`AMOUNT_MISMATCH:${amount!.group}`, `FEE_MISMATCH:${fee!.group}`, `PAID_TWICE:${twice!.group}`].sort());
    expect(first.postings_added).toBe(2);
    const suspense = await books.pool.query<{ entry_key: string; debit: bigint; code: string }>(
      `SELECT e.entry_key, l.debit_minor AS debit, a.code FROM journal_entries e JOIN journal_lines l USING (entry_id) JOIN accounts a USING (account_id) WHERE e.txn_code = 'RECON_SUSPENSE' AND l.debit_minor > 0 ORDER BY 1`,
    );
    // The channel owes 5 more than booked; it kept a fee 2 higher than booked.
    expect(suspense.rows.map((r) => `${r.code}:${r.debit}`).sort()).toEqual(['channel_receivable:5', 'suspense:2']);

    const before = await snapshot('wx1');
    const again = await reconcileDay(deps, statement('wx1', day, day_rows));
    expect(again.differences_added).toBe(0);
    expect(again.postings_added).toBe(0);
    expect(await snapshot('wx1')).toEqual(before);

    // The next day lists the shifted payment: a cut-off shift, resolved by itself.
    const next = await reconcileDay(deps, statement('wx1', addDays(day, 1), [shifted!]));
    expect(next.result.differences.map((d) => `${d.class}:${d.group}`)).toEqual([`CUTOFF_SHIFT:${shifted!.group}`]);
    const shift = (await store.listDifferences({ channel_id: 'wx1', class: 'CUTOFF_SHIFT', page_size: 10 }))[0]!;
    expect(shift.state).toBe('resolved');
    // Still unmatched three days on: 短款 (ours only) and 长款 (the phantom row).
    expect((await reconcileDay(deps, statement('wx1', addDays(day, 2), []))).result.differences).toEqual([]);
    const last = await reconcileDay(deps, statement('wx1', addDays(day, 3), []));
    expect(last.result.differences.map((d) => `${d.class}:${d.group}`).sort()).toEqual([`CHANNEL_ONLY:PHANTOM1`, `OURS_ONLY:${missing!.group}`].sort());
    expect(last.result.pool).toEqual([]);
    const open = await store.listDifferences({ channel_id: 'wx1', state: 'open', page_size: 10 });
    expect(open.map((d) => `${d.class}:${d.action}`).sort()).toEqual(['CHANNEL_ONLY:apply', 'OURS_ONLY:reverse', 'PAID_TWICE:refund_duplicate']);
  });

  test('recon - resolving a difference held in suspense posts its reversal once, with the reason in the trail', async () => {
    const held = (await store.listDifferences({ channel_id: 'wx1', class: 'AMOUNT_MISMATCH', page_size: 1 }))[0]!;
    expect(held.state).toBe('suspense');
    expect(held.suspense_minor).toBe(5n);
    await expect(store.resolve(held.difference_id, ' ', 'op1')).rejects.toThrow('reason: required');
    const done = await store.resolve(held.difference_id, 'channel corrected its statement', 'op1');
    expect(done.changed).toBe(true);
    expect(done.difference.state).toBe('resolved');
    const twice = await store.resolve(held.difference_id, 'again', 'op2');
    expect(twice.changed).toBe(false);
    const net = await books.pool.query<{ net: bigint; n: bigint }>(
      `SELECT coalesce(sum(l.debit_minor - l.credit_minor), 0)::bigint AS net, count(DISTINCT e.entry_id) AS n FROM journal_entries e JOIN journal_lines l USING (entry_id) JOIN accounts a USING (account_id)
        WHERE e.ref_id = $1 AND a.code = 'suspense'`, [held.difference_key],
    );
    expect(net.rows[0]).toEqual({ net: 0n, n: 2n });
    const trail = await store.trailOf(held.difference_id);
    expect(trail.map((e) => [e.actor, e.from_state, e.to_state, e.note])).toEqual([
      ['recon', null, 'suspense', 'amounts differ: the difference is held in suspense'],
      ['op1', 'suspense', 'resolved', 'channel corrected its statement'],
    ]);
    await expect(books.pool.query('UPDATE recon_difference_events SET note = $1', ['x'])).rejects.toThrow(/append-only/);
  });

  test('recon - a run that dies before its commit leaves nothing; run again, everything is there once', async () => {
    const rows = (await channelRows('ali1')).map((r) => ({ ...r, amount_minor: r.amount_minor + 1n }));
    const deps = { store, pool, pool_days, parsers: new Map() };
    await expect(reconcileDay(deps, statement('ali1', day, rows), { crash_after_differences: 2 })).rejects.toThrow('crash injected');
    const empty = await snapshot('ali1');
    expect(empty.differences).toEqual([]);
    expect(empty.postings).toEqual([]);
    expect(await store.run('ali1', day)).toBeUndefined();
    const run = await reconcileDay(deps, statement('ali1', day, rows));
    expect(run.differences_added).toBe(3);
    expect(run.postings_added).toBe(3);
    expect((await reconcileDay(deps, statement('ali1', day, rows))).postings_added).toBe(0);
    expect((await snapshot('ali1')).postings).toHaveLength(3);
    const record = await store.run('ali1', day);
    expect(record).toMatchObject({ runs: 2, channel_rows: 3n, ours_rows: 3n, matched_count: 0n });
  });

  test('recon - a statement in a format the pool cannot read is read by the parser handed in for it; a format without one is refused', async () => {
    const seen: string[] = [];
    const parse: StatementParser = (bytes, channel_id) => {
      seen.push(`${channel_id}:${bytes.toString('utf8')}`);
      return [{ channel_id, attempt_id: 'PX1a1', channel_trade_no: 'PXT1', kind: 'payment', amount_minor: 300n, fee_minor: 2n, currency: 'CNY', occurred_at: new Date(`${day}T04:00:00Z`) }];
    };
    const deps = { store, pool, pool_days, parsers: new Map([['provider_bill', parse]]) };
    const run = await reconcileDay(deps, { channel_id: 'px1', date: day, format: 'provider_bill', bytes: Buffer.from('one row') });
    expect(seen).toEqual(['px1:one row']);
    expect(run.result.pool).toMatchObject([{ side: 'C', kind: 'payment', group: 'PX1a1', trade_no: 'PXT1', amount_minor: 300n, fee_minor: 2n, date: day }]);
    expect(await store.run('px1', day)).toMatchObject({ channel_rows: 1n, ours_rows: 0n, matched_count: 0n });
    await expect(reconcileDay(deps, { channel_id: 'px1', date: addDays(day, 1), format: 'other_bill', bytes: Buffer.from('x') })).rejects.toThrow('statement format other_bill: no adapter parses it');
  });

  test('recon - a refund row that names its payment only by the channel trade number matches our refund through the books', async () => {
    const rows = await channelRows('up1');
    const payment = rows.find((r) => r.kind === 'payment')!;
    const refund = rows.find((r) => r.kind === 'refund')!;
    // As UnionPay lists a refund whose payment is on another day's file: 原交易查询流水号 only.
    const parse: StatementParser = (_bytes, channel_id) => [
      { channel_id, attempt_id: payment.group, channel_trade_no: payment.trade_no, kind: 'payment', amount_minor: payment.amount_minor, fee_minor: payment.fee_minor!, currency: 'CNY', occurred_at: new Date(`${day}T04:00:00Z`) },
      { channel_id, attempt_id: '', channel_trade_no: payment.trade_no, kind: 'refund', refund_id: refund.ref, amount_minor: refund.amount_minor, fee_minor: refund.fee_minor!, currency: 'CNY', occurred_at: new Date(`${day}T05:00:00Z`) },
      { channel_id, attempt_id: '', channel_trade_no: 'UNKNOWN-QID', kind: 'refund', refund_id: 'R-NONE', amount_minor: 7n, fee_minor: 0n, currency: 'CNY', occurred_at: new Date(`${day}T06:00:00Z`) },
    ];
    const deps = { store, pool, pool_days, parsers: new Map([['up_file', parse]]) };
    const run = await reconcileDay(deps, { channel_id: 'up1', date: day, format: 'up_file', bytes: Buffer.from('file') });
    expect(run.result.differences).toEqual([]);
    // Our payment and refund matched; only the refund of a payment the books do not know waits.
    expect(run.result.pool.map((r) => `${r.side}:${r.kind}:${r.group}`)).toEqual(['C:refund:trade:UNKNOWN-QID']);
  });
});

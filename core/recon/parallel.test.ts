// Uses the compiled worker (dist/core/recon/worker.js): build first.
import fc from 'fast-check';
import { encodeRows } from './format';
import { matchRows } from './match';
import { ReconPool } from './parallel';
import { case_arbitrary, caseOf, day, pool_days } from './recon.fixture';
import type { MatchResult } from './types';

const canonical = (result: MatchResult) => ({
  differences: result.differences.map((d) => `${d.group}|${d.class}|${d.kind}|${d.channel.length}|${d.ours.length}`).sort(),
  pool: result.pool.map((r) => `${r.group}|${r.side}|${r.ref}`).sort(),
  totals: result.totals,
});

describe('recon - worker pool', () => {
  const pool = new ReconPool({ threads: 2, shards_per_thread: 3 });
  afterAll(() => pool.close());

  test('recon - the pool (split by byte ranges, matched by shard) reports what one matchRows reports', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(case_arbitrary, { minLength: 1, maxLength: 60 }), async (specs) => {
        const rows = specs.flatMap((spec, index) => caseOf(`g${index}`, spec.injection, spec.amount_minor, spec.fee_minor, spec.delta, spec.age_days).rows);
        const half = Math.floor(rows.length / 2);
        const result = await pool.reconcile(day, [
          { bytes: Buffer.from(encodeRows(rows.slice(0, half))), format: 'recon', date: day },
          { bytes: Buffer.from(encodeRows(rows.slice(half))), format: 'recon', date: day },
        ], pool_days);
        expect(canonical(result)).toEqual(canonical(matchRows(rows, { day, pool_days })));
      }),
      { numRuns: 25 },
    );
  });

  test('recon - a bad row fails the run with its field named', async () => {
    const bytes = Buffer.from('side,kind,group,ref,trade_no,amount_minor,fee_minor,currency,status,date\nO,payment,g1,g1,T1,1.5,1,CNY,S,2026-11-20\n');
    await expect(pool.reconcile(day, [{ bytes, format: 'recon', date: day }], pool_days)).rejects.toThrow(/amount_minor is not an integer/);
  });
});

describe('recon - worker pool lifecycle', () => {
  const header = 'side,kind,group,ref,trade_no,amount_minor,fee_minor,currency,status,date\n';
  const rowsOf = (amount: string) => Buffer.from(header + Array.from({ length: 400 }, (_, i) => `O,payment,g${i},g${i},T${i},${amount},1,CNY,S,${day}\n`).join(''));

  // Piscina destroyed with a task in flight fails the task, and a result the thread had already
  // posted then reaches a pool that no longer knows it: "Unexpected message from Worker", an
  // unhandled 'error' that failed whatever test ran next. A failed run must leave no task behind.
  test('recon - a failed shard fails the run only once every task of the run has ended', async () => {
    const pool = new ReconPool({ threads: 2, shards_per_thread: 16 });
    try {
      // A bad row in every shard: the first shard to end fails the run while the other 31 are queued or running.
      await expect(pool.reconcile(day, [{ bytes: rowsOf('1.5'), format: 'recon', date: day }], pool_days)).rejects.toThrow(/amount_minor is not an integer/);
      expect(pool.tasks_in_flight).toBe(0);
    } finally {
      await pool.close();
    }
  });

  test('recon - close waits for the run under way, then refuses new runs', async () => {
    const pool = new ReconPool({ threads: 2, shards_per_thread: 2 });
    const run = pool.reconcile(day, [{ bytes: rowsOf('100'), format: 'recon', date: day }], pool_days);
    expect(pool.tasks_in_flight).toBeGreaterThan(0);
    await pool.close();
    expect((await run).totals.ours_rows).toBe(400);
    await expect(pool.reconcile(day, [{ bytes: rowsOf('100'), format: 'recon', date: day }], pool_days)).rejects.toThrow(/the pool is closed/);
  });
});

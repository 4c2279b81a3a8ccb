// The books' benchmark (bench/README.md, "The books"): `node dist/bench/ledger.js [--histories N]
// [--rows N] [--pages N]`. On a database of its own and a stream prefix of its own:
//  1. projection: N random payment histories (core/ledger/ledger.fixture.ts) published to
//     <P>_PAY_EVENTS, then the projection started and timed until the books hold them all:
//     messages/s and journal entries/s;
//  2. ListPayments: `--rows` payments generated directly in PostgreSQL (generate_series), then
//     `--pages` pages of 50 read with the query ListPayments runs, first pages and deep ones
//     (keyset cursors), with and without a status filter: p50 and p99 per page.
// Prints the machine and a JSON report; writes it with --out FILE.

import { writeFileSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import { encodeJson } from '../core/codec';
import { createLogger } from '../core/log';
import { ledgerConsumerName, startProjection } from '../core/ledger/projection';
import { payment_plan, streamOf } from '../core/ledger/ledger.fixture';
import { LedgerStore, listPayments, type PageCursor } from '../core/ledger/store';
import { names as namesOf } from '../core/names';
import { ensureStreams } from '../core/orders/store';
import { createTestDatabase } from '../testing/database';
import { machineInfo } from './machine';
import { deleteStreams, nats_url, uniquePrefix } from '../testing/stack';

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

async function benchProjection(store: LedgerStore, histories: number): Promise<Record<string, number>> {
  const prefix = uniquePrefix();
  const names = namesOf(prefix);
  const nc = await connect({ servers: nats_url });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, names, 1);
    const stream = streamOf(fc.sample(payment_plan, { numRuns: histories, seed: 1 }), fc.sample(fc.nat(), { numRuns: 1000, seed: 2 }));
    const js = jetstream(nc);
    for (let i = 0; i < stream.length; i += 256) {
      await Promise.all(stream.slice(i, i + 256).map((m) => {
        const last = m.events[m.events.length - 1]!;
        return js.publish(names.events(m.state.payment_id), encodeJson(m.events.length === 1 ? { event: last, state: m.state } : { event: last, events: m.events, state: m.state }));
      }));
    }
    const started = process.hrtime.bigint();
    const projection = await startProjection({ js, jsm, names, prefix, store, log: createLogger('warn') });
    while (projection.applied_seq < stream.length) await new Promise((resolve) => setTimeout(resolve, 20));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    await projection.stop();
    const entries = await store.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM journal_entries');
    const progress = await store.progress(ledgerConsumerName(prefix));
    return { messages: stream.length, entries: Number(entries.rows[0]!.n), seconds, messages_per_s: stream.length / seconds, entries_per_s: Number(entries.rows[0]!.n) / seconds, progress };
  } finally {
    await nc.close();
    await deleteStreams(prefix);
  }
}

const statuses = ['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'CLOSED', 'FAILED', 'REFUNDED', 'PARTIALLY_REFUNDED', 'CREATED'];

/** `rows` payments over 100 merchants, 'm_big' holding half of them, spread over 90 days. */
async function generatePayments(store: LedgerStore, rows: number): Promise<number> {
  const started = process.hrtime.bigint();
  await store.pool.query(
    `INSERT INTO payments (payment_id, merchant_id, merchant_order_no, status, product, channel_id, currency, amount_minor, refunded_minor, merchant_fee_minor, version, created_at, updated_at, paid_at)
     SELECT 'p' || lpad(i::text, 25, '0'), CASE WHEN i % 2 = 0 THEN 'm_big' ELSE 'm_' || (i % 99) END, 'o-' || i,
            ($2::text[])[1 + i % 8], CASE WHEN i % 3 = 0 THEN 'ALIPAY_QR' ELSE 'WECHAT_NATIVE' END, CASE WHEN i % 3 = 0 THEN 'ali1' ELSE 'wx1' END,
            'CNY', 100 + i % 100000, 0, (100 + i % 100000) * 6 / 1000, 4,
            timestamptz '2026-09-01' + (i * interval '90 days' / $1), timestamptz '2026-09-01' + (i * interval '90 days' / $1), NULL
       FROM generate_series(1, $1) AS i`,
    [rows, statuses],
  );
  await store.pool.query('ANALYZE payments');
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function benchPages(store: LedgerStore, pages: number, status?: string): Promise<Record<string, number>> {
  const timings: number[] = [];
  let after: PageCursor | undefined;
  let depth = 0;
  for (let i = 0; i < pages; i += 1) {
    const started = process.hrtime.bigint();
    const rows = await listPayments(store.pool, { merchant_id: 'm_big', status, page_size: 51, after });
    timings.push(Number(process.hrtime.bigint() - started) / 1e6);
    const last = rows[49];
    // Walk deeper page by page; restart from the top at the end of the merchant's rows.
    after = last === undefined ? undefined : { created_at: last.created_at.toISOString(), id: last.payment_id };
    depth = after === undefined ? 0 : depth + 50;
  }
  timings.sort((a, b) => a - b);
  const q = (p: number) => timings[Math.min(timings.length - 1, Math.floor(p * timings.length))]!;
  return { pages, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: timings[timings.length - 1]!, deepest_row: depth };
}

async function main(): Promise<void> {
  const histories = arg('histories', 2000);
  const rows = arg('rows', 1_000_000);
  const pages = arg('pages', 2000);
  const db = await createTestDatabase();
  const store = new LedgerStore(db.url, 'Asia/Shanghai', 4);
  try {
    const projection = await benchProjection(store, histories);
    const generate_s = await generatePayments(store, rows);
    const any_status = await benchPages(store, pages);
    const succeeded = await benchPages(store, pages, 'SUCCEEDED');
    const report = { machine: machineInfo(), command: `node dist/bench/ledger.js ${process.argv.slice(2).join(' ')}`.trim(), projection, list_payments: { rows, generate_s, merchant_rows: Math.ceil(rows / 2), any_status, status_succeeded: succeeded } };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    const out = process.argv.indexOf('--out');
    if (out >= 0) writeFileSync(process.argv[out + 1]!, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await store.close();
    await db.drop();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});

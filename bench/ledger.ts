// The books' benchmark (bench/README.md, "The books"): `node dist/bench/ledger.js [--histories N]
// [--rows N] [--pages N] [--create-s S] [--in-flight N]`. On a database of its own and a stream
// prefix of its own:
//  0. creates: paycore (a stack of its own, the sandbox PSP in this process, no books) driven
//     in a closed loop (`--in-flight` CreatePayment calls at a time for `--create-s` seconds):
//     creates/s, event-log messages per create, paycore's CPU ms per create — the rate the
//     projection must beat twice; a closed loop at saturation is at least the sustainable
//     rate, so the comparison errs against the projection;
//  1. projection: N random payment histories (core/ledger/ledger.fixture.ts) published to
//     <P>_PAY_EVENTS, then the projection started and timed until the books hold them all:
//     messages/s, journal entries/s and CPU ms per message (this process + its PostgreSQL
//     backends, from /proc);
//  2. ListPayments: `--rows` payments generated directly in PostgreSQL (generate_series), then
//     `--pages` pages of 50 read with the query ListPayments runs, first pages and deep ones
//     (keyset cursors), with and without a status filter: p50 and p99 per page and CPU per page
//     (client + backend), beside the former query (every filter as `$n IS NULL OR ...`,
//     unprepared) on the same rows as the baseline.
// Prints the machine and a JSON report; writes it with --out FILE.

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
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
import { cpuMsOf, machineInfo } from './machine';
import { deleteStreams, nats_url, startStack, uniquePrefix } from '../testing/stack';
import { Product } from '../proto/gen/paycore/v1/payment';

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
        return js.publish(
          names.events(m.state.payment_id),
          encodeJson(m.events.length === 1 ? { event: last, state: m.state } : { event: last, events: m.events, state: m.state }),
        );
      }));
    }
    const backends_before = await backendCpu(store.pool);
    const cpu_before = process.cpuUsage();
    const started = process.hrtime.bigint();
    const projection = await startProjection({ js, jsm, names, prefix, store, log: createLogger('warn') });
    while (projection.applied_seq < stream.length) await new Promise((resolve) => setTimeout(resolve, 20));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpu_before);
    const backend_ms = cpuDelta(backends_before, await backendCpu(store.pool));
    await projection.stop();
    const entries = Number((await store.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM journal_entries')).rows[0]!.n);
    const progress = await store.progress(ledgerConsumerName(prefix));
    const node_ms = (cpu.user + cpu.system) / 1000;
    return {
      messages: stream.length, entries, seconds, messages_per_s: stream.length / seconds, entries_per_s: entries / seconds, progress,
      cpu_ms_per_message: (node_ms + backend_ms) / stream.length, node_cpu_ms: node_ms, postgres_cpu_ms: backend_ms,
    };
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

/** CPU ms of every PostgreSQL backend connected to the bench's own database, by pid. */
async function backendCpu(pool: pg.Pool | pg.Client): Promise<Map<number, number>> {
  const result = await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()');
  return new Map(result.rows.map((r) => [r.pid, cpuMsOf(r.pid) ?? 0]));
}

/** CPU used between two readings (a backend started in between counts from 0). */
function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, cpu] of after) ms += cpu - (before.get(pid) ?? 0);
  return ms;
}

/** The ListPayments query before this change: every filter as `$n IS NULL OR …`, sent
 * unprepared (parsed and planned on every page). The baseline of the same run. */
async function formerListPayments(
  client: pg.Client,
  filter: { merchant_id: string; status?: string; page_size: number; after?: PageCursor },
): Promise<{ payment_id: string; created_at: Date }[]> {
  const result = await client.query<{ payment_id: string; created_at: Date }>(
    `SELECT payment_id, merchant_order_no, status, product, channel_id, currency, amount_minor, refunded_minor, merchant_fee_minor, created_at, paid_at
       FROM payments
      WHERE merchant_id = $1
        AND ($2::timestamptz IS NULL OR created_at >= $2) AND ($3::timestamptz IS NULL OR created_at < $3)
        AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR channel_id = $5) AND ($6::text IS NULL OR product = $6)
        AND ($7::timestamptz IS NULL OR (created_at, payment_id) < ($7::timestamptz, $8::text))
      ORDER BY created_at DESC, payment_id DESC
      LIMIT $9`,
    [filter.merchant_id, null, null, filter.status ?? null, null, null, filter.after?.created_at ?? null, filter.after?.id ?? null, filter.page_size],
  );
  return result.rows;
}

type PageQuery = (
  client: pg.Client,
  filter: { merchant_id: string; status?: string; page_size: number; after?: PageCursor },
) => Promise<{ payment_id: string; created_at: Date }[]>;

/** `pages` pages of 50 with each query, interleaved page by page (so that neither runs on a
 * colder cache or a busier minute than the other), each on a connection of its own, walking
 * deeper with the keyset cursor: latency per page and CPU per page (this thread around the
 * call + that query's backend). */
async function benchPages(
  database_url: string, pages: number, queries: Record<string, PageQuery>, status?: string,
): Promise<Record<string, Record<string, number>>> {
  const runs = await Promise.all(Object.entries(queries).map(async ([name, query]) => {
    const client = new pg.Client({ connectionString: database_url });
    await client.connect();
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    return {
      name, query, client, backend, backend_before: cpuMsOf(backend) ?? 0, timings: [] as number[], cpu_us: 0, after: undefined as PageCursor | undefined,
      depth: 0, deepest: 0,
    };
  }));
  try {
    for (let i = 0; i < pages; i += 1) {
      for (const run of runs) {
        const cpu_before = process.cpuUsage();
        const started = process.hrtime.bigint();
        const rows = await run.query(run.client, { merchant_id: 'm_big', status, page_size: 51, after: run.after });
        run.timings.push(Number(process.hrtime.bigint() - started) / 1e6);
        const cpu = process.cpuUsage(cpu_before);
        run.cpu_us += cpu.user + cpu.system;
        const last = rows[49];
        // Walk deeper page by page; restart from the top at the end of the merchant's rows.
        run.after = last === undefined ? undefined : { created_at: last.created_at.toISOString(), id: last.payment_id };
        run.depth = run.after === undefined ? 0 : run.depth + 50;
        run.deepest = Math.max(run.deepest, run.depth);
      }
    }
    const report: Record<string, Record<string, number>> = {};
    for (const run of runs) {
      const backend_ms = (cpuMsOf(run.backend) ?? 0) - run.backend_before;
      const timings = [...run.timings].sort((a, b) => a - b);
      const q = (p: number) => timings[Math.min(timings.length - 1, Math.floor(p * timings.length))]!;
      report[run.name] = {
        pages, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: timings[timings.length - 1]!, deepest_row: run.deepest,
        cpu_ms_per_page: (run.cpu_us / 1000 + backend_ms) / pages, client_cpu_ms_per_page: run.cpu_us / 1000 / pages,
        postgres_cpu_ms_per_page: backend_ms / pages,
      };
    }
    return report;
  } finally {
    await Promise.all(runs.map((run) => run.client.end()));
  }
}

/** paycore's create rate on this machine: a closed loop of `in_flight` CreatePayment calls for
 * `seconds`, on a stack of its own (no books, so the projection takes nothing from it). */
async function benchCreates(seconds: number, in_flight: number): Promise<Record<string, number>> {
  const stack = await startStack();
  try {
    const merchant = 'm_bench';
    const create = (n: number) => stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `lb-${process.pid}-${n}`, amount: 100n + BigInt(n % 1000), currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'bench' });
    for (let i = 0; i < 20; i += 1) await create(-1 - i); // warm up
    const nc = await connect({ servers: nats_url });
    const jsm = await jetstreamManager(nc);
    const stream = `${stack.prefix.toUpperCase()}_PAY_EVENTS`;
    const seq_before = (await jsm.streams.info(stream)).state.last_seq;
    const pid = stack.paycore.pid!;
    const paycore_before = cpuMsOf(pid) ?? 0;
    let next = 0;
    let done = 0;
    let failed = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    await Promise.all(Array.from({ length: in_flight }, async () => {
      while (performance.now() < deadline) {
        const n = next++;
        await create(n).then(() => (done += 1), () => (failed += 1));
      }
    }));
    const elapsed_s = (performance.now() - started) / 1000;
    const paycore_ms = (cpuMsOf(pid) ?? 0) - paycore_before;
    const messages = (await jsm.streams.info(stream)).state.last_seq - seq_before;
    await nc.close();
    return {
      creates: done,
      failed,
      seconds: elapsed_s,
      in_flight,
      creates_per_s: done / elapsed_s,
      messages_per_create: messages / Math.max(1, done),
      paycore_cpu_ms_per_create: paycore_ms / Math.max(1, done),
    };
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const histories = arg('histories', 2000);
  const rows = arg('rows', 1_000_000);
  const pages = arg('pages', 2000);
  const create_s = arg('create-s', 15);
  const in_flight = arg('in-flight', 16);
  const load_before = os.loadavg();
  // --create-s 0 / --histories 0 / --rows 0 leave a part out.
  const creates = create_s > 0 ? await benchCreates(create_s, in_flight) : undefined;
  const db = await createTestDatabase();
  const store = new LedgerStore(db.url, 'Asia/Shanghai', 4);
  try {
    const projection = histories > 0 ? await benchProjection(store, histories) : undefined;
    const generate_s = rows > 0 ? await generatePayments(store, rows) : 0;
    const queries: Record<string, PageQuery> = { current: (client, filter) => listPayments(client, filter), baseline_former_query: formerListPayments };
    const list_payments = rows > 0 ? {
      rows, generate_s, merchant_rows: Math.ceil(rows / 2),
      any_status: await benchPages(db.url, pages, queries),
      status_succeeded: await benchPages(db.url, pages, queries, 'SUCCEEDED'),
    } : undefined;
    const comparison = creates === undefined || projection === undefined ? undefined : {
      // What the projection must keep up with: the event-log messages paycore's creates make per second.
      projection_messages_per_s_over_create_messages_per_s: projection.messages_per_s! / (creates.creates_per_s! * creates.messages_per_create!),
      projection_entries_per_s_over_creates_per_s: projection.entries_per_s! / creates.creates_per_s!,
      // The same in CPU: what one create's messages cost the projection, against what the create cost paycore.
      paycore_cpu_ms_per_create_over_projection_cpu_ms_per_create:
        creates.paycore_cpu_ms_per_create! / (projection.cpu_ms_per_message! * creates.messages_per_create!),
    };
    const report = {
      machine: machineInfo(), command: `node dist/bench/ledger.js ${process.argv.slice(2).join(' ')}`.trim(), load_average_before: load_before, load_average_after: os.loadavg(),
      creates, projection, comparison, list_payments,
    };
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

// Reconciliation at scale (bench/README.md, "Reconciliation"): `node dist/bench/recon.js
// [--rows N] [--per-class K] [--threads T] [--out FILE] [--dir DIR (keep the files there)]`.
//  1. Generates a day: N rows of the bank gateway's statement (the bank's CSV) against N rows
//     of ours (normalised rows), and a pool of earlier days' unmatched rows, with K injected
//     differences of every class (amount, fee, status, paid twice, cut-off shift, 长款 and 短款
//     that expire from the pool today), K rows of each side that go to the pool today, and the
//     shapes that must match cleanly (partial refunds, refunds the bank merged, combined
//     payments, failed attempts the bank never lists).
//  2. In a fresh process (so that its peak memory is reconciliation's alone) reads the files
//     and reconciles them on the piscina pool (core/recon/parallel.ts): wall time, CPU time of
//     every thread, peak RSS; then checks that every injected difference was reported with its
//     class, nothing else was, the pool holds exactly the rows it should and the matched count
//     is right.
//  3. Baseline, in another fresh process: the bank adapter's own parser (parseStatement) on the
//     channel file alone, one thread — the ratio says what matching both sides costs against
//     reading one the ordinary way.
// Prints the machine and a JSON report; writes it with --out FILE. Exits 1 when the check fails.

import { fork } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseStatement, STATEMENT_COLUMNS } from '../channels/bankgw/transformers';
import { formatYuan } from '../channels/shared/http';
import { encodeRow, RECON_COLUMNS } from '../core/recon/format';
import { addDays } from '../core/recon/match';
import { ReconPool } from '../core/recon/parallel';
import type { ReconRow } from '../core/recon/types';
import { machineBusyMs, machineInfo } from './machine';

const day = '2026-11-20';
const pool_days = 3;

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

function textArg(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? undefined : process.argv[index + 1];
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Expected {
  differences: string[];
  pooled: string[];
  matched_count: number;
  channel_rows: number;
  ours_rows: number;
}

/** Buffered line writer (one write per 4 MiB). */
class Lines {
  readonly #fd: number;
  #chunk: string[] = [];
  #size = 0;
  count = 0;
  constructor(file: string, header: string) {
    this.#fd = openSync(file, 'w');
    this.#push(header);
  }
  #push(line: string) {
    this.#chunk.push(line);
    this.#size += line.length + 1;
    if (this.#size > 4 * 1024 * 1024) this.flush();
  }
  add(line: string) {
    this.count += 1;
    this.#push(line);
  }
  flush() {
    if (this.#chunk.length > 0) writeSync(this.#fd, `${this.#chunk.join('\n')}\n`);
    this.#chunk = [];
    this.#size = 0;
  }
  close(trailer?: string) {
    if (trailer !== undefined) this.#push(trailer);
    this.flush();
    closeSync(this.#fd);
  }
}

const feeOf = (minor: bigint) => (minor * 6n + 500n) / 1000n;

/** The day's three files and what reconciling them must find, written row by row from one seeded
 * random sequence (the same files every run). */
class DayWriter {
  readonly #random = mulberry32(17);
  readonly channel: Lines;
  readonly ours: Lines;
  readonly pool: Lines;
  readonly expected: Expected = { differences: [], pooled: [], matched_count: 0, channel_rows: 0, ours_rows: 0 };
  #next = 0;
  #pool_channel = 0;

  constructor(dir: string) {
    this.channel = new Lines(path.join(dir, 'channel.csv'), STATEMENT_COLUMNS.join(','));
    this.ours = new Lines(path.join(dir, 'ours.csv'), RECON_COLUMNS.join(','));
    this.pool = new Lines(path.join(dir, 'pool.csv'), RECON_COLUMNS.join(','));
  }

  amount(): bigint {
    return BigInt(1 + Math.floor(this.#random() * 10_000_000));
  }

  group(): string {
    return `P${String(this.#next++).padStart(12, '0')}a1`;
  }

  bank(kind: 'payment' | 'refund', group: string, trade_no: string, minor: bigint, fee: bigint, refund_no = ''): void {
    this.channel.add([
      `${day.replace(/-/g, '')}120000`, kind === 'payment' ? 'PAY' : 'REFUND', group, kind === 'payment' ? trade_no : `B${group}`, refund_no,
      kind === 'refund' ? trade_no : '', formatYuan(minor), formatYuan(kind === 'refund' ? -fee : fee), 'CNY', 'ICBC', 'B2C',
    ].join(','));
  }

  our(into: Lines, row: Partial<ReconRow> & Pick<ReconRow, 'group' | 'amount_minor'>): void {
    into.add(encodeRow({ side: 'O', kind: 'payment', ref: row.group, trade_no: `B${row.group}`, fee_minor: feeOf(row.amount_minor), currency: 'CNY', status: 'S', date: day, ...row }));
  }

  differ(group: string, found: string, kind = 'payment'): void {
    this.expected.differences.push(`${group}|${found}|${kind}`);
  }

  /** A payment both sides list alike. */
  clean(): void {
    const g = this.group();
    const minor = this.amount();
    this.bank('payment', g, `B${g}`, minor, feeOf(minor));
    this.our(this.ours, { group: g, amount_minor: minor });
    this.expected.matched_count += 1;
  }

  /** One of each difference class; `k` varies the amount mismatch. */
  differences(k: number): void {
    let g = this.group();
    let minor = this.amount();
    this.bank('payment', g, `B${g}`, minor + 1n + BigInt(k % 7), feeOf(minor));
    this.our(this.ours, { group: g, amount_minor: minor });
    this.differ(g, 'AMOUNT_MISMATCH');
    g = this.group();
    minor = this.amount();
    this.bank('payment', g, `B${g}`, minor, feeOf(minor) + 1n);
    this.our(this.ours, { group: g, amount_minor: minor });
    this.differ(g, 'FEE_MISMATCH');
    g = this.group();
    minor = this.amount();
    this.bank('payment', g, `B${g}`, minor, feeOf(minor));
    this.our(this.ours, { group: g, amount_minor: minor, status: 'F', trade_no: '' });
    this.differ(g, 'STATUS_MISMATCH');
    g = this.group();
    minor = this.amount();
    this.bank('payment', g, `B${g}`, minor, feeOf(minor));
    this.bank('payment', g, `B${g}x`, minor, feeOf(minor));
    this.our(this.ours, { group: g, amount_minor: minor });
    this.differ(g, 'PAID_TWICE');
    this.expected.matched_count += 1;
    g = this.group();
    minor = this.amount();
    this.bank('payment', g, `B${g}`, minor, feeOf(minor));
    this.our(this.pool, { group: g, amount_minor: minor, date: addDays(day, -1) });
    this.differ(g, 'CUTOFF_SHIFT');
    g = this.group();
    this.#pool_channel += 1;
    this.pool.add(encodeRow({ side: 'C', kind: 'payment', group: g, ref: g, trade_no: `B${g}`, amount_minor: 500n, fee_minor: 3n, currency: 'CNY', status: 'S', date: addDays(day, -pool_days) }));
    this.differ(g, 'CHANNEL_ONLY');
    g = this.group();
    this.our(this.pool, { group: g, amount_minor: 700n, date: addDays(day, -pool_days) });
    this.differ(g, 'OURS_ONLY');
  }

  /** Rows that match without a difference though not one to one, and rows left to the pool. */
  unevenMatches(): void {
    // Today's rows without their other side: to the pool, no difference yet.
    let g = this.group();
    this.bank('payment', g, `B${g}`, 900n, feeOf(900n));
    this.expected.pooled.push(`${g}|C`);
    g = this.group();
    this.our(this.ours, { group: g, amount_minor: 800n });
    this.expected.pooled.push(`${g}|O`);
    // Partial refunds the bank lists merged into one row without our refund numbers (N:N).
    g = this.group();
    let minor = this.amount() + 10n;
    this.bank('payment', g, `B${g}`, minor, feeOf(minor));
    this.our(this.ours, { group: g, amount_minor: minor });
    this.bank('refund', g, `R${g}`, minor, 0n);
    this.our(this.ours, { group: g, kind: 'refund', ref: `${g}r1`, trade_no: '', amount_minor: minor / 2n, fee_minor: undefined });
    this.our(this.ours, { group: g, kind: 'refund', ref: `${g}r2`, trade_no: '', amount_minor: minor - minor / 2n, fee_minor: undefined });
    this.expected.matched_count += 2;
    // A combined payment: one bank row, two attempts of ours under its trade number.
    g = this.group();
    minor = this.amount() + 10n;
    this.bank('payment', g, `B${g}`, minor, feeOf(minor));
    this.our(this.ours, { group: g, ref: `${g}x`, amount_minor: minor / 3n, fee_minor: undefined });
    this.our(this.ours, { group: g, ref: `${g}y`, amount_minor: minor - minor / 3n, fee_minor: undefined });
    this.expected.matched_count += 1;
    // An attempt of ours that failed, which the bank never lists.
    this.our(this.ours, { group: this.group(), amount_minor: 100n, status: 'F', trade_no: '' });
  }

  /** A partial refund listed on its own (1:1 on the refund number). */
  refundOneByOne(): void {
    const g = this.group();
    const minor = this.amount() + 10n;
    this.bank('payment', g, `B${g}`, minor, feeOf(minor));
    this.our(this.ours, { group: g, amount_minor: minor });
    this.bank('refund', g, `R${g}`, minor / 4n, 0n, `${g}r1`);
    this.our(this.ours, { group: g, kind: 'refund', ref: `${g}r1`, trade_no: `R${g}`, amount_minor: minor / 4n, fee_minor: 0n });
    this.expected.matched_count += 2;
  }

  /** Clean payments until each side has `rows`; the longer side's rest goes to the pool. */
  fill(rows: number): void {
    while (this.channel.count < rows && this.ours.count < rows) this.clean();
    while (this.channel.count < rows) {
      const g = this.group();
      this.bank('payment', g, `B${g}`, 900n, feeOf(900n));
      this.expected.pooled.push(`${g}|C`);
    }
    while (this.ours.count < rows) {
      const g = this.group();
      this.our(this.ours, { group: g, amount_minor: 800n });
      this.expected.pooled.push(`${g}|O`);
    }
  }

  close(): Expected {
    this.expected.channel_rows = this.channel.count + this.#pool_channel;
    this.expected.ours_rows = this.ours.count + this.pool.count - this.#pool_channel;
    this.channel.close(`#total,${this.channel.count}`);
    this.ours.close();
    this.pool.close();
    return this.expected;
  }
}

function generate(dir: string, rows: number, per_class: number): Expected {
  const writer = new DayWriter(dir);
  for (let k = 0; k < per_class; k++) {
    writer.differences(k);
    writer.unevenMatches();
  }
  // Partial refunds listed one by one, 2 % of the day.
  for (let k = 0; k < rows / 50; k++) writer.refundOneByOne();
  writer.fill(rows);
  return writer.close();
}

function readShared(file: string): SharedArrayBuffer {
  const size = statSync(file).size;
  const shared = new SharedArrayBuffer(size);
  const view = new Uint8Array(shared);
  const fd = openSync(file, 'r');
  for (let at = 0; at < size; ) at += readSync(fd, view, at, size - at, at);
  closeSync(fd);
  return shared;
}

async function runReconcile(dir: string, threads: number): Promise<void> {
  const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
  const pool = new ReconPool({ threads });
  // Warm the threads (module load) outside the timing.
  await pool.reconcile(day, [], pool_days);
  const busy_before = machineBusyMs();
  const cpu_before = process.cpuUsage();
  const started = process.hrtime.bigint();
  const sources = [
    { bytes: readShared(path.join(dir, 'channel.csv')), format: 'bankgw' as const, date: day },
    { bytes: readShared(path.join(dir, 'ours.csv')), format: 'recon' as const, date: day },
    { bytes: readShared(path.join(dir, 'pool.csv')), format: 'recon' as const, date: day },
  ];
  const read_ms = Number(process.hrtime.bigint() - started) / 1e6;
  const result = await pool.reconcile(day, sources, pool_days);
  const wall_ms = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpu_before);
  const busy_ms = machineBusyMs() - busy_before;
  await pool.close();
  const differences = result.differences.map((d) => `${d.group}|${d.class}|${d.kind}`).sort();
  const pooled = result.pool.map((r) => `${r.group}|${r.side}`).sort();
  const want_differences = [...expected.differences].sort();
  const want_pooled = [...expected.pooled].sort();
  const missing = want_differences.filter((d) => !differences.includes(d));
  const check = {
    differences_reported: differences.length,
    differences_injected: want_differences.length,
    differences_equal: JSON.stringify(differences) === JSON.stringify(want_differences),
    missing_sample: missing.slice(0, 5),
    unexpected_sample: differences.filter((d) => !want_differences.includes(d)).slice(0, 5),
    pool_equal: JSON.stringify(pooled) === JSON.stringify(want_pooled),
    matched_count: result.totals.matched_count,
    matched_count_expected: expected.matched_count,
    rows_equal: result.totals.channel_rows === expected.channel_rows && result.totals.ours_rows === expected.ours_rows,
  };
  const by_class: Record<string, number> = {};
  for (const d of result.differences) by_class[d.class] = (by_class[d.class] ?? 0) + 1;
  process.send!({
    threads, shards: pool.shards, read_ms, wall_ms, cpu_ms: (cpu.user + cpu.system) / 1000, machine_busy_ms: busy_ms,
    max_rss_mib: process.resourceUsage().maxRSS / 1024, channel_rows: result.totals.channel_rows, ours_rows: result.totals.ours_rows,
    by_class, check, ok: check.differences_equal && check.pool_equal && check.matched_count === check.matched_count_expected && check.rows_equal,
  });
}

function runBaseline(dir: string): void {
  const cpu_before = process.cpuUsage();
  const started = process.hrtime.bigint();
  const rows = parseStatement(readFileSync(path.join(dir, 'channel.csv'), 'utf8'), 'bankgw');
  const wall_ms = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpu_before);
  process.send!({ rows: rows.length, wall_ms, cpu_ms: (cpu.user + cpu.system) / 1000, max_rss_mib: process.resourceUsage().maxRSS / 1024 });
}

function child(mode: string, dir: string, threads: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const process_ = fork(__filename, [`--${mode}`, dir, '--threads', String(threads)], { execArgv: ['--max-old-space-size=8192'] });
    let answer: Record<string, unknown> | undefined;
    process_.on('message', (message) => (answer = message as Record<string, unknown>));
    process_.on('error', reject);
    process_.on('exit', (code) => (answer === undefined ? reject(new Error(`${mode} exited ${code}`)) : resolve(answer)));
  });
}

async function main(): Promise<void> {
  const threads = arg('threads', 0) || (await import('node:os')).availableParallelism();
  const run_dir = textArg('run');
  if (run_dir !== undefined) return runReconcile(run_dir, threads);
  const baseline_dir = textArg('baseline');
  if (baseline_dir !== undefined) return runBaseline(baseline_dir);
  const rows = arg('rows', 1_000_000);
  const per_class = arg('per-class', 1_000);
  const kept = textArg('dir');
  const dir = kept ?? mkdtempSync(path.join(tmpdir(), 'paycore-recon-'));
  try {
    const generated_at = process.hrtime.bigint();
    const expected = generate(dir, rows, per_class);
    writeFileSync(path.join(dir, 'expected.json'), JSON.stringify(expected));
    const generate_ms = Number(process.hrtime.bigint() - generated_at) / 1e6;
    const files_mib = ['channel.csv', 'ours.csv', 'pool.csv'].reduce((n, f) => n + statSync(path.join(dir, f)).size, 0) / 2 ** 20;
    const reconcile = await child('run', dir, threads);
    const baseline = await child('baseline', dir, threads);
    const report = {
      schema: 'paycore.bench.recon.v1', machine: machineInfo(), command: process.argv.slice(1).join(' '),
      setup: { rows, per_class, pool_days, threads, files_mib: Number(files_mib.toFixed(1)), generate_ms: Math.round(generate_ms) },
      reconcile, baseline,
      ratios: {
        wall_vs_baseline: Number(((reconcile.wall_ms as number) / (baseline.wall_ms as number)).toFixed(2)),
        cpu_vs_baseline: Number(((reconcile.cpu_ms as number) / (baseline.cpu_ms as number)).toFixed(2)),
        cpu_us_per_row: Number((((reconcile.cpu_ms as number) * 1000) / ((reconcile.channel_rows as number) + (reconcile.ours_rows as number))).toFixed(3)),
      },
    };
    const text = JSON.stringify(report, null, 2);
    console.log(text);
    const out = textArg('out');
    if (out !== undefined) writeFileSync(out, `${text}\n`);
    if (reconcile.ok !== true || (reconcile.wall_ms as number) > 10_000) process.exitCode = 1;
  } finally {
    if (kept === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

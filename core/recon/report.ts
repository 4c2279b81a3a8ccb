// The day-end report of a channel and day (对账报告): what matched, the differences by class,
// suspense opened and cleared, the rows still in the pool — read from PostgreSQL and written
// as CSV and as a self-contained HTML page (no script, no external resource).

import { difference_classes, type DifferenceClass } from './types';
import type { ReconStore } from './store';

interface ClassFigures {
  class: DifferenceClass;
  count: number;
  unresolved: number;
}

export interface DayReport {
  channel_id: string;
  business_date: string;
  statement_sha256: string;
  runs: number;
  channel_rows: bigint;
  ours_rows: bigint;
  matched_count: bigint;
  matched_channel_minor: bigint;
  matched_ours_minor: bigint;
  classes: ClassFigures[];
  suspense_opened_minor: bigint;
  suspense_cleared_minor: bigint;
  pool_rows: number;
}

/** The report of a day that ran; undefined when it has not. */
export async function dayReport(store: ReconStore, channel_id: string, business_date: string): Promise<DayReport | undefined> {
  const run = await store.pool.query<{
    runs: number;
    channel_rows: bigint;
    ours_rows: bigint;
    matched_count: bigint;
    matched_channel_minor: bigint;
    matched_ours_minor: bigint;
    sha256: string;
  }>(
    `SELECT r.runs, r.channel_rows, r.ours_rows, r.matched_count, r.matched_channel_minor, r.matched_ours_minor, s.sha256
       FROM recon_runs r JOIN recon_statements s USING (statement_id) WHERE r.channel_id = $1 AND r.business_date = $2`,
    [channel_id, business_date],
  );
  const found = run.rows[0];
  if (found === undefined) return undefined;
  const classes = await store.pool.query<{ class: DifferenceClass; n: bigint; unresolved: bigint }>(
    `SELECT class, count(*) AS n, count(*) FILTER (WHERE state <> 'resolved') AS unresolved FROM recon_differences WHERE channel_id = $1 AND business_date = $2 GROUP BY class`,
    [channel_id, business_date],
  );
  const suspense = await store.pool.query<{ opened: bigint; cleared: bigint }>(
    `SELECT coalesce(sum(abs(suspense_minor)), 0)::bigint AS opened, coalesce(sum(abs(suspense_minor)) FILTER (WHERE state = 'resolved'), 0)::bigint AS cleared
       FROM recon_differences WHERE channel_id = $1 AND business_date = $2`,
    [channel_id, business_date],
  );
  const pool = await store.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM recon_pool WHERE channel_id = $1 AND after_date = $2', [channel_id, business_date]);
  const by_class = new Map(classes.rows.map((row) => [row.class, row]));
  return {
    channel_id, business_date, statement_sha256: found.sha256, runs: found.runs,
    channel_rows: found.channel_rows, ours_rows: found.ours_rows, matched_count: found.matched_count,
    matched_channel_minor: found.matched_channel_minor, matched_ours_minor: found.matched_ours_minor,
    classes: difference_classes.flatMap((name) => {
      const row = by_class.get(name);
      return row === undefined ? [] : [{ class: name, count: Number(row.n), unresolved: Number(row.unresolved) }];
    }),
    suspense_opened_minor: suspense.rows[0]!.opened, suspense_cleared_minor: suspense.rows[0]!.cleared,
    pool_rows: Number(pool.rows[0]!.n),
  };
}

/** Minor units as a decimal with two places (every currency the channels settle has two). */
function formatMinor(minor: bigint): string {
  const negative = minor < 0n;
  const magnitude = negative ? -minor : minor;
  return `${negative ? '-' : ''}${magnitude / 100n}.${String(magnitude % 100n).padStart(2, '0')}`;
}

const class_names: Record<DifferenceClass, string> = {
  CHANNEL_ONLY: '长款 channel only', OURS_ONLY: '短款 ours only', AMOUNT_MISMATCH: 'amount mismatch', FEE_MISMATCH: 'fee mismatch',
  STATUS_MISMATCH: 'status mismatch', CUTOFF_SHIFT: 'shifted past the cut-off', PAID_TWICE: 'paid twice',
  UNLISTED: 'paid at the channel, on no statement',
};

/** One figure a line: `section,item,value` (amounts in minor units, exact). */
export function reportCsv(report: DayReport): string {
  const lines = ['section,item,value'];
  const add = (section: string, item: string, value: string | number | bigint) => lines.push(`${section},${item},${value}`);
  add('day', 'channel_id', report.channel_id);
  add('day', 'business_date', report.business_date);
  add('day', 'statement_sha256', report.statement_sha256);
  add('day', 'runs', report.runs);
  add('rows', 'channel', report.channel_rows);
  add('rows', 'ours', report.ours_rows);
  add('matched', 'count', report.matched_count);
  add('matched', 'channel_minor', report.matched_channel_minor);
  add('matched', 'ours_minor', report.matched_ours_minor);
  for (const figures of report.classes) {
    add('differences', `${figures.class}_count`, figures.count);
    add('differences', `${figures.class}_unresolved`, figures.unresolved);
  }
  add('suspense', 'opened_minor', report.suspense_opened_minor);
  add('suspense', 'cleared_minor', report.suspense_cleared_minor);
  add('pool', 'rows', report.pool_rows);
  return `${lines.join('\n')}\n`;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

export function reportHtml(report: DayReport): string {
  const e = escapeHtml;
  const total = report.classes.reduce((n, c) => n + c.count, 0);
  const unresolved = report.classes.reduce((n, c) => n + c.unresolved, 0);
  const rows = report.classes.map((c) => `<tr><th scope="row">${e(class_names[c.class])}</th><td data-figure="${c.class}_count">${c.count}</td><td data-figure="${c.class}_unresolved">${c.unresolved}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Reconciliation ${e(report.channel_id)} ${e(report.business_date)}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:52rem;color:#1d2430}
h1{font-size:1.4rem;margin:0 0 .2rem} .sub{color:#5b6573;margin:0 0 1.5rem;font-size:.85rem;word-break:break-all}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.8rem;margin-bottom:1.5rem}
.card{border:1px solid #d9dee5;border-radius:.5rem;padding:.8rem 1rem} .card b{display:block;font-size:1.35rem}
.ok{color:#17693a} .warn{color:#a33a12}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem} th,td{padding:.4rem .6rem;border-bottom:1px solid #e6e9ee;text-align:left}
td{font-variant-numeric:tabular-nums}
</style></head>
<body>
<h1>Reconciliation — ${e(report.channel_id)}, ${e(report.business_date)}</h1>
<p class="sub">statement sha256 ${e(report.statement_sha256)} · ${report.runs} run(s)</p>
<div class="cards">
<div class="card">Matched<b data-figure="matched_count">${report.matched_count}</b></div>
<div class="card">Matched amount (channel)<b data-figure="matched_channel">${formatMinor(report.matched_channel_minor)}</b></div>
<div class="card">Matched amount (ours)<b data-figure="matched_ours">${formatMinor(report.matched_ours_minor)}</b></div>
<div class="card">Differences<b data-figure="differences" class="${unresolved === 0 ? 'ok' : 'warn'}">${total}</b>${unresolved} unresolved</div>
</div>
<table><caption>Rows read</caption>
<tr><th scope="row">Channel statement</th><td data-figure="channel_rows">${report.channel_rows}</td></tr>
<tr><th scope="row">Our books (and the pool)</th><td data-figure="ours_rows">${report.ours_rows}</td></tr>
<tr><th scope="row">Waiting in the pool</th><td data-figure="pool_rows">${report.pool_rows}</td></tr>
</table>
<table><caption>Differences by class</caption>
<tr><th>class</th><th>found</th><th>unresolved</th></tr>
${rows || '<tr><td colspan="3">none</td></tr>'}
</table>
<table><caption>Suspense (挂账)</caption>
<tr><th scope="row">Opened</th><td data-figure="suspense_opened">${formatMinor(report.suspense_opened_minor)}</td></tr>
<tr><th scope="row">Cleared (销账)</th><td data-figure="suspense_cleared">${formatMinor(report.suspense_cleared_minor)}</td></tr>
</table>
</body></html>
`;
}

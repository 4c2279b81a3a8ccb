// ops/: the alert rules pass their promtool unit tests, the scrape config is valid, every
// metric the Grafana dashboard queries is on a live /metrics, and a real Prometheus server
// scraping a running paycore under a short load answers the dashboard's key queries.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Product } from '../proto/gen/paycore/v1/payment';
import { eventually, freePort, startStack, type Stack } from './harness';

const ops = path.resolve(__dirname, '../ops');
const dashboard = JSON.parse(readFileSync(path.join(ops, 'grafana/paycore.json'), 'utf8')) as { panels: { type: string; title: string; targets?: { expr: string }[] }[] };
// Row panels (the SLO rows' headers) hold no query.
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
/** The SLOs recorded by ops/prometheus/slo.yml; the dashboard has a row for each. */
const slo_names = ['create-payment-availability', 'create-payment-latency', 'payment-completion', 'notification-delivery'];

/** Metric names a PromQL expression reads (identifiers followed by { or [ or a space/paren). */
function metricNames(expr: string): string[] {
  const found = expr.match(/\b(paycore_[a-z_]+|nodejs_[a-z_]+)\b/g) ?? [];
  return [...new Set(found)];
}

test('ops - alert rules pass promtool unit tests and the scrape config is valid', () => {
  const run = (args: string[]) => execFileSync('promtool', args, { cwd: path.join(ops, 'prometheus'), encoding: 'utf8', stdio: 'pipe' });
  expect(run(['check', 'rules', 'alerts.yml'])).toContain('SUCCESS');
  expect(run(['test', 'rules', 'alerts.test.yml'])).toContain('SUCCESS');
  expect(run(['check', 'config', 'prometheus.yml'])).toContain('SUCCESS');
});

test('ops - SLO rules are what slo-rules.js generates, and their burn-rate alerts pass promtool unit tests', () => {
  const { sloRules } = require('../ops/prometheus/slo-rules.js') as { sloRules: () => string };
  expect(readFileSync(path.join(ops, 'prometheus/slo.yml'), 'utf8')).toBe(sloRules()); // else: make slo-rules
  const run = (args: string[]) => execFileSync('promtool', args, { cwd: path.join(ops, 'prometheus'), encoding: 'utf8', stdio: 'pipe' });
  expect(run(['check', 'rules', 'slo.yml'])).toContain('SUCCESS');
  // Fast burn pages, slow burn only tickets, no burn (and caller errors) raise nothing.
  expect(run(['test', 'rules', 'slo.test.yml'])).toContain('SUCCESS');
}, 180_000);

/** The alerting rules of a rule file and their runbook_url, read line by line: our rule files
 * keep one `- alert:` or `- record:` per rule and `runbook_url:` inside the alert's block;
 * the caller compares the count with promtool's, so a rule written another way is noticed. */
function rulesOf(file: string): { rules: number; alerts: { alert: string; runbook_url?: string }[] } {
  const alerts: { alert: string; runbook_url?: string }[] = [];
  let rules = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const rule = /^\s*- (alert|record):\s*(\S+)/.exec(line);
    if (rule !== null) {
      rules += 1;
      if (rule[1] === 'alert') alerts.push({ alert: rule[2]! });
      continue;
    }
    const url = /^\s+runbook_url:\s*(\S+)\s*$/.exec(line);
    const last = alerts[alerts.length - 1];
    if (url !== null && last !== undefined) last.runbook_url = url[1];
  }
  return { rules, alerts };
}

test('ops - every alert has a runbook_url naming a runbook in ops/runbooks that says what it means, how to confirm and what to do', () => {
  const prom = path.join(ops, 'prometheus');
  const run = (args: string[]) => execFileSync('promtool', args, { cwd: prom, encoding: 'utf8', stdio: 'pipe' });
  // The rule files Prometheus loads are the ones prometheus.yml names.
  const files = [...run(['check', 'config', 'prometheus.yml']).matchAll(/^Checking (\S+\.yml)$/gm)].map((m) => m[1]!).filter((f) => f !== 'prometheus.yml');
  expect(files).toEqual(expect.arrayContaining(['alerts.yml', 'slo.yml']));
  const problems: string[] = [];
  let alerts = 0;
  for (const file of files) {
    const parsed = rulesOf(path.join(prom, file));
    expect(`${file}: ${parsed.rules} rules`).toBe(`${file}: ${/SUCCESS: (\d+) rules found/.exec(run(['check', 'rules', file]))?.[1]} rules`);
    for (const { alert, runbook_url } of parsed.alerts) {
      alerts += 1;
      if (runbook_url !== `ops/runbooks/${alert}.md`) {
        problems.push(`${file} ${alert}: runbook_url is ${runbook_url ?? 'missing'}, want ops/runbooks/${alert}.md`);
        continue;
      }
      const runbook = path.resolve(ops, '..', runbook_url);
      if (!existsSync(runbook)) {
        problems.push(`${file} ${alert}: ${runbook_url} does not exist`);
        continue;
      }
      const text = readFileSync(runbook, 'utf8');
      for (const heading of [`# ${alert}`, '## What it means', '## Confirm', '## Act']) {
        if (!text.split('\n').includes(heading)) problems.push(`${runbook_url}: no "${heading}" line`);
      }
      if (!/```promql\n[^`]*paycore_|```promql\n[^`]*slo:|```promql\n[^`]*up\{/.test(text)) problems.push(`${runbook_url}: no PromQL to confirm it`);
    }
  }
  expect(problems).toEqual([]);
  expect(alerts).toBeGreaterThanOrEqual(12);
});

describe('against a live paycore', () => {
  let stack: Stack;
  let prometheus: ChildProcess | undefined;
  let merchant: Server | undefined;
  let scratch: string;

  beforeAll(async () => {
    stack = await startStack();
    scratch = mkdtempSync(path.join(tmpdir(), 'paycore-prom-'));
  });
  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    merchant?.closeAllConnections();
    await new Promise((resolve) => (merchant === undefined ? resolve(undefined) : merchant.close(resolve)));
    await stack?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** `count` payments, half paid and half closed. Without a notify URL, one where nothing
   * listens: every notification attempt fails and is retried. */
  async function load(count: number, notify_url?: string): Promise<void> {
    const notifyUrl = notify_url ?? `http://127.0.0.1:${await freePort()}/notify`;
    for (let i = 0; i < count; i += 1) {
      const p = await stack.client.createPayment({ merchantId: 'm_ops', merchantOrderNo: `ops-${randomBytes(5).toString('hex')}`, amount: 100n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'ops', notifyUrl });
      if (i % 2 === 0) await stack.pay(`${p.paymentId}a1`);
      else await stack.client.closePayment({ paymentId: p.paymentId, merchantId: 'm_ops' });
    }
  }

  test('ops - every metric the dashboard queries is on a live /metrics', async () => {
    await load(6);
    const missingNow = async (): Promise<string[]> => {
      const text = await (await fetch(`http://127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}/metrics`)).text();
      const exposed = new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
      return queries.flatMap((q) => metricNames(q.expr).filter((m) => !exposed.has(m)).map((m) => `${q.title}: ${m}`));
    };
    // Timer and notification metrics appear once the first query timers (500 ms in tests)
    // have fired and the first notification attempts have failed.
    await eventually(async () => ((await missingNow()).length === 0 ? true : undefined), 10_000, 'every dashboard metric').catch(() => undefined);
    expect(await missingNow()).toEqual([]);
    expect(queries.length).toBeGreaterThanOrEqual(10);
  });

  test('ops - a real Prometheus scraping paycore answers the dashboard key queries and every SLO panel', async () => {
    // A merchant that takes every notification, so the delivery SLI has deliveries to count.
    const server = createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
    merchant = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const notify_url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`;
    const web_port = await freePort();
    writeFileSync(path.join(scratch, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(path.join(ops, 'prometheus/slo.yml'))}]`,
      'scrape_configs:',
      '  - job_name: paycore',
      `    static_configs: [{ targets: ['127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}'] }]`,
    ].join('\n'));
    prometheus = spawn('prometheus', [`--config.file=${path.join(scratch, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(scratch, 'data')}`, `--web.listen-address=127.0.0.1:${web_port}`], { stdio: 'ignore' });
    const api = `http://127.0.0.1:${web_port}/api/v1`;
    await eventually(() => fetch(`${api}/targets`).then((r) => (r.ok ? true : undefined), () => undefined), 20_000, 'prometheus up');
    const query = async (expr: string) => {
      const reply = (await (await fetch(`${api}/query?query=${encodeURIComponent(expr)}`)).json()) as { status: string; data: { result: { value: [number, string] }[] } };
      return reply.data.result;
    };
    await eventually(async () => ((await query('up{job="paycore"}'))[0]?.value[1] === '1' ? true : undefined), 20_000, 'first scrape');
    await load(4, notify_url);
    // Two more scrapes, so rate() has two samples after the load: counted by Prometheus itself
    // (its own samples of up), not guessed from the scrape interval.
    const scrapes = async (): Promise<number> => Number((await query('count_over_time(up{job="paycore"}[10m])'))[0]?.value[1] ?? 0);
    const before = await scrapes();
    await eventually(async () => ((await scrapes()) >= before + 2 ? true : undefined), 20_000, 'two scrapes after the load');
    await load(4, notify_url);
    // Every SLO has its row: the SLI, the objective, the budget left over 30 days, the burn rate.
    const slo_queries = queries.filter((q) => q.title.startsWith('SLO '));
    for (const slo of slo_names) {
      const titles = slo_queries.filter((q) => q.expr.includes(`slo="${slo}"`)).map((q) => q.title);
      expect([slo, [/: SLI$/, /vs objective$/, /error budget remaining \(30 days\)$/, /burn rate$/].every((t) => titles.some((title) => t.test(title)))]).toEqual([slo, true]);
    }
    const key = queries.filter((q) => /Payments per second|CreatePayment per second|success rate by channel|gRPC latency|Routing mix|Notification backlog/.test(q.title));
    expect(key.length).toBeGreaterThanOrEqual(6);
    for (const q of [...key, ...slo_queries]) {
      const result = await eventually(async () => {
        const r = await query(q.expr);
        return r.length > 0 && r.some((s) => s.value[1] !== 'NaN') ? r : undefined;
      }, 20_000, `data for "${q.title}"`);
      expect(result.length).toBeGreaterThan(0);
    }
    // The burn-rate alerts evaluate cleanly and stay quiet: nothing failed, nothing was slow.
    const rules = (await (await fetch(`${api}/rules?type=alert`)).json()) as { data: { groups: { rules: { name: string; health: string; state: string }[] }[] } };
    const alerts = rules.data.groups.flatMap((g) => g.rules);
    expect(alerts.length).toBe(8);
    expect(alerts.filter((a) => a.health !== 'ok' || a.state !== 'inactive')).toEqual([]);
  });
});

// Chaos with Prometheus watching: a real Prometheus loads ops/prometheus/alerts.yml and slo.yml
// and scrapes a paycore whose NATS and Redis are its own (started here, killed on purpose)
// and whose provider hangs on demand. Each scenario must raise the alert the person on call
// needs — through the real rules on the real metrics, not a copy of them — and the dependency
// alerts must clear once the dependency is back.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Product } from '../proto/gen/paycore/v1/payment';
import { eventually, freePort, startPrivateNats, startPrivateRedis, startStack, type DependencyServer, type Stack } from './harness';

const prometheus_rules = path.resolve(__dirname, '../ops/prometheus');

/** PaycoreDependencyDown waits `for: 1m`; Prometheus then needs an evaluation or two. */
const dependency_alert_ms_max = 120_000;

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

let nats: DependencyServer;
let redis: DependencyServer;
let stack: Stack;
let prometheus: ChildProcess | undefined;
let scratch: string;
let api: string;

beforeAll(async () => {
  nats = await startPrivateNats();
  redis = await startPrivateRedis();
  // A 1.5 s channel timeout, so a hanging provider makes CreatePayment slow (over the 1 s SLO
  // bound) without making the test slow.
  stack = await startStack({ nats_url: nats.url, redis_url: redis.url, channel_timeout_ms: 1_500 });
  scratch = mkdtempSync(path.join(tmpdir(), 'paycore-chaos-prom-'));
  const web_port = await freePort();
  writeFileSync(path.join(scratch, 'prometheus.yml'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: [${JSON.stringify(path.join(prometheus_rules, 'alerts.yml'))}, ${JSON.stringify(path.join(prometheus_rules, 'slo.yml'))}]`,
    'scrape_configs:',
    '  - job_name: paycore',
    `    static_configs: [{ targets: ['127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}'] }]`,
  ].join('\n'));
  prometheus = spawn('prometheus', [`--config.file=${path.join(scratch, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(scratch, 'data')}`, `--web.listen-address=127.0.0.1:${web_port}`], { stdio: 'ignore' });
  api = `http://127.0.0.1:${web_port}/api/v1`;
  await eventually(() => fetch(`${api}/targets`).then((r) => (r.ok ? true : undefined), () => undefined), 20_000, 'prometheus up');
  await eventually(async () => ((await query('up{job="paycore"}'))[0]?.value[1] === '1' ? true : undefined), 20_000, 'first scrape');
}, 90_000);

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  if (nats !== undefined && !nats.running) await nats.start();
  if (redis !== undefined && !redis.running) await redis.start();
  await stack?.stop();
  await nats?.close();
  await redis?.close();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const reply = (await (await fetch(`${api}/query?query=${encodeURIComponent(expr)}`)).json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return reply.data.result;
}

/** The alerts Prometheus holds now (pending or firing) with these labels. */
async function alerts(labels: Record<string, string>): Promise<Alert[]> {
  const reply = (await (await fetch(`${api}/alerts`)).json()) as { data: { alerts: Alert[] } };
  return reply.data.alerts.filter((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v));
}

function firing(labels: Record<string, string>, timeout_ms: number): Promise<Alert> {
  return eventually(async () => (await alerts(labels)).find((a) => a.state === 'firing'), timeout_ms, `${JSON.stringify(labels)} firing`);
}

function order(): { merchantId: string; merchantOrderNo: string; amount: bigint; currency: string; product: Product; subject: string } {
  return { merchantId: 'm_it', merchantOrderNo: `chaos-${randomBytes(6).toString('hex')}`, amount: 1_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'chaos' };
}

/** CreatePayment calls spread over several scrapes, so rate() sees them; failures are expected. */
async function creates(count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    await stack.client.createPayment(order(), 10_000).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

test('chaos alerts - a hanging provider pages through the CreatePayment latency SLO', async () => {
  await creates(3); // fast ones first: the SLI has a baseline
  // Every WeChat Pay create answers 3 s late: past the channel's 1.5 s timeout.
  await stack.fault({ scope: { provider: 'wechatpay' }, operations: ['create'], latency_ms: 3_000 });
  try {
    await creates(6);
    const page = await firing({ alertname: 'PaycoreCreatePaymentLatencyBudgetBurn', severity: 'page' }, 30_000);
    expect(page.labels.slo).toBe('create-payment-latency');
  } finally {
    await fetch(`${stack.sandbox.url}/sandbox/faults`, { method: 'DELETE' });
  }
}, 90_000);

test('chaos alerts - a NATS outage pages (dependency down, CreatePayment availability) and the dependency page clears after it', async () => {
  await creates(3);
  await nats.kill();
  try {
    await creates(8); // UNAVAILABLE (DEPENDENCY_DOWN) while NATS is down
    const availability = await firing({ alertname: 'PaycoreCreatePaymentAvailabilityBudgetBurn', severity: 'page' }, 30_000);
    expect(availability.labels.slo).toBe('create-payment-availability');
    await firing({ alertname: 'PaycoreDependencyDown', dependency: 'nats' }, dependency_alert_ms_max);
  } finally {
    await nats.start();
  }
  await eventually(async () => ((await alerts({ alertname: 'PaycoreDependencyDown', dependency: 'nats' })).length === 0 ? true : undefined), 60_000, 'the NATS alert cleared');
}, 240_000);

test('chaos alerts - Redis down for more than a minute pages PaycoreDependencyDown for redis, which clears after its restart', async () => {
  await redis.kill();
  try {
    const page = await firing({ alertname: 'PaycoreDependencyDown', dependency: 'redis' }, dependency_alert_ms_max);
    expect(page.labels.severity).toBe('page');
  } finally {
    await redis.start();
  }
  await eventually(async () => ((await alerts({ alertname: 'PaycoreDependencyDown', dependency: 'redis' })).length === 0 ? true : undefined), 60_000, 'the Redis alert cleared');
}, 240_000);

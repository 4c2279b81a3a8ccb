// One load-driver process (forked by coordinator.ts, never imported). It receives a plan,
// prepares (connects, creates replay keys), waits for the shared start time, runs its share of
// the load in the open or closed model and sends back every latency and error.

import { performance } from 'node:perf_hooks';
import type { FromWorker, ToWorker, WorkerPlan, WorkerResult } from './protocol';
import { percentile } from './percentiles';
import { SandboxClient, Target, makeScenario, type Done, type Scenario } from './scenarios';

/** Operations whose payment id is reported for spot checks, per process and step. */
const sample_size = 5;
/** How long a new connection may take before the step fails. */
const connect_timeout_ms = 10_000;

const targets = new Map<string, Target>();
let sandbox: SandboxClient | undefined;
let prepared: { plan: WorkerPlan; scenario: Scenario } | undefined;

function send(message: FromWorker): void {
  process.send!(message);
}

process.on('message', (message: ToWorker) => {
  handle(message).catch((error: unknown) => send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'prepare': {
      const plan = message.plan;
      let target = targets.get(plan.target);
      if (target === undefined) {
        target = new Target(plan.target, plan.deadline_ms, plan.tls);
        targets.set(plan.target, target);
      }
      await target.ready(connect_timeout_ms);
      if (plan.sandbox_url !== '' && sandbox === undefined) sandbox = new SandboxClient(plan.sandbox_url);
      const scenario = makeScenario(plan.scenario, plan, target, sandbox);
      await scenario.prepare();
      prepared = { plan, scenario };
      send({ type: 'prepared' });
      return;
    }
    case 'start': {
      if (prepared === undefined) throw new Error('start before prepare');
      const { plan, scenario } = prepared;
      prepared = undefined;
      const result = await runStep({ ...plan, start_at_ms: message.start_at_ms }, scenario);
      send({ type: 'result', result });
      return;
    }
    case 'exit':
      for (const target of targets.values()) target.close();
      sandbox?.close();
      process.exit(0);
  }
}

/** A Float64Array that doubles when full (closed-model counts are not known in advance). */
class Samples {
  values: Float64Array;
  length = 0;
  constructor(capacity: number) {
    this.values = new Float64Array(Math.max(16, capacity));
  }
  push(value: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }
  take(): Float64Array {
    return this.values.slice(0, this.length);
  }
}

interface Tally {
  latencies: Samples;
  lags: Samples;
  errors: Record<string, number>;
  issued: number;
  last_done_at: number;
}

function countError(tally: Tally, key: string): void {
  tally.errors[key] = (tally.errors[key] ?? 0) + 1;
}

async function runStep(plan: WorkerPlan, scenario: Scenario): Promise<WorkerResult> {
  // The shared wall-clock start, on this process's monotonic clock.
  const t0 = performance.now() + (plan.start_at_ms - Date.now());
  await new Promise((r) => setTimeout(r, Math.max(0, t0 - performance.now())));
  const cpu_before = process.cpuUsage();
  const tally: Tally =
    plan.model.kind === 'open'
      ? {
          latencies: new Samples((plan.model.rate_per_second * plan.duration_ms) / 1000),
          lags: new Samples((plan.model.rate_per_second * plan.duration_ms) / 1000),
          errors: {},
          issued: 0,
          last_done_at: t0,
        }
      : { latencies: new Samples(1024), lags: new Samples(16), errors: {}, issued: 0, last_done_at: t0 };
  if (plan.model.kind === 'open') await runOpen(plan, plan.model.rate_per_second, plan.model.in_flight_max, t0, scenario, tally);
  else await runClosed(plan, plan.model.concurrency, t0, scenario, tally);
  const cpu = process.cpuUsage(cpu_before);
  const lags = tally.lags.take().sort();
  const samples = Math.min(sample_size, tally.issued);
  return {
    process_index: plan.process_index,
    latencies_ms: tally.latencies.take(),
    errors: tally.errors,
    issued: tally.issued,
    elapsed_ms: Math.max(0, tally.last_done_at - t0),
    send_lag_ms_p99: percentile(lags, 99),
    send_lag_ms_max: lags.length === 0 ? 0 : lags[lags.length - 1]!,
    cpu_user_ms: cpu.user / 1000,
    cpu_system_ms: cpu.system / 1000,
    payment_ids_sample: Array.from({ length: samples }, (_, i) => scenario.sample(Math.floor((i * tally.issued) / samples))),
  };
}

/** Arrivals on a clock: operation k is due at t0 + k / rate, sent then whatever is still in
 * flight (up to in_flight_max: beyond it the arrival is dropped and counted as an error), and
 * its latency runs from its due time, so a stalled server cannot hide its queue. */
function runOpen(plan: WorkerPlan, rate_per_second: number, in_flight_max: number, t0: number, scenario: Scenario, tally: Tally): Promise<void> {
  const total = Math.floor((rate_per_second * plan.duration_ms) / 1000);
  const interval_ms = 1000 / rate_per_second;
  return new Promise((resolve) => {
    let sent = 0;
    let in_flight = 0;
    const finishIfDone = (): void => {
      if (sent === total && in_flight === 0) resolve();
    };
    const tick = (): void => {
      const now = performance.now();
      while (sent < total) {
        const due = t0 + sent * interval_ms;
        if (due > now) break;
        const sequence = sent++;
        tally.issued++;
        tally.lags.push(now - due);
        if (in_flight >= in_flight_max) {
          countError(tally, 'DROPPED_MAX_IN_FLIGHT');
          continue;
        }
        in_flight++;
        const done: Done = (error_key) => {
          in_flight--;
          const end = performance.now();
          tally.last_done_at = end;
          if (error_key === undefined) tally.latencies.push(end - due);
          else countError(tally, error_key);
          finishIfDone();
        };
        scenario.run(sequence, done);
      }
      if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * interval_ms - performance.now()));
      else finishIfDone();
    };
    tick();
  });
}

/** `concurrency` loops until the duration has passed; latency from each send. */
function runClosed(plan: WorkerPlan, concurrency: number, t0: number, scenario: Scenario, tally: Tally): Promise<void> {
  const end_at = t0 + plan.duration_ms;
  return new Promise((resolve) => {
    if (concurrency <= 0) return resolve();
    let running = concurrency;
    let sequence = 0;
    const loop = (): void => {
      const started = performance.now();
      if (started >= end_at) {
        if (--running === 0) resolve();
        return;
      }
      tally.issued++;
      scenario.run(sequence++, (error_key) => {
        const end = performance.now();
        tally.last_done_at = end;
        if (error_key === undefined) tally.latencies.push(end - started);
        else countError(tally, error_key);
        loop();
      });
    };
    for (let i = 0; i < concurrency; i++) loop();
  });
}

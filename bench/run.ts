// `make bench`: brings up the stack (NATS and Redis already ensured; the sandbox PSP with a fixed
// channel latency, hosted in this process; paycore on a unique prefix; the echo server), then
// with the same forked driver processes: finds the echo ceiling and paycore's sustainable
// CreatePayment rate by a step search, measures paycore's added latency at half that rate, runs
// every scenario in the open and closed models, prints a report and writes
// bench/results/<date>-<host>.json. Everything it started is stopped and its streams deleted.
//
// node dist/bench/run.js [--processes N] [--step-ms MS] [--p99-bound-ms MS]
//   [--channel-latency-ms MS] [--scenario-ms MS] [--out FILE] [--quick] [--profile DIR]

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { PaymentStatus } from '../proto/gen/paycore/v1/payment';
import { natsCounts, netOfRest, perOperation, redisCounts, type Counts, type NetPerOperation, type PerOperation } from './counters';
import { startPrivateNats, startPrivateRedis, type DependencyServer } from '../testing/deps';
import { Coordinator } from './driver/coordinator';
import { round } from './driver/percentiles';
import type { LoadModel, ScenarioName, StepPlan, StepResult } from './driver/protocol';
import { CpuMeter, machineInfo, type MachineInfo } from './machine';
import { summarizeProfiles, type ProfileSummary } from './profile';
import { freePort, repo_root, startStack, type Stack } from '../testing/stack';

interface Options {
  processes: number;
  step_ms: number;
  p99_bound_ms: number;
  channel_latency_ms: number;
  scenario_ms: number;
  out: string;
  /** Shorter search and scenarios (the test suite's self-check). */
  quick: boolean;
  /** Run paycore under --cpu-prof, writing profiles here, and summarize them. */
  profile_dir: string | undefined;
}

/** Arrivals in flight beyond which the open model drops (and counts) new ones. */
const in_flight_max = 4_000;
/** Per call: a stalled call becomes DEADLINE_EXCEEDED rather than hanging a step. */
const call_deadline_ms = 10_000;
/** The step search: doubling from these rates, then this many bisections. */
const search_start_per_second = { echo: 500, paycore: 50 };
const search_rate_max_per_second = 64_000;
const search_rate_min_per_second = 5;
/** A step where other processes used more than this (% of one core) is flagged as noisy. */
const other_cpu_percent_noisy = 25;
const bisections = 3;
/** Quiet time between steps so one step's tail does not land in the next. */
const settle_ms = 750;
/** The counting step runs at least this long (a few hundred creates even with --quick). */
const count_step_ms_min = 3_000;
/** How long the stack is watched at rest before the counting step. */
const idle_ms = 3_000;

function parseOptions(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const num = (name: string, fallback: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number, got '${raw}'`);
    return value;
  };
  const quick = argv.includes('--quick');
  const date = new Date().toISOString().slice(0, 10);
  return {
    processes: Math.max(1, Math.floor(num('processes', 1))),
    step_ms: num('step-ms', quick ? 1_000 : 3_000),
    p99_bound_ms: num('p99-bound-ms', 50),
    channel_latency_ms: num('channel-latency-ms', 5),
    scenario_ms: num('scenario-ms', quick ? 1_000 : 4_000),
    out: get('out') ?? path.join(repo_root, 'bench/results', `${date}-${os.hostname()}.json`),
    quick,
    profile_dir: get('profile'),
  };
}

interface Step extends StepResult {
  cpu_percent: Record<string, number>;
  /** Wall time between the step's counter readings. */
  wall_ms: number;
  /** Per operation the step completed (for create_qr: per create): NATS messages and bytes,
   * Redis commands and Redis time, and the CPU ms of every process. */
  per_op: PerOperation & { cpu_ms: Record<string, number> };
}

/** The stack at rest (no calls): what it does per second by itself — lease renewals, health
 * flushes, configuration polls. */
interface Idle {
  seconds: number;
  per_second: PerOperation & { cpu_ms: Record<string, number> };
}

function netOfIdle(step: Step, idle: Idle): NetPerOperation {
  return netOfRest(step.per_op, idle.per_second, step.wall_ms / 1000, step.succeeded);
}

interface Search {
  target_name: string;
  criterion: string;
  sustainable_per_second: number;
  at_sustainable: Step | undefined;
  steps: Step[];
}

class Bench {
  readonly steps: Step[] = [];
  readonly #run_tag = randomBytes(3).toString('hex');
  #step_no = 0;

  constructor(
    readonly options: Options,
    readonly driver: Coordinator,
    readonly meter: CpuMeter,
    readonly counts: () => Promise<Counts>,
    readonly targets: Record<'echo' | 'paycore', string>,
    readonly sandbox_url: string,
    readonly id_key_hex: string,
    /** Both targets serve TLS with the stack's certificate and accept its app's. */
    readonly tls: StepPlan['tls'],
  ) {}

  async step(target_name: 'echo' | 'paycore', scenario: ScenarioName, model: LoadModel, duration_ms: number): Promise<Step> {
    const plan: StepPlan = {
      scenario,
      model,
      duration_ms,
      target: this.targets[target_name],
      tls: this.tls,
      sandbox_url: this.sandbox_url,
      merchant_id: 'm_bench',
      id_key_hex: this.id_key_hex,
      order_prefix: `b${this.#run_tag}s${this.#step_no++}`,
      replay_keys: 16,
      poll_interval_ms: 5,
      deadline_ms: call_deadline_ms,
    };
    const counted_before = await this.counts();
    const before = this.meter.snapshot();
    const result = await this.driver.run(target_name, plan);
    const after = this.meter.snapshot();
    const counted_after = await this.counts();
    const cpu_ms = CpuMeter.msBetween(before, after);
    const n = Math.max(1, result.succeeded);
    const per_op = {
      ...perOperation(counted_before, counted_after, result.succeeded),
      cpu_ms: Object.fromEntries(Object.entries(cpu_ms).map(([k, v]) => [k, round(v / n, 3)])),
    };
    const step: Step = { ...result, cpu_percent: CpuMeter.between(before, after), wall_ms: after.at_ms - before.at_ms, per_op };
    this.steps.push(step);
    process.stdout.write(`  ${describe(step)}\n`);
    await new Promise((r) => setTimeout(r, settle_ms));
    return step;
  }

  /** The stack at rest for `duration_ms`, per second. */
  async idle(duration_ms: number): Promise<Idle> {
    const counted_before = await this.counts();
    const before = this.meter.snapshot();
    await new Promise((r) => setTimeout(r, duration_ms));
    const after = this.meter.snapshot();
    const counted_after = await this.counts();
    const seconds = (after.at_ms - before.at_ms) / 1000;
    const cpu_ms = CpuMeter.msBetween(before, after);
    return {
      seconds: round(seconds, 2),
      per_second: {
        ...perOperation(counted_before, counted_after, seconds),
        cpu_ms: Object.fromEntries(Object.entries(cpu_ms).map(([k, v]) => [k, round(v / seconds, 3)])),
      },
    };
  }

  passes(step: Step): boolean {
    return step.error_count === 0 && step.latency.p99_ms <= this.options.p99_bound_ms;
  }

  /** Highest open-model rate that passes: doubling until a step fails, then bisecting. */
  async search(target_name: 'echo' | 'paycore', start_per_second: number): Promise<Search> {
    const steps: Step[] = [];
    const at = async (rate: number): Promise<boolean> => {
      const step = await this.step(target_name, 'create_qr', { kind: 'open', rate_per_second: rate, in_flight_max }, this.options.step_ms);
      steps.push(step);
      return this.passes(step);
    };
    let pass = 0;
    let fail = 0;
    for (let rate = start_per_second; rate <= search_rate_max_per_second; rate *= 2) {
      if (await at(rate)) pass = rate;
      else {
        fail = rate;
        break;
      }
    }
    // The start rate already fails: halve until a rate passes (or give up below the floor).
    for (let rate = Math.floor(start_per_second / 2); pass === 0 && rate >= search_rate_min_per_second; rate = Math.floor(rate / 2)) {
      if (await at(rate)) pass = rate;
      else fail = rate;
    }
    for (let i = 0; i < bisections && fail > 0 && fail - pass > Math.max(1, pass / 50); i++) {
      const rate = Math.round((pass + fail) / 2);
      if (await at(rate)) pass = rate;
      else fail = rate;
    }
    const at_sustainable = steps.filter((s) => s.model.kind === 'open' && s.model.rate_per_second === pass && this.passes(s)).pop();
    return {
      target_name,
      criterion: `open model create_qr, ${this.options.step_ms} ms steps: p99 <= ${this.options.p99_bound_ms} ms and no errors`,
      sustainable_per_second: pass,
      at_sustainable,
      steps,
    };
  }
}

function describe(step: Step): string {
  const model = step.model.kind === 'open' ? `open ${round(step.model.rate_per_second, 1)}/s` : `closed x${step.model.concurrency}`;
  const errors = step.error_count === 0 ? 'no errors' : `errors ${JSON.stringify(step.errors)}`;
  const cpu = Object.entries(step.cpu_percent).map(([k, v]) => `${k} ${v}%`).join(', ');
  return (
    `${step.target_name.padEnd(7)} ${step.scenario.padEnd(10)} ${model.padEnd(16)} ${String(step.throughput_per_second).padStart(8)}/s ` +
    `p50 ${step.latency.p50_ms} p95 ${step.latency.p95_ms} p99 ${step.latency.p99_ms} max ${step.latency.max_ms} ms; ${errors}; send lag p99 ${step.send_lag_ms_p99} ms; cpu ${cpu}` +
    (step.target_name === 'paycore' ? `\n          per op: ${describePerOp(step.per_op)}` : '')
  );
}

function describePerOp(p: Step['per_op']): string {
  const cpu = Object.entries(p.cpu_ms).map(([k, v]) => `${k} ${v}`).join(', ');
  return `NATS msgs in ${p.nats_msgs_in} out ${p.nats_msgs_out}, bytes in ${p.nats_bytes_in} out ${p.nats_bytes_out}; ` +
    `Redis ${p.redis_commands} commands ${p.redis_us} us (evalsha ${p.redis_by_command.evalsha?.calls ?? 0} x, ${p.redis_by_command.evalsha?.usec ?? 0} us), redis-server CPU ${p.redis_cpu_us} us; CPU ms ${cpu}`;
}

function describeNet(n: NetPerOperation): string {
  const cpu = Object.entries(n.cpu_ms).map(([k, v]) => `${k} ${v}`).join(', ');
  return `NATS msgs in ${n.nats_msgs_in} out ${n.nats_msgs_out}, bytes in ${n.nats_bytes_in} out ${n.nats_bytes_out}; Redis ${n.redis_commands} commands; CPU ms ${cpu}`;
}

interface EchoProcess {
  child: ChildProcess;
  address: string;
}

/** The echo ceiling with paycore's TLS files (`tls_env`: the stack's PAYCORE_GRPC_TLS_*). */
async function startEchoProcess(tls_env: Record<string, string>): Promise<EchoProcess> {
  const child = spawn(process.execPath, [path.join(repo_root, 'dist/bench/echo-server.js')], { env: { ...process.env, ...tls_env, ECHO_PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`echo server did not start: ${output}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /"port":(\d+)/.exec(output);
      if (ready !== null) {
        clearTimeout(timer);
        resolve(Number(ready[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`echo server exited with ${code}: ${output}`)));
  });
  return { child, address: `127.0.0.1:${port}` };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Every payment a step reported in its sample is stored, for the merchant, with its amount. */
async function spotCheck(stack: Stack, steps: Step[]): Promise<{ checked: number; problems: string[] }> {
  const problems: string[] = [];
  let checked = 0;
  for (const step of steps) {
    if (step.target_name !== 'paycore' || step.succeeded === 0) continue;
    for (const payment_id of step.payment_ids_sample) {
      checked++;
      try {
        const payment = await stack.client.getPayment({ paymentId: payment_id, merchantId: 'm_bench' });
        if (payment.amount !== 1999n || payment.merchantId !== 'm_bench') problems.push(`${payment_id}: wrong amount or merchant`);
        // The mix pays every payment and refunds it in full (bench/driver/scenarios.ts).
        if (step.scenario === 'mix' && payment.status !== PaymentStatus.PAYMENT_STATUS_REFUNDED) problems.push(`${payment_id}: mix left it ${PaymentStatus[payment.status]}`);
      } catch (error) {
        // A step with errors may have sampled an operation that failed before creating.
        if (step.error_count === 0) problems.push(`${payment_id}: ${(error as Error).message}`);
      }
    }
  }
  return { checked, problems };
}

export interface BenchReport {
  schema: 'paycore.bench.v1';
  started_at: string;
  command: string;
  machine: MachineInfo;
  setup: Record<string, unknown>;
  ceiling: { echo_open: Search; echo_closed_max: Step };
  paycore: Search;
  ratio: { sustainable_over_echo_open: number; sustainable_over_echo_closed: number };
  /** The counting step (closed model, 8 loops, create_qr): per create. */
  per_create: {
    step: Step;
    nats_msgs_in: number;
    nats_msgs_out: number;
    nats_bytes_in: number;
    nats_bytes_out: number;
    redis_commands: number;
    redis_us: number;
    cpu_ms: Record<string, number>;
    /** The stack at rest just before the counting step, per second. */
    idle: Idle;
    /** The counting step's numbers less the rest rate over its wall time. */
    net_of_idle: NetPerOperation;
  };
  added_latency_at_half_rate: {
    rate_per_second: number;
    channel_latency_ms: number;
    step: Step;
    added_ms: { p50: number; p95: number; p99: number; max: number };
  };
  scenarios: Step[];
  spot_check: { checked: number; problems: string[] };
  noisy_steps: number;
  profile?: ProfileSummary;
  all_steps: Step[];
}

/** The bench's own NATS (with its monitoring port) and Redis, and paycore on them: what they
 * count and the CPU they burn is paycore's alone. */
async function startBenchStack(machine: MachineInfo, node_args: string[]) {
  const monitor_port = await freePort();
  const nats = await startPrivateNats(`http_port: ${monitor_port}`);
  const redis_server = await startPrivateRedis();
  const monitor_url = `http://127.0.0.1:${monitor_port}`;
  const redis_stats = new Redis(redis_server.url, { maxRetriesPerRequest: 1 });
  const counts = async (): Promise<Counts> => ({ nats: await natsCounts(monitor_url), redis: await redisCounts(redis_stats) });
  const servers: DependencyServer[] = [nats, redis_server];
  try {
    const stack = await startStack({
      nats_url: nats.url,
      redis_url: redis_server.url,
      env: {
        PAYCORE_WORKERS: String(machine.cpu_count),
        PAYCORE_SHARDS: '64',
        // Pending-attempt queries would start 5 s after each create and mix into later steps;
        // the bench measures creates, so the first query comes after the run.
        PAYCORE_QUERY_BACKOFF_MS: '600000',
        PAYCORE_LOG_LEVEL: 'info',
      },
      node_args,
    });
    return { nats, redis_server, redis_stats, counts, servers, stack };
  } catch (error) {
    redis_stats.disconnect();
    for (const server of servers) await server.close().catch(() => undefined);
    throw error;
  }
}

/** What the steps measured, in the order they ran. */
interface Measured {
  echo_open: Search;
  echo_closed_max: Step;
  idle: Idle;
  count_step: Step;
  paycore: Search;
  half: number;
  half_step: Step;
  scenarios: Step[];
}

async function measure(bench: Bench, options: Options): Promise<Measured> {
  process.stdout.write('warm-up\n');
  await bench.step('echo', 'create_qr', { kind: 'closed', concurrency: 32 }, 1_000);
  await bench.step('paycore', 'create_qr', { kind: 'open', rate_per_second: 100, in_flight_max }, 2_000);

  process.stdout.write('ceiling: echo server\n');
  const echo_open = await bench.search('echo', search_start_per_second.echo);
  const echo_closed_max = await bench.step('echo', 'create_qr', { kind: 'closed', concurrency: 64 }, options.step_ms);
  process.stdout.write('paycore: at rest (no calls)\n');
  const idle = await bench.idle(idle_ms);
  process.stdout.write(`  per second: ${describePerOp(idle.per_second)}\n`);
  process.stdout.write('paycore: counting step (closed model, 8 loops)\n');
  const count_step = await bench.step('paycore', 'create_qr', { kind: 'closed', concurrency: 8 }, Math.max(options.scenario_ms, count_step_ms_min));
  process.stdout.write('paycore: sustainable CreatePayment rate\n');
  const paycore = await bench.search('paycore', search_start_per_second.paycore);

  const half = Math.max(1, Math.round(paycore.sustainable_per_second / 2));
  process.stdout.write(`paycore: added latency at half the sustainable rate (${half}/s)\n`);
  const half_step = await bench.step('paycore', 'create_qr', { kind: 'open', rate_per_second: half, in_flight_max }, options.scenario_ms);

  process.stdout.write(`scenarios at ${half}/s (open) and 16 loops (closed)\n`);
  const scenarios: Step[] = [half_step];
  for (const scenario of ['create_pay', 'mix', 'replay'] as const) {
    scenarios.push(await bench.step('paycore', scenario, { kind: 'open', rate_per_second: half, in_flight_max }, options.scenario_ms));
  }
  for (const scenario of ['create_qr', 'create_pay'] as const) {
    scenarios.push(await bench.step('paycore', scenario, { kind: 'closed', concurrency: 16 }, options.scenario_ms));
  }
  return { echo_open, echo_closed_max, idle, count_step, paycore, half, half_step, scenarios };
}

function reportOf(
  run: { options: Options; started_at: string; machine: MachineInfo; channel_latency_ms: number; steps: Step[] },
  measured: Measured,
  spot_check: BenchReport['spot_check'],
): BenchReport {
  const { options, machine, channel_latency_ms } = run;
  const { echo_open, echo_closed_max, idle, count_step, paycore, half, half_step, scenarios } = measured;
  const added = (ms: number): number => round(Math.max(0, ms - channel_latency_ms));
  return {
    schema: 'paycore.bench.v1',
    started_at: run.started_at,
    command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine,
    setup: {
      driver_processes: options.processes,
      step_ms: options.step_ms,
      scenario_ms: options.scenario_ms,
      p99_bound_ms: options.p99_bound_ms,
      channel_latency_ms,
      channel_latency_how: 'sandbox latency fault on create (PUT /sandbox/faults), read back from GET /sandbox/faults; the sandbox does not report its own call time, so added latency = create latency - this fixed delay (it still includes the sandbox\'s signing and HTTP time)',
      paycore_workers: machine.cpu_count,
      paycore_shards: 64,
      paycore_query_backoff_ms: 600000,
      sandbox_host: 'in the coordinator process',
      nats_redis: 'private nats-server (JetStream, monitoring port for /varz) and redis-server started by the bench (testing/deps.ts); per-op counts are their deltas over the step',
      in_flight_max,
      call_deadline_ms,
      latency_from: 'open model: the scheduled send time; closed model: the send',
      profiled: options.profile_dir !== undefined,
    },
    ceiling: { echo_open, echo_closed_max },
    paycore,
    per_create: {
      step: count_step,
      nats_msgs_in: count_step.per_op.nats_msgs_in,
      nats_msgs_out: count_step.per_op.nats_msgs_out,
      nats_bytes_in: count_step.per_op.nats_bytes_in,
      nats_bytes_out: count_step.per_op.nats_bytes_out,
      redis_commands: count_step.per_op.redis_commands,
      redis_us: count_step.per_op.redis_us,
      cpu_ms: count_step.per_op.cpu_ms,
      idle,
      net_of_idle: netOfIdle(count_step, idle),
    },
    ratio: {
      sustainable_over_echo_open: round(paycore.sustainable_per_second / Math.max(1, echo_open.sustainable_per_second), 4),
      sustainable_over_echo_closed: round(paycore.sustainable_per_second / Math.max(1, echo_closed_max.throughput_per_second), 4),
    },
    added_latency_at_half_rate: {
      rate_per_second: half,
      channel_latency_ms,
      step: half_step,
      added_ms: {
        p50: added(half_step.latency.p50_ms),
        p95: added(half_step.latency.p95_ms),
        p99: added(half_step.latency.p99_ms),
        max: added(half_step.latency.max_ms),
      },
    },
    scenarios,
    spot_check,
    noisy_steps: run.steps.filter((s) => (s.cpu_percent.other ?? 0) > other_cpu_percent_noisy).length,
    all_steps: run.steps,
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started_at = new Date().toISOString();
  const machine = machineInfo();
  const node_args = options.profile_dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.profile_dir}`];
  if (options.profile_dir !== undefined) mkdirSync(options.profile_dir, { recursive: true });
  process.stdout.write(`paycore bench: ${machine.cpu_count} x ${machine.cpu_model}, node ${machine.node_version}\n`);

  const { nats, redis_server, redis_stats, counts, servers, stack } = await startBenchStack(machine, node_args);
  let echo: EchoProcess | undefined;
  let driver: Coordinator | undefined;
  try {
    await stack.fault({ operations: ['create'], latency_ms: options.channel_latency_ms });
    const faults = (await (await fetch(`${stack.sandbox.url}/sandbox/faults`)).json()) as { faults: Array<{ latency_ms?: number; operations?: string[] }> };
    const channel_latency_ms = faults.faults.find((f) => f.operations?.includes('create'))?.latency_ms ?? 0;
    if (channel_latency_ms !== options.channel_latency_ms) throw new Error(`sandbox latency fault reads back as ${channel_latency_ms} ms`);
    const tls_env = Object.fromEntries(Object.entries(stack.env).filter(([name]) => name.startsWith('PAYCORE_GRPC_TLS_') || name === 'PAYCORE_GRPC_CLIENT_CA'));
    echo = await startEchoProcess(tls_env);
    driver = new Coordinator(options.processes);
    await driver.start();
    const paycore_pid = stack.paycore.pid!;
    const echo_pid = echo.child.pid!;
    const driver_pids = driver.pids;
    const meter = new CpuMeter({
      paycore: () => [paycore_pid],
      drivers: () => driver_pids,
      echo: () => [echo_pid],
      nats: () => (nats.pid === undefined ? [] : [nats.pid]),
      redis: () => (redis_server.pid === undefined ? [] : [redis_server.pid]),
    });
    const bench = new Bench(
      options,
      driver,
      meter,
      counts,
      { echo: echo.address, paycore: stack.address },
      stack.sandbox.url,
      stack.env.PAYCORE_ID_KEY!,
      stack.tls_files,
    );
    const measured = await measure(bench, options);
    const spot_check = await spotCheck(stack, bench.steps);
    const report = reportOf({ options, started_at, machine, channel_latency_ms, steps: bench.steps }, measured, spot_check);
    await driver.stop();
    driver = undefined;
    await stopChild(echo.child);
    echo = undefined;
    await stack.stop();
    if (options.profile_dir !== undefined) report.profile = summarizeProfiles(options.profile_dir);
    mkdirSync(path.dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`\n${printable(report)}\nwrote ${path.relative(process.cwd(), options.out)}\n`);
    if (spot_check.problems.length > 0) process.exitCode = 1;
  } finally {
    if (driver !== undefined) await driver.stop().catch(() => undefined);
    if (echo !== undefined) await stopChild(echo.child);
    if (stack.paycore.child?.exitCode === null) await stack.stop().catch(() => undefined);
    redis_stats.disconnect();
    for (const server of servers) await server.close().catch(() => undefined);
  }
}

export function printable(report: BenchReport): string {
  const echo = report.ceiling.echo_open;
  const at = report.paycore.at_sustainable;
  const half = report.added_latency_at_half_rate;
  const lines = [
    `== paycore bench, ${report.started_at}, ${report.machine.cpu_count} x ${report.machine.cpu_model}, ${report.machine.node_version}`,
    `ceiling (echo, ${echo.criterion}): ${echo.sustainable_per_second}/s; closed x64 max ${report.ceiling.echo_closed_max.throughput_per_second}/s`,
    `paycore sustainable CreatePayment: ${report.paycore.sustainable_per_second}/s = ${round(report.ratio.sustainable_over_echo_open * 100, 1)}% of the echo open-model ceiling (${round(report.ratio.sustainable_over_echo_closed * 100, 1)}% of echo closed max)`,
    at === undefined ? '  (no passing rate)' : `  at that rate: ${at.throughput_per_second}/s, p50 ${at.latency.p50_ms} p95 ${at.latency.p95_ms} p99 ${at.latency.p99_ms} max ${at.latency.max_ms} ms; cpu ${JSON.stringify(at.cpu_percent)}`,
    `per create (closed x8, ${report.per_create.step.succeeded} creates): ${describePerOp(report.per_create.step.per_op)}`,
    `  net of the stack at rest: ${describeNet(report.per_create.net_of_idle)}`,
    `added latency at ${half.rate_per_second}/s (create latency - ${half.channel_latency_ms} ms fixed channel latency): p50 ${half.added_ms.p50} p95 ${half.added_ms.p95} p99 ${half.added_ms.p99} max ${half.added_ms.max} ms`,
    'scenarios:',
    ...report.scenarios.map((s) => `  ${describe(s as Step)}`),
    `spot check: ${report.spot_check.checked} sampled payments, ${report.spot_check.problems.length === 0 ? 'all stored with the right amount' : report.spot_check.problems.join('; ')}`,
  ];
  const noisy = report.all_steps.filter((s) => (s.cpu_percent.other ?? 0) > other_cpu_percent_noisy).length;
  if (noisy > 0) lines.push(`WARNING: ${noisy} of ${report.all_steps.length} steps ran while other processes used > ${other_cpu_percent_noisy}% of a core: rerun on a quiet machine`);
  if (report.profile !== undefined) {
    lines.push(`profile (${report.profile.files.length} files, ${report.profile.total_ms} ms sampled); top self time in paycore's code:`);
    for (const f of report.profile.own_code_top) lines.push(`  ${String(f.self_ms).padStart(8)} ms ${f.percent}%  ${f.function} ${f.location}`);
    lines.push('  by package:');
    for (const p of report.profile.by_package.slice(0, 12)) lines.push(`  ${String(p.self_ms).padStart(8)} ms ${p.percent}%  ${p.package}`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`bench failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}

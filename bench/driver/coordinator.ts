// The coordinator: forks N driver processes (compiled JS in dist/bench/driver/worker.js), hands
// each its share of a step, starts them on one shared clock, and merges what they measured.

import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repo_root } from '../../testing/stack';
import { mergeSorted, round, summarize } from './percentiles';
import type { FromWorker, LoadModel, StepPlan, StepResult, ToWorker, WorkerPlan, WorkerResult } from './protocol';

/** Time between 'start' and the shared clock's zero, so every process is waiting when it comes. */
const start_lead_ms = 100;
/** A step may run this long past its duration (calls in flight finish within their deadline). */
const step_slack_ms = 30_000;

export const worker_script = path.join(repo_root, 'dist/bench/driver/worker.js');

interface Worker {
  child: ChildProcess;
  waiting: ((message: FromWorker) => void) | undefined;
  exited: boolean;
}

export class Coordinator {
  readonly #workers: Worker[] = [];

  constructor(readonly processes: number) {}

  get pids(): number[] {
    return this.#workers.map((w) => w.child.pid!).filter((pid) => pid !== undefined);
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.processes; i++) {
      const child = fork(worker_script, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const worker: Worker = { child, waiting: undefined, exited: false };
      child.on('message', (message: FromWorker) => {
        const waiting = worker.waiting;
        worker.waiting = undefined;
        waiting?.(message);
      });
      child.once('exit', (code, signal) => {
        worker.exited = true;
        const waiting = worker.waiting;
        worker.waiting = undefined;
        waiting?.({ type: 'failed', message: `driver process exited (${code ?? signal})` });
      });
      this.#workers.push(worker);
    }
    await Promise.all(this.#workers.map((w) => this.#expect(w, 'ready', 10_000)));
  }

  /** Runs one step on every process and merges the results. */
  async run(target_name: string, plan: StepPlan): Promise<StepResult> {
    const shares = split(plan.model, this.#workers.length);
    await Promise.all(
      this.#workers.map((worker, process_index) => {
        const share: WorkerPlan = { ...plan, model: shares[process_index]!, process_index, start_at_ms: 0 };
        return this.#request(worker, { type: 'prepare', plan: share }, 'prepared', 60_000);
      }),
    );
    const start_at_ms = Date.now() + start_lead_ms;
    const answers = await Promise.all(this.#workers.map((worker) => this.#request(worker, { type: 'start', start_at_ms }, 'result', plan.duration_ms + step_slack_ms)));
    return merge(target_name, plan, answers.map((a) => (a as { result: WorkerResult }).result));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.exited) return resolve();
            worker.child.once('exit', () => resolve());
            worker.child.send({ type: 'exit' } satisfies ToWorker);
          }),
      ),
    );
  }

  #request(worker: Worker, message: ToWorker, expected: FromWorker['type'], timeout_ms: number): Promise<FromWorker> {
    const answer = this.#expect(worker, expected, timeout_ms);
    worker.child.send(message);
    return answer;
  }

  #expect(worker: Worker, expected: FromWorker['type'], timeout_ms: number): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      if (worker.exited) return reject(new Error('driver process has exited'));
      const timer = setTimeout(() => reject(new Error(`driver process did not answer '${expected}' in ${timeout_ms} ms`)), timeout_ms);
      worker.waiting = (message) => {
        clearTimeout(timer);
        if (message.type === expected) resolve(message);
        else reject(new Error(message.type === 'failed' ? message.message : `driver answered '${message.type}', expected '${expected}'`));
      };
    });
  }
}

/** Each process gets rate/N (open) or an even share of the loops (closed). */
export function split(model: LoadModel, processes: number): LoadModel[] {
  return Array.from({ length: processes }, (_, i): LoadModel => {
    if (model.kind === 'open') {
      return { kind: 'open', rate_per_second: model.rate_per_second / processes, in_flight_max: Math.max(1, Math.ceil(model.in_flight_max / processes)) };
    }
    return { kind: 'closed', concurrency: Math.floor(model.concurrency / processes) + (i < model.concurrency % processes ? 1 : 0) };
  });
}

export function merge(target_name: string, plan: StepPlan, results: WorkerResult[]): StepResult {
  const sorted = mergeSorted(results.map((r) => r.latencies_ms));
  const errors: Record<string, number> = {};
  let error_count = 0;
  for (const result of results) {
    for (const [key, count] of Object.entries(result.errors)) {
      errors[key] = (errors[key] ?? 0) + count;
      error_count += count;
    }
  }
  const elapsed_ms = Math.max(plan.duration_ms, ...results.map((r) => r.elapsed_ms));
  return {
    target_name,
    scenario: plan.scenario,
    model: plan.model,
    processes: results.length,
    duration_ms: round(elapsed_ms, 1),
    issued: results.reduce((sum, r) => sum + r.issued, 0),
    succeeded: sorted.length,
    throughput_per_second: round((sorted.length * 1000) / elapsed_ms, 1),
    latency: summarize(sorted),
    errors,
    error_count,
    send_lag_ms_p99: round(Math.max(...results.map((r) => r.send_lag_ms_p99))),
    send_lag_ms_max: round(Math.max(...results.map((r) => r.send_lag_ms_max))),
    driver_cpu_ms: round(results.reduce((sum, r) => sum + r.cpu_user_ms + r.cpu_system_ms, 0), 1),
    payment_ids_sample: results.flatMap((r) => r.payment_ids_sample),
  };
}

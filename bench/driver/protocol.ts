// What the coordinator and its forked driver processes say to each other over IPC (advanced
// serialization, so latency arrays cross as typed arrays), and the shape of one step's result.

export type ScenarioName = 'create_qr' | 'create_pay' | 'mix' | 'replay';

export type LoadModel =
  /** Requests scheduled on a clock at `rate_per_second`, whatever completes; latency is
   * measured from the scheduled time (no coordinated omission). */
  | { kind: 'open'; rate_per_second: number; in_flight_max: number }
  /** `concurrency` loops, each issuing its next request when the previous one completes. */
  | { kind: 'closed'; concurrency: number };

export interface StepPlan {
  scenario: ScenarioName;
  model: LoadModel;
  duration_ms: number;
  /** gRPC target, host:port. */
  target: string;
  /** The target's TLS and the driver's client certificate (PEM files); absent: plaintext
   * (a target started with PAYCORE_GRPC_INSECURE=1). */
  tls?: { ca_file: string; cert_file: string; key_file: string };
  /** Sandbox base URL (create_pay pays through it); empty for the echo target. */
  sandbox_url: string;
  merchant_id: string;
  /** The target's PAYCORE_ID_KEY (hex), to name the payment ids a step made. */
  id_key_hex: string;
  /** Unique per step: merchant_order_no = `<order_prefix><process><seq>`. */
  order_prefix: string;
  /** replay: how many distinct keys the replays cycle through (created before the clock starts). */
  replay_keys: number;
  /** create_pay: how often GetPayment polls for SUCCEEDED. */
  poll_interval_ms: number;
  /** Per call. */
  deadline_ms: number;
}

/** One driver process's share; the coordinator splits rate and concurrency. */
export interface WorkerPlan extends StepPlan {
  process_index: number;
  /** Wall-clock (Date.now) time at which every process starts its clock; set by 'start'. */
  start_at_ms: number;
}

export type ToWorker = { type: 'prepare'; plan: WorkerPlan } | { type: 'start'; start_at_ms: number } | { type: 'exit' };

export interface WorkerResult {
  process_index: number;
  /** Latencies of successful operations, ms, unsorted. */
  latencies_ms: Float64Array;
  /** Error key (`<GRPC_CODE>[/<reason>]`, `DROPPED_MAX_IN_FLIGHT`, ...) → count. */
  errors: Record<string, number>;
  /** Operations scheduled (open) or started (closed). */
  issued: number;
  /** From the first scheduled start to the last completion. */
  elapsed_ms: number;
  /** Open model: how late the driver sent each request after its scheduled time. */
  send_lag_ms_p99: number;
  send_lag_ms_max: number;
  /** process.cpuUsage() of this driver process during the step, ms. */
  cpu_user_ms: number;
  cpu_system_ms: number;
  /** Up to a few payment ids the step created (the coordinator samples them for checks). */
  payment_ids_sample: string[];
}

export type FromWorker = { type: 'ready' } | { type: 'prepared' } | { type: 'result'; result: WorkerResult } | { type: 'failed'; message: string };

export interface LatencySummary {
  count: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
}

export interface StepResult {
  target_name: string;
  scenario: ScenarioName;
  model: LoadModel;
  processes: number;
  duration_ms: number;
  issued: number;
  succeeded: number;
  throughput_per_second: number;
  latency: LatencySummary;
  errors: Record<string, number>;
  error_count: number;
  send_lag_ms_p99: number;
  send_lag_ms_max: number;
  driver_cpu_ms: number;
  payment_ids_sample: string[];
}

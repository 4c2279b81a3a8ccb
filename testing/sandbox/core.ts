// What every protocol the sandbox PSP serves shares: the fault table (scoped, counted
// effects), the callback log and delivery loop (retries, drops, duplicates, delays), timers
// that stop on shutdown, and the error type protocol handlers throw.

import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomUUID } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// Limits (the sandbox runs for hours under benchmarks: everything it keeps is bounded)

/** Request bodies larger than this are refused (the providers' own bodies are a few KiB). */
export const request_body_bytes_max = 1024 * 1024;
/** Orders kept per provider before creates answer a system error; POST /sandbox/reset frees them. */
export const orders_max = 2_000_000;
/** Callback log entries kept (oldest dropped first). */
export const callback_log_max = 200_000;
/** Faults installed at once. */
export const faults_max = 1_000;
/** Delays between callback attempts; WeChat's real schedule is 15 s, 15 s, 30 s, 3 min, ... */
export const callback_retry_delays_ms_default = [200, 1_000, 3_000];
/** Per callback attempt. */
export const callback_timeout_ms_default = 5_000;
/** A latency or callback-delay fault cannot hold anything longer than this. */
export const latency_ms_max = 120_000;
/** Extra copies of one callback a fault may ask for. */
export const duplicate_callbacks_max = 20;
/** Phantom rows one statement fault may add. */
export const statement_extra_rows_max = 1_000;

// ---------------------------------------------------------------------------------------------
// Faults

export type Provider = 'wechatpay' | 'alipay' | 'unionpay' | 'bankgw';
const providers: readonly Provider[] = ['wechatpay', 'alipay', 'unionpay', 'bankgw'];
/** UnionPay: `create` is the 消费短信, `confirm` the 消费 with the SMS code. */
export type FaultOperation = 'create' | 'confirm' | 'query' | 'close' | 'barcode' | 'refund' | 'refund_query' | 'statement' | 'bind' | 'bind_confirm' | 'unbind' | 'payout' | 'payout_query'
  /** Profit sharing: a split order (WeChat orders, Alipay alipay.trade.order.settle), its query
   * (and WeChat receivers/add, Alipay relation bind), a WeChat return and its query. */
  | 'share' | 'share_query' | 'share_return';
const fault_operations: readonly FaultOperation[] = [
  'create', 'confirm', 'query', 'close', 'barcode', 'refund', 'refund_query', 'statement', 'bind', 'bind_confirm', 'unbind', 'payout', 'payout_query',
  'share', 'share_query', 'share_return',
];

export interface FaultSpec {
  scope?: { provider?: Provider; mchid?: string; app_id?: string; out_trade_no?: string; out_trade_no_prefix?: string };
  /** Which API calls latency_ms / reject_before_create / fail_status apply to; default all. */
  operations?: FaultOperation[];
  latency_ms?: number;
  /** WeChat: this HTTP status and code; Alipay: code 40004 with this sub_code (20000 for 5xx). */
  reject_before_create?: { status: number; code: string; message: string };
  fail_status?: number;
  drop_callbacks?: boolean;
  duplicate_callbacks?: number;
  /** Hold this order's payment callback so later callbacks (refund, close) overtake it. */
  delay_callbacks_ms?: number;
  success_after_close?: boolean;
  /** The payer pays twice: a second provider transaction and callback for the same order. */
  pay_twice?: boolean;
  /** A payment code answers USERPAYING (WeChat) / 10003 WAIT_BUYER_PAY (Alipay) until paid via the control API. */
  barcode_userpaying?: boolean;
  /** A payment-code call repeated with an out_trade_no that exists is refused as a duplicate
   * order (WeChat `OUT_TRADE_NO_USED`, Alipay `ACQ.CONTEXT_INCONSISTENT`), as the providers may. */
  barcode_repeat_refused?: boolean;
  /** WeChat refunds settle in this state instead of SUCCESS. */
  refund_status?: 'ABNORMAL' | 'CLOSED' | 'PROCESSING';
  /** Statement faults (not used up by downloads; remove them with DELETE /sandbox/faults). */
  statement_missing?: boolean;
  statement_amount_delta_minor?: number;
  statement_next_day?: boolean;
  statement_extra_rows?: number;
  /** Bank gateway payouts (scope.out_trade_no names the payout_no): accepted PROCESSING and
   * settled by the next query instead of at once — SUCCESS, or FAILED (a late failure). */
  payout_processing?: boolean;
  payout_late_failure?: boolean;
  /** Paid at once, then returned by the receiving bank: the next query answers RETURNED. */
  payout_return?: boolean;
  times?: number;
}

export interface Fault extends FaultSpec {
  fault_id: string;
  remaining: number;
}

export interface FaultContext {
  provider: Provider;
  /** mchid (WeChat), app_id (Alipay), merId (UnionPay) or merchant_no (bank gateway). */
  merchant: string;
  out_trade_no: string | undefined;
  /** undefined for effects that are not tied to one API call (control pay, callbacks). */
  operation?: FaultOperation;
}

export function inScope(fault: Fault, context: FaultContext): boolean {
  const scope = fault.scope ?? {};
  if (scope.provider !== undefined && scope.provider !== context.provider) return false;
  if (scope.mchid !== undefined && (context.provider !== 'wechatpay' || scope.mchid !== context.merchant)) return false;
  if (scope.app_id !== undefined && (context.provider !== 'alipay' || scope.app_id !== context.merchant)) return false;
  if (scope.out_trade_no !== undefined && scope.out_trade_no !== context.out_trade_no) return false;
  if (scope.out_trade_no_prefix !== undefined && !(context.out_trade_no ?? '').startsWith(scope.out_trade_no_prefix)) return false;
  if (context.operation !== undefined && fault.operations !== undefined && !fault.operations.includes(context.operation)) return false;
  return true;
}

export function faultProblem(spec: FaultSpec): string | undefined {
  if (spec.scope !== undefined && (typeof spec.scope !== 'object' || spec.scope === null)) return 'scope must be an object';
  if (spec.scope?.provider !== undefined && !providers.includes(spec.scope.provider)) return `scope.provider must be one of ${providers.join(', ')}`;
  const bounded = (name: keyof FaultSpec, min: number, max: number): string | undefined => {
    const value = spec[name];
    if (value === undefined) return undefined;
    return Number.isInteger(value) && (value as number) >= min && (value as number) <= max ? undefined : `${name} must be an integer from ${min} to ${max}`;
  };
  const problem = bounded('latency_ms', 0, latency_ms_max) ?? bounded('delay_callbacks_ms', 0, latency_ms_max)
    ?? bounded('duplicate_callbacks', 0, duplicate_callbacks_max) ?? bounded('statement_extra_rows', 0, statement_extra_rows_max)
    ?? bounded('statement_amount_delta_minor', -1_000_000_000, 1_000_000_000);
  if (problem !== undefined) return problem;
  if (spec.fail_status !== undefined && (!Number.isInteger(spec.fail_status) || spec.fail_status < 500 || spec.fail_status > 599)) {
    return 'fail_status must be a 5xx status';
  }
  const reject = spec.reject_before_create;
  if (reject !== undefined && (typeof reject !== 'object' || reject === null || !Number.isInteger(reject.status)
    || reject.status < 400 || reject.status > 599 || typeof reject.code !== 'string' || typeof reject.message !== 'string')) {
    return 'reject_before_create must be {status: 4xx|5xx, code, message}';
  }
  if (spec.refund_status !== undefined && !['ABNORMAL', 'CLOSED', 'PROCESSING'].includes(spec.refund_status)) {
    return 'refund_status must be ABNORMAL, CLOSED or PROCESSING';
  }
  if (spec.times !== undefined && (!Number.isInteger(spec.times) || spec.times < 1)) return 'times must be a positive integer';
  if (spec.operations !== undefined && (!Array.isArray(spec.operations) || !spec.operations.every((op) => fault_operations.includes(op)))) {
    return `operations must be a list of ${fault_operations.join(', ')}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Errors and small helpers

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly detail?: Record<string, unknown>) {
    super(message);
  }
}

export interface Reply {
  status: number;
  body?: unknown;
}

export function nextDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
}

/** 0.6 % rounded half up: the sandbox's service fee on payments (and returned on refunds). */
export function feeOf(amount_fen: bigint): bigint {
  return (amount_fen * 6n + 500n) / 1000n;
}

// ---------------------------------------------------------------------------------------------
// Callback log and delivery

export interface CallbackLogEntry {
  provider: Provider;
  event_id: string;
  /** mchid (WeChat) or app_id (Alipay). */
  mchid: string;
  out_trade_no: string;
  /** profit_sharing: a WeChat 分账动账通知 (PROFITSHARING.*). */
  kind: 'payment' | 'refund' | 'profit_sharing';
  out_refund_no?: string;
  notify_url: string;
  attempt: number;
  duplicate: boolean;
  status: number | null;
  /** What the receiver answered (Alipay: must be `success`), first 64 characters. */
  answer?: string;
  error?: string;
  sent_at: string;
}

export interface Delivery {
  provider: Provider;
  event_id: string;
  mchid: string;
  out_trade_no: string;
  kind: 'payment' | 'refund' | 'profit_sharing';
  out_refund_no?: string;
  notify_url: string;
  /** Builds the body and headers of one attempt (signed afresh each time, as providers do). */
  build: () => { body: string; headers: Record<string, string> };
  /** Whether the receiver's answer acknowledges the callback. */
  acknowledged: (status: number | null, answer: string) => boolean;
  duplicates: number;
  delay_ms: number;
}

export interface CoreOptions {
  callback_retry_delays_ms?: number[];
  callback_timeout_ms?: number;
  log?: (line: Record<string, unknown>) => void;
}

export class SandboxCore {
  #faults: Fault[] = [];
  #callback_log: CallbackLogEntry[] = [];
  /** Pending sleeps: shutdown clears each timer and wakes its sleeper, so no delivery waits
   * forever on a timer that will never fire (drain() would hang). */
  readonly #timers = new Map<NodeJS.Timeout, () => void>();
  readonly #callback_requests = new Set<ClientRequest>();
  readonly #deliveries = new Set<Promise<void>>();
  readonly #retry_delays_ms: number[];
  readonly #callback_timeout_ms: number;
  readonly #log: (line: Record<string, unknown>) => void;
  #shut_down = false;

  constructor(options: CoreOptions) {
    this.#retry_delays_ms = options.callback_retry_delays_ms ?? callback_retry_delays_ms_default;
    this.#callback_timeout_ms = options.callback_timeout_ms ?? callback_timeout_ms_default;
    this.#log = options.log ?? (() => undefined);
  }

  get shut_down(): boolean {
    return this.#shut_down;
  }

  log(line: Record<string, unknown>): void {
    this.#log({ time: new Date().toISOString(), ...line });
  }

  shutdown(): void {
    this.#shut_down = true;
    const sleepers = [...this.#timers];
    this.#timers.clear();
    for (const [timer, wake] of sleepers) {
      clearTimeout(timer);
      wake();
    }
    for (const request of this.#callback_requests) request.destroy();
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.#deliveries]);
  }

  reset(): void {
    this.#faults = [];
    this.#callback_log = [];
  }

  // Faults ------------------------------------------------------------------------------------

  addFault(json: unknown): Reply {
    if (typeof json !== 'object' || json === null) throw new HttpError(400, 'PARAM_ERROR', 'body must be a JSON object');
    const spec = json as FaultSpec;
    const problem = faultProblem(spec);
    if (problem !== undefined) throw new HttpError(400, 'PARAM_ERROR', problem);
    if (this.#faults.length >= faults_max) throw new HttpError(409, 'TOO_MANY_FAULTS', `at most ${faults_max} faults; DELETE /sandbox/faults`);
    const fault: Fault = { ...spec, scope: spec.scope ?? {}, fault_id: randomUUID(), remaining: spec.times ?? Number.POSITIVE_INFINITY };
    this.#faults.push(fault);
    this.log({ event: 'fault_added', fault_id: fault.fault_id });
    return { status: 200, body: { fault_id: fault.fault_id } };
  }

  clearFaults(): void {
    this.#faults = [];
  }

  faults(): Fault[] {
    return this.#faults;
  }

  /** The first live fault in scope that has the wanted effect; uses up one of its `times`. */
  take(context: FaultContext, has: (fault: Fault) => boolean): Fault | undefined {
    const fault = this.peek(context, has);
    if (fault !== undefined) fault.remaining -= 1;
    return fault;
  }

  /** Like take, without using it up (statement faults hold for every download). */
  peek(context: FaultContext, has: (fault: Fault) => boolean): Fault | undefined {
    return this.#faults.find((fault) => fault.remaining > 0 && has(fault) && inScope(fault, context));
  }

  /** Answer-shaping faults of one API call, in the order they act. */
  refusal(context: FaultContext): { reject?: FaultSpec['reject_before_create']; fail_status?: number } {
    const reject = this.take(context, (fault) => fault.reject_before_create !== undefined)?.reject_before_create;
    if (reject !== undefined) return { reject };
    const fail_status = this.take(context, (fault) => fault.fail_status !== undefined)?.fail_status;
    return fail_status === undefined ? {} : { fail_status };
  }

  latency(context: FaultContext): number {
    return Math.min(this.take(context, (fault) => (fault.latency_ms ?? 0) > 0)?.latency_ms ?? 0, latency_ms_max);
  }

  /** Callback faults for one order's payment callback. */
  callbackFaults(context: FaultContext): { dropped: boolean; duplicates: number; delay_ms: number } {
    const dropped = this.take(context, (fault) => fault.drop_callbacks === true) !== undefined;
    const duplicates = Math.min(this.take(context, (fault) => (fault.duplicate_callbacks ?? 0) > 0)?.duplicate_callbacks ?? 0, duplicate_callbacks_max);
    const delay_ms = Math.min(this.take(context, (fault) => (fault.delay_callbacks_ms ?? 0) > 0)?.delay_callbacks_ms ?? 0, latency_ms_max);
    return { dropped, duplicates, delay_ms };
  }

  // Callbacks ---------------------------------------------------------------------------------

  callbacks(prefix: string): CallbackLogEntry[] {
    return this.#callback_log.filter((entry) => entry.out_trade_no.startsWith(prefix));
  }

  deliver(delivery: Delivery): void {
    this.track(this.#deliver(delivery));
  }

  async #deliver(delivery: Delivery): Promise<void> {
    if (delivery.delay_ms > 0) await this.sleep(delivery.delay_ms);
    const base = {
      provider: delivery.provider, event_id: delivery.event_id, mchid: delivery.mchid, out_trade_no: delivery.out_trade_no,
      kind: delivery.kind, notify_url: delivery.notify_url, ...(delivery.out_refund_no ? { out_refund_no: delivery.out_refund_no } : {}),
    };
    for (let attempt = 1; attempt <= 1 + this.#retry_delays_ms.length; attempt++) {
      if (this.#shut_down) return;
      const { body, headers } = delivery.build();
      const outcome = await this.post(delivery.notify_url, body, headers);
      this.#record({ ...base, attempt, duplicate: false, ...outcome });
      if (delivery.acknowledged(outcome.status, outcome.answer ?? '')) break;
      if (attempt <= this.#retry_delays_ms.length) await this.sleep(this.#retry_delays_ms[attempt - 1]!);
    }
    for (let copy = 0; copy < delivery.duplicates && !this.#shut_down; copy++) {
      const { body, headers } = delivery.build();
      const outcome = await this.post(delivery.notify_url, body, headers);
      this.#record({ ...base, attempt: 1, duplicate: true, ...outcome });
    }
  }

  #record(entry: Omit<CallbackLogEntry, 'sent_at'>): void {
    this.#callback_log.push({ ...entry, sent_at: new Date().toISOString() });
    if (this.#callback_log.length > callback_log_max) this.#callback_log.splice(0, this.#callback_log.length - callback_log_max);
    this.log({ event: 'callback_sent', provider: entry.provider, kind: entry.kind, out_trade_no: entry.out_trade_no, attempt: entry.attempt, status: entry.status, error: entry.error });
  }

  /** One POST; never throws. */
  post(notify_url: string, body: string, headers: Record<string, string>): Promise<{ status: number | null; answer?: string; error?: string }> {
    return new Promise((resolve) => {
      let target: URL;
      try {
        target = new URL(notify_url);
      } catch {
        resolve({ status: null, error: 'bad notify_url' });
        return;
      }
      const all = { ...headers, 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close' };
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(target, { method: 'POST', headers: all, agent: false, timeout: this.#callback_timeout_ms }, (response) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes <= 1024) chunks.push(chunk);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? null, answer: Buffer.concat(chunks).toString('utf8').slice(0, 64) }));
        response.on('error', (error) => resolve({ status: response.statusCode ?? null, error: error.message }));
      });
      this.#callback_requests.add(request);
      request.on('close', () => this.#callback_requests.delete(request));
      request.on('timeout', () => request.destroy(new Error('timeout')));
      request.on('error', (error) => resolve({ status: null, error: (error as NodeJS.ErrnoException).code ?? error.message }));
      request.end(body);
    });
  }

  track(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => this.log({ event: 'sandbox_task_error', error: String(error) }))
      .finally(() => this.#deliveries.delete(tracked));
    this.#deliveries.add(tracked);
  }

  /** Runs `work` after `ms` unless the sandbox shuts down first. */
  later(ms: number, work: () => void): void {
    this.track(this.sleep(ms).then(() => {
      if (!this.#shut_down) work();
    }));
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#shut_down) return resolve();
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.set(timer, resolve);
    });
  }
}

export function parseJsonBody(text: string, allow_empty = false): unknown {
  if (text.trim() === '') {
    if (allow_empty) return {};
    throw new HttpError(400, 'PARAM_ERROR', '请求体为空 (empty body)');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'PARAM_ERROR', '请求体不是合法的JSON');
  }
}

export function stringField(json: unknown, field: string): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const value = (json as Record<string, unknown>)[field];
  return typeof value === 'string' ? value : undefined;
}

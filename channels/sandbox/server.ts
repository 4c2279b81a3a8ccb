// A standalone sandbox PSP on loopback. It serves the WeChat Pay API v3 endpoints paycore's
// adapter calls (native / jsapi / app / h5 create, query and close by out_trade_no) the way the
// provider does: request signatures verified, answers signed with the platform key, a
// duplicate out_trade_no answered idempotently when the parameters are identical and refused
// when they differ, and TRANSACTION.SUCCESS callbacks signed and AEAD-encrypted. A JSON
// control API under /sandbox/ lets tests, benchmarks and people pay orders and inject faults.
// See README.md next to this file for the control API.

import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomUUID, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  aeadEncrypt, nonceString, privateKey, publicKey, signResponse, verifyRequest,
} from '../wechatpay/crypto';
import {
  out_trade_no_pattern, parseRfc3339, toChinaTime, description_chars_max,
  type WechatCreateOrderRequest, type WechatTradeType, type WechatTransaction,
} from '../wechatpay/transformers';

// ---------------------------------------------------------------------------------------------
// Limits (the sandbox runs for hours under benchmarks: everything it keeps is bounded)

/** Request bodies larger than this are refused (WeChat's own bodies are a few KiB). */
const request_body_bytes_max = 1024 * 1024;
/** Orders kept before creates answer SYSTEM_ERROR; POST /sandbox/reset frees them. */
const orders_max = 2_000_000;
/** Callback log entries kept (oldest dropped first). */
const callback_log_max = 200_000;
/** Faults installed at once. */
const faults_max = 1_000;
/** Delays between callback attempts; WeChat's real schedule is 15 s, 15 s, 30 s, 3 min, ... */
const callback_retry_delays_ms_default = [200, 1_000, 3_000];
/** Per callback attempt. */
const callback_timeout_ms_default = 5_000;
/** A latency fault cannot hold a socket longer than this. */
const latency_ms_max = 120_000;
/** Extra copies of one callback a fault may ask for. */
const duplicate_callbacks_max = 20;

// ---------------------------------------------------------------------------------------------
// Public types

export interface SandboxMerchant {
  mchid: string;
  appid: string;
  merchant_serial_no: string;
  merchant_public_key_pem: string;
  apiv3_key: string;
}

export interface SandboxOptions {
  host?: string;
  port?: number;
  wechatpay: {
    platform_private_key_pem: string;
    platform_public_key_id: string;
    merchants: SandboxMerchant[];
  };
  /** Delays before callback retries; attempts = 1 + length. Default [200, 1000, 3000]. */
  callback_retry_delays_ms?: number[];
  callback_timeout_ms?: number;
  /** One JSON object per notable event; default: silent. */
  log?: (line: Record<string, unknown>) => void;
}

export interface Sandbox {
  url: string;
  port: number;
  close(): Promise<void>;
}

export type FaultOperation = 'create' | 'query' | 'close';

export interface FaultSpec {
  scope?: { mchid?: string; out_trade_no?: string; out_trade_no_prefix?: string };
  /** Which API calls latency_ms / reject_before_create / fail_status apply to; default all. */
  operations?: FaultOperation[];
  latency_ms?: number;
  reject_before_create?: { status: number; code: string; message: string };
  fail_status?: number;
  drop_callbacks?: boolean;
  duplicate_callbacks?: number;
  success_after_close?: boolean;
  times?: number;
}

interface Fault extends FaultSpec {
  fault_id: string;
  remaining: number;
}

interface Order {
  mchid: string;
  appid: string;
  out_trade_no: string;
  trade_type: WechatTradeType;
  /** Canonical form of the create body: an identical re-create matches it exactly. */
  fingerprint: string;
  request: WechatCreateOrderRequest | undefined;
  transaction_id: string;
  trade_state: 'NOTPAY' | 'SUCCESS' | 'CLOSED';
  success_time?: string;
  payer_openid: string;
  result: Record<string, string>;
  create_requests: number;
  created_at: string;
}

interface CallbackLogEntry {
  event_id: string;
  mchid: string;
  out_trade_no: string;
  notify_url: string;
  attempt: number;
  duplicate: boolean;
  status: number | null;
  error?: string;
  sent_at: string;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly detail?: Record<string, unknown>) {
    super(message);
  }
}

interface Reply {
  status: number;
  body?: unknown;
}

const trade_types: Record<string, WechatTradeType> = { native: 'NATIVE', jsapi: 'JSAPI', app: 'APP', h5: 'MWEB' };

// ---------------------------------------------------------------------------------------------

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const state = new SandboxState(options);
  const server = createServer((req, res) => {
    state.handle(req, res).catch((error: unknown) => {
      state.log({ event: 'sandbox_internal_error', error: String(error) });
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'SYSTEM_ERROR', message: 'sandbox internal error' }));
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close(): Promise<void> {
      closing ??= (async () => {
        state.shutdown();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await state.drainCallbacks();
      })();
      return closing;
    },
  };
}

class SandboxState {
  readonly #platform_private_key: KeyObject;
  readonly #platform_public_key_id: string;
  readonly #merchants = new Map<string, SandboxMerchant & { merchant_public_key: KeyObject }>();
  readonly #orders = new Map<string, Order>();
  #faults: Fault[] = [];
  #callback_log: CallbackLogEntry[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #callback_requests = new Set<ClientRequest>();
  readonly #deliveries = new Set<Promise<void>>();
  readonly #retry_delays_ms: number[];
  readonly #callback_timeout_ms: number;
  readonly #log: (line: Record<string, unknown>) => void;
  #transaction_sequence = 0;
  #shut_down = false;

  constructor(options: SandboxOptions) {
    this.#platform_private_key = privateKey(options.wechatpay.platform_private_key_pem);
    this.#platform_public_key_id = options.wechatpay.platform_public_key_id;
    for (const merchant of options.wechatpay.merchants) {
      if (Buffer.byteLength(merchant.apiv3_key, 'utf8') !== 32) throw new Error(`sandbox merchant ${merchant.mchid}: apiv3_key must be 32 bytes`);
      this.#merchants.set(merchant.mchid, { ...merchant, merchant_public_key: publicKey(merchant.merchant_public_key_pem) });
    }
    this.#retry_delays_ms = options.callback_retry_delays_ms ?? callback_retry_delays_ms_default;
    this.#callback_timeout_ms = options.callback_timeout_ms ?? callback_timeout_ms_default;
    this.#log = options.log ?? (() => undefined);
  }

  log(line: Record<string, unknown>): void {
    this.#log({ time: new Date().toISOString(), ...line });
  }

  shutdown(): void {
    this.#shut_down = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const request of this.#callback_requests) request.destroy();
  }

  async drainCallbacks(): Promise<void> {
    await Promise.allSettled([...this.#deliveries]);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (error) {
      if (error instanceof HttpError) return this.#sendJson(res, error.status, { code: error.code, message: error.message });
      throw error;
    }
    if (url.pathname.startsWith('/sandbox/')) {
      const reply = this.#control(req.method ?? 'GET', url, body);
      return this.#sendJson(res, reply.status, reply.body);
    }
    if (url.pathname.startsWith('/v3/')) return this.#wechatpay(req, res, url, body);
    return this.#sendJson(res, 404, { code: 'NOT_FOUND', message: `no route ${req.method} ${url.pathname}` });
  }

  // -------------------------------------------------------------------------------------------
  // WeChat Pay API v3

  async #wechatpay(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<void> {
    const method = req.method ?? 'GET';
    const text = body.toString('utf8');
    let reply: Reply;
    let latency_ms = 0;
    try {
      const merchant = this.#authenticate(req, method, text);
      const route = matchApiRoute(method, url.pathname);
      if (route === undefined) throw new HttpError(404, 'NOT_FOUND', `no such API ${method} ${url.pathname}`);
      const json = route.operation === 'query' ? undefined : parseJsonBody(text);
      const out_trade_no = route.out_trade_no ?? stringField(json, 'out_trade_no');
      const context = { mchid: merchant.mchid, out_trade_no, operation: route.operation };
      this.#applyRefusalFaults(context);
      if (route.operation === 'create') reply = this.#create(merchant, route.trade_type!, json);
      else if (route.operation === 'query') reply = this.#query(merchant, route.out_trade_no!, url.searchParams.get('mchid'));
      else reply = this.#close(merchant, route.out_trade_no!, json);
      latency_ms = this.#take(context, (fault) => fault.latency_ms !== undefined && fault.latency_ms > 0)?.latency_ms ?? 0;
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      reply = { status: error.status, body: { code: error.code, message: error.message, ...(error.detail ? { detail: error.detail } : {}) } };
    }
    if (latency_ms > 0) await this.#sleep(Math.min(latency_ms, latency_ms_max));
    if (this.#shut_down || res.destroyed) return;
    this.#sendSigned(res, reply);
  }

  #authenticate(req: IncomingMessage, method: string, body: string): SandboxMerchant & { merchant_public_key: KeyObject } {
    const authorization = req.headers.authorization;
    const mchid = /mchid="([^"]*)"/.exec(authorization ?? '')?.[1];
    const merchant = mchid === undefined ? undefined : this.#merchants.get(mchid);
    if (merchant === undefined) throw new HttpError(401, 'SIGN_ERROR', '商户号不存在或Authorization缺失 (unknown mchid or no Authorization)');
    const verdict = verifyRequest({ method, path_with_query: req.url ?? '/', body }, authorization, merchant);
    if (!verdict.ok) throw new HttpError(401, 'SIGN_ERROR', `签名错误 (${verdict.reason})`);
    return merchant;
  }

  #applyRefusalFaults(context: FaultContext): void {
    const reject = this.#take(context, (fault) => fault.reject_before_create !== undefined)?.reject_before_create;
    if (reject !== undefined) throw new HttpError(reject.status, reject.code, reject.message);
    const fail_status = this.#take(context, (fault) => fault.fail_status !== undefined)?.fail_status;
    if (fail_status !== undefined) throw new HttpError(fail_status, 'SYSTEM_ERROR', '系统错误 (injected fault)');
  }

  #create(merchant: SandboxMerchant, trade_type: WechatTradeType, json: unknown): Reply {
    const request = validateCreate(json, trade_type);
    if (request.mchid !== merchant.mchid) throw paramError('mchid', 'mchid与请求头中的商户号不一致');
    if (request.appid !== merchant.appid) throw new HttpError(400, 'APPID_MCHID_NOT_MATCH', 'appid和mchid不匹配');
    const key = orderKey(request.mchid, request.out_trade_no);
    const fingerprint = canonicalJson({ trade_type, request });
    const existing = this.#orders.get(key);
    if (existing !== undefined) {
      existing.create_requests += 1;
      if (existing.trade_state === 'SUCCESS') throw new HttpError(400, 'ORDERPAID', '该订单已支付');
      if (existing.trade_state === 'CLOSED') throw new HttpError(400, 'ORDER_CLOSED', '订单已关闭');
      if (existing.fingerprint !== fingerprint) throw new HttpError(400, 'INVALID_REQUEST', '201 商户订单号重复');
      return { status: 200, body: existing.result };
    }
    if (this.#orders.size >= orders_max) throw new HttpError(500, 'SYSTEM_ERROR', `sandbox holds ${orders_max} orders; POST /sandbox/reset`);
    const transaction_id = this.#nextTransactionId();
    const prepay_id = `wx${compactChinaTime(new Date())}${transaction_id.slice(-18)}`;
    const result: Record<string, string> =
      trade_type === 'NATIVE' ? { code_url: `weixin://wxpay/bizpayurl?pr=${nonceString(9)}` }
        : trade_type === 'MWEB' ? { h5_url: `https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=${prepay_id}&package=${nonceString(10)}` }
          : { prepay_id };
    this.#orders.set(key, {
      mchid: request.mchid,
      appid: request.appid,
      out_trade_no: request.out_trade_no,
      trade_type,
      fingerprint,
      request,
      transaction_id,
      trade_state: 'NOTPAY',
      payer_openid: request.payer?.openid ?? `oSandbox${nonceString(20)}`,
      result,
      create_requests: 1,
      created_at: new Date().toISOString(),
    });
    this.log({ event: 'order_created', mchid: request.mchid, out_trade_no: request.out_trade_no, trade_type });
    return { status: 200, body: result };
  }

  #query(merchant: SandboxMerchant, out_trade_no: string, mchid: string | null): Reply {
    if (mchid === null || mchid === '') throw paramError('mchid', '缺少参数mchid', 'query');
    if (mchid !== merchant.mchid) throw paramError('mchid', 'mchid与请求头中的商户号不一致', 'query');
    const order = this.#orders.get(orderKey(mchid, out_trade_no));
    if (order === undefined || order.request === undefined) throw new HttpError(404, 'ORDER_NOT_EXIST', '订单不存在');
    return { status: 200, body: transactionOf(order) };
  }

  /**
   * Closing an out_trade_no that has no order leaves a CLOSED record behind, so a create
   * still in flight cannot open it afterwards (it is refused with ORDER_CLOSED).
   */
  #close(merchant: SandboxMerchant, out_trade_no: string, json: unknown): Reply {
    const mchid = stringField(json, 'mchid');
    if (mchid === undefined) throw paramError('mchid', '缺少参数mchid');
    if (mchid !== merchant.mchid) throw paramError('mchid', 'mchid与请求头中的商户号不一致');
    const key = orderKey(mchid, out_trade_no);
    const order = this.#orders.get(key);
    if (order === undefined) {
      this.#orders.set(key, {
        mchid, appid: merchant.appid, out_trade_no, trade_type: 'NATIVE', fingerprint: '', request: undefined,
        transaction_id: '', trade_state: 'CLOSED', payer_openid: '', result: {}, create_requests: 0,
        created_at: new Date().toISOString(),
      });
      return { status: 204 };
    }
    if (order.trade_state === 'SUCCESS') throw new HttpError(400, 'ORDERPAID', '订单已支付');
    order.trade_state = 'CLOSED';
    this.log({ event: 'order_closed', mchid, out_trade_no });
    return { status: 204 };
  }

  #nextTransactionId(): string {
    this.#transaction_sequence += 1;
    const date = compactChinaTime(new Date()).slice(0, 8);
    return `4200000${String(this.#transaction_sequence % 1_000_000).padStart(6, '0')}${date}${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
  }

  // -------------------------------------------------------------------------------------------
  // Control API

  #control(method: string, url: URL, body: Buffer): Reply {
    try {
      const path = url.pathname;
      const prefix = url.searchParams.get('out_trade_no_prefix') ?? '';
      if (method === 'GET' && path === '/sandbox/health') return { status: 200, body: { ok: true } };
      if (method === 'POST' && path === '/sandbox/reset') {
        this.#orders.clear();
        this.#faults = [];
        this.#callback_log = [];
        return { status: 200, body: { ok: true } };
      }
      if (method === 'GET' && path === '/sandbox/wechatpay/orders') {
        const orders = [...this.#orders.values()]
          .filter((order) => order.out_trade_no.startsWith(prefix))
          .map((order) => ({
            mchid: order.mchid,
            out_trade_no: order.out_trade_no,
            transaction_id: order.transaction_id,
            trade_type: order.trade_type,
            trade_state: order.trade_state,
            amount_total: order.request?.amount.total ?? 0,
            create_requests: order.create_requests,
            created_at: order.created_at,
          }));
        return { status: 200, body: { orders } };
      }
      const pay = /^\/sandbox\/wechatpay\/orders\/([^/]+)\/pay$/.exec(path);
      if (method === 'POST' && pay !== null) return this.#controlPay(decodeURIComponent(pay[1]!), parseJsonBody(body.toString('utf8'), true));
      if (method === 'GET' && path === '/sandbox/callbacks') {
        return { status: 200, body: { callbacks: this.#callback_log.filter((entry) => entry.out_trade_no.startsWith(prefix)) } };
      }
      if (path === '/sandbox/faults') {
        if (method === 'PUT') return this.#addFault(parseJsonBody(body.toString('utf8')));
        if (method === 'DELETE') {
          this.#faults = [];
          return { status: 200, body: { ok: true } };
        }
        if (method === 'GET') return { status: 200, body: { faults: this.#faults } };
      }
      return { status: 404, body: { error: `no control route ${method} ${path}` } };
    } catch (error) {
      if (error instanceof HttpError) return { status: error.status, body: { error: error.message } };
      throw error;
    }
  }

  #controlPay(out_trade_no: string, json: unknown): Reply {
    const mchid = stringField(json, 'mchid');
    const candidates = [...this.#orders.values()].filter((order) =>
      order.out_trade_no === out_trade_no && order.request !== undefined && (mchid === undefined || order.mchid === mchid));
    if (candidates.length === 0) throw new HttpError(404, 'NOT_FOUND', `no order ${out_trade_no}`);
    if (candidates.length > 1) throw new HttpError(409, 'AMBIGUOUS', `several merchants have ${out_trade_no}; pass {mchid}`);
    const order = candidates[0]!;
    const context = { mchid: order.mchid, out_trade_no, operation: 'pay' as const };
    if (order.trade_state === 'SUCCESS') {
      return { status: 200, body: { out_trade_no, transaction_id: order.transaction_id, trade_state: order.trade_state, already_paid: true } };
    }
    if (order.trade_state === 'CLOSED' && this.#take(context, (fault) => fault.success_after_close === true) === undefined) {
      throw new HttpError(409, 'ORDER_CLOSED', `order ${out_trade_no} is CLOSED`);
    }
    order.trade_state = 'SUCCESS';
    order.success_time = toChinaTime(new Date());
    this.log({ event: 'order_paid', mchid: order.mchid, out_trade_no });
    const dropped = this.#take(context, (fault) => fault.drop_callbacks === true) !== undefined;
    const duplicates = Math.min(this.#take(context, (fault) => (fault.duplicate_callbacks ?? 0) > 0)?.duplicate_callbacks ?? 0, duplicate_callbacks_max);
    if (!dropped) this.#track(this.#deliverCallback(order, duplicates));
    return { status: 200, body: { out_trade_no, transaction_id: order.transaction_id, trade_state: order.trade_state, callback: dropped ? 'dropped' : 'scheduled' } };
  }

  #addFault(json: unknown): Reply {
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

  /** The first live fault in scope that has the wanted effect; uses up one of its `times`. */
  #take(context: FaultContext, has: (fault: Fault) => boolean): Fault | undefined {
    for (const fault of this.#faults) {
      if (fault.remaining <= 0 || !has(fault) || !inScope(fault, context)) continue;
      fault.remaining -= 1;
      return fault;
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Callbacks

  async #deliverCallback(order: Order, duplicates: number): Promise<void> {
    const merchant = this.#merchants.get(order.mchid)!;
    const notify_url = order.request!.notify_url;
    const event_id = randomUUID();
    const resource = aeadEncrypt(JSON.stringify(transactionOf(order)), merchant.apiv3_key, 'transaction');
    const body = JSON.stringify({
      id: event_id,
      create_time: toChinaTime(new Date()),
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      resource: { original_type: 'transaction', ...resource },
    });
    const base = { event_id, mchid: order.mchid, out_trade_no: order.out_trade_no, notify_url };
    for (let attempt = 1; attempt <= 1 + this.#retry_delays_ms.length; attempt++) {
      if (this.#shut_down) return;
      const outcome = await this.#post(notify_url, body);
      this.#record({ ...base, attempt, duplicate: false, ...outcome });
      if (outcome.status !== null && outcome.status >= 200 && outcome.status < 300) break;
      if (attempt <= this.#retry_delays_ms.length) await this.#sleep(this.#retry_delays_ms[attempt - 1]!);
    }
    for (let copy = 0; copy < duplicates && !this.#shut_down; copy++) {
      const outcome = await this.#post(notify_url, body);
      this.#record({ ...base, attempt: 1, duplicate: true, ...outcome });
    }
  }

  #record(entry: Omit<CallbackLogEntry, 'sent_at'>): void {
    this.#callback_log.push({ ...entry, sent_at: new Date().toISOString() });
    if (this.#callback_log.length > callback_log_max) this.#callback_log.splice(0, this.#callback_log.length - callback_log_max);
    this.log({ event: 'callback_sent', out_trade_no: entry.out_trade_no, attempt: entry.attempt, status: entry.status, error: entry.error });
  }

  /** One signed POST (signed afresh each time, as WeChat does); never throws. */
  #post(notify_url: string, body: string): Promise<{ status: number | null; error?: string }> {
    return new Promise((resolve) => {
      let target: URL;
      try {
        target = new URL(notify_url);
      } catch {
        resolve({ status: null, error: 'bad notify_url' });
        return;
      }
      const headers = {
        ...signResponse(body, { platform_private_key: this.#platform_private_key, platform_public_key_id: this.#platform_public_key_id }),
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(body)),
        'User-Agent': 'Mozilla/4.0 (sandbox wechatpay)',
        Connection: 'close',
      };
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(target, { method: 'POST', headers, agent: false, timeout: this.#callback_timeout_ms }, (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? null }));
        response.on('error', (error) => resolve({ status: response.statusCode ?? null, error: error.message }));
      });
      this.#callback_requests.add(request);
      request.on('close', () => this.#callback_requests.delete(request));
      request.on('timeout', () => request.destroy(new Error('timeout')));
      request.on('error', (error) => resolve({ status: null, error: (error as NodeJS.ErrnoException).code ?? error.message }));
      request.end(body);
    });
  }

  #track(delivery: Promise<void>): void {
    const tracked = delivery.catch((error: unknown) => this.log({ event: 'callback_error', error: String(error) }))
      .finally(() => this.#deliveries.delete(tracked));
    this.#deliveries.add(tracked);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#shut_down) return resolve();
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Answers

  #sendSigned(res: ServerResponse, reply: Reply): void {
    const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
    const headers: Record<string, string> = {
      ...signResponse(body, { platform_private_key: this.#platform_private_key, platform_public_key_id: this.#platform_public_key_id }),
      'Request-ID': randomUUID(),
    };
    if (body !== '') headers['Content-Type'] = 'application/json; charset=utf-8';
    res.writeHead(reply.status, headers);
    res.end(body);
  }

  #sendJson(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body ?? {});
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(text);
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

interface FaultContext {
  mchid: string;
  out_trade_no: string | undefined;
  operation: FaultOperation | 'pay';
}

function inScope(fault: Fault, context: FaultContext): boolean {
  const scope = fault.scope ?? {};
  if (scope.mchid !== undefined && scope.mchid !== context.mchid) return false;
  if (scope.out_trade_no !== undefined && scope.out_trade_no !== context.out_trade_no) return false;
  if (scope.out_trade_no_prefix !== undefined && !(context.out_trade_no ?? '').startsWith(scope.out_trade_no_prefix)) return false;
  if (context.operation !== 'pay' && fault.operations !== undefined && !fault.operations.includes(context.operation)) return false;
  return true;
}

function faultProblem(spec: FaultSpec): string | undefined {
  if (spec.scope !== undefined && (typeof spec.scope !== 'object' || spec.scope === null)) return 'scope must be an object';
  if (spec.latency_ms !== undefined && (!Number.isInteger(spec.latency_ms) || spec.latency_ms < 0 || spec.latency_ms > latency_ms_max)) {
    return `latency_ms must be an integer from 0 to ${latency_ms_max}`;
  }
  if (spec.fail_status !== undefined && (!Number.isInteger(spec.fail_status) || spec.fail_status < 500 || spec.fail_status > 599)) {
    return 'fail_status must be a 5xx status';
  }
  const reject = spec.reject_before_create;
  if (reject !== undefined && (typeof reject !== 'object' || reject === null || !Number.isInteger(reject.status)
    || reject.status < 400 || reject.status > 599 || typeof reject.code !== 'string' || typeof reject.message !== 'string')) {
    return 'reject_before_create must be {status: 4xx|5xx, code, message}';
  }
  if (spec.duplicate_callbacks !== undefined && (!Number.isInteger(spec.duplicate_callbacks) || spec.duplicate_callbacks < 0
    || spec.duplicate_callbacks > duplicate_callbacks_max)) {
    return `duplicate_callbacks must be an integer from 0 to ${duplicate_callbacks_max}`;
  }
  if (spec.times !== undefined && (!Number.isInteger(spec.times) || spec.times < 1)) return 'times must be a positive integer';
  const operations = ['create', 'query', 'close'];
  if (spec.operations !== undefined && (!Array.isArray(spec.operations) || !spec.operations.every((op) => operations.includes(op)))) {
    return `operations must be a list of ${operations.join(', ')}`;
  }
  return undefined;
}

interface ApiRoute {
  operation: FaultOperation;
  trade_type?: WechatTradeType;
  out_trade_no?: string;
}

function matchApiRoute(method: string, path: string): ApiRoute | undefined {
  const create = /^\/v3\/pay\/transactions\/(native|jsapi|app|h5)$/.exec(path);
  if (method === 'POST' && create !== null) return { operation: 'create', trade_type: trade_types[create[1]!]! };
  const query = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)$/.exec(path);
  if (method === 'GET' && query !== null) return { operation: 'query', out_trade_no: decodeURIComponent(query[1]!) };
  const close = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)\/close$/.exec(path);
  if (method === 'POST' && close !== null) return { operation: 'close', out_trade_no: decodeURIComponent(close[1]!) };
  return undefined;
}

function validateCreate(json: unknown, trade_type: WechatTradeType): WechatCreateOrderRequest {
  if (typeof json !== 'object' || json === null) throw paramError('body', '请求体必须是JSON对象');
  const body = json as Record<string, unknown>;
  const text = (field: string, max: number): string => {
    const value = body[field];
    if (typeof value !== 'string' || value.length === 0) throw paramError(field, `缺少参数${field}`);
    if (Array.from(value).length > max) throw paramError(field, `${field}长度超过${max}`);
    return value;
  };
  const appid = text('appid', 32);
  const mchid = text('mchid', 32);
  const description = text('description', description_chars_max);
  const out_trade_no = text('out_trade_no', 32);
  if (!out_trade_no_pattern.test(out_trade_no)) throw paramError('out_trade_no', 'out_trade_no格式错误 (6-32位数字、字母、_-|*)');
  const notify_url = text('notify_url', 255);
  let notify: URL;
  try {
    notify = new URL(notify_url);
  } catch {
    throw paramError('notify_url', 'notify_url格式错误');
  }
  if ((notify.protocol !== 'https:' && notify.protocol !== 'http:') || notify.search !== '') {
    throw paramError('notify_url', 'notify_url必须是http(s)地址且不能携带参数');
  }
  const request: WechatCreateOrderRequest = {
    appid, mchid, description, out_trade_no, notify_url,
    time_expire: '',
    amount: { total: 0, currency: 'CNY' },
  };
  if (body.time_expire !== undefined) {
    if (typeof body.time_expire !== 'string' || parseRfc3339(body.time_expire) === undefined) throw paramError('time_expire', 'time_expire格式错误 (rfc3339)');
    request.time_expire = body.time_expire;
  }
  const amount = body.amount as Record<string, unknown> | undefined;
  if (typeof amount !== 'object' || amount === null) throw paramError('amount', '缺少参数amount');
  if (typeof amount.total !== 'number' || !Number.isSafeInteger(amount.total) || amount.total <= 0) {
    throw paramError('amount.total', 'amount.total必须是正整数 (分)');
  }
  const currency = amount.currency ?? 'CNY';
  if (currency !== 'CNY') throw paramError('amount.currency', 'amount.currency只支持CNY');
  request.amount = { total: amount.total, currency };
  if (trade_type === 'JSAPI') {
    const openid = (body.payer as Record<string, unknown> | undefined)?.openid;
    if (typeof openid !== 'string' || openid === '') throw paramError('payer.openid', '缺少参数payer.openid');
    request.payer = { openid };
  }
  const scene = body.scene_info as Record<string, unknown> | undefined;
  if (trade_type === 'MWEB') {
    const ip = scene?.payer_client_ip;
    if (typeof ip !== 'string' || ip === '') throw paramError('scene_info.payer_client_ip', '缺少参数scene_info.payer_client_ip');
    const h5_type = (scene?.h5_info as Record<string, unknown> | undefined)?.type;
    if (h5_type !== 'Wap' && h5_type !== 'iOS' && h5_type !== 'Android') throw paramError('scene_info.h5_info.type', '缺少参数scene_info.h5_info.type');
    request.scene_info = { payer_client_ip: ip, h5_info: { type: h5_type } };
  } else if (typeof scene?.payer_client_ip === 'string') {
    request.scene_info = { payer_client_ip: scene.payer_client_ip };
  }
  return request;
}

function transactionOf(order: Order): WechatTransaction {
  const request = order.request!;
  const paid = order.trade_state === 'SUCCESS';
  const transaction: WechatTransaction = {
    appid: order.appid,
    mchid: order.mchid,
    out_trade_no: order.out_trade_no,
    trade_state: order.trade_state,
    trade_state_desc: order.trade_state === 'SUCCESS' ? '支付成功' : order.trade_state === 'CLOSED' ? '订单已关闭' : '订单未支付',
    attach: '',
    amount: { total: request.amount.total, currency: request.amount.currency },
  };
  if (paid) {
    Object.assign(transaction, {
      transaction_id: order.transaction_id,
      trade_type: order.trade_type,
      bank_type: 'OTHERS',
      success_time: order.success_time,
      payer: { openid: order.payer_openid },
      amount: { total: request.amount.total, payer_total: request.amount.total, currency: request.amount.currency, payer_currency: request.amount.currency },
    });
  }
  return transaction;
}

function paramError(field: string, message: string, location: 'body' | 'query' = 'body'): HttpError {
  return new HttpError(400, 'PARAM_ERROR', message, { field, location });
}

function stringField(json: unknown, field: string): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const value = (json as Record<string, unknown>)[field];
  return typeof value === 'string' ? value : undefined;
}

function parseJsonBody(text: string, allow_empty = false): unknown {
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

function orderKey(mchid: string, out_trade_no: string): string {
  return `${mchid}\u0000${out_trade_no}`;
}

/** Key order does not matter when comparing two create requests. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** yyyyMMddHHmmss in China time. */
function compactChinaTime(date: Date): string {
  return toChinaTime(date).slice(0, 19).replace(/[-T:]/g, '');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > request_body_bytes_max) {
        reject(new HttpError(413, 'PARAM_ERROR', `request body over ${request_body_bytes_max} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

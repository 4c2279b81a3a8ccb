// A standalone sandbox PSP on loopback. It serves the providers' own protocols the way they
// do — WeChat Pay API v3 (+ the v2 payment-code call) in wechatpay.ts, the Alipay open
// platform gateway in alipay.ts, UnionPay 无跳转 token payment in unionpay.ts, the generic bank
// gateway in bankgw.ts — so paycore's real adapters run against it unchanged, and a
// JSON control API under /sandbox/ lets tests, benchmarks and people pay orders and inject
// faults (core.ts). See README.md next to this file for the control API.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlipaySandbox, type AlipaySandboxOptions } from './alipay';
import { BankgwSandbox, type BankgwSandboxOptions } from './bankgw';
import { UnionpaySandbox, type UnionpaySandboxOptions } from './unionpay';
import { HttpError, SandboxCore, parseJsonBody, request_body_bytes_max, type Reply } from './core';
import { WechatSandbox, type WechatSandboxOptions } from './wechatpay';

export type { FaultOperation, FaultSpec, CallbackLogEntry, Provider } from './core';
export type { SandboxMerchant, WechatSandboxOptions } from './wechatpay';
export type { SandboxAlipayApp, AlipaySandboxOptions } from './alipay';
export type { SandboxUnionpayMerchant, UnionpaySandboxOptions } from './unionpay';
export type { SandboxBankgwMerchant, BankgwSandboxOptions } from './bankgw';

export interface SandboxOptions {
  host?: string;
  port?: number;
  wechatpay: WechatSandboxOptions;
  /** Without it the sandbox answers no Alipay calls. */
  alipay?: AlipaySandboxOptions;
  /** Without it the sandbox answers no UnionPay calls. */
  unionpay?: UnionpaySandboxOptions;
  /** Without it the sandbox answers no bank gateway calls. */
  bankgw?: BankgwSandboxOptions;
  /** Delays before callback retries; attempts = 1 + length. Default [200, 1000, 3000]. */
  callback_retry_delays_ms?: number[];
  callback_timeout_ms?: number;
  /** How long a WeChat refund, a WeChat profit-sharing order and an Alipay async settle stay
   * PROCESSING before they settle; default 50. */
  refund_settle_ms?: number;
  /** One JSON object per notable event; default: silent. */
  log?: (line: Record<string, unknown>) => void;
}

export interface Sandbox {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const core = new SandboxCore(options);
  const wechatpay = new WechatSandbox(options.wechatpay, core, options.refund_settle_ms);
  const alipay = options.alipay === undefined ? undefined : new AlipaySandbox(options.alipay, core, options.refund_settle_ms);
  const extra: Extra = {
    unionpay: options.unionpay === undefined ? undefined : new UnionpaySandbox(options.unionpay, core),
    bankgw: options.bankgw === undefined ? undefined : new BankgwSandbox(options.bankgw, core),
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => route(core, wechatpay, alipay, extra, req, res);
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      core.log({ event: 'sandbox_internal_error', error: String(error) });
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
        core.shutdown();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await core.drain();
      })();
      return closing;
    },
  };
}

/** The protocols added after the first two, each optional. */
interface Extra {
  unionpay: UnionpaySandbox | undefined;
  bankgw: BankgwSandbox | undefined;
}

async function route(
  core: SandboxCore,
  wechatpay: WechatSandbox,
  alipay: AlipaySandbox | undefined,
  extra: Extra,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sandbox');
  let body: Buffer;
  try {
    body = await readBody(req);
  } catch (error) {
    if (error instanceof HttpError) return sendJson(res, error.status, { code: error.code, message: error.message });
    throw error;
  }
  if (url.pathname.startsWith('/sandbox/')) {
    const reply = control(core, wechatpay, alipay, extra, req.method ?? 'GET', url, body);
    return sendJson(res, reply.status, reply.body);
  }
  if (url.pathname.startsWith('/v3/')) return wechatpay.handleV3(req, res, url, body);
  if (url.pathname === '/pay/micropay' && req.method === 'POST') return wechatpay.handleMicropay(res, body);
  if (url.pathname === '/secapi/pay/reverse' && req.method === 'POST') return wechatpay.handleReverse(res, body);
  if (alipay !== undefined && url.pathname === '/gateway.do') return alipay.handleGateway(req, res, url, body);
  if (alipay !== undefined && url.pathname === '/downloadBillFile.resource' && req.method === 'GET') return alipay.downloadBill(res, url);
  if (extra.unionpay !== undefined && url.pathname.startsWith('/gateway/api/')) return extra.unionpay.handle(req, res, url, body);
  // UnionPay's file transfer answers on its own host; here under a path of its own.
  if (extra.unionpay !== undefined && url.pathname === '/unionpay/filedownload/') return extra.unionpay.handleFile(req, res, body);
  if (extra.bankgw !== undefined && url.pathname.startsWith('/gateway/')) return extra.bankgw.handle(req, res, url, body);
  return sendJson(res, 404, { code: 'NOT_FOUND', message: `no route ${req.method} ${url.pathname}` });
}

function control(core: SandboxCore, wechatpay: WechatSandbox, alipay: AlipaySandbox | undefined, extra: Extra, method: string, url: URL, body: Buffer): Reply {
  try {
    const path = url.pathname;
    const prefix = url.searchParams.get('out_trade_no_prefix') ?? '';
    if (method === 'GET' && path === '/sandbox/health') return { status: 200, body: { ok: true } };
    if (method === 'POST' && path === '/sandbox/reset') {
      core.reset();
      wechatpay.reset();
      alipay?.reset();
      extra.unionpay?.reset();
      extra.bankgw?.reset();
      return { status: 200, body: { ok: true } };
    }
    if (method === 'GET' && path === '/sandbox/callbacks') return { status: 200, body: { callbacks: core.callbacks(prefix) } };
    if (path === '/sandbox/faults') {
      if (method === 'PUT') return core.addFault(parseJsonBody(body.toString('utf8')));
      if (method === 'DELETE') {
        core.clearFaults();
        return { status: 200, body: { ok: true } };
      }
      if (method === 'GET') return { status: 200, body: { faults: core.faults() } };
    }
    const json = method === 'POST' ? parseJsonBody(body.toString('utf8'), true) : undefined;
    const reply = path.startsWith('/sandbox/alipay/') ? alipay?.control(method, path, url, json)
      : path.startsWith('/sandbox/unionpay/') ? extra.unionpay?.control(method, path, url, json)
        : path.startsWith('/sandbox/bankgw/') ? extra.bankgw?.control(method, path, url, json)
          : wechatpay.control(method, path, url, json);
    if (reply !== undefined) return reply;
    return { status: 404, body: { error: `no control route ${method} ${path}` } };
  } catch (error) {
    if (error instanceof HttpError) return { status: error.status, body: { error: error.message } };
    throw error;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body ?? {}));
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

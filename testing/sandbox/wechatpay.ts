// The sandbox's WeChat Pay: API v3 create / query / close, refunds and refund queries, the
// trade bill and its download, TRANSACTION.SUCCESS, REFUND.* and PROFITSHARING.* callbacks (signed with the
// platform key, AEAD-encrypted with the merchant's APIv3 key), and the API v2 payment-code
// call `pay/micropay` (XML, HMAC-SHA256 / MD5 with the merchant's API v2 key).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import {
  wechat_description_chars_max as description_chars_max, wechat_out_trade_no_pattern as out_trade_no_pattern,
  type WechatCreateOrderRequest, type WechatRefund, type WechatTradeType, type WechatTransaction,
} from './protocol/wire';
import { compactChinaTime, isCalendarDate, parseCompactChinaTime, parseRfc3339, toChinaTime } from './protocol/formats';
import {
  HttpError, orders_max, parseJsonBody, stringField, type FaultContext, type FaultOperation, type Reply, type SandboxCore,
} from './core';
import {
  wechatDecryptField, wechatEncryptResource, wechatKey, wechatRandomString, wechatSignedHeaders, wechatV2ParseXml, wechatV2Sign, wechatV2Verify, wechatV2Xml,
  wechatVerifyRequest, type WechatV2SignType,
} from './protocol/wechatpay';
import { billRows, wechatTradeBill, type LedgerEntry } from './statements';
import { WechatProfitSharing } from './wechatpay-profitsharing';

export interface SandboxMerchant {
  mchid: string;
  appid: string;
  merchant_serial_no: string;
  merchant_public_key_pem: string;
  apiv3_key: string;
  /** Signs `pay/micropay`; without it the merchant cannot use payment codes. */
  api_v2_key?: string;
}

export interface WechatSandboxOptions {
  platform_private_key_pem: string;
  platform_public_key_id: string;
  merchants: SandboxMerchant[];
}

/** Bills prepared for download at once (each valid until fetched or replaced). */
const bills_max = 100;
/** Ledger entries kept (payments and refunds, for bills). */
const ledger_max = 4_000_000;
/** How long a refund stays PROCESSING before it settles (unless a fault holds it). */
export const refund_settle_ms_default = 50;

type TradeState = 'NOTPAY' | 'SUCCESS' | 'REFUND' | 'CLOSED' | 'USERPAYING' | 'REVOKED';

interface Order {
  mchid: string;
  appid: string;
  out_trade_no: string;
  trade_type: WechatTradeType | 'MICROPAY';
  /** Canonical form of the create body: an identical re-create matches it exactly. */
  fingerprint: string;
  request: WechatCreateOrderRequest | undefined;
  transaction_id: string;
  trade_state: TradeState;
  success_time?: string;
  payer_openid: string;
  result: Record<string, string>;
  create_requests: number;
  created_at: string;
  refunded_fen: number;
  /** The payer's further payments of this order (pay_twice): transaction_id → fen refunded
   * from it. Each is its own money, refundable by its transaction_id up to the order total. */
  extra_transactions?: Map<string, number>;
}

interface Refund {
  mchid: string;
  out_refund_no: string;
  refund_id: string;
  out_trade_no: string;
  transaction_id: string;
  refund_fen: number;
  total_fen: number;
  status: 'PROCESSING' | 'SUCCESS' | 'ABNORMAL' | 'CLOSED';
  create_time: string;
  success_time?: string;
  notify_url: string | undefined;
  fingerprint: string;
}

const trade_types: Record<string, WechatTradeType> = { native: 'NATIVE', jsapi: 'JSAPI', app: 'APP', h5: 'MWEB' };

export class WechatSandbox {
  readonly #core: SandboxCore;
  readonly #platform_private_key: KeyObject;
  readonly #platform_public_key_id: string;
  readonly #merchants = new Map<string, SandboxMerchant & { merchant_public_key: KeyObject }>();
  readonly #orders = new Map<string, Order>();
  readonly #refunds = new Map<string, Refund>();
  #ledger: LedgerEntry[] = [];
  readonly #bills = new Map<string, { mchid: string; bytes: Buffer }>();
  #transaction_sequence = 0;
  readonly #sharing: WechatProfitSharing;

  constructor(options: WechatSandboxOptions, core: SandboxCore, refund_settle_ms = refund_settle_ms_default) {
    this.#core = core;
    this.#platform_private_key = wechatKey(options.platform_private_key_pem, 'private');
    this.#platform_public_key_id = options.platform_public_key_id;
    for (const merchant of options.merchants) {
      if (Buffer.byteLength(merchant.apiv3_key, 'utf8') !== 32) throw new Error(`sandbox merchant ${merchant.mchid}: apiv3_key must be 32 bytes`);
      this.#merchants.set(merchant.mchid, { ...merchant, merchant_public_key: wechatKey(merchant.merchant_public_key_pem, 'public') });
    }
    this.#sharing = new WechatProfitSharing(core, (mchid, transaction_id) => {
      const order = [...this.#orders.values()].find((o) => o.mchid === mchid && o.transaction_id === transaction_id && o.request !== undefined);
      return order === undefined ? undefined : {
        mchid, out_trade_no: order.out_trade_no, transaction_id, paid: ['SUCCESS', 'REFUND'].includes(order.trade_state), notify_url: order.request!.notify_url,
        profit_sharing: order.request!.settle_info?.profit_sharing === true, total_fen: order.request!.amount.total, refunded_fen: order.refunded_fen,
      };
    }, refund_settle_ms, { apiv3_key: (mchid) => this.#merchants.get(mchid)!.apiv3_key, headers: (body) => this.#callbackHeaders(body),
      platform_serial: options.platform_public_key_id, decrypt: (text) => wechatDecryptField(text, this.#platform_private_key) });
  }

  reset(): void {
    this.#sharing.reset();
    this.#orders.clear();
    this.#refunds.clear();
    this.#ledger = [];
    this.#bills.clear();
  }

  // -------------------------------------------------------------------------------------------
  // API v3

  async handleV3(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<void> {
    const method = req.method ?? 'GET';
    const text = body.toString('utf8');
    if (url.pathname.startsWith('/v3/profitsharing/')) return this.#handleProfitSharing(req, res, url, text);
    let reply: Reply;
    let latency_ms = 0;
    let raw: Buffer | undefined;
    try {
      const merchant = this.#authenticate(req, method, text);
      const route = matchApiRoute(method, url.pathname);
      if (route === undefined) throw new HttpError(404, 'NOT_FOUND', `no such API ${method} ${url.pathname}`);
      const json = method === 'GET' ? undefined : parseJsonBody(text);
      const out_trade_no = route.out_trade_no ?? stringField(json, 'out_trade_no') ?? this.#refunds.get(orderKey(merchant.mchid, route.out_refund_no ?? ''))?.out_trade_no;
      const context: FaultContext = { provider: 'wechatpay', merchant: merchant.mchid, out_trade_no, operation: route.operation };
      this.#applyRefusalFaults(context);
      switch (route.name) {
        case 'create': reply = this.#create(merchant, route.trade_type!, json); break;
        case 'query': reply = this.#query(merchant, route.out_trade_no!, url.searchParams.get('mchid')); break;
        case 'close': reply = this.#close(merchant, route.out_trade_no!, json); break;
        case 'refund': reply = this.#refund(merchant, json); break;
        case 'refund_query': reply = this.#refundQuery(merchant, route.out_refund_no!); break;
        case 'bill': reply = this.#bill(merchant, url, req.headers.host ?? '127.0.0.1'); break;
        case 'bill_file': raw = this.#billFile(merchant, url); reply = { status: 200 }; break;
      }
      latency_ms = this.#core.latency(context);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      reply = { status: error.status, body: { code: error.code, message: error.message, ...(error.detail ? { detail: error.detail } : {}) } };
      raw = undefined;
    }
    if (latency_ms > 0) await this.#core.sleep(latency_ms);
    if (this.#core.shut_down || res.destroyed) return;
    if (raw !== undefined) {
      // The bill file is not signed: its SHA1 came in the signed tradebill answer.
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(raw.length) });
      res.end(raw);
      return;
    }
    this.#sendSigned(res, reply);
  }

  /** Profit sharing (wechatpay-profitsharing.ts), with the same signing and faults as any call. */
  async #handleProfitSharing(req: IncomingMessage, res: ServerResponse, url: URL, text: string): Promise<void> {
    const method = req.method ?? 'GET';
    let reply: Reply | undefined;
    let latency_ms = 0;
    try {
      const merchant = this.#authenticate(req, method, text);
      const json = method === 'GET' ? undefined : parseJsonBody(text);
      const operation = url.pathname.includes('/return-orders') ? 'share_return' : method === 'GET' || url.pathname.endsWith('/receivers/add') ? 'share_query' : 'share';
      const context: FaultContext = { provider: 'wechatpay', merchant: merchant.mchid, out_trade_no: this.#sharing.outTradeNo(merchant.mchid, url.pathname, json, url), operation };
      this.#applyRefusalFaults(context);
      reply = this.#sharing.handle(merchant.mchid, merchant.appid, method, url.pathname, json, url, stringField(req.headers, 'wechatpay-serial'));
      if (reply === undefined) throw new HttpError(404, 'NOT_FOUND', `no such API ${method} ${url.pathname}`);
      latency_ms = this.#core.latency(context);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      reply = { status: error.status, body: { code: error.code, message: error.message, ...(error.detail ? { detail: error.detail } : {}) } };
    }
    if (latency_ms > 0) await this.#core.sleep(latency_ms);
    if (this.#core.shut_down || res.destroyed) return;
    this.#sendSigned(res, reply);
  }

  #authenticate(req: IncomingMessage, method: string, body: string): SandboxMerchant & { merchant_public_key: KeyObject } {
    const authorization = req.headers.authorization;
    const mchid = /mchid="([^"]*)"/.exec(authorization ?? '')?.[1];
    const merchant = mchid === undefined ? undefined : this.#merchants.get(mchid);
    if (merchant === undefined) throw new HttpError(401, 'SIGN_ERROR', '商户号不存在或Authorization缺失 (unknown mchid or no Authorization)');
    const verdict = wechatVerifyRequest({ method, path_with_query: req.url ?? '/', body }, authorization, merchant);
    if (!verdict.ok) throw new HttpError(401, 'SIGN_ERROR', `签名错误 (${verdict.reason})`);
    return merchant;
  }

  #applyRefusalFaults(context: FaultContext): void {
    const refusal = this.#core.refusal(context);
    if (refusal.reject !== undefined) throw new HttpError(refusal.reject.status, refusal.reject.code, refusal.reject.message);
    if (refusal.fail_status !== undefined) throw new HttpError(refusal.fail_status, 'SYSTEM_ERROR', '系统错误 (injected fault)');
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
      if (existing.trade_state === 'SUCCESS' || existing.trade_state === 'REFUND') throw new HttpError(400, 'ORDERPAID', '该订单已支付');
      if (existing.trade_state === 'CLOSED') throw new HttpError(400, 'ORDER_CLOSED', '订单已关闭');
      if (existing.fingerprint !== fingerprint) throw new HttpError(400, 'INVALID_REQUEST', '201 商户订单号重复');
      return { status: 200, body: existing.result };
    }
    this.#checkCapacity();
    const transaction_id = this.#nextTransactionId();
    const prepay_id = `wx${compactChinaTime(new Date())}${transaction_id.slice(-18)}`;
    const result: Record<string, string> =
      trade_type === 'NATIVE' ? { code_url: `weixin://wxpay/bizpayurl?pr=${wechatRandomString(9)}` }
        : trade_type === 'MWEB' ? { h5_url: `https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=${prepay_id}&package=${wechatRandomString(10)}` }
          : { prepay_id };
    this.#orders.set(key, {
      mchid: request.mchid, appid: request.appid, out_trade_no: request.out_trade_no, trade_type, fingerprint, request,
      transaction_id, trade_state: 'NOTPAY', payer_openid: request.payer?.openid ?? `oSandbox${wechatRandomString(20)}`, result,
      create_requests: 1, created_at: new Date().toISOString(), refunded_fen: 0,
    });
    this.#core.log({ event: 'order_created', provider: 'wechatpay', mchid: request.mchid, out_trade_no: request.out_trade_no, trade_type });
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
        created_at: new Date().toISOString(), refunded_fen: 0,
      });
      return { status: 204 };
    }
    if (order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND') throw new HttpError(400, 'ORDERPAID', '订单已支付');
    order.trade_state = 'CLOSED';
    this.#core.log({ event: 'order_closed', provider: 'wechatpay', mchid, out_trade_no });
    return { status: 204 };
  }

  // Refunds -----------------------------------------------------------------------------------

  #refund(merchant: SandboxMerchant, json: unknown): Reply {
    const body = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
    const out_refund_no = stringField(body, 'out_refund_no');
    if (out_refund_no === undefined || !out_trade_no_pattern.test(out_refund_no)) throw paramError('out_refund_no', 'out_refund_no格式错误');
    const notify_url = stringField(body, 'notify_url');
    const amount = body.amount as Record<string, unknown> | undefined;
    const refund_fen = amount?.refund;
    const total_fen = amount?.total;
    if (typeof refund_fen !== 'number' || !Number.isSafeInteger(refund_fen) || refund_fen <= 0) throw paramError('amount.refund', 'amount.refund必须是正整数');
    if (typeof total_fen !== 'number' || !Number.isSafeInteger(total_fen)) throw paramError('amount.total', '缺少参数amount.total');
    if ((amount?.currency ?? 'CNY') !== 'CNY') throw paramError('amount.currency', 'amount.currency只支持CNY');
    const transaction_id = stringField(body, 'transaction_id');
    const out_trade_no = stringField(body, 'out_trade_no');
    const order = transaction_id !== undefined
      ? [...this.#orders.values()].find((o) =>
        o.mchid === merchant.mchid && (o.transaction_id === transaction_id || o.extra_transactions?.has(transaction_id) === true) && o.request !== undefined)
      : out_trade_no === undefined ? undefined : this.#orders.get(orderKey(merchant.mchid, out_trade_no));
    // A refund of a further payment of the order returns that payment's money, not the order's.
    const extra_transaction_id = transaction_id !== undefined && order?.extra_transactions?.has(transaction_id) === true ? transaction_id : undefined;
    if (transaction_id === undefined && out_trade_no === undefined) throw paramError('out_trade_no', 'transaction_id和out_trade_no必须填一个');
    if (order === undefined || order.request === undefined) throw new HttpError(404, 'RESOURCE_NOT_EXISTS', '订单不存在');
    const fingerprint = canonicalJson({ out_trade_no: order.out_trade_no, refund_fen, total_fen });
    const key = orderKey(merchant.mchid, out_refund_no);
    const existing = this.#refunds.get(key);
    if (existing !== undefined) {
      if (existing.fingerprint !== fingerprint) throw new HttpError(400, 'INVALID_REQUEST', '退款单号重复,请求参数与原退款单不一致');
      return { status: 200, body: refundOf(existing, order) };
    }
    if (order.trade_state !== 'SUCCESS' && order.trade_state !== 'REFUND') throw new HttpError(400, 'INVALID_REQUEST', '订单未支付,不能退款');
    if (total_fen !== order.request.amount.total) throw paramError('amount.total', '订单金额与原订单不一致');
    const refunded_fen = extra_transaction_id === undefined ? order.refunded_fen : order.extra_transactions!.get(extra_transaction_id)!;
    if (refunded_fen + refund_fen > total_fen) throw new HttpError(400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额');
    // A split order's shares are no longer the merchant's: they come back (分账回退) before the refund.
    if (extra_transaction_id === undefined && refunded_fen + refund_fen + this.#sharing.outstanding(merchant.mchid, order.out_trade_no) > total_fen) {
      throw new HttpError(403, 'NOT_ENOUGH', '订单可退金额不足 (the order\'s shares are with its receivers: return them first)');
    }
    const refund: Refund = {
      mchid: merchant.mchid, out_refund_no, refund_id: `50300${Date.now()}${String(randomBytes(4).readUInt32BE() % 1e9).padStart(9, '0')}`,
      out_trade_no: order.out_trade_no, transaction_id: extra_transaction_id ?? order.transaction_id, refund_fen, total_fen, status: 'PROCESSING',
      create_time: toChinaTime(new Date()), notify_url, fingerprint,
    };
    this.#refunds.set(key, refund);
    if (extra_transaction_id === undefined) {
      order.refunded_fen += refund_fen;
      order.trade_state = 'REFUND';
    } else {
      order.extra_transactions!.set(extra_transaction_id, refunded_fen + refund_fen);
    }
    const context: FaultContext = { provider: 'wechatpay', merchant: merchant.mchid, out_trade_no: order.out_trade_no };
    const final = this.#core.take(context, (fault) => fault.refund_status !== undefined)?.refund_status ?? 'SUCCESS';
    this.#core.log({ event: 'refund_created', provider: 'wechatpay', out_trade_no: order.out_trade_no, out_refund_no });
    if (final !== 'PROCESSING') this.#core.later(this.#sharing.settle_ms, () => this.#settleRefund(refund, final, order));
    return { status: 200, body: refundOf(refund, order) };
  }

  #settleRefund(refund: Refund, status: 'SUCCESS' | 'ABNORMAL' | 'CLOSED', order: Order): void {
    // PROCESSING settles; so does ABNORMAL once the merchant handled it (异常退款), to SUCCESS or CLOSED.
    if (refund.status !== 'PROCESSING' && !(refund.status === 'ABNORMAL' && status !== 'ABNORMAL')) return;
    refund.status = status;
    if (status === 'SUCCESS') {
      refund.success_time = toChinaTime(new Date());
      this.#addLedger({
        merchant: refund.mchid, kind: 'refund', out_trade_no: refund.out_trade_no, trade_no: refund.transaction_id, out_refund_no: refund.out_refund_no,
        refund_no: refund.refund_id, amount_fen: BigInt(refund.refund_fen), order_total_fen: BigInt(refund.total_fen), at: new Date(),
        created_at: new Date(order.created_at), subject: order.request?.description ?? '', trade_type: order.trade_type, payer: order.payer_openid,
      });
    } else if (status === 'CLOSED') {
      const extra = order.extra_transactions?.get(refund.transaction_id);
      if (extra === undefined) order.refunded_fen -= refund.refund_fen;
      else order.extra_transactions!.set(refund.transaction_id, extra - refund.refund_fen);
    }
    this.#core.log({ event: 'refund_settled', provider: 'wechatpay', out_refund_no: refund.out_refund_no, status });
    if (refund.notify_url !== undefined) this.#sendRefundCallback(refund);
  }

  #refundQuery(merchant: SandboxMerchant, out_refund_no: string): Reply {
    const refund = this.#refunds.get(orderKey(merchant.mchid, out_refund_no));
    if (refund === undefined) throw new HttpError(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
    return { status: 200, body: refundOf(refund, this.#orders.get(orderKey(refund.mchid, refund.out_trade_no))) };
  }

  // Bills -------------------------------------------------------------------------------------

  #bill(merchant: SandboxMerchant, url: URL, host: string): Reply {
    const date = url.searchParams.get('bill_date') ?? '';
    if (!isCalendarDate(date)) throw paramError('bill_date', 'bill_date格式错误 (YYYY-MM-DD)', 'query');
    const bill_type = url.searchParams.get('bill_type') ?? 'ALL';
    if (bill_type !== 'ALL') throw paramError('bill_type', 'sandbox只支持bill_type=ALL', 'query');
    const rows = billRows(
      this.#ledger.filter((entry) => entry.merchant === merchant.mchid),
      date, (entry) => this.#statementFault(merchant.mchid, entry.out_trade_no),
      this.#core.peek({ provider: 'wechatpay', merchant: merchant.mchid, out_trade_no: undefined }, (f) => (f.statement_extra_rows ?? 0) > 0)?.statement_extra_rows ?? 0,
    );
    const bytes = Buffer.from(wechatTradeBill(rows, { appid: merchant.appid, mchid: merchant.mchid }), 'utf8');
    if (this.#bills.size >= bills_max) this.#bills.delete(this.#bills.keys().next().value!);
    const token = randomUUID().replace(/-/g, '');
    this.#bills.set(token, { mchid: merchant.mchid, bytes });
    return {
      status: 200,
      body: { hash_type: 'SHA1', hash_value: createHash('sha1').update(bytes).digest('hex'), download_url: `http://${host}/v3/billdownload/file?token=${token}` },
    };
  }

  #billFile(merchant: SandboxMerchant, url: URL): Buffer {
    const bill = this.#bills.get(url.searchParams.get('token') ?? '');
    if (bill === undefined || bill.mchid !== merchant.mchid) throw new HttpError(400, 'INVALID_REQUEST', '账单下载token无效');
    return bill.bytes;
  }

  #statementFault(mchid: string, out_trade_no: string) {
    const context: FaultContext = { provider: 'wechatpay', merchant: mchid, out_trade_no, operation: 'statement' };
    return {
      missing: this.#core.peek(context, (f) => f.statement_missing === true) !== undefined,
      amount_delta_fen: BigInt(this.#core.peek(context, (f) => (f.statement_amount_delta_minor ?? 0) !== 0)?.statement_amount_delta_minor ?? 0),
      next_day: this.#core.peek(context, (f) => f.statement_next_day === true) !== undefined,
    };
  }

  #addLedger(entry: LedgerEntry): void {
    this.#ledger.push(entry);
    if (this.#ledger.length > ledger_max) this.#ledger.splice(0, this.#ledger.length - ledger_max);
  }

  // API v2 payment code -----------------------------------------------------------------------

  /** `secapi/pay/reverse`: the payment-code order is revoked; a paid one is refunded in full. */
  async handleReverse(res: ServerResponse, body: Buffer): Promise<void> {
    return this.#handleV2(res, body, 'close', (merchant, fields) => this.#reverse(merchant, fields));
  }

  #reverse(merchant: SandboxMerchant, fields: Record<string, string>): Record<string, string> {
    const order = this.#orders.get(orderKey(merchant.mchid, fields.out_trade_no ?? ''));
    if (order === undefined) return { result_code: 'FAIL', err_code: 'ORDERNOTEXIST', err_code_des: '订单不存在' };
    if (order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND') {
      // The payer's money goes back in full (WeChat refunds a paid order it revokes).
      const left_fen = (order.request?.amount.total ?? 0) - order.refunded_fen;
      order.refunded_fen += left_fen;
      this.#core.log({ event: 'order_reversed_refunded', provider: 'wechatpay', out_trade_no: order.out_trade_no, amount_fen: left_fen });
    }
    order.trade_state = 'REVOKED';
    this.#core.log({ event: 'order_reversed', provider: 'wechatpay', mchid: merchant.mchid, out_trade_no: order.out_trade_no });
    return { result_code: 'SUCCESS', recall: 'N' };
  }

  async handleMicropay(res: ServerResponse, body: Buffer): Promise<void> {
    return this.#handleV2(res, body, 'barcode', (merchant, fields, context) => this.#micropay(merchant, fields, context));
  }

  /** The API v2 envelope (XML, signed with the merchant's v2 key) around one v2 call. */
  async #handleV2(
    res: ServerResponse, body: Buffer, operation: 'barcode' | 'close',
    call: (merchant: SandboxMerchant, fields: Record<string, string>, context: FaultContext) => Record<string, string>,
  ): Promise<void> {
    const fields = wechatV2ParseXml(body.toString('utf8'));
    let answer: Record<string, string>;
    let latency_ms = 0;
    let status = 200;
    const merchant = fields === undefined ? undefined : this.#merchants.get(fields.mch_id ?? '');
    const sign_type: WechatV2SignType = fields?.sign_type === 'HMAC-SHA256' ? 'HMAC-SHA256' : 'MD5';
    if (fields === undefined) answer = { return_code: 'FAIL', return_msg: 'XML格式错误' };
    else if (merchant === undefined || merchant.api_v2_key === undefined) answer = { return_code: 'FAIL', return_msg: 'mch_id参数错误' };
    else if (!wechatV2Verify(fields, merchant.api_v2_key, sign_type)) answer = { return_code: 'FAIL', return_msg: '签名错误' };
    else {
      const context: FaultContext = { provider: 'wechatpay', merchant: merchant.mchid, out_trade_no: fields.out_trade_no, operation };
      const refusal = this.#core.refusal(context);
      if (refusal.fail_status !== undefined) {
        status = refusal.fail_status;
        answer = { return_code: 'FAIL', return_msg: 'SYSTEMERROR' };
      } else {
        const result = refusal.reject !== undefined
          ? { result_code: 'FAIL', err_code: refusal.reject.code, err_code_des: refusal.reject.message }
          : call(merchant, fields, context);
        answer = { return_code: 'SUCCESS', return_msg: 'OK', appid: merchant.appid, mch_id: merchant.mchid, nonce_str: wechatRandomString(32), ...result };
        answer.sign = wechatV2Sign(answer, merchant.api_v2_key, sign_type);
        latency_ms = this.#core.latency(context);
      }
    }
    if (latency_ms > 0) await this.#core.sleep(latency_ms);
    if (this.#core.shut_down || res.destroyed) return;
    res.writeHead(status, { 'Content-Type': 'text/xml; charset=utf-8' });
    res.end(wechatV2Xml(answer));
  }

  #micropay(merchant: SandboxMerchant, fields: Record<string, string>, context: FaultContext): Record<string, string> {
    const fail = (err_code: string, err_code_des: string) => ({ result_code: 'FAIL', err_code, err_code_des });
    const out_trade_no = fields.out_trade_no ?? '';
    if (fields.appid !== merchant.appid) return fail('APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配');
    if (!out_trade_no_pattern.test(out_trade_no)) return fail('PARAM_ERROR', 'out_trade_no格式错误');
    if (!/^1[0-5]\d{16}$/.test(fields.auth_code ?? '')) return fail('AUTH_CODE_INVALID', '授权码检验错误');
    if (!/^[1-9]\d{0,14}$/.test(fields.total_fee ?? '')) return fail('PARAM_ERROR', 'total_fee必须是正整数');
    if (!fields.body || !fields.spbill_create_ip) return fail('LACK_PARAMS', '缺少参数body或spbill_create_ip');
    if (fields.time_expire !== undefined && parseCompactChinaTime(fields.time_expire) === undefined) return fail('PARAM_ERROR', 'time_expire格式错误');
    const key = orderKey(merchant.mchid, out_trade_no);
    const fingerprint = canonicalJson({ micropay: true, total_fee: fields.total_fee, auth_code: fields.auth_code });
    const existing = this.#orders.get(key);
    if (existing !== undefined) {
      existing.create_requests += 1;
      if (existing.fingerprint !== fingerprint) return fail('OUT_TRADE_NO_USED', '商户订单号重复');
      if (this.#core.take(context, (fault) => fault.barcode_repeat_refused === true) !== undefined) return fail('OUT_TRADE_NO_USED', '商户订单号重复');
      if (existing.trade_state === 'REVOKED') return fail('ORDERREVERSED', '订单已撤销');
      if (existing.trade_state === 'SUCCESS' || existing.trade_state === 'REFUND') return fail('ORDERPAID', '订单已支付');
      if (existing.trade_state === 'CLOSED') return fail('ORDERCLOSED', '订单已关闭');
      return { ...fail('USERPAYING', '需要用户输入支付密码'), transaction_id: existing.transaction_id };
    }
    this.#checkCapacity();
    const total = Number(fields.total_fee);
    const order: Order = {
      mchid: merchant.mchid, appid: merchant.appid, out_trade_no, trade_type: 'MICROPAY', fingerprint,
      request: {
        appid: merchant.appid, mchid: merchant.mchid, description: fields.body, out_trade_no, time_expire: '', notify_url: '',
        amount: { total, currency: fields.fee_type ?? 'CNY' },
      },
      transaction_id: this.#nextTransactionId(), trade_state: 'USERPAYING', payer_openid: `oSandbox${wechatRandomString(20)}`, result: {},
      create_requests: 1, created_at: new Date().toISOString(), refunded_fen: 0,
    };
    this.#orders.set(key, order);
    this.#core.log({ event: 'order_created', provider: 'wechatpay', mchid: merchant.mchid, out_trade_no, trade_type: 'MICROPAY' });
    if (this.#core.take(context, (fault) => fault.barcode_userpaying === true) !== undefined) {
      return fail('USERPAYING', '需要用户输入支付密码');
    }
    this.#markPaid(order, { ...context, operation: undefined });
    return {
      result_code: 'SUCCESS', openid: order.payer_openid, is_subscribe: 'N', trade_type: 'MICROPAY', bank_type: 'OTHERS',
      total_fee: String(total), fee_type: 'CNY', cash_fee: String(total), transaction_id: order.transaction_id, out_trade_no,
      time_end: compactChinaTime(new Date(order.success_time!)),
    };
  }

  // Control API -------------------------------------------------------------------------------

  control(method: string, path: string, url: URL, body: unknown): Reply | undefined {
    const prefix = url.searchParams.get('out_trade_no_prefix') ?? '';
    if (method === 'GET' && path === '/sandbox/wechatpay/profitsharing') return this.#sharing.control(prefix);
    if (method === 'GET' && path === '/sandbox/wechatpay/profitsharing/receivers') return this.#sharing.receiversView();
    if (method === 'GET' && path === '/sandbox/wechatpay/orders') {
      const orders = [...this.#orders.values()].filter((order) => order.out_trade_no.startsWith(prefix)).map((order) => ({
        mchid: order.mchid, out_trade_no: order.out_trade_no, transaction_id: order.transaction_id, trade_type: order.trade_type,
        trade_state: order.trade_state, amount_total: order.request?.amount.total ?? 0, refunded_total: order.refunded_fen,
        create_requests: order.create_requests, created_at: order.created_at,
      }));
      return { status: 200, body: { orders } };
    }
    if (method === 'GET' && path === '/sandbox/wechatpay/refunds') {
      const refunds = [...this.#refunds.values()].filter((refund) => refund.out_trade_no.startsWith(prefix)).map((refund) => ({
        mchid: refund.mchid, out_trade_no: refund.out_trade_no, out_refund_no: refund.out_refund_no, refund_id: refund.refund_id,
        status: refund.status, amount_refund: refund.refund_fen, amount_total: refund.total_fen, create_time: refund.create_time,
        success_time: refund.success_time ?? null,
      }));
      return { status: 200, body: { refunds } };
    }
    const settle = /^\/sandbox\/wechatpay\/refunds\/([^/]+)\/settle$/.exec(path);
    if (method === 'POST' && settle !== null) {
      const out_refund_no = decodeURIComponent(settle[1]!);
      const refund = [...this.#refunds.values()].find((r) => r.out_refund_no === out_refund_no);
      if (refund === undefined) throw new HttpError(404, 'NOT_FOUND', `no refund ${out_refund_no}`);
      const status = stringField(body, 'status') ?? 'SUCCESS';
      if (status !== 'SUCCESS' && status !== 'ABNORMAL' && status !== 'CLOSED') throw new HttpError(400, 'PARAM_ERROR', 'status must be SUCCESS, ABNORMAL or CLOSED');
      if (refund.status !== 'PROCESSING' && !(refund.status === 'ABNORMAL' && status !== 'ABNORMAL')) throw new HttpError(409, 'NOT_PROCESSING', `refund is ${refund.status}`);
      this.#settleRefund(refund, status, this.#orders.get(orderKey(refund.mchid, refund.out_trade_no))!);
      return { status: 200, body: { out_refund_no, status } };
    }
    const pay = /^\/sandbox\/wechatpay\/orders\/([^/]+)\/pay$/.exec(path);
    if (method === 'POST' && pay !== null) return this.#controlPay(decodeURIComponent(pay[1]!), body);
    return undefined;
  }

  #controlPay(out_trade_no: string, json: unknown): Reply {
    const mchid = stringField(json, 'mchid');
    const candidates = [...this.#orders.values()].filter((order) =>
      order.out_trade_no === out_trade_no && order.request !== undefined && (mchid === undefined || order.mchid === mchid));
    if (candidates.length === 0) throw new HttpError(404, 'NOT_FOUND', `no order ${out_trade_no}`);
    if (candidates.length > 1) throw new HttpError(409, 'AMBIGUOUS', `several merchants have ${out_trade_no}; pass {mchid}`);
    const order = candidates[0]!;
    const context: FaultContext = { provider: 'wechatpay', merchant: order.mchid, out_trade_no };
    if (order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND') {
      return { status: 200, body: { out_trade_no, transaction_id: order.transaction_id, trade_state: order.trade_state, already_paid: true } };
    }
    if (order.trade_state === 'CLOSED' && this.#core.take(context, (fault) => fault.success_after_close === true) === undefined) {
      throw new HttpError(409, 'ORDER_CLOSED', `order ${out_trade_no} is CLOSED`);
    }
    const callback = this.#markPaid(order, context);
    return { status: 200, body: { out_trade_no, transaction_id: order.transaction_id, trade_state: order.trade_state, callback } };
  }

  /** SUCCESS, the ledger entry, the callback (and a second payment when the payer pays twice). */
  #markPaid(order: Order, context: FaultContext): 'scheduled' | 'dropped' | 'none' {
    order.trade_state = 'SUCCESS';
    order.success_time = toChinaTime(new Date());
    this.#core.log({ event: 'order_paid', provider: 'wechatpay', mchid: order.mchid, out_trade_no: order.out_trade_no });
    this.#paymentLedger(order, order.transaction_id);
    const twice = this.#core.take(context, (fault) => fault.pay_twice === true) !== undefined;
    const second_transaction_id = twice ? this.#nextTransactionId() : undefined;
    if (second_transaction_id !== undefined) {
      this.#paymentLedger(order, second_transaction_id);
      (order.extra_transactions ??= new Map()).set(second_transaction_id, 0);
    }
    // Payment-code orders have no notify_url: the merchant learns the result by answer or query.
    if (order.request?.notify_url === '' || order.request === undefined) return 'none';
    const faults = this.#core.callbackFaults(context);
    if (faults.dropped) return 'dropped';
    this.#sendPaymentCallback(order, transactionOf(order), faults.duplicates, faults.delay_ms);
    if (second_transaction_id !== undefined) {
      this.#sendPaymentCallback(order, { ...transactionOf(order), transaction_id: second_transaction_id }, 0, faults.delay_ms);
    }
    return 'scheduled';
  }

  #paymentLedger(order: Order, transaction_id: string): void {
    this.#addLedger({
      merchant: order.mchid, kind: 'payment', out_trade_no: order.out_trade_no, trade_no: transaction_id,
      amount_fen: BigInt(order.request?.amount.total ?? 0), order_total_fen: BigInt(order.request?.amount.total ?? 0),
      at: new Date(), created_at: new Date(order.created_at),
      subject: order.request?.description ?? '', trade_type: order.trade_type, payer: order.payer_openid,
    });
  }

  // Callbacks ---------------------------------------------------------------------------------

  #sendPaymentCallback(order: Order, transaction: WechatTransaction, duplicates: number, delay_ms: number): void {
    const merchant = this.#merchants.get(order.mchid)!;
    const event_id = randomUUID();
    const resource = wechatEncryptResource(JSON.stringify(transaction), merchant.apiv3_key, 'transaction');
    const body = JSON.stringify({
      id: event_id, create_time: toChinaTime(new Date()), resource_type: 'encrypt-resource', event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功', resource: { original_type: 'transaction', ...resource },
    });
    this.#core.deliver({
      provider: 'wechatpay', event_id, mchid: order.mchid, out_trade_no: order.out_trade_no, kind: 'payment',
      notify_url: order.request!.notify_url, duplicates, delay_ms,
      build: () => ({ body, headers: this.#callbackHeaders(body) }),
      acknowledged: (status) => status !== null && status >= 200 && status < 300,
    });
  }

  #sendRefundCallback(refund: Refund): void {
    const merchant = this.#merchants.get(refund.mchid)!;
    const event_id = randomUUID();
    const resource_body = {
      mchid: refund.mchid, out_trade_no: refund.out_trade_no, transaction_id: refund.transaction_id, out_refund_no: refund.out_refund_no,
      refund_id: refund.refund_id, refund_status: refund.status, success_time: refund.success_time,
      user_received_account: '支付用户零钱', amount: { total: refund.total_fen, refund: refund.refund_fen, payer_total: refund.total_fen, payer_refund: refund.refund_fen },
    };
    const resource = wechatEncryptResource(JSON.stringify(resource_body), merchant.apiv3_key, 'refund');
    const body = JSON.stringify({
      id: event_id, create_time: toChinaTime(new Date()), resource_type: 'encrypt-resource', event_type: `REFUND.${refund.status}`,
      summary: refund.status === 'SUCCESS' ? '退款成功' : refund.status === 'ABNORMAL' ? '退款异常' : '退款关闭',
      resource: { original_type: 'refund', ...resource },
    });
    this.#core.deliver({
      provider: 'wechatpay', event_id, mchid: refund.mchid, out_trade_no: refund.out_trade_no, kind: 'refund', out_refund_no: refund.out_refund_no,
      notify_url: refund.notify_url!, duplicates: 0, delay_ms: 0,
      build: () => ({ body, headers: this.#callbackHeaders(body) }),
      acknowledged: (status) => status !== null && status >= 200 && status < 300,
    });
  }

  #callbackHeaders(body: string): Record<string, string> {
    return {
      ...wechatSignedHeaders(body, this.#platform_private_key, this.#platform_public_key_id),
      'Content-Type': 'application/json',
      'User-Agent': 'Mozilla/4.0 (sandbox wechatpay)',
    };
  }

  // Helpers -----------------------------------------------------------------------------------

  #checkCapacity(): void {
    if (this.#orders.size >= orders_max) throw new HttpError(500, 'SYSTEM_ERROR', `sandbox holds ${orders_max} orders; POST /sandbox/reset`);
  }

  #nextTransactionId(): string {
    this.#transaction_sequence += 1;
    const date = compactChinaTime(new Date()).slice(0, 8);
    return `4200000${String(this.#transaction_sequence % 1_000_000).padStart(6, '0')}${date}${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
  }

  #sendSigned(res: ServerResponse, reply: Reply): void {
    const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
    const headers: Record<string, string> = {
      ...wechatSignedHeaders(body, this.#platform_private_key, this.#platform_public_key_id),
      'Request-ID': randomUUID(),
    };
    if (body !== '') headers['Content-Type'] = 'application/json; charset=utf-8';
    res.writeHead(reply.status, headers);
    res.end(body);
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

interface ApiRoute {
  name: 'create' | 'query' | 'close' | 'refund' | 'refund_query' | 'bill' | 'bill_file';
  operation: FaultOperation;
  trade_type?: WechatTradeType;
  out_trade_no?: string;
  out_refund_no?: string;
}

function matchApiRoute(method: string, path: string): ApiRoute | undefined {
  const create = /^\/v3\/pay\/transactions\/(native|jsapi|app|h5)$/.exec(path);
  if (method === 'POST' && create !== null) return { name: 'create', operation: 'create', trade_type: trade_types[create[1]!]! };
  const query = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)$/.exec(path);
  if (method === 'GET' && query !== null) return { name: 'query', operation: 'query', out_trade_no: decodeURIComponent(query[1]!) };
  const close = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)\/close$/.exec(path);
  if (method === 'POST' && close !== null) return { name: 'close', operation: 'close', out_trade_no: decodeURIComponent(close[1]!) };
  if (method === 'POST' && path === '/v3/refund/domestic/refunds') return { name: 'refund', operation: 'refund' };
  const refund_query = /^\/v3\/refund\/domestic\/refunds\/([^/]+)$/.exec(path);
  if (method === 'GET' && refund_query !== null) return { name: 'refund_query', operation: 'refund_query', out_refund_no: decodeURIComponent(refund_query[1]!) };
  if (method === 'GET' && path === '/v3/bill/tradebill') return { name: 'bill', operation: 'statement' };
  if (method === 'GET' && path === '/v3/billdownload/file') return { name: 'bill_file', operation: 'statement' };
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
  const request: WechatCreateOrderRequest = { appid, mchid, description, out_trade_no, notify_url, time_expire: '', amount: { total: 0, currency: 'CNY' } };
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
  const settle = body.settle_info as Record<string, unknown> | undefined;
  if (settle !== undefined && typeof settle.profit_sharing !== 'boolean') throw paramError('settle_info.profit_sharing', 'settle_info.profit_sharing必须是布尔值');
  if (settle?.profit_sharing === true) request.settle_info = { profit_sharing: true };
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
  const paid = order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND';
  const transaction: WechatTransaction = {
    appid: order.appid, mchid: order.mchid, out_trade_no: order.out_trade_no, trade_state: order.trade_state,
    trade_state_desc: paid ? '支付成功' : order.trade_state === 'CLOSED' ? '订单已关闭' : order.trade_state === 'USERPAYING' ? '需要用户输入支付密码' : order.trade_state === 'REVOKED' ? '已撤销' : '订单未支付',
    attach: '', amount: { total: request.amount.total, currency: request.amount.currency },
  };
  if (order.trade_type === 'MICROPAY') Object.assign(transaction, { trade_type: 'MICROPAY', transaction_id: order.transaction_id });
  if (paid) {
    Object.assign(transaction, {
      transaction_id: order.transaction_id, trade_type: order.trade_type, bank_type: 'OTHERS', success_time: order.success_time,
      payer: { openid: order.payer_openid },
      amount: { total: request.amount.total, payer_total: request.amount.total, currency: request.amount.currency, payer_currency: request.amount.currency },
    });
  }
  return transaction;
}

function refundOf(refund: Refund, order: Order | undefined): WechatRefund & Record<string, unknown> {
  return {
    refund_id: refund.refund_id, out_refund_no: refund.out_refund_no, transaction_id: refund.transaction_id, out_trade_no: refund.out_trade_no,
    channel: 'ORIGINAL', user_received_account: '支付用户零钱', ...(refund.success_time ? { success_time: refund.success_time } : {}),
    create_time: refund.create_time, status: refund.status, funds_account: 'AVAILABLE',
    amount: {
      total: refund.total_fen, refund: refund.refund_fen, payer_total: order?.request?.amount.total ?? refund.total_fen, payer_refund: refund.refund_fen,
      settlement_refund: refund.refund_fen, settlement_total: refund.total_fen, discount_refund: 0, currency: 'CNY',
    },
  };
}

function paramError(field: string, message: string, location: 'body' | 'query' = 'body'): HttpError {
  return new HttpError(400, 'PARAM_ERROR', message, { field, location });
}

function orderKey(mchid: string, out_trade_no: string): string {
  return `${mchid}\u0000${out_trade_no}`;
}

/** Key order does not matter when comparing two create requests. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
